"""Typed dataclasses for exactly the Talk/Call structs linecall exchanges, with their Thrift field ids.

Each dataclass field that lives on the wire is declared with :func:`tfield` (field id + codec), so the ids
are written down once and both directions (``from_thrift`` for replies, ``to_thrift`` for requests and the
loopback simulator) come from the same declaration. Field ids and enum values are LINE's IDL as linejs's
packages/types/thrift.ts records it (talk-map §4.7/§4.8/§5, planet-map §1.2/§1.3).

Every wire field is optional (``None`` = absent), as in Thrift: a reply that leaves a field out is
distinguishable from one that sends ``""``/``0``. Fields linecall does not model (Message.location,
reactions, Profile.avatarProfile, ...) are not lost: ``raw`` keeps the whole decoded struct for the structs
where later work may need them (Message, Operation, Profile, Chat).

Enum-typed fields hold the :class:`IntEnum` member when the value is known and the plain ``int``
otherwise, so a new server-side value never breaks decoding.
"""

# tfield() returns a dataclasses.field() carrying the Thrift id; RUF009 cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, TypeVar

from linecall.protocol.talk.sync import RevisionTriple
from linecall.protocol.thrift.errors import ThriftDecodeError
from linecall.protocol.thrift.values import (
    I32,
    I64,
    Binary,
    Byte,
    Struct,
    TList,
    TSet,
    TType,
    Value,
    binary_list,
    boolean,
    i32,
    i64,
    struct,
    text,
    text_list,
    text_map,
)

# ---------------------------------------------------------------------------------------------------- enums


class MidType(IntEnum):
    """``MIDType`` (Message.toType); the MID's first letter says the same thing (talk-map §4.9)."""

    USER = 0
    ROOM = 1
    GROUP = 2
    SQUARE = 3
    SQUARE_CHAT = 4
    SQUARE_MEMBER = 5
    BOT = 6
    SQUARE_THREAD = 7


class ContentType(IntEnum):
    NONE = 0
    IMAGE = 1
    VIDEO = 2
    AUDIO = 3
    HTML = 4
    PDF = 5
    CALL = 6
    STICKER = 7
    PRESENCE = 8
    GIFT = 9
    GROUPBOARD = 10
    APPLINK = 11
    LINK = 12
    CONTACT = 13
    FILE = 14
    LOCATION = 15
    POSTNOTIFICATION = 16
    RICH = 17
    CHATEVENT = 18
    MUSIC = 19
    PAYMENT = 20
    EXTIMAGE = 21
    FLEX = 22


class OpType(IntEnum):
    """The ``OpType`` values linecall meets or acts on (the full enum has ~160; others stay ints)."""

    END_OF_OPERATION = 0
    SEND_MESSAGE = 25
    RECEIVE_MESSAGE = 26
    SEND_MESSAGE_RECEIPT = 27
    RECEIVE_MESSAGE_RECEIPT = 28
    SEND_CHAT_CHECKED = 40
    SEND_CHAT_REMOVED = 41
    NOTIFIED_FORCE_SYNC = 42
    NOTIFIED_RECEIVED_CALL = 50
    CANCEL_CALL = 51
    FAILED_SEND_MESSAGE = 54
    NOTIFIED_READ_MESSAGE = 55
    NOTIFIED_JOIN_CHAT = 60
    NOTIFIED_LEAVE_CHAT = 61
    NOTIFIED_TYPING = 62
    NOTIFIED_E2EE_KEY_EXCHANGE_REQ = 73
    NOTIFIED_E2EE_KEY_EXCHANGE_RESP = 74
    NOTIFIED_E2EE_MESSAGE_RESEND_REQ = 75
    NOTIFIED_E2EE_MESSAGE_RESEND_RESP = 76
    NOTIFIED_E2EE_KEY_UPDATE = 77
    NOTIFIED_UPDATE_MESSAGE = 99
    CREATE_CHAT = 120
    UPDATE_CHAT = 121
    NOTIFIED_UPDATE_CHAT = 122
    INVITE_INTO_CHAT = 123
    NOTIFIED_INVITE_INTO_CHAT = 124
    DELETE_SELF_FROM_CHAT = 127
    NOTIFIED_DELETE_SELF_FROM_CHAT = 128
    ACCEPT_CHAT_INVITATION = 129
    NOTIFIED_ACCEPT_CHAT_INVITATION = 130
    DELETE_OTHER_FROM_CHAT = 132
    NOTIFIED_DELETE_OTHER_FROM_CHAT = 133
    SEND_REACTION = 139
    NOTIFIED_SEND_REACTION = 140
    DESTROY_MESSAGE = 64
    NOTIFIED_DESTROY_MESSAGE = 65


class OpStatus(IntEnum):
    NORMAL = 0
    ALERT_DISABLED = 1
    ALWAYS = 2


class MessageRelationType(IntEnum):
    FORWARD = 0
    AUTO_REPLY = 1
    SUBORDINATE = 2
    REPLY = 3


class ServiceCode(IntEnum):
    """``Message.relatedMessageServiceCode``."""

    UNKNOWN = 0
    TALK = 1
    SQUARE = 2


class CallType(IntEnum):
    """``acquireCallRoute`` callType (TT ``Pb1_D4``)."""

    AUDIO = 1
    VIDEO = 2
    FACEPLAY = 3


class GroupCallMediaType(IntEnum):
    """Group-call media type (TT ``Pb1_EnumC13237x5``) of acquireGroupCallRoute, inviteIntoGroupCall."""

    AUDIO = 1
    VIDEO = 2
    LIVE = 3
    PHOTOBOOTH = 4


class GroupCallProtocol(IntEnum):
    """GroupCall.protocol / GroupCallRoute.proto (TT ``Pb1_EnumC13251y5``)."""

    STANDARD = 1
    CONSTELLA = 2


class CallFlowType(IntEnum):
    """CallRoute.callFlowType (TT ``Pb1_EnumC13010h1``); PLANET is the flow linecall speaks."""

    NEW = 1
    PLANET = 2


class SyncReason(IntEnum):
    """getProfile's optional ``syncReason`` (TT ``Pb1_V7``)."""

    UNSPECIFIED = 0
    UNKNOWN = 1
    INITIALIZATION = 2
    OPERATION = 3
    FULL_SYNC = 4
    AUTO_REPAIR = 5
    MANUAL_REPAIR = 6
    INTERNAL = 7
    USER_INITIATED = 8
    PREMIUM_BACKUP_RESTORE = 9


class ChatType(IntEnum):
    """Chat.type (TT ``Pb1_Z2``)."""

    GROUP = 0
    ROOM = 1
    PEER = 2


_E = TypeVar("_E", bound=IntEnum)


def enum_or_int(enum: type[_E], value: int) -> _E | int:
    """``enum(value)`` when the value is known, else the int unchanged."""
    try:
        return enum(value)
    except ValueError:
        return value


# --------------------------------------------------------------------------------------- field codecs


@dataclass(frozen=True, slots=True)
class _Codec:
    read: Callable[[Struct, int], Any]
    write: Callable[[Any], Value | None]


def _enum_codec(enum: type[IntEnum]) -> _Codec:
    def read(s: Struct, fid: int) -> Any:
        v = s.opt_i32(fid)
        return None if v is None else enum_or_int(enum, v)

    return _Codec(read, i32)


def _struct_codec(cls: type[ThriftStruct]) -> _Codec:
    def read(s: Struct, fid: int) -> Any:
        v = s.opt_struct(fid)
        return None if v is None else cls.from_thrift(v)

    def write(v: Any) -> Value | None:
        return None if v is None else v.to_thrift()

    return _Codec(read, write)


def _i32_set_read(s: Struct, fid: int) -> Any:
    value = s.get(fid)
    if isinstance(value, TSet) and value.items and value.etype != TType.I32:
        raise ThriftDecodeError(f"field {fid}: expected a set of I32, got {value.etype.name}")
    return s.opt_i32_list(fid)


def _i32_set_write(v: Any) -> Value | None:
    return None if v is None else TSet(TType.I32, tuple(I32(x) for x in v))


T_TEXT = _Codec(Struct.opt_text, text)
T_BINARY = _Codec(Struct.opt_binary, lambda v: None if v is None else Binary(bytes(v)))
T_BOOL = _Codec(Struct.opt_bool, boolean)
T_I32 = _Codec(Struct.opt_i32, i32)
T_I64 = _Codec(Struct.opt_i64, i64)
T_BYTE = _Codec(Struct.opt_byte, lambda v: None if v is None else Byte(int(v)))
T_TEXT_LIST = _Codec(Struct.opt_text_list, text_list)
T_BINARY_LIST = _Codec(Struct.opt_binary_list, binary_list)
T_TEXT_MAP = _Codec(Struct.opt_text_map, text_map)
T_I32_SET = _Codec(_i32_set_read, _i32_set_write)
T_CALL_FLOW_TYPE = _enum_codec(CallFlowType)
T_CHAT_TYPE = _enum_codec(ChatType)
T_CONTENT_TYPE = _enum_codec(ContentType)
T_GROUP_CALL_MEDIA_TYPE = _enum_codec(GroupCallMediaType)
T_GROUP_CALL_PROTOCOL = _enum_codec(GroupCallProtocol)
T_MESSAGE_RELATION_TYPE = _enum_codec(MessageRelationType)
T_MID_TYPE = _enum_codec(MidType)
T_OP_STATUS = _enum_codec(OpStatus)
T_OP_TYPE = _enum_codec(OpType)
T_SERVICE_CODE = _enum_codec(ServiceCode)


def tfield(fid: int, codec: _Codec, *, secret: bool = False) -> Any:
    """Declare a dataclass field that is Thrift field ``fid``, read and written with ``codec``.

    ``secret`` keeps the value out of ``repr`` (call tokens, transport keys, message plaintext), so a struct
    that ends up in a log line or a traceback does not carry it along.
    """
    return field(default=None, repr=not secret, metadata={"thrift": (fid, codec)})


_S = TypeVar("_S", bound="ThriftStruct")


class ThriftStruct:
    """Base of the typed structs: ``from_thrift``/``to_thrift`` derived from the :func:`tfield` fields."""

    __slots__ = ()
    _schema_cache: ClassVar[dict[type, tuple[tuple[str, int, _Codec], ...]]] = {}

    @classmethod
    def _schema(cls) -> tuple[tuple[str, int, _Codec], ...]:
        schema = ThriftStruct._schema_cache.get(cls)
        if schema is None:
            entries = []
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                spec = f.metadata.get("thrift")
                if spec is not None:
                    entries.append((f.name, spec[0], spec[1]))
            schema = tuple(sorted(entries, key=lambda e: e[1]))
            ThriftStruct._schema_cache[cls] = schema
        return schema

    @classmethod
    def from_thrift(cls: type[_S], s: Struct) -> _S:
        """Build from a decoded struct; a field of the wrong wire type raises ThriftDecodeError."""
        kwargs: dict[str, Any] = {name: codec.read(s, fid) for name, fid, codec in cls._schema()}
        if "raw" in cls.__dataclass_fields__:  # type: ignore[attr-defined]
            kwargs["raw"] = s
        return cls(**kwargs)

    def to_thrift(self) -> Struct:
        """The struct with every non-None field, in ascending field id (the order linejs writes)."""
        return struct(*((fid, codec.write(getattr(self, name))) for name, fid, codec in self._schema()))


# ---------------------------------------------------------------------------------------------- structs


@dataclass(frozen=True, slots=True)
class Profile(ThriftStruct):
    """getProfile's result (TT Profile); ``mid`` is the account's own MID."""

    mid: str | None = tfield(1, T_TEXT)
    userid: str | None = tfield(3, T_TEXT)
    phone: str | None = tfield(10, T_TEXT)
    email: str | None = tfield(11, T_TEXT)
    region_code: str | None = tfield(12, T_TEXT)
    display_name: str | None = tfield(20, T_TEXT)
    phonetic_name: str | None = tfield(21, T_TEXT)
    picture_status: str | None = tfield(22, T_TEXT)
    thumbnail_url: str | None = tfield(23, T_TEXT)
    status_message: str | None = tfield(24, T_TEXT)
    allow_search_by_userid: bool | None = tfield(31, T_BOOL)
    allow_search_by_email: bool | None = tfield(32, T_BOOL)
    picture_path: str | None = tfield(33, T_TEXT)
    music_profile: str | None = tfield(34, T_TEXT)
    video_profile: str | None = tfield(35, T_TEXT)
    status_message_content_metadata: Mapping[str, str] | None = tfield(36, T_TEXT_MAP)
    nft_profile: bool | None = tfield(38, T_BOOL)
    profile_id: str | None = tfield(40, T_TEXT)
    created_time_millis: int | None = tfield(42, T_I64)
    raw: Struct | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Message(ThriftStruct):
    """A Talk message (TT Message, talk-map §4.8). ``chunks`` is the E2EE payload (raw bytes)."""

    from_: str | None = tfield(1, T_TEXT)
    to: str | None = tfield(2, T_TEXT)
    to_type: MidType | int | None = tfield(3, T_MID_TYPE)
    id: str | None = tfield(4, T_TEXT)
    created_time: int | None = tfield(5, T_I64)
    delivered_time: int | None = tfield(6, T_I64)
    text: str | None = tfield(10, T_TEXT, secret=True)
    has_content: bool | None = tfield(14, T_BOOL)
    content_type: ContentType | int | None = tfield(15, T_CONTENT_TYPE)
    content_preview: bytes | None = tfield(17, T_BINARY, secret=True)
    content_metadata: Mapping[str, str] | None = tfield(18, T_TEXT_MAP)
    session_id: int | None = tfield(19, T_BYTE)
    chunks: tuple[bytes, ...] | None = tfield(20, T_BINARY_LIST, secret=True)
    related_message_id: str | None = tfield(21, T_TEXT)
    message_relation_type: MessageRelationType | int | None = tfield(22, T_MESSAGE_RELATION_TYPE)
    read_count: int | None = tfield(23, T_I32)
    related_message_service_code: ServiceCode | int | None = tfield(24, T_SERVICE_CODE)
    app_extension_type: int | None = tfield(25, T_I32)
    updated_time: int | None = tfield(28, T_I64)
    raw: Struct | None = field(default=None, compare=False, repr=False)

    @property
    def is_e2ee(self) -> bool:
        """linejs's test (E2:718-742): chunks present on a text or location message."""
        return bool(self.chunks) and self.content_type in (None, ContentType.NONE, ContentType.LOCATION)


T_MESSAGE = _struct_codec(Message)


@dataclass(frozen=True, slots=True)
class Operation(ThriftStruct):
    """One entry of a sync reply (TT ``Pb1_C13154r6``, talk-map §4.7)."""

    revision: int | None = tfield(1, T_I64)
    created_time: int | None = tfield(2, T_I64)
    type: OpType | int | None = tfield(3, T_OP_TYPE)
    req_seq: int | None = tfield(4, T_I32)
    checksum: str | None = tfield(5, T_TEXT)
    status: OpStatus | int | None = tfield(7, T_OP_STATUS)
    param1: str | None = tfield(10, T_TEXT)
    param2: str | None = tfield(11, T_TEXT)
    param3: str | None = tfield(12, T_TEXT)
    message: Message | None = tfield(20, T_MESSAGE)
    raw: Struct | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class UndecodableOperation:
    """An operation whose struct arrived intact but does not fit the Operation schema.

    Kept in place (not dropped) so the listener can still advance past ``revision`` and log it; one bad
    operation must not sink the other operations of the same reply (linejs's listener dies there, §8).
    """

    revision: int | None
    type: int | None
    error: str
    raw: Struct = field(compare=False, repr=False)

    @classmethod
    def from_struct(cls, s: Struct, error: ThriftDecodeError) -> UndecodableOperation:
        revision = s.get(1)
        op_type = s.get(3)
        return cls(
            revision=revision.value if isinstance(revision, I64) else None,
            type=op_type.value if isinstance(op_type, I32) else None,
            error=str(error),
            raw=s,
        )


@dataclass(frozen=True, slots=True)
class SyncRequest(ThriftStruct):
    """``sync`` args fid 1 (TT SyncRequest). linejs always writes fields 1-4, zeros included."""

    last_revision: int | None = tfield(1, T_I64)
    count: int | None = tfield(2, T_I32)
    last_global_revision: int | None = tfield(3, T_I64)
    last_individual_revision: int | None = tfield(4, T_I64)
    full_sync_request_reason: int | None = tfield(5, T_I32)

    @classmethod
    def at(cls, position: RevisionTriple, count: int = 100) -> SyncRequest:
        return cls(position.revision, count, position.global_revision, position.individual_revision)

    @property
    def position(self) -> RevisionTriple:
        return RevisionTriple(
            self.last_revision or 0, self.last_global_revision or 0, self.last_individual_revision or 0
        )


@dataclass(frozen=True, slots=True)
class OperationResponse:
    """``OperationResponse`` with the two event revisions flattened (their event maps are not used)."""

    operations: tuple[Operation | UndecodableOperation, ...] = ()
    has_more_ops: bool | None = None
    global_last_revision: int | None = None
    individual_last_revision: int | None = None

    @classmethod
    def from_thrift(cls, s: Struct) -> OperationResponse:
        ops: list[Operation | UndecodableOperation] = []
        for item in s.opt_struct_list(1) or ():
            try:
                ops.append(Operation.from_thrift(item))
            except ThriftDecodeError as exc:
                ops.append(UndecodableOperation.from_struct(item, exc))
        global_events = s.opt_struct(3)
        individual_events = s.opt_struct(4)
        return cls(
            operations=tuple(ops),
            has_more_ops=s.opt_bool(2),
            global_last_revision=None if global_events is None else global_events.opt_i64(2),
            individual_last_revision=None if individual_events is None else individual_events.opt_i64(2),
        )

    def to_thrift(self) -> Struct:
        ops = tuple(op.to_thrift() if isinstance(op, Operation) else op.raw for op in self.operations)
        return struct(
            (1, TList(TType.STRUCT, ops)),
            (2, boolean(self.has_more_ops)),
            (3, _events_struct(self.global_last_revision)),
            (4, _events_struct(self.individual_last_revision)),
        )


def _events_struct(last_revision: int | None) -> Struct | None:
    # TGlobalEvents / TIndividualEvents with only field 2 (lastRevision) set.
    return None if last_revision is None else struct((2, i64(last_revision)))


@dataclass(frozen=True, slots=True)
class FullSyncResponse(ThriftStruct):
    """The server asks for a full sync and names the revision to continue from."""

    reasons: tuple[int, ...] | None = tfield(1, T_I32_SET)
    next_revision: int | None = tfield(2, T_I64)


@dataclass(frozen=True, slots=True)
class SyncResponse:
    """``sync``'s result (TT ``Pb1_X7``); ``partialFullSyncResponse`` (fid 3) stays in ``raw``."""

    operation_response: OperationResponse | None = None
    full_sync_response: FullSyncResponse | None = None
    raw: Struct | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_thrift(cls, s: Struct) -> SyncResponse:
        ops = s.opt_struct(1)
        full = s.opt_struct(2)
        return cls(
            operation_response=None if ops is None else OperationResponse.from_thrift(ops),
            full_sync_response=None if full is None else FullSyncResponse.from_thrift(full),
            raw=s,
        )

    def to_thrift(self) -> Struct:
        return struct(
            (1, None if self.operation_response is None else self.operation_response.to_thrift()),
            (2, None if self.full_sync_response is None else self.full_sync_response.to_thrift()),
        )

    @property
    def operations(self) -> tuple[Operation | UndecodableOperation, ...]:
        return () if self.operation_response is None else self.operation_response.operations


@dataclass(frozen=True, slots=True)
class CallRoute(ThriftStruct):
    """acquireCallRoute's result (TT CallRoute; how PLANET uses each field: planet-map §1.2)."""

    from_token: str | None = tfield(1, T_TEXT, secret=True)
    call_flow_type: CallFlowType | int | None = tfield(2, T_CALL_FLOW_TYPE)
    voip_address: str | None = tfield(3, T_TEXT)
    voip_udp_port: int | None = tfield(4, T_I32)
    voip_tcp_port: int | None = tfield(5, T_I32)
    from_zone: str | None = tfield(6, T_TEXT)
    to_zone: str | None = tfield(7, T_TEXT)
    fake_call: bool | None = tfield(8, T_BOOL)
    ringback_tone: str | None = tfield(9, T_TEXT)
    to_mid: str | None = tfield(10, T_TEXT)
    tunneling: str | None = tfield(11, T_TEXT)
    comm_param: str | None = tfield(12, T_TEXT, secret=True)
    stid: str | None = tfield(13, T_TEXT)
    enc_from_mid: str | None = tfield(14, T_TEXT)
    enc_to_mid: str | None = tfield(15, T_TEXT)
    switchable_to_video: bool | None = tfield(16, T_BOOL)
    voip_address6: str | None = tfield(17, T_TEXT)
    w2p_gw: str | None = tfield(18, T_TEXT)
    dr_call: bool | None = tfield(19, T_BOOL)
    stnpk: str | None = tfield(20, T_TEXT)
    capabilities: tuple[str, ...] | None = tfield(21, T_TEXT_LIST)


@dataclass(frozen=True, slots=True)
class CallHost(ThriftStruct):
    host: str | None = tfield(1, T_TEXT)
    port: int | None = tfield(2, T_I32)
    zone: str | None = tfield(3, T_TEXT)


T_CALL_HOST = _struct_codec(CallHost)


@dataclass(frozen=True, slots=True)
class GroupCallRoute(ThriftStruct):
    """acquireGroupCallRoute's result (TT GroupCallRoute; PLANET use: planet-map §1.3)."""

    token: str | None = tfield(1, T_TEXT, secret=True)
    cscf: CallHost | None = tfield(2, T_CALL_HOST)
    mix: CallHost | None = tfield(3, T_CALL_HOST)
    host_mid: str | None = tfield(4, T_TEXT)
    capabilities: tuple[str, ...] | None = tfield(5, T_TEXT_LIST)
    proto: GroupCallProtocol | int | None = tfield(6, T_GROUP_CALL_PROTOCOL)
    voip_address: str | None = tfield(7, T_TEXT)
    voip_udp_port: int | None = tfield(8, T_I32)
    voip_tcp_port: int | None = tfield(9, T_I32)
    from_zone: str | None = tfield(10, T_TEXT)
    comm_param: str | None = tfield(11, T_TEXT, secret=True)
    polaris_address: str | None = tfield(12, T_TEXT)
    polaris_udp_port: int | None = tfield(13, T_I32)
    polaris_zone: str | None = tfield(14, T_TEXT)
    orion_address: str | None = tfield(15, T_TEXT)
    voip_address6: str | None = tfield(16, T_TEXT)
    stnpk: str | None = tfield(17, T_TEXT)


@dataclass(frozen=True, slots=True)
class GroupCall(ThriftStruct):
    """getGroupCall's result; ``online`` decides isInitialHost for acquireGroupCallRoute (talk-map §5)."""

    online: bool | None = tfield(1, T_BOOL)
    chat_mid: str | None = tfield(2, T_TEXT)
    host_mid: str | None = tfield(3, T_TEXT)
    member_mids: tuple[str, ...] | None = tfield(4, T_TEXT_LIST)
    started: int | None = tfield(5, T_I64)
    media_type: GroupCallMediaType | int | None = tfield(6, T_GROUP_CALL_MEDIA_TYPE)
    protocol: GroupCallProtocol | int | None = tfield(7, T_GROUP_CALL_PROTOCOL)
    max_allowable_members: int | None = tfield(8, T_I32)


@dataclass(frozen=True, slots=True)
class GroupCallUrl(ThriftStruct):
    url_id: str | None = tfield(1, T_TEXT)
    title: str | None = tfield(2, T_TEXT)
    created_time_millis: int | None = tfield(3, T_I64)


@dataclass(frozen=True, slots=True)
class GroupCallUrlInfo(ThriftStruct):
    """GetGroupCallUrlInfoResponse: the URL's title and creation time (it does not echo the urlId)."""

    title: str | None = tfield(1, T_TEXT)
    created_time_millis: int | None = tfield(2, T_I64)


@dataclass(frozen=True, slots=True)
class Chat(ThriftStruct):
    """The chat joinChatByCallUrl puts us in (TT Chat); ``extra`` (fid 8) stays in ``raw``."""

    type: ChatType | int | None = tfield(1, T_CHAT_TYPE)
    chat_mid: str | None = tfield(2, T_TEXT)
    created_time: int | None = tfield(3, T_I64)
    notification_disabled: bool | None = tfield(4, T_BOOL)
    favorite_timestamp: int | None = tfield(5, T_I64)
    chat_name: str | None = tfield(6, T_TEXT)
    picture_path: str | None = tfield(7, T_TEXT)
    raw: Struct | None = field(default=None, compare=False, repr=False)


__all__ = [
    "CallFlowType",
    "CallHost",
    "CallRoute",
    "CallType",
    "Chat",
    "ChatType",
    "ContentType",
    "FullSyncResponse",
    "GroupCall",
    "GroupCallMediaType",
    "GroupCallProtocol",
    "GroupCallRoute",
    "GroupCallUrl",
    "GroupCallUrlInfo",
    "Message",
    "MessageRelationType",
    "MidType",
    "OpStatus",
    "OpType",
    "Operation",
    "OperationResponse",
    "Profile",
    "RevisionTriple",
    "ServiceCode",
    "SyncReason",
    "SyncRequest",
    "SyncResponse",
    "ThriftStruct",
    "UndecodableOperation",
    "enum_or_int",
    "tfield",
]
