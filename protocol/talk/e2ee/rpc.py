"""Sans-I/O Talk RPCs for Letter Sealing keys (e2ee-map §3): request bodies out, typed results in.

Each builder returns a :class:`~linecall.protocol.talk.service.TalkCall` like the rest of the Talk service
layer: POST ``call.body`` to ``call.path`` and hand the reply body to ``call.parse``. Server refusals come
back as :class:`~linecall.protocol.thrift.errors.TalkException` (e.g. NOT_FOUND from
getLastE2EEGroupSharedKey when the chat has no group key yet), malformed replies as ThriftDecodeError.

Requests are byte-identical to linejs's except ``registerE2EEPublicKey``, whose ``keyData`` linejs fills
with the 44-byte base64 text of the key; we send the 32 raw bytes every reader expects (e2ee-map §2.5,
§10 item 2). ``getE2EEPublicKey`` and ``getE2EEGroupSharedKey`` are never called by linejs; they fetch a
key by id, which is what a daemon needs for messages under older keys (§8.3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from linecall.protocol.talk.service import TalkCall, read_result, talk_call, talk_path
from linecall.protocol.thrift import values as tv
from linecall.protocol.thrift.errors import ThriftDecodeError
from linecall.protocol.thrift.values import Protocol, Struct, TMap, TType

from .group import GroupKeyRegistration, GroupSharedKey
from .keys import KEY_LENGTH, PeerPublicKey

T = TypeVar("T")

PUBLIC_KEY_VERSION = 1
"""``Pb1_C13097n4.version`` in every example and in what linejs registers."""
GROUP_KEY_READ_VERSION = 2
"""keyVersion linejs sends when reading group keys (E2:166)."""
GROUP_KEY_REGISTER_VERSION = 1
"""keyVersion linejs sends when registering one (E2:286); which is right is unknown (§10 item 6)."""
SPEC_VERSION_UNSUPPORTED = -1


@dataclass(frozen=True, slots=True)
class E2EEPublicKey:
    """``Pb1_C13097n4``: a registered public key (ours or a peer's) with its server-assigned id."""

    version: int | None
    key_id: int
    key_data: bytes
    created_time: int | None = None

    def for_peer(self, mid: str) -> PeerPublicKey:
        """As a cacheable peer key; raises InvalidKey unless ``key_data`` is 32 raw bytes."""
        return PeerPublicKey(mid, self.key_id, self.key_data)

    def to_thrift(self) -> Struct:
        return tv.struct(
            (1, tv.i32(self.version)),
            (2, tv.i32(self.key_id)),
            (4, tv.Binary(self.key_data)),
            (5, tv.i64(self.created_time)),
        )

    @classmethod
    def from_thrift(cls, s: Struct) -> E2EEPublicKey:
        key_id, data = s.opt_i32(2), s.opt_binary(4)
        if key_id is None or data is None:
            raise ThriftDecodeError("E2EE public key without keyId or keyData")
        return cls(s.opt_i32(1), key_id, data, s.opt_i64(5))


@dataclass(frozen=True, slots=True)
class NegotiationResult:
    """``E2EENegotiationResult``: the peer's *current* key and spec version (-1: no Letter Sealing)."""

    public_key: E2EEPublicKey | None
    spec_version: int | None
    allowed_types: frozenset[int] = field(default=frozenset())

    @property
    def supports_e2ee(self) -> bool:
        return self.public_key is not None and self.spec_version != SPEC_VERSION_UNSUPPORTED


def _call(
    method: str, protocol: Protocol, args: Struct, parser: Callable[[bytes, Protocol], T]
) -> TalkCall[T]:
    return talk_call(method, talk_path(protocol), protocol, args, parser)


def _success_struct(body: bytes, protocol: Protocol, method: str) -> Struct:
    success = read_result(body, protocol, method).opt_struct(0)
    if success is None:
        raise ThriftDecodeError(f"{method}: the result carries no success value")
    return success


def group_shared_key_from_thrift(s: Struct) -> GroupSharedKey:
    """``Pb1_U3`` -> :class:`GroupSharedKey` (every field but allowedTypes/specVersion is required)."""
    values = (s.opt_i32(2), s.opt_text(3), s.opt_i32(4), s.opt_text(5), s.opt_i32(6), s.opt_binary(7))
    group_key_id, creator, creator_key_id, receiver, receiver_key_id, wrapped = values
    if (
        group_key_id is None
        or creator is None
        or creator_key_id is None
        or receiver is None
        or receiver_key_id is None
        or wrapped is None
    ):
        raise ThriftDecodeError("group shared key lacks one of fields 2-7")
    return GroupSharedKey(
        key_version=s.opt_i32(1) or 0,
        group_key_id=group_key_id,
        creator=creator,
        creator_key_id=creator_key_id,
        receiver=receiver,
        receiver_key_id=receiver_key_id,
        encrypted_shared_key=wrapped,
        allowed_types=frozenset(s.opt_i32_list(8) or ()),
        spec_version=s.opt_i32(9),
    )


# --- 1:1 keys -------------------------------------------------------------------------------------------


def negotiate_e2ee_public_key(
    mid: str, *, protocol: Protocol = Protocol.COMPACT
) -> TalkCall[NegotiationResult]:
    """``negotiateE2EEPublicKey(2: mid)``: the peer's current key and spec version."""
    return _call(
        "negotiateE2EEPublicKey", protocol, tv.struct((2, tv.text(mid))), parse_negotiate_e2ee_public_key
    )


def parse_negotiate_e2ee_public_key(body: bytes, protocol: Protocol = Protocol.COMPACT) -> NegotiationResult:
    s = _success_struct(body, protocol, "negotiateE2EEPublicKey")
    key = s.opt_struct(2)
    return NegotiationResult(
        public_key=None if key is None else E2EEPublicKey.from_thrift(key),
        spec_version=s.opt_i32(3),
        allowed_types=frozenset(s.opt_i32_list(1) or ()),
    )


def get_e2ee_public_key(
    mid: str, key_id: int, *, key_version: int = PUBLIC_KEY_VERSION, protocol: Protocol = Protocol.COMPACT
) -> TalkCall[E2EEPublicKey]:
    """``getE2EEPublicKey(2: mid, 3: keyVersion, 4: keyId)``: a peer's key by id (keyVersion uncertain)."""
    args = tv.struct((2, tv.text(mid)), (3, tv.i32(key_version)), (4, tv.i32(key_id)))
    return _call("getE2EEPublicKey", protocol, args, parse_get_e2ee_public_key)


def parse_get_e2ee_public_key(body: bytes, protocol: Protocol = Protocol.COMPACT) -> E2EEPublicKey:
    return E2EEPublicKey.from_thrift(_success_struct(body, protocol, "getE2EEPublicKey"))


def get_e2ee_public_keys(*, protocol: Protocol = Protocol.COMPACT) -> TalkCall[tuple[E2EEPublicKey, ...]]:
    """``getE2EEPublicKeys()``: every key registered on our own account (the QR-login server check)."""
    return _call("getE2EEPublicKeys", protocol, tv.struct(), parse_get_e2ee_public_keys)


def parse_get_e2ee_public_keys(
    body: bytes, protocol: Protocol = Protocol.COMPACT
) -> tuple[E2EEPublicKey, ...]:
    items = read_result(body, protocol, "getE2EEPublicKeys").opt_struct_list(0)
    if items is None:
        raise ThriftDecodeError("getE2EEPublicKeys: the result carries no success value")
    return tuple(E2EEPublicKey.from_thrift(item) for item in items)


def registered_key_map(keys: tuple[E2EEPublicKey, ...]) -> dict[int, bytes]:
    """getE2EEPublicKeys as ``{key id: public key}``, the form :func:`.qr.unwrap_key_chain` checks."""
    return {key.key_id: key.key_data for key in keys}


def register_e2ee_public_key(
    public_key: bytes, *, version: int = PUBLIC_KEY_VERSION, protocol: Protocol = Protocol.COMPACT
) -> TalkCall[E2EEPublicKey]:
    """``registerE2EEPublicKey(2: {1 version, 2 keyId 0, 4 keyData, 5 createdTime 0})`` with the 32 *raw*
    key bytes (linejs sends base64 text here). The answer carries the key id the server assigned.

    Registering replaces what peers encrypt to: never call this on an account that already has a key
    unless the user asked for it (it splits the account's Letter Sealing).
    """
    if len(public_key) != KEY_LENGTH:
        raise ValueError(f"a public key is {KEY_LENGTH} raw bytes, got {len(public_key)}")
    request = E2EEPublicKey(version, 0, bytes(public_key), 0)
    return _call(
        "registerE2EEPublicKey", protocol, tv.struct((2, request.to_thrift())), parse_register_e2ee_public_key
    )


def parse_register_e2ee_public_key(body: bytes, protocol: Protocol = Protocol.COMPACT) -> E2EEPublicKey:
    return E2EEPublicKey.from_thrift(_success_struct(body, protocol, "registerE2EEPublicKey"))


# --- group keys -----------------------------------------------------------------------------------------


def get_last_e2ee_group_shared_key(
    chat_mid: str, *, key_version: int = GROUP_KEY_READ_VERSION, protocol: Protocol = Protocol.COMPACT
) -> TalkCall[GroupSharedKey]:
    """``getLastE2EEGroupSharedKey(2: keyVersion, 3: chatMid)``; TalkException NOT_FOUND when none exists."""
    args = tv.struct((2, tv.i32(key_version)), (3, tv.text(chat_mid)))
    return _call("getLastE2EEGroupSharedKey", protocol, args, parse_get_last_e2ee_group_shared_key)


def parse_get_last_e2ee_group_shared_key(
    body: bytes, protocol: Protocol = Protocol.COMPACT
) -> GroupSharedKey:
    return group_shared_key_from_thrift(_success_struct(body, protocol, "getLastE2EEGroupSharedKey"))


def get_e2ee_group_shared_key(
    chat_mid: str,
    group_key_id: int,
    *,
    key_version: int = GROUP_KEY_READ_VERSION,
    protocol: Protocol = Protocol.COMPACT,
) -> TalkCall[GroupSharedKey]:
    """``getE2EEGroupSharedKey(2: keyVersion, 3: chatMid, 4: groupKeyId)``: an older group key by id."""
    args = tv.struct((2, tv.i32(key_version)), (3, tv.text(chat_mid)), (4, tv.i32(group_key_id)))
    return _call("getE2EEGroupSharedKey", protocol, args, parse_get_e2ee_group_shared_key)


def parse_get_e2ee_group_shared_key(body: bytes, protocol: Protocol = Protocol.COMPACT) -> GroupSharedKey:
    return group_shared_key_from_thrift(_success_struct(body, protocol, "getE2EEGroupSharedKey"))


def get_last_e2ee_public_keys(
    chat_mid: str, *, protocol: Protocol = Protocol.COMPACT
) -> TalkCall[dict[str, E2EEPublicKey]]:
    """``getLastE2EEPublicKeys(2: chatMid)``: every member's current key, in the server's order."""
    return _call(
        "getLastE2EEPublicKeys", protocol, tv.struct((2, tv.text(chat_mid))), parse_get_last_e2ee_public_keys
    )


def parse_get_last_e2ee_public_keys(
    body: bytes, protocol: Protocol = Protocol.COMPACT
) -> dict[str, E2EEPublicKey]:
    value = read_result(body, protocol, "getLastE2EEPublicKeys").get(0)
    if not isinstance(value, TMap):
        raise ThriftDecodeError("getLastE2EEPublicKeys: the result carries no map")
    if value.items and (value.ktype != TType.STRING or value.vtype != TType.STRUCT):
        raise ThriftDecodeError("getLastE2EEPublicKeys: expected map<string, struct>")
    result: dict[str, E2EEPublicKey] = {}
    for key, item in value.items:
        if not isinstance(key, tv.Binary) or not isinstance(item, Struct):
            raise ThriftDecodeError("getLastE2EEPublicKeys: malformed map entry")
        result[tv.decode_text(key.value, "member mid")] = E2EEPublicKey.from_thrift(item)
    return result


def member_keys(keys: Mapping[str, E2EEPublicKey]) -> list[PeerPublicKey]:
    """getLastE2EEPublicKeys as the member list :func:`.group.create_group_key` wraps for (same order)."""
    return [key.for_peer(mid) for mid, key in keys.items()]


def register_e2ee_group_key(
    registration: GroupKeyRegistration,
    *,
    key_version: int = GROUP_KEY_REGISTER_VERSION,
    protocol: Protocol = Protocol.COMPACT,
) -> TalkCall[GroupSharedKey]:
    """``registerE2EEGroupKey(2 keyVersion, 3 chatMid, 4 members, 5 keyIds, 6 encryptedSharedKeys)``; the
    answer is our own ``Pb1_U3`` for the new key (open it with :func:`.group.open_group_shared_key`)."""
    args = tv.struct(
        (2, tv.i32(key_version)),
        (3, tv.text(registration.chat_mid)),
        (4, tv.text_list(registration.members)),
        (5, tv.TList(TType.I32, tuple(tv.I32(k) for k in registration.key_ids))),
        (6, tv.binary_list(registration.encrypted_shared_keys)),
    )
    return _call("registerE2EEGroupKey", protocol, args, parse_register_e2ee_group_key)


def parse_register_e2ee_group_key(body: bytes, protocol: Protocol = Protocol.COMPACT) -> GroupSharedKey:
    return group_shared_key_from_thrift(_success_struct(body, protocol, "registerE2EEGroupKey"))
