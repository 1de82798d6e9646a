"""Letter Sealing at the level of a Talk ``Message``: decide whether to decrypt, pick the keys, decrypt
into text or a location, and build the chunks and ``contentMetadata`` of an encrypted reply.

Pure functions: keys come from a :class:`~.keys.Keyring`, randomness from ``random``. The caller wraps
:func:`decrypt_message` in a per-message error boundary (e2ee-map §8.3): every failure is an
:class:`~.errors.E2EEError` subclass naming its cause, and an undecryptable message must be skipped, never
dispatched as a command and never allowed to stop the listener.

Deliberate differences from linejs (e2ee-map §10): our own key is looked up strictly by the key id the
message names (no fallback to the current key, which could not open it anyway); peers' keys by (MID, key id);
e2eeVersion values other than "1" and "2" are refused instead of being treated as v1; v1 requires valid
padding; locations are decrypted with the same key choice as text and content type 15 in the AAD (§7.1);
we refuse to send when the peer's negotiated spec version is not 2 (§10 item 1).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

from linecall.protocol.talk.structs import ContentType, MidType

from .crypto import SPEC_VERSION, Chunks, decrypt_v1, decrypt_v2, encrypt_v2, parse_chunks
from .errors import (
    BadPlaintext,
    E2EEError,
    InvalidMid,
    NoGroupKey,
    UnknownOwnKeyId,
    UnknownPeerKey,
    UnsupportedVersion,
)
from .group import decrypt_group_message, encrypt_group_message
from .keys import GroupKey, KeyPair, Keyring, PeerPublicKey, Random, x25519

__all__ = [
    "DecryptedContent",
    "EncryptedMessage",
    "Location",
    "content_type_code",
    "decrypt_message",
    "e2ee_metadata",
    "encode_payload",
    "encrypt_location",
    "encrypt_payload",
    "encrypt_text_reply",
    "is_e2ee_message",
    "to_type_code",
]


def _enum_code(value: int | str, enum: type[IntEnum], error: type[E2EEError], what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in enum.__members__:
            return int(enum.__members__[value])
        if value.isascii() and value.isdigit():
            return int(value)
    raise error(f"unknown {what} {value!r}")


def content_type_code(value: int | str | None) -> int:
    """The numeric content type whether it arrives as a number, an enum name ("LOCATION") or a decimal
    string; this is what goes into the AAD (linejs turns names into 0 by accident, §7.1). None (the field
    left off the wire) is Thrift's default, NONE."""
    if value is None:
        return int(ContentType.NONE)
    return _enum_code(value, ContentType, E2EEError, "content type")


_MID_PREFIX_TYPES = {"u": MidType.USER, "r": MidType.ROOM, "c": MidType.GROUP}


def to_type_code(value: int | str | None, to_mid: str = "") -> int:
    """The numeric ``toType`` from a number or an enum name ("USER", "GROUP", ...); when it is None, from
    the recipient MID's type letter (u, r, c)."""
    if value is None:
        kind = _MID_PREFIX_TYPES.get(to_mid[:1])
        if kind is None:
            raise InvalidMid("no toType and a recipient MID of unknown type")
        return int(kind)
    return _enum_code(value, MidType, InvalidMid, "to type")


_DECRYPTED_TYPES = frozenset({ContentType.NONE, ContentType.LOCATION})


def is_e2ee_message(chunks: Sequence[bytes] | None, content_type: int | str | None) -> bool:
    """True when the message is one we decrypt: non-empty ``chunks`` and content type text or location.

    Other content types with chunks (images, files, stickers) are left alone as linejs does; an empty list
    is a plain message (linejs throws on it, §10 item 10).
    """
    if not chunks:
        return False
    try:
        return content_type_code(content_type) in _DECRYPTED_TYPES
    except E2EEError:
        return False


@dataclass(frozen=True, slots=True)
class Location:
    """The decrypted ``location`` object of a contentType 15 message; ``fields`` keeps every member."""

    title: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    fields: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class DecryptedContent:
    """What a decrypted message says. ``text`` is set for text (possibly ""), ``location`` for locations.

    ``metadata`` is the envelope's contentMetadata with every other key of the decrypted JSON merged in
    (strings as is, other values as compact JSON), as linejs does (§5.6); for locations it is the envelope's.
    """

    content_type: int
    version: int
    sender_key_id: int
    receiver_key_id: int
    text: str | None = field(default=None, repr=False)
    location: Location | None = field(default=None, repr=False)
    metadata: Mapping[str, str] = field(default_factory=dict, repr=False)


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON as JavaScript's JSON.stringify writes it: no spaces, non-ASCII raw (e2ee-map §4.6)."""
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError (lone surrogate) is a ValueError
        raise BadPlaintext("payload cannot be written as UTF-8 JSON") from exc


def _js_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _decode_payload(plain: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadPlaintext("plaintext is not UTF-8 JSON") from exc
    if not isinstance(obj, dict):
        raise BadPlaintext("plaintext JSON is not an object")
    return obj


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _location(payload: Mapping[str, Any]) -> Location:
    raw = payload.get("location")
    if not isinstance(raw, dict):
        raise BadPlaintext("location message without a location object")
    return Location(
        title=_string(raw.get("title")),
        address=_string(raw.get("address")),
        latitude=_number(raw.get("latitude")),
        longitude=_number(raw.get("longitude")),
        fields=dict(raw),
    )


def _version(metadata: Mapping[str, str] | None) -> int:
    label = (metadata or {}).get("e2eeVersion") or "2"
    if label == "2":
        return 2
    if label == "1":
        return 1
    raise UnsupportedVersion("e2eeVersion is neither 1 nor 2")


def _own(keyring: Keyring, key_id: int) -> KeyPair:
    pair = keyring.own_key(key_id)
    if pair is None:
        raise UnknownOwnKeyId(key_id)
    return pair


def _peer(keyring: Keyring, mid: str, key_id: int) -> bytes:
    public = keyring.peer_public_key(mid, key_id)
    if public is None:
        raise UnknownPeerKey(mid, key_id)
    return public


def _open_one_to_one(
    parsed: Chunks, version: int, ct: int, *, from_mid: str, to_mid: str, self_mid: str, keyring: Keyring
) -> bytes:
    # Our own sent copy (SEND_MESSAGE on another device) names our key as the sender.
    is_self = from_mid == self_mid
    own_id = parsed.sender_key_id if is_self else parsed.receiver_key_id
    peer_mid = to_mid if is_self else from_mid
    peer_id = parsed.receiver_key_id if is_self else parsed.sender_key_id
    own = _own(keyring, own_id)
    secret = x25519(own.private_key, _peer(keyring, peer_mid, peer_id))
    if version == 1:
        return decrypt_v1(secret, parsed)
    return decrypt_v2(secret, parsed, to=to_mid, from_=from_mid, content_type=ct)


def _open_group(
    parsed: Chunks, version: int, ct: int, *, from_mid: str, to_mid: str, self_mid: str, keyring: Keyring
) -> bytes:
    group_key = keyring.group_key(to_mid, parsed.receiver_key_id)
    if group_key is None:
        raise NoGroupKey(to_mid, parsed.receiver_key_id)
    if from_mid == self_mid:
        sender_public = _own(keyring, parsed.sender_key_id).public_key
    else:
        sender_public = _peer(keyring, from_mid, parsed.sender_key_id)
    return decrypt_group_message(
        group_key, sender_public, parsed, from_mid=from_mid, content_type=ct, version=version
    )


def decrypt_message(
    chunks: Sequence[bytes] | None,
    content_type: int | str | None,
    *,
    from_mid: str,
    to_mid: str,
    to_type: int | str | None,
    self_mid: str,
    keyring: Keyring,
    content_metadata: Mapping[str, str] | None = None,
) -> DecryptedContent | None:
    """Decrypt one message's ``chunks`` (e2ee-map §5, §6.5, §7.1).

    Returns None when there is nothing to decrypt (no chunks, or a content type other than text/location).
    Key choice: in a 1:1 chat our key is the receiver key id (chunk 4) and the peer's the sender key id
    (chunk 3) under ``from``; for our own sent copies the roles swap. In a group or room the group key is
    chunk 4 under the chat and the sender's key chunk 3 (ours when we sent it). The AAD is rebuilt from the
    envelope as it stands, with spec version 2 and the numeric content type.

    Raises :class:`MalformedChunks`, :class:`UnsupportedVersion`, :class:`UnknownOwnKeyId`,
    :class:`UnknownPeerKey`, :class:`NoGroupKey`, :class:`AuthenticationFailed`, :class:`BadPlaintext`,
    :class:`InvalidKey` (a stored peer key of low order), :class:`InvalidMid` -- all :class:`E2EEError`.
    """
    if chunks is None or not is_e2ee_message(chunks, content_type):
        return None
    ct = content_type_code(content_type)
    version = _version(content_metadata)
    parsed = parse_chunks(chunks, version)
    kind = to_type_code(to_type, to_mid)
    opener: Callable[..., bytes]
    if kind == MidType.USER:
        opener = _open_one_to_one
    elif kind in (MidType.ROOM, MidType.GROUP):
        opener = _open_group
    else:
        raise InvalidMid(f"no Letter Sealing for chats of to type {kind}")
    plain = opener(parsed, version, ct, from_mid=from_mid, to_mid=to_mid, self_mid=self_mid, keyring=keyring)
    payload = _decode_payload(plain)
    envelope = dict(content_metadata or {})
    if ct == ContentType.LOCATION:
        return DecryptedContent(
            ct,
            version,
            parsed.sender_key_id,
            parsed.receiver_key_id,
            location=_location(payload),
            metadata=envelope,
        )
    text = payload.get("text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise BadPlaintext("the text member is not a string")
    merged = envelope | {key: _js_string(value) for key, value in payload.items() if key != "text"}
    return DecryptedContent(
        ct, version, parsed.sender_key_id, parsed.receiver_key_id, text=text, metadata=merged
    )


class EncryptedMessage(NamedTuple):
    """What goes into the outgoing ``Message``: ``chunks`` (field 20) and ``contentMetadata`` (field 18);
    ``contentType`` stays as given and ``text`` must be left out (e2ee-map §4.8)."""

    chunks: list[bytes]
    content_metadata: dict[str, str]


def e2ee_metadata(content_type: int = 0) -> dict[str, str]:
    """The contentMetadata entries every encrypted message carries (§4.8)."""
    return {"e2eeVersion": "2", "contentType": str(content_type), "e2eeMark": "2"}


def encrypt_payload(
    payload: Mapping[str, Any],
    *,
    content_type: int,
    self_mid: str,
    own_key: KeyPair,
    recipient: PeerPublicKey | GroupKey,
    random: Random,
    spec_version: int = SPEC_VERSION,
    extra_metadata: Mapping[str, str] | None = None,
) -> EncryptedMessage:
    """v2-encrypt a JSON payload to a user (their current key, from negotiation) or a group/room (its group
    key). ``spec_version`` is what negotiation answered for a user; only 2 is sent (-1 means the peer has no
    Letter Sealing), as anything else would be unreadable (e2ee-map §10 item 1)."""
    plaintext = encode_payload(payload)
    if isinstance(recipient, GroupKey):
        if not recipient.chat_mid.startswith(("c", "r")):
            raise InvalidMid("a group key must belong to a group (c...) or room (r...)")
        chunks = encrypt_group_message(
            recipient, own_key, self_mid, plaintext, random=random, content_type=content_type
        )
    else:
        if not recipient.mid.startswith("u"):
            raise InvalidMid("1:1 Letter Sealing needs a user MID (u...)")
        if spec_version == -1:
            raise UnsupportedVersion("the peer does not support Letter Sealing (spec version -1)")
        if spec_version != SPEC_VERSION:
            raise UnsupportedVersion(f"peer spec version {spec_version}: only 2 is sent")
        chunks = encrypt_v2(
            x25519(own_key.private_key, recipient.public_key),
            plaintext,
            to=recipient.mid,
            from_=self_mid,
            sender_key_id=own_key.key_id,
            receiver_key_id=recipient.key_id,
            random=random,
            content_type=content_type,
            spec_version=SPEC_VERSION,
        )
    metadata = dict(extra_metadata or {}) | e2ee_metadata(content_type)
    return EncryptedMessage(chunks.to_list(), metadata)


def encrypt_text_reply(
    text: str,
    *,
    self_mid: str,
    own_key: KeyPair,
    recipient: PeerPublicKey | GroupKey,
    random: Random,
    spec_version: int = SPEC_VERSION,
    extra_metadata: Mapping[str, str] | None = None,
) -> EncryptedMessage:
    """Chunks and contentMetadata of an encrypted text message ``{"text": ...}`` (contentType 0)."""
    return encrypt_payload(
        {"text": text},
        content_type=ContentType.NONE,
        self_mid=self_mid,
        own_key=own_key,
        recipient=recipient,
        random=random,
        spec_version=spec_version,
        extra_metadata=extra_metadata,
    )


def encrypt_location(
    location: Mapping[str, Any],
    *,
    self_mid: str,
    own_key: KeyPair,
    recipient: PeerPublicKey | GroupKey,
    random: Random,
) -> EncryptedMessage:
    """Chunks and contentMetadata of an encrypted location ``{"location": {...}}`` (contentType 15)."""
    return encrypt_payload(
        {"location": dict(location)},
        content_type=ContentType.LOCATION,
        self_mid=self_mid,
        own_key=own_key,
        recipient=recipient,
        random=random,
    )
