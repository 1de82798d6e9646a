"""PLANET transport crypto: P-256 key agreement, the PLANET KDF and the per-frame cipher and tag.

The relay gives us its ephemeral P-256 key (the route's ``mpkey``).  Both sides derive per-direction
transport keys from the ECDH secret in two KDF stages: stage 1 binds the two public keys (in an order
that depends on the direction), stage 2 binds the sender's 16-byte bootstrap seed and 2-byte
direction label, which every bootstrap frame carries in the clear.  So our send keys follow from our
own seed and label, and our receive keys from the relay's seed and label, read out of the relay's
first bootstrap frame.  (linejs keys the receive direction with the route ``mpkey`` rather than the
public key in the relay's frame; we do the same, since that is what interoperates.)

Frames are AES-128-CTR encrypted, then tagged with a truncated HMAC-SHA256 over everything before
the tag (encrypt-then-MAC).  Nothing here touches sockets or clocks; randomness comes in as a
``random(n) -> bytes`` callable so tests can replay a transcript byte for byte.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from linecall.protocol.planet.errors import PlanetCryptoError

RandomSource = Callable[[int], bytes]
"""``random(n)`` returns ``n`` fresh random bytes (``os.urandom`` in production, a replay in tests)."""

HashName = Literal["sha256", "sha512"]

PRIVATE_KEY_LEN = 32
COMPRESSED_PUBLIC_KEY_LEN = 33
UNCOMPRESSED_PUBLIC_KEY_LEN = 65
ECDH_SECRET_LEN = 32
STAGE1_LEN = 64
BOOTSTRAP_SEED_LEN = 16
DIRECTION_LABEL_LEN = 2
ENC_KEY_LEN = 16
CTR_BASE_LEN = 16
MAC_KEY_LEN = 32
TAG_LEN = 16

# Order of the P-256 group: private scalars must lie in [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_DEFAULT_KDF_LEN: dict[HashName, int] = {"sha512": 64, "sha256": 32}


# --------------------------------------------------------------------------------------------------
# P-256


@dataclass(frozen=True, slots=True)
class P256KeyPair:
    """An ephemeral P-256 key: the 32-byte private scalar and the 33-byte compressed SEC1 public key."""

    private_key: bytes
    public_key: bytes

    def __repr__(self) -> str:  # never print the private scalar
        return f"P256KeyPair(public_key={self.public_key.hex()})"

    @classmethod
    def from_private(cls, private_key: bytes) -> P256KeyPair:
        """Rebuild a key pair from its scalar (used to replay a transcript's transport key)."""
        key = _load_private(private_key)
        public = key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        return cls(private_key=bytes(private_key), public_key=public)

    @classmethod
    def generate(cls, random: RandomSource) -> P256KeyPair:
        """Draw a fresh scalar from ``random`` (32 bytes per try, rejection-sampled into [1, n-1])."""
        while True:
            candidate = random(PRIVATE_KEY_LEN)
            if len(candidate) != PRIVATE_KEY_LEN:
                raise PlanetCryptoError("random source returned the wrong number of bytes")
            if 0 < int.from_bytes(candidate, "big") < _P256_ORDER:
                return cls.from_private(candidate)


def _load_private(private_key: bytes) -> ec.EllipticCurvePrivateKey:
    if len(private_key) != PRIVATE_KEY_LEN:
        raise PlanetCryptoError(f"P-256 private key must be {PRIVATE_KEY_LEN} bytes, got {len(private_key)}")
    scalar = int.from_bytes(private_key, "big")
    if not 0 < scalar < _P256_ORDER:
        raise PlanetCryptoError("P-256 private scalar out of range")
    return ec.derive_private_key(scalar, ec.SECP256R1())


def load_public_key(public_key: bytes) -> ec.EllipticCurvePublicKey:
    """Parse a SEC1 point (33-byte compressed or 65-byte uncompressed) that must lie on P-256."""
    if len(public_key) not in (COMPRESSED_PUBLIC_KEY_LEN, UNCOMPRESSED_PUBLIC_KEY_LEN):
        raise PlanetCryptoError(f"P-256 public key must be 33 or 65 bytes, got {len(public_key)}")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(public_key))
    except ValueError as exc:
        raise PlanetCryptoError("public key is not a valid P-256 point") from exc


def ecdh_secret(private_key: bytes, peer_public_key: bytes) -> bytes:
    """The 32-byte X coordinate of ``private * peer_public`` (plain ECDH, no hashing)."""
    local = _load_private(private_key)
    peer = load_public_key(peer_public_key)
    try:
        return local.exchange(ec.ECDH(), peer)
    except ValueError as exc:  # pragma: no cover - a valid point on the curve always yields a secret
        raise PlanetCryptoError("ECDH failed") from exc


# --------------------------------------------------------------------------------------------------
# Route keys (base64 as the server hands them out)

_B64_WHITESPACE = " \t\n\f\r"


def _forgiving_b64decode(text: str) -> bytes:
    """Base64 the way a browser's ``atob`` reads it: ASCII whitespace skipped, padding optional,
    anything outside the standard alphabet rejected.  linejs decodes route keys with ``atob``, so
    the same strings must be accepted and refused here."""
    stripped = "".join(ch for ch in text if ch not in _B64_WHITESPACE)
    if len(stripped) % 4 == 0 and stripped.endswith("="):
        stripped = stripped[:-2] if stripped.endswith("==") else stripped[:-1]
    if len(stripped) % 4 == 1:
        raise PlanetCryptoError("invalid base64 length")
    if not stripped.isascii() or not all(ch.isalnum() or ch in "+/" for ch in stripped):
        raise PlanetCryptoError("invalid base64 character")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        return binascii.a2b_base64(padded.encode("ascii"))
    except binascii.Error as exc:
        raise PlanetCryptoError("invalid base64") from exc


def decode_mpkey(text: str) -> bytes:
    """The route's ``commParam.mpkey``: base64 of the relay's 33-byte compressed P-256 key.

    Only the length and the parity byte are checked here, as linejs does; whether the point is on
    the curve shows up at ECDH time.
    """
    raw = _forgiving_b64decode(text)
    if len(raw) != COMPRESSED_PUBLIC_KEY_LEN:
        raise PlanetCryptoError(f"mpkey must decode to 33 bytes (compressed P-256), got {len(raw)}")
    if raw[0] not in (0x02, 0x03):
        raise PlanetCryptoError(f"mpkey has parity byte {raw[0]:#04x}, expected 0x02 or 0x03")
    return raw


def decode_stnpk(text: str) -> bytes:
    """The route's ``stnpk``: a SEC1 point, either bare or at the end of a DER SubjectPublicKeyInfo.

    Decoded for completeness; the 1:1 transport does not use it.
    """
    raw = _forgiving_b64decode(text)
    if len(raw) == COMPRESSED_PUBLIC_KEY_LEN and raw[0] in (0x02, 0x03):
        return raw
    if len(raw) >= UNCOMPRESSED_PUBLIC_KEY_LEN and raw[-UNCOMPRESSED_PUBLIC_KEY_LEN] == 0x04:
        return raw[-UNCOMPRESSED_PUBLIC_KEY_LEN:]
    raise PlanetCryptoError(f"stnpk: unsupported key material of {len(raw)} bytes")


# --------------------------------------------------------------------------------------------------
# The PLANET KDF


def planet_kdf(
    hash_name: HashName, key: bytes, message: bytes, info: bytes, length: int | None = None
) -> bytes:
    """The PLANET counter KDF (native ``ear_crypto_hkdf``); it is *not* RFC 5869 HKDF.

    ``prk = HMAC(key, message)``, then ``block[i] = HMAC(prk, info || be32(i))`` for i = 0, 1, ...
    and the output is the first ``length`` bytes of the concatenated blocks.  linejs names ``key``
    "ikm" and ``message`` "salt"; the roles above are what the bytes do.  ``length`` defaults to one
    digest (64 for SHA-512, 32 for SHA-256).
    """
    n = _DEFAULT_KDF_LEN[hash_name] if length is None else length
    if n < 0:
        raise PlanetCryptoError("KDF output length must not be negative")
    digest = getattr(hashlib, hash_name)
    prk = hmac.digest(key, message, digest)
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hmac.digest(prk, info + counter.to_bytes(4, "big"), digest)
        counter += 1
    return bytes(out[:n])


def pkdf_sha512(key: bytes, message: bytes, info: bytes, length: int = 64) -> bytes:
    """PLANET KDF with SHA-512 (native kdf_id 3): the transport keys."""
    return planet_kdf("sha512", key, message, info, length)


def pkdf_sha256(key: bytes, message: bytes, info: bytes, length: int = 32) -> bytes:
    """PLANET KDF with SHA-256 (native kdf_id 2): the media keys."""
    return planet_kdf("sha256", key, message, info, length)


# --------------------------------------------------------------------------------------------------
# Transport keys


@dataclass(frozen=True, slots=True)
class TransportKeys:
    """One direction's keys, carved from the 64-byte stage-2 output: AES key, CTR base, HMAC key."""

    enc_key: bytes
    ctr_base: bytes
    mac_key: bytes

    def __repr__(self) -> str:  # keys never reach logs or reprs
        return "TransportKeys(<redacted>)"

    @classmethod
    def carve(cls, stage2: bytes) -> TransportKeys:
        """Split ``stage2`` as native does: [0:16] AES-128 key, [16:32] CTR base, [32:64] MAC key."""
        if len(stage2) != 64:
            raise PlanetCryptoError(f"stage-2 output must be 64 bytes, got {len(stage2)}")
        return cls(enc_key=stage2[:16], ctr_base=stage2[16:32], mac_key=stage2[32:64])

    @property
    def raw(self) -> bytes:
        """The 64 stage-2 bytes the keys were carved from."""
        return self.enc_key + self.ctr_base + self.mac_key


def direction_label(label: int) -> bytes:
    """The 2-byte big-endian direction label (a random uint16 per sender)."""
    if not 0 <= label <= 0xFFFF:
        raise PlanetCryptoError(f"direction label must be a uint16, got {label}")
    return label.to_bytes(2, "big")


def transport_stage1(secret: bytes, key_pub: bytes, info_pub: bytes) -> bytes:
    """Stage 1: ``PKDF512(key=key_pub, message=secret, info=info_pub)``, 64 bytes.

    Send direction: key_pub = relay (mpkey), info_pub = ours.  Receive direction: swapped.
    """
    if len(secret) != ECDH_SECRET_LEN:
        raise PlanetCryptoError("stage 1: the ECDH secret must be 32 bytes")
    if len(key_pub) != COMPRESSED_PUBLIC_KEY_LEN or len(info_pub) != COMPRESSED_PUBLIC_KEY_LEN:
        raise PlanetCryptoError("stage 1: public keys must be 33-byte compressed SEC1")
    return pkdf_sha512(key_pub, secret, info_pub, STAGE1_LEN)


def transport_stage2(stage1: bytes, seed: bytes, label: bytes) -> TransportKeys:
    """Stage 2: ``PKDF512(key=seed, message=stage1, info=label)``, carved into :class:`TransportKeys`."""
    if len(stage1) != STAGE1_LEN:
        raise PlanetCryptoError("stage 2: the stage-1 base must be 64 bytes")
    if len(seed) != BOOTSTRAP_SEED_LEN:
        raise PlanetCryptoError("stage 2: the bootstrap seed must be 16 bytes")
    if len(label) != DIRECTION_LABEL_LEN:
        raise PlanetCryptoError("stage 2: the direction label must be 2 bytes")
    return TransportKeys.carve(pkdf_sha512(seed, stage1, label, 64))


def send_stage1(local: P256KeyPair, mpkey: bytes) -> bytes:
    """Stage-1 base for frames we send (relay key first, ours as info)."""
    return transport_stage1(ecdh_secret(local.private_key, mpkey), mpkey, local.public_key)


def recv_stage1(local: P256KeyPair, mpkey: bytes) -> bytes:
    """Stage-1 base for frames the relay sends (public keys swapped relative to :func:`send_stage1`)."""
    return transport_stage1(ecdh_secret(local.private_key, mpkey), local.public_key, mpkey)


def derive_send_keys(local: P256KeyPair, mpkey: bytes, seed: bytes, label: int) -> TransportKeys:
    """Our send keys: fixed at connect from our bootstrap seed and send label."""
    return transport_stage2(send_stage1(local, mpkey), seed, direction_label(label))


def derive_recv_keys(local: P256KeyPair, mpkey: bytes, relay_seed: bytes, relay_label: int) -> TransportKeys:
    """The relay's send keys, from the seed and label in the clear prefix of its bootstrap frame."""
    return transport_stage2(recv_stage1(local, mpkey), relay_seed, direction_label(relay_label))


# --------------------------------------------------------------------------------------------------
# Per-frame cipher and tag


def frame_iv(ctr_base: bytes, seq: int) -> bytes:
    """The per-frame CTR IV: ``ctr_base`` with even bytes XOR seq's high byte and odd bytes XOR its low byte.

    ``seq`` is the 16-bit clear frame sequence (header bytes 2..3); higher bits are ignored.
    """
    if len(ctr_base) != CTR_BASE_LEN:
        raise PlanetCryptoError("CTR base must be 16 bytes")
    hi, lo = (seq >> 8) & 0xFF, seq & 0xFF
    return bytes(b ^ (hi if i % 2 == 0 else lo) for i, b in enumerate(ctr_base))


def aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-CTR with the whole 16-byte block as one big-endian 128-bit counter (wraps at 2**128).

    Encryption and decryption are the same operation.  AES-128 is what the transport uses; a
    32-byte key (AES-256) is accepted because linejs's helper accepts it.
    """
    if len(key) not in (16, 32):
        raise PlanetCryptoError(f"AES-CTR key must be 16 or 32 bytes, got {len(key)}")
    if len(iv) != 16:
        raise PlanetCryptoError(f"AES-CTR IV must be 16 bytes, got {len(iv)}")
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def frame_tag(mac_key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 over ``data`` truncated to 16 bytes: the tag ending every PLANET frame."""
    return hmac.digest(mac_key, data, "sha256")[:TAG_LEN]


def tags_equal(a: bytes, b: bytes) -> bool:
    """Constant-time tag comparison (different lengths compare unequal)."""
    return hmac.compare_digest(a, b)


# --------------------------------------------------------------------------------------------------
# Call credentials (setup_req f10 / participate_req f12)


def setup_credential(initiator: str, responder: str, from_token: str, cid: str) -> bytes:
    """1:1 credential: ``SHA-256(initiator '::' responder '::' fromToken '::' cid)``."""
    return hashlib.sha256("::".join((initiator, responder, from_token, cid)).encode("utf-8")).digest()


def group_credential(participant: str, room_id: str, token: str, cid: str) -> bytes:
    """Group credential: ``SHA-256(participant '::' roomId '::' token '::' cid)``."""
    return hashlib.sha256("::".join((participant, room_id, token, cid)).encode("utf-8")).digest()
