"""The symmetric half of Letter Sealing: key derivation, the 82-byte AAD, v2 (AES-256-GCM) and v1
(AES-256-CBC) message ciphers, the salt-less CBC wrap used for group keys and the QR key chain, and the
five-element ``chunks`` layout.

Everything is a pure function over bytes; randomness (salt, nonce) comes in through ``random``, so the
conformance vectors can be replayed byte for byte. Facts: e2ee-map §4 (sending), §5 (receiving), §6.2-6.3
(wraps). The key derivation is a plain SHA-256 of concatenations, not HKDF; "Key" and "IV" are ASCII.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import AuthenticationFailed, InvalidMid, MalformedChunks
from .keys import Random, be32, key_id_from_bytes, key_id_to_bytes

SALT_LENGTH = 16
NONCE_LENGTH = 12
TAG_LENGTH = 16
KEY_ID_LENGTH = 4
CHUNK_COUNT = 5
BLOCK = 16
SPEC_VERSION = 2
"""The spec version put into the AAD of every message we send and expect (e2ee-map §4.5, §10 item 1)."""

_KEY_LABEL = b"Key"
_IV_LABEL = b"IV"


def fold(data: bytes) -> bytes:
    """xor the first half of ``data`` with the second (an odd last byte is dropped): 32 -> 16 bytes."""
    half = len(data) // 2
    return bytes(a ^ b for a, b in zip(data[:half], data[half : 2 * half], strict=True))


def derive_key(secret: bytes, salt: bytes = b"") -> bytes:
    """AES-256 key = SHA256(secret || salt || "Key"); salt-less for the group-key and key-chain wraps."""
    return hashlib.sha256(secret + salt + _KEY_LABEL).digest()


def derive_iv(secret: bytes, salt: bytes = b"") -> bytes:
    """CBC IV = fold(SHA256(secret || salt || "IV")) (v1 messages and the salt-less wraps)."""
    return fold(hashlib.sha256(secret + salt + _IV_LABEL).digest())


def _ascii_mid(mid: str, role: str) -> bytes:
    try:
        return mid.encode("ascii")
    except UnicodeEncodeError as exc:
        raise InvalidMid(f"{role} MID is not ASCII") from exc


def build_aad(
    to: str,
    from_: str,
    sender_key_id: int,
    receiver_key_id: int,
    spec_version: int = SPEC_VERSION,
    content_type: int = 0,
) -> bytes:
    """The GCM associated data: to || from || be32(sender id) || be32(receiver id) || be32(version) ||
    be32(content type). 82 bytes for standard 33-character MIDs; ``to`` comes first.

    The receiver rebuilds it from the envelope *as it stands* (no swapping for our own copies).
    """
    return (
        _ascii_mid(to, "to")
        + _ascii_mid(from_, "from")
        + be32(sender_key_id)
        + be32(receiver_key_id)
        + be32(spec_version)
        + be32(content_type)
    )


@dataclass(frozen=True, slots=True)
class Chunks:
    """``Message.chunks`` of an encrypted message, parsed (e2ee-map §4.7).

    ``nonce`` is the 12-byte GCM nonce in v2 (linejs calls it "sign"); in v1 the same slot holds a 16-byte
    value of unknown construction that nobody checks.
    """

    salt: bytes
    ciphertext: bytes
    nonce: bytes
    sender_key_id: int
    receiver_key_id: int

    def to_list(self) -> list[bytes]:
        """The five binaries in wire order."""
        return [
            self.salt,
            self.ciphertext,
            self.nonce,
            key_id_to_bytes(self.sender_key_id),
            key_id_to_bytes(self.receiver_key_id),
        ]


def parse_chunks(chunks: Sequence[bytes], version: int = 2) -> Chunks:
    """Validate and split a ``chunks`` list; anything off the layout raises :class:`MalformedChunks`.

    v2: 16-byte salt, ciphertext of at least the 16-byte tag, 12-byte nonce, two 4-byte key ids.
    v1: 16-byte salt, ciphertext a non-empty multiple of the AES block, any third chunk, two key ids.
    """
    if not isinstance(chunks, list | tuple):
        raise MalformedChunks("chunks must be a list of binaries")
    items = list(chunks)
    if len(items) != CHUNK_COUNT:
        raise MalformedChunks(f"expected {CHUNK_COUNT} chunks, got {len(items)}")
    if not all(isinstance(item, bytes | bytearray) for item in items):
        raise MalformedChunks("every chunk must be bytes")
    salt, ciphertext, third, sender, receiver = (bytes(item) for item in items)
    if len(salt) != SALT_LENGTH:
        raise MalformedChunks(f"salt must be {SALT_LENGTH} bytes, got {len(salt)}")
    if version == 2:
        if len(third) != NONCE_LENGTH:
            raise MalformedChunks(f"nonce must be {NONCE_LENGTH} bytes, got {len(third)}")
        if len(ciphertext) < TAG_LENGTH:
            raise MalformedChunks(f"ciphertext of {len(ciphertext)} bytes is shorter than the GCM tag")
    elif version == 1:
        if not ciphertext or len(ciphertext) % BLOCK:
            raise MalformedChunks(f"CBC ciphertext of {len(ciphertext)} bytes is not whole blocks")
    else:
        raise MalformedChunks(f"no chunk layout for version {version}")
    return Chunks(salt, ciphertext, third, key_id_from_bytes(sender), key_id_from_bytes(receiver))


def _draw(random: Random, length: int, what: str) -> bytes:
    value = random(length)
    if len(value) != length:
        raise ValueError(f"random source returned {len(value)} bytes for the {what}, wanted {length}")
    return value


def encrypt_v2(
    secret: bytes,
    plaintext: bytes,
    *,
    to: str,
    from_: str,
    sender_key_id: int,
    receiver_key_id: int,
    random: Random,
    content_type: int = 0,
    spec_version: int = SPEC_VERSION,
) -> Chunks:
    """AES-256-GCM under SHA256(secret || salt || "Key"); draws the salt (16) then the nonce (12), in
    linejs's order, so a recorded draw sequence reproduces its chunks exactly."""
    salt = _draw(random, SALT_LENGTH, "salt")
    nonce = _draw(random, NONCE_LENGTH, "nonce")
    aad = build_aad(to, from_, sender_key_id, receiver_key_id, spec_version, content_type)
    sealed = AESGCM(derive_key(secret, salt)).encrypt(nonce, plaintext, aad)
    return Chunks(salt, sealed, nonce, sender_key_id, receiver_key_id)


def decrypt_v2(
    secret: bytes,
    chunks: Chunks,
    *,
    to: str,
    from_: str,
    content_type: int = 0,
    spec_version: int = SPEC_VERSION,
) -> bytes:
    """Open a v2 message; any tag failure (tampering, wrong key, AAD difference) is
    :class:`AuthenticationFailed`."""
    if len(chunks.nonce) != NONCE_LENGTH or len(chunks.ciphertext) < TAG_LENGTH:
        raise MalformedChunks("v2 chunks need a 12-byte nonce and at least a 16-byte tag")
    aad = build_aad(to, from_, chunks.sender_key_id, chunks.receiver_key_id, spec_version, content_type)
    try:
        return AESGCM(derive_key(secret, chunks.salt)).decrypt(chunks.nonce, chunks.ciphertext, aad)
    except InvalidTag as exc:
        raise AuthenticationFailed("GCM tag mismatch") from exc


def _cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    if not data or len(data) % BLOCK:
        raise MalformedChunks(f"CBC input of {len(data)} bytes is not whole blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    padder = padding.PKCS7(BLOCK * 8).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def _unpad(data: bytes) -> bytes:
    unpadder = padding.PKCS7(BLOCK * 8).unpadder()
    try:
        return unpadder.update(data) + unpadder.finalize()
    except ValueError as exc:
        raise AuthenticationFailed("CBC padding is invalid (wrong key or tampered data)") from exc


def decrypt_v1(secret: bytes, chunks: Chunks) -> bytes:
    """Open a v1 message: AES-256-CBC, key SHA256(secret||salt||"Key"), IV fold(SHA256(secret||salt||"IV")).

    v1 has no MAC we can check (its third chunk's construction is unknown), so valid PKCS#7 padding is the
    only integrity signal; unlike linejs we require it and never parse unpadded garbage (§5.5, §10 item 9).
    """
    plain = _cbc_decrypt(derive_key(secret, chunks.salt), derive_iv(secret, chunks.salt), chunks.ciphertext)
    return _unpad(plain)


def encrypt_v1(secret: bytes, plaintext: bytes, salt: bytes) -> bytes:
    """v1 ciphertext for a given salt (tests only: we never send v1, whose MAC chunk is unknown)."""
    return _cbc_encrypt(derive_key(secret, salt), derive_iv(secret, salt), plaintext)


def wrap(secret: bytes, data: bytes) -> bytes:
    """Salt-less AES-256-CBC + PKCS#7 under SHA256(secret||"Key") / fold(SHA256(secret||"IV")): how a group
    private key is wrapped for each member (§6.3) and how the phone wraps the QR key chain (§2.4)."""
    return _cbc_encrypt(derive_key(secret), derive_iv(secret), data)


def unwrap(secret: bytes, data: bytes, *, check_padding: bool = True) -> bytes:
    """Inverse of :func:`wrap`. With ``check_padding`` False the raw blocks are returned (the QR key chain:
    whether the phone pads is unknown, so its Thrift struct is parsed and trailing bytes ignored)."""
    plain = _cbc_decrypt(derive_key(secret), derive_iv(secret), data)
    return _unpad(plain) if check_padding else plain
