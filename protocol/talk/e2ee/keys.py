"""X25519 key material for Letter Sealing: key pairs with server-assigned key ids, and where to find them.

Facts (e2ee-map §2.1-2.2): a private key is 32 raw bytes kept exactly as drawn (not clamped: X25519 clamps
inside every scalar multiplication), the public key is X25519(private, 9), and a key id is a server-assigned
int32. Key ids reach us as Thrift i32, as 4-byte big-endian chunks, and (after QR login) as decimal strings;
:func:`parse_key_id` normalises all of them to one signed int32 so that lookups agree whichever way an id
arrived (the bytes on the wire are the same either way).

The :class:`Keyring` protocol is what the decryptor asks for keys; the daemon's storage implements it.
Peers' keys are looked up by (MID, key id), not by key id alone as linejs does (e2ee-map §10 item 7).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import InvalidKey, InvalidKeyId, MalformedChunks

KEY_LENGTH = 32
"""Length of X25519 private keys, public keys and shared secrets."""

_INT32_MIN = -(2**31)
_UINT32_MAX = 2**32 - 1

Random = Callable[[int], bytes]
"""A source of random bytes: ``random(n)`` returns exactly n bytes (``os.urandom`` in production)."""


def _check_key(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != KEY_LENGTH:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise InvalidKey(f"{what} must be {KEY_LENGTH} bytes, got {got}")


def public_key_from_private(private_key: bytes) -> bytes:
    """X25519(private, 9): the public half, identical to tweetnacl's for unclamped private bytes."""
    _check_key(private_key, "private key")
    public = X25519PrivateKey.from_private_bytes(bytes(private_key)).public_key()
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def x25519(private_key: bytes, public_key: bytes) -> bytes:
    """The 32-byte X25519 shared secret.

    Deliberately stricter than linejs's curve25519-js: a low-order peer key (which makes the secret all zero)
    raises :class:`InvalidKey` instead of silently yielding 32 zero bytes (e2ee-map §2.1).
    """
    _check_key(private_key, "private key")
    _check_key(public_key, "public key")
    private = X25519PrivateKey.from_private_bytes(bytes(private_key))
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(bytes(public_key)))
    except ValueError as exc:  # cryptography refuses an all-zero result (low-order point)
        raise InvalidKey("public key is of low order (all-zero shared secret)") from exc


def parse_key_id(value: object) -> int:
    """Normalise a key id to a signed int32.

    Accepts ints and decimal strings (QR login hands key ids over as strings, e2ee-map §2.2) anywhere in
    int32 or uint32 range; values from 2**31 up wrap to negative, which is what their 4-byte encoding means.
    Refuses booleans, floats and anything else with :class:`InvalidKeyId` (linejs would truncate a float or
    turn a non-numeric string into 0; we do not guess).
    """
    number: int
    if isinstance(value, bool):
        raise InvalidKeyId("key id must be an integer, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if not digits.isascii() or not digits.isdigit() or len(digits) > 10:
            raise InvalidKeyId("key id string is not a decimal integer")
        number = int(text)
    else:
        raise InvalidKeyId(f"key id must be an integer or a decimal string, got {type(value).__name__}")
    if not _INT32_MIN <= number <= _UINT32_MAX:
        raise InvalidKeyId(f"key id {number} is outside the 32-bit range")
    return number - 2**32 if number >= 2**31 else number


def be32(value: int) -> bytes:
    """4-byte big-endian two's complement of an integer, wrapped modulo 2**32 (JavaScript ToInt32)."""
    return (value & 0xFFFFFFFF).to_bytes(4, "big")


def key_id_to_bytes(key_id: int) -> bytes:
    """The key-id chunk (chunks 3 and 4) and AAD field for a key id."""
    return be32(key_id)


def key_id_from_bytes(chunk: bytes) -> int:
    """A key id from a 4-byte chunk, as a signed int32 (the Thrift i32 it was assigned as).

    linejs reads any length as an unsigned big-endian number; every sender writes 4 bytes, so anything else is
    refused as :class:`MalformedChunks` rather than looked up under a made-up id.
    """
    if len(chunk) != 4:
        raise MalformedChunks(f"key id chunk must be 4 bytes, got {len(chunk)}")
    return int.from_bytes(chunk, "big", signed=True)


@dataclass(frozen=True, slots=True)
class KeyPair:
    """One of our own device key pairs and the key id the server assigned to its public half."""

    key_id: int
    private_key: bytes = field(repr=False)
    public_key: bytes

    def __post_init__(self) -> None:
        _check_key(self.private_key, "private key")
        _check_key(self.public_key, "public key")

    @classmethod
    def from_private(cls, private_key: bytes, key_id: int) -> KeyPair:
        """Build a pair from the private half alone (public derived)."""
        return cls(
            key_id=key_id, private_key=bytes(private_key), public_key=public_key_from_private(private_key)
        )

    def is_consistent(self) -> bool:
        """True when the public half really is X25519(private, 9)."""
        return public_key_from_private(self.private_key) == self.public_key


def generate_key_pair(random: Random, key_id: int = 0) -> KeyPair:
    """A fresh pair from 32 injected random bytes (kept unclamped, like tweetnacl's ``box.keyPair``).

    ``key_id`` is 0 until the server assigns one in its registerE2EEPublicKey answer.
    """
    private = random(KEY_LENGTH)
    if len(private) != KEY_LENGTH:
        raise InvalidKey(f"random source returned {len(private)} bytes, wanted {KEY_LENGTH}")
    return KeyPair.from_private(private, key_id)


@dataclass(frozen=True, slots=True)
class PeerPublicKey:
    """Another account's public key, as negotiateE2EEPublicKey / getE2EEPublicKey report it."""

    mid: str
    key_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        _check_key(self.public_key, "public key")


@dataclass(frozen=True, slots=True)
class GroupKey:
    """A chat's group private key (e2ee-map §6.1) with its group key id."""

    chat_mid: str
    key_id: int
    private_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_key(self.private_key, "group private key")


class Keyring(Protocol):
    """Where the decryptor finds keys. Each method returns None when the key is not held.

    Implementations must keep every own key ever held (old messages name old ids) and cache peers' keys by
    (MID, key id); fetching missing keys over the network is the caller's business, not the crypto's.
    """

    def own_key(self, key_id: int) -> KeyPair | None:
        """Our own key pair with this key id."""
        ...

    def peer_public_key(self, mid: str, key_id: int) -> bytes | None:
        """The 32-byte public key ``mid`` registered under ``key_id``."""
        ...

    def group_key(self, chat_mid: str, key_id: int) -> GroupKey | None:
        """The group private key of ``chat_mid`` with this group key id."""
        ...


@dataclass
class MemoryKeyring:
    """A dictionary-backed :class:`Keyring` (tests, and the in-memory cache in front of a store)."""

    own: dict[int, KeyPair] = field(default_factory=dict)
    peers: dict[tuple[str, int], bytes] = field(default_factory=dict)
    groups: dict[tuple[str, int], GroupKey] = field(default_factory=dict)
    current_key_id: int | None = None

    def add_own(self, pair: KeyPair, *, current: bool = True) -> None:
        """Store an own pair by id (never replacing others); by default it becomes the current one."""
        self.own[pair.key_id] = pair
        if current or self.current_key_id is None:
            self.current_key_id = pair.key_id

    def add_peer(self, mid: str, key_id: int, public_key: bytes) -> None:
        _check_key(public_key, "public key")
        self.peers[(mid, key_id)] = bytes(public_key)

    def add_group(self, key: GroupKey) -> None:
        self.groups[(key.chat_mid, key.key_id)] = key

    def extend_peers(self, keys: Iterable[PeerPublicKey]) -> None:
        for key in keys:
            self.peers[(key.mid, key.key_id)] = key.public_key

    def current_own_key(self) -> KeyPair | None:
        """The pair we encrypt with (the most recently added as current)."""
        return None if self.current_key_id is None else self.own.get(self.current_key_id)

    def own_key(self, key_id: int) -> KeyPair | None:
        return self.own.get(key_id)

    def peer_public_key(self, mid: str, key_id: int) -> bytes | None:
        return self.peers.get((mid, key_id))

    def group_key(self, chat_mid: str, key_id: int) -> GroupKey | None:
        return self.groups.get((chat_mid, key_id))
