"""Receiving the account's key pair at QR ("ForSecure") login: e2ee-map §2.4.

The new (secondary) device puts a one-time X25519 public key into the QR URL; the phone answers with
``e2eeInfo`` = {encryptedKeyChain, publicKey, keyId, e2eeVersion}. The key chain is AES-256-CBC under
SHA256(X25519(QR private, phone public) || "Key") with IV fold(SHA256(... || "IV")), and its plaintext is a
compact-protocol Thrift struct ``E2EEKeyChain {1: list<Pb1_V3 {1 version i32, 2 keyId i32, 4 publicKey
binary, 5 privateKey binary, 6 createdTime i64}>}``. Whether the phone pads is unknown, so the struct is
parsed from the raw blocks and whatever follows it is ignored.

Before the key may be stored, both checks of step 4 must pass: X25519(private, 9) equals the chain's public
key, and the public key the server lists for that key id (getE2EEPublicKeys) equals it too.

The Thrift codec of ``linecall.protocol.thrift`` did not exist when this was written, so a small strict
compact-protocol reader lives here; it only ever sees the decrypted key chain.
"""

from __future__ import annotations

import base64
import binascii
import struct
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

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


# --- a minimal strict reader for Thrift compact structs -------------------------------------------------

_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)
_MAX_DEPTH = 16

ThriftValue = bool | int | float | bytes | list["ThriftValue"] | dict["ThriftValue", "ThriftValue"]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise KeyChainError("key chain struct is truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise KeyChainError("key chain struct is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def varint(self) -> int:
        result = 0
        for shift in range(0, 70, 7):
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
        raise KeyChainError("varint longer than 10 bytes")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, ttype: int, depth: int) -> ThriftValue:
        if depth > _MAX_DEPTH:
            raise KeyChainError("key chain struct nested too deeply")
        if ttype in (_TRUE, _FALSE):
            return ttype == _TRUE
        if ttype == _BYTE:
            return self.byte()
        if ttype in (_I16, _I32, _I64):
            return self.zigzag()
        if ttype == _DOUBLE:
            return float(struct.unpack("<d", self.take(8))[0])
        if ttype == _BINARY:
            return self.take(self.varint())
        if ttype in (_LIST, _SET):
            header = self.byte()
            size = header >> 4
            if size == 15:
                size = self.varint()
            elem = header & 0x0F
            if size > len(self.data) - self.pos:
                raise KeyChainError("list longer than the remaining bytes")
            if elem in (_TRUE, _FALSE):  # booleans inside collections are one byte each
                return [self.byte() == 1 for _ in range(size)]
            return [self.value(elem, depth + 1) for _ in range(size)]
        if ttype == _MAP:
            size = self.varint()
            if size == 0:
                return {}
            if 2 * size > len(self.data) - self.pos:
                raise KeyChainError("map longer than the remaining bytes")
            kinds = self.byte()
            result: dict[ThriftValue, ThriftValue] = {}
            for _ in range(size):
                key = self.value(kinds >> 4, depth + 1)
                if isinstance(key, list | dict):
                    raise KeyChainError("unhashable map key in key chain")
                result[key] = self.value(kinds & 0x0F, depth + 1)
            return result
        if ttype == _STRUCT:
            return self.struct(depth + 1)
        raise KeyChainError(f"unknown compact type {ttype}")

    def struct(self, depth: int = 0) -> dict[ThriftValue, ThriftValue]:
        fields: dict[ThriftValue, ThriftValue] = {}
        last = 0
        while True:
            header = self.byte()
            ttype = header & 0x0F
            if ttype == _STOP:
                if header != 0:
                    raise KeyChainError("malformed stop byte")
                return fields
            delta = header >> 4
            fid = last + delta if delta else self.zigzag()
            last = fid
            fields[fid] = self.value(ttype, depth)


def read_compact_struct(data: bytes) -> tuple[dict[ThriftValue, ThriftValue], int]:
    """Parse one compact-protocol struct from the start of ``data``: (fields by id, bytes consumed)."""
    reader = _Reader(data)
    return reader.struct(), reader.pos


# --- the key chain --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyChainEntry:
    """One ``Pb1_V3`` of the key chain."""

    version: int | None
    key_id: int | None
    public_key: bytes
    private_key: bytes = field(repr=False)
    created_time: int | None


def _opt_int(fields: Mapping[ThriftValue, ThriftValue], fid: int) -> int | None:
    value = fields.get(fid)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_int32(value: int | None) -> bool:
    return value is not None and -(2**31) <= value < 2**31


def parse_key_chain(plaintext: bytes) -> tuple[KeyChainEntry, ...]:
    """The entries of an ``E2EEKeyChain`` struct; bytes after the struct (padding) are ignored."""
    fields, _ = read_compact_struct(plaintext)
    keys = fields.get(1)
    if not isinstance(keys, list) or not keys:
        raise KeyChainError("key chain has no keys")
    entries = []
    for item in keys:
        if not isinstance(item, dict):
            raise KeyChainError("key chain entry is not a struct")
        public, private = item.get(4), item.get(5)
        if not isinstance(public, bytes) or not isinstance(private, bytes):
            raise KeyChainError("key chain entry lacks its public or private key")
        if len(public) != KEY_LENGTH or len(private) != KEY_LENGTH:
            raise KeyChainError("key chain entry keys are not 32 bytes")
        entries.append(
            KeyChainEntry(_opt_int(item, 1), _opt_int(item, 2), public, private, _opt_int(item, 6))
        )
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
        and _is_int32(entry.key_id)
        and entry.key_id != info.key_id
        and public_key_from_private(entry.private_key) == entry.public_key
    )
    return UnwrappedKeyChain(current, older)
