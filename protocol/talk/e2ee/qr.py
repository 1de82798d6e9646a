"""Receiving the account's key pair at QR ("ForSecure") login: e2ee-map §2.4.

The new (secondary) device puts a one-time X25519 public key into the QR URL; the phone answers with
``e2eeInfo`` = {encryptedKeyChain, publicKey, keyId, e2eeVersion}. The key chain is AES-256-CBC under
SHA256(X25519(QR private, phone public) || "Key") with IV fold(SHA256(... || "IV")), and its plaintext is a
compact-protocol Thrift struct ``E2EEKeyChain {1: list<Pb1_V3 {1 version i32, 2 keyId i32, 4 publicKey
binary, 5 privateKey binary, 6 createdTime i64}>}``. Whether the phone pads is unknown, so the struct is
parsed from the raw blocks and whatever follows it is ignored.

Before the key may be stored, both checks of step 4 must pass: X25519(private, 9) equals the chain's public
key, and the public key the server lists for that key id (getE2EEPublicKeys) equals it too.

The struct is read with ``linecall.protocol.thrift.compact``; its bare-struct decoder insists on consuming
every byte, so the chain is handed to the message decoder behind a synthetic empty-name envelope, which
parses exactly one struct and ignores what follows (the padding).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from linecall.protocol.thrift import compact
from linecall.protocol.thrift.errors import ThriftDecodeError
from linecall.protocol.thrift.values import DecodeLimits, Struct

from .crypto import unwrap
from .errors import E2EEError, KeyChainError, KeyChainMismatch
from .keys import KEY_LENGTH, KeyPair, parse_key_id, public_key_from_private, x25519

QR_E2EE_VERSION = 1
"""The ``e2eeVersion`` the QR URL announces (e2ee-map §2.4 step 1)."""


def qr_secret_query(public_key: bytes) -> str:
    """The query string appended to the QR callback URL: ``?secret=<base64, URI-encoded>&e2eeVersion=1``."""
    encoded = urllib.parse.quote(base64.b64encode(public_key).decode("ascii"), safe="")
    return f"?secret={encoded}&e2eeVersion={QR_E2EE_VERSION}"


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str | bytes):
        raise KeyChainError(f"e2eeInfo.{what} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyChainError(f"e2eeInfo.{what} is not base64") from exc


@dataclass(frozen=True, slots=True)
class E2EEInfo:
    """The phone's answer: the wrapped key chain, its X25519 public key, and the key id to store under."""

    encrypted_key_chain: bytes = field(repr=False)
    public_key: bytes
    key_id: int
    e2ee_version: int


def parse_e2ee_info(info: Mapping[str, object]) -> E2EEInfo:
    """Read the e2eeInfo map (string members, base64 binaries, key id as a decimal string)."""
    try:
        key_id = parse_key_id(info.get("keyId"))
    except E2EEError as exc:
        raise KeyChainError("e2eeInfo.keyId is missing or not an integer") from exc
    version_raw = info.get("e2eeVersion", QR_E2EE_VERSION)
    try:
        version = parse_key_id(version_raw)
    except E2EEError as exc:
        raise KeyChainError("e2eeInfo.e2eeVersion is not an integer") from exc
    public = _b64(info.get("publicKey"), "publicKey")
    if len(public) != KEY_LENGTH:
        raise KeyChainError(f"e2eeInfo.publicKey is {len(public)} bytes, wanted {KEY_LENGTH}")
    return E2EEInfo(_b64(info.get("encryptedKeyChain"), "encryptedKeyChain"), public, key_id, version)


# --- the key chain --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyChainEntry:
    """One ``Pb1_V3`` of the key chain."""

    version: int | None
    key_id: int | None
    public_key: bytes
    private_key: bytes = field(repr=False)
    created_time: int | None


_ENVELOPE = bytes([0x82, 0x21, 0x00, 0x00])
"""Compact CALL header with seqid 0 and an empty method name: lets ``decode_message`` read a bare struct."""

_CHAIN_LIMITS = DecodeLimits(max_depth=8, max_items=1024)


def read_compact_struct(data: bytes) -> Struct:
    """One compact-protocol struct from the start of ``data``; trailing bytes are ignored.

    Raises :class:`KeyChainError` for anything that is not a well-formed struct.
    """
    try:
        return compact.decode_message(_ENVELOPE + bytes(data), _CHAIN_LIMITS).body
    except ThriftDecodeError as exc:
        raise KeyChainError(f"key chain is not a compact Thrift struct: {exc}") from exc


def parse_key_chain(plaintext: bytes) -> tuple[KeyChainEntry, ...]:
    """The entries of an ``E2EEKeyChain`` struct; bytes after the struct (padding) are ignored."""
    chain = read_compact_struct(plaintext)
    try:
        keys = chain.opt_struct_list(1)
        if not keys:
            raise KeyChainError("key chain has no keys")
        entries = []
        for item in keys:
            public, private = item.opt_binary(4), item.opt_binary(5)
            if public is None or private is None:
                raise KeyChainError("key chain entry lacks its public or private key")
            if len(public) != KEY_LENGTH or len(private) != KEY_LENGTH:
                raise KeyChainError("key chain entry keys are not 32 bytes")
            entries.append(KeyChainEntry(item.opt_i32(1), item.opt_i32(2), public, private, item.opt_i64(6)))
    except ThriftDecodeError as exc:  # a field of an unexpected wire type
        raise KeyChainError(f"key chain struct has an unexpected shape: {exc}") from exc
    return tuple(entries)


def decrypt_key_chain(qr_private_key: bytes, info: E2EEInfo) -> tuple[KeyChainEntry, ...]:
    """Step 3: unwrap the chain with X25519(QR private, phone public) and parse it (padding not checked)."""
    secret = x25519(qr_private_key, info.public_key)
    try:
        plain = unwrap(secret, info.encrypted_key_chain, check_padding=False)
    except E2EEError as exc:
        raise KeyChainError("encrypted key chain is not whole AES blocks") from exc
    return parse_key_chain(plain)


@dataclass(frozen=True, slots=True)
class UnwrappedKeyChain:
    """The account's current key pair (to store under e2eeInfo.keyId) and any older pairs the chain held."""

    current: KeyPair
    older: tuple[KeyPair, ...] = ()


def unwrap_key_chain(
    qr_private_key: bytes, info: E2EEInfo, registered_keys: Mapping[int, bytes] | None
) -> UnwrappedKeyChain:
    """Steps 3 and 4 of e2ee-map §2.4; raises :class:`KeyChainMismatch` when a check fails.

    ``registered_keys`` is the account's getE2EEPublicKeys answer as {key id: public key}, or None when that
    lookup failed. Like linejs, the server check passes when the lookup failed or lists no such key id; it
    fails when the listed key differs. The first chain entry is the current key and is stored under
    ``info.key_id`` (not the entry's own id); further entries that pass the derivation check are returned
    as older keys under their own ids, so history addressed to them stays readable.
    """
    entries = decrypt_key_chain(qr_private_key, info)
    first = entries[0]
    if public_key_from_private(first.private_key) != first.public_key:
        raise KeyChainMismatch("the chain's private key does not derive to its public key")
    if registered_keys is not None:
        listed = registered_keys.get(info.key_id)
        if listed is not None and bytes(listed) != first.public_key:
            raise KeyChainMismatch("the server lists another public key for this key id")
    current = KeyPair(key_id=info.key_id, private_key=first.private_key, public_key=first.public_key)
    older = tuple(
        KeyPair(key_id=entry.key_id, private_key=entry.private_key, public_key=entry.public_key)
        for entry in entries[1:]
        if entry.key_id is not None
        and entry.key_id != info.key_id
        and public_key_from_private(entry.private_key) == entry.public_key
    )
    return UnwrappedKeyChain(current, older)
