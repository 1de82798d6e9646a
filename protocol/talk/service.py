"""Sans-I/O TalkService and CallService calls: request bodies out, typed results (or typed errors) in.

Each method has a builder returning a :class:`TalkCall` (method name, path, protocol, body and the matching
parser) and a ``parse_<method>(body, protocol)`` function. A transport only has to POST ``call.body`` to
``call.path`` (plain legy or through the encrypted gateway) and hand the reply body to ``call.parse``::

    call = acquire_call_route(peer_mid, from_env_info={"devname": "Android"})
    route = call.parse(await post(call.path, call.body))   # CallRoute, or raises TalkException

Requests are byte-identical to what linejs sends (call_thrift.json, talk-map §2.4/§5), including its
framing (one surplus ``00``; positional CallService args starting at field 2), except where linejs is
buggy; those deviations are named on the builder (``get_group_call_urls``, ``get_group_call_url_info``,
``join_chat_by_call_url``).

Parsing: a ``<method>_result`` struct carries the success value in field 0 and ``TalkException`` in
field 1. Field 1 wins and raises :class:`TalkException` (for getGroupCall too, whose TT definition
misnames it, talk-map §8.16); a Thrift EXCEPTION message raises :class:`TApplicationError`; anything else
malformed raises :class:`ThriftDecodeError`. Unknown fields are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, TypeVar

from linecall.protocol.talk.structs import (
    CallRoute,
    CallType,
    Chat,
    GroupCall,
    GroupCallMediaType,
    GroupCallRoute,
    GroupCallUrl,
    GroupCallUrlInfo,
    Message,
    MessageRelationType,
    Profile,
    RevisionTriple,
    ServiceCode,
    SyncReason,
    SyncRequest,
    SyncResponse,
)
from linecall.protocol.thrift import values as tv
from linecall.protocol.thrift.codec import decode_message, encode_call, encode_message
from linecall.protocol.thrift.errors import TalkException, TApplicationError, ThriftDecodeError
from linecall.protocol.thrift.values import MessageType, Protocol, Struct, TMessage

T = TypeVar("T")

# Paths per talk-map §1.2: compact TalkService on /S4 and /SYNC4, their binary twins on /S3 and /SYNC3,
# CallService (compact only) on /V4.
PATH_TALK = "/S4"
PATH_TALK_BINARY = "/S3"
PATH_SYNC = "/SYNC4"
PATH_SYNC_BINARY = "/SYNC3"
PATH_CALL = "/V4"

DEFAULT_SYNC_COUNT = 100
DEFAULT_GROUP_CAPABILITIES: tuple[str, ...] = ("AUDIO", "VIDEO")
_EMPTY_MAP: Mapping[str, str] = MappingProxyType({})
START = RevisionTriple()  # the position of a first sync (all revisions 0)


@dataclass(frozen=True, slots=True)
class TalkCall(Generic[T]):
    """One ready-to-send RPC: POST ``body`` to ``path``; ``parse`` turns the reply body into ``T``.

    ``long_poll`` marks ``sync``, which the server may hold open (linejs allows it 180 s, talk-map §1.4).
    """

    method: str
    path: str
    protocol: Protocol
    body: bytes = field(repr=False)
    parser: Callable[[bytes, Protocol], T] = field(repr=False)
    long_poll: bool = False

    def parse(self, body: bytes | bytearray | memoryview) -> T:
        return self.parser(bytes(body), self.protocol)


def talk_call(
    method: str,
    path: str,
    protocol: Protocol,
    args: Struct,
    parser: Callable[[bytes, Protocol], T],
    *,
    long_poll: bool = False,
) -> TalkCall[T]:
    """The call of ``method`` with ``args`` in linejs's framing; the body names the same method as the call."""
    return TalkCall(method, path, protocol, encode_call(protocol, method, args), parser, long_poll)


def talk_path(protocol: Protocol) -> str:
    """TalkService's path for ``protocol``: ``/S4`` compact, ``/S3`` binary."""
    return PATH_TALK if protocol == Protocol.COMPACT else PATH_TALK_BINARY


# ------------------------------------------------------------------------------------------ result handling


def talk_exception_from_struct(s: Struct) -> TalkException:
    """The typed error for a decoded TalkException struct ``{1 code, 2 reason, 3 parameterMap}``."""
    return TalkException(s.opt_i32(1), s.opt_text(2), s.opt_text_map(3))


def talk_exception_to_struct(exc: TalkException) -> Struct:
    """The inverse of :func:`talk_exception_from_struct` (for the loopback simulator)."""
    return tv.struct(
        (1, tv.i32(exc.code)),
        (2, tv.text(exc.reason)),
        (3, tv.text_map(dict(exc.parameter_map)) if exc.parameter_map else None),
    )


def read_result(body: bytes, protocol: Protocol, method: str) -> Struct:
    """The ``<method>_result`` struct of a reply, after raising the errors it may carry.

    Raises :class:`TApplicationError` for an EXCEPTION message, :class:`TalkException` when result field 1
    is set, and :class:`ThriftDecodeError` for bytes that are not a REPLY to ``method``.
    """
    message = decode_message(protocol, body)
    if message.type == MessageType.EXCEPTION:
        raise TApplicationError(message.body.opt_i32(2) or 0, message.body.opt_text(1) or "")
    if message.type != MessageType.REPLY:
        raise ThriftDecodeError(f"{method}: expected a REPLY, got {message.type.name}")
    if message.name != method:
        raise ThriftDecodeError(f"{method}: the reply is for {message.name!r}")
    declared = message.body.opt_struct(1)
    if declared is not None:
        raise talk_exception_from_struct(declared)
    return message.body


def _success(body: bytes, protocol: Protocol, method: str) -> Struct:
    """The success value (result field 0) of ``method``'s reply, after :func:`read_result`'s checks."""
    result = read_result(body, protocol, method)
    success = result.opt_struct(0)
    if success is None:
        others = sorted(fid for fid in result.fields if fid != 0)
        detail = f"only undeclared fields {others}" if others else "no success value"
        raise ThriftDecodeError(f"{method}: the result carries {detail}")
    return success


def _void(body: bytes, protocol: Protocol, method: str) -> None:
    # Void methods answer with an empty result; "empty struct" methods answer {0: {}}. Both are success.
    read_result(body, protocol, method)


# ---------------------------------------------------------------------------------------------- TalkService


def get_profile(
    sync_reason: SyncReason | int | None = None, *, protocol: Protocol = Protocol.COMPACT
) -> TalkCall[Profile]:
    """``getProfile`` (the login readiness probe, talk-map §3.3): the account's own Profile and MID.

    Without ``sync_reason`` the args are empty, as linejs's ``getProfile()`` sends them.
    """
    return talk_call(
        "getProfile", talk_path(protocol), protocol, tv.struct((1, tv.i32(sync_reason))), parse_get_profile
    )


def parse_get_profile(body: bytes, protocol: Protocol = Protocol.COMPACT) -> Profile:
    return Profile.from_thrift(_success(body, protocol, "getProfile"))


def sync(
    position: RevisionTriple = START,
    count: int = DEFAULT_SYNC_COUNT,
    *,
    protocol: Protocol = Protocol.COMPACT,
) -> TalkCall[SyncResponse]:
    """``sync`` from ``position`` (talk-map §4.2): ``{1: SyncRequest{1 rev, 2 count, 3 global, 4 indiv}}``.

    Fields 1-4 are always written, zeros included, like linejs. A stale revision comes back as
    TalkException EXPIRED_REVISION (``exc.expired_revision``).
    """
    request = SyncRequest.at(position, count).to_thrift()
    path = PATH_SYNC if protocol == Protocol.COMPACT else PATH_SYNC_BINARY
    return talk_call("sync", path, protocol, tv.struct((1, request)), parse_sync, long_poll=True)


def parse_sync(body: bytes, protocol: Protocol = Protocol.COMPACT) -> SyncResponse:
    return SyncResponse.from_thrift(_success(body, protocol, "sync"))


def send_message(
    seq: int,
    to: str,
    text: str | None = None,
    *,
    related_message_id: str | None = None,
    content_type: int = 0,
    content_metadata: Mapping[str, str] | None = _EMPTY_MAP,
    chunks: Sequence[bytes] | None = None,
    protocol: Protocol = Protocol.COMPACT,
) -> TalkCall[Message]:
    """``sendMessage(seq, Message)`` as linejs builds it (talk-map §4.10, TS:141-163).

    The Message carries ``to``, ``createdTime 0``, ``deliveredTime 0``, ``text``, ``hasContent false``,
    ``contentType`` and ``contentMetadata`` (an empty map is still written; ``None`` leaves it out, as
    linejs's ``TalkMessage.reply`` does), ``chunks`` for E2EE payloads, and for a reply
    ``relatedMessageId`` + ``messageRelationType REPLY`` + ``relatedMessageServiceCode TALK``. No ``from``,
    ``toType``, ``id`` or ``sessionId``: linejs's writer drops the BYTE ``sessionId`` and the server accepts
    that form, so linecall sends the same bytes. ``seq`` is the persisted reqSeq counter.
    """
    replying = related_message_id is not None
    message = Message(
        to=to,
        created_time=0,
        delivered_time=0,
        text=text,
        has_content=False,
        content_type=content_type,
        content_metadata=None if content_metadata is None else dict(content_metadata),
        chunks=None if chunks is None else tuple(chunks),
        related_message_id=related_message_id,
        message_relation_type=MessageRelationType.REPLY if replying else None,
        related_message_service_code=ServiceCode.TALK if replying else None,
    )
    args = tv.struct((1, tv.i32(seq)), (2, message.to_thrift()))
    return talk_call("sendMessage", talk_path(protocol), protocol, args, parse_send_message)


def parse_send_message(body: bytes, protocol: Protocol = Protocol.COMPACT) -> Message:
    return Message.from_thrift(_success(body, protocol, "sendMessage"))


# ---------------------------------------------------------------------------------------------- CallService
# All on /V4, compact, positional args from field 2 (talk-map §5, §5.1).


def acquire_call_route(
    to: str,
    call_type: CallType | int = CallType.AUDIO,
    from_env_info: Mapping[str, str] | None = None,
) -> TalkCall[CallRoute]:
    """``acquireCallRoute(2 to, 3 callType, 4 fromEnvInfo)``: a fresh 1:1 route (one per call attempt).

    ``from_env_info`` is left off when ``None``; linejs's client passes ``{"devname": <device family>}``
    (``"Android"`` for ANDROID). INVALID_STATE is the usual refusal (seed 000's troubleshooting table).
    """
    args = tv.struct((2, tv.text(to)), (3, tv.i32(call_type)), (4, tv.text_map(from_env_info)))
    return talk_call("acquireCallRoute", PATH_CALL, Protocol.COMPACT, args, parse_acquire_call_route)


def parse_acquire_call_route(body: bytes, protocol: Protocol = Protocol.COMPACT) -> CallRoute:
    return CallRoute.from_thrift(_success(body, protocol, "acquireCallRoute"))


def acquire_group_call_route(
    chat_mid: str,
    is_initial_host: bool,
    media_type: GroupCallMediaType | int = GroupCallMediaType.AUDIO,
    capabilities: Sequence[str] = DEFAULT_GROUP_CAPABILITIES,
) -> TalkCall[GroupCallRoute]:
    """``acquireGroupCallRoute(2 chatMid, 3 mediaType, 4 isInitialHost, 5 capabilities)``.

    linejs's example passes ``isInitialHost = not getGroupCall(chat).online`` and capabilities
    ``["AUDIO", "VIDEO"]`` (the default here).
    """
    args = tv.struct(
        (2, tv.text(chat_mid)),
        (3, tv.i32(media_type)),
        (4, tv.boolean(is_initial_host)),
        (5, tv.text_list(capabilities)),
    )
    return talk_call(
        "acquireGroupCallRoute", PATH_CALL, Protocol.COMPACT, args, parse_acquire_group_call_route
    )


def parse_acquire_group_call_route(body: bytes, protocol: Protocol = Protocol.COMPACT) -> GroupCallRoute:
    return GroupCallRoute.from_thrift(_success(body, protocol, "acquireGroupCallRoute"))


def get_group_call(chat_mid: str) -> TalkCall[GroupCall]:
    """``getGroupCall(2 chatMid)``: whether a group call is running (``online``) and who is in it."""
    return talk_call(
        "getGroupCall", PATH_CALL, Protocol.COMPACT, tv.struct((2, tv.text(chat_mid))), parse_get_group_call
    )


def parse_get_group_call(body: bytes, protocol: Protocol = Protocol.COMPACT) -> GroupCall:
    return GroupCall.from_thrift(_success(body, protocol, "getGroupCall"))


def invite_into_group_call(
    chat_mid: str, member_mids: Sequence[str], media_type: GroupCallMediaType | int = GroupCallMediaType.AUDIO
) -> TalkCall[None]:
    """``inviteIntoGroupCall(2 chatMid, 3 memberMids, 4 mediaType)``: ring members into the call (void)."""
    args = tv.struct((2, tv.text(chat_mid)), (3, tv.text_list(member_mids)), (4, tv.i32(media_type)))
    return talk_call("inviteIntoGroupCall", PATH_CALL, Protocol.COMPACT, args, parse_invite_into_group_call)


def parse_invite_into_group_call(body: bytes, protocol: Protocol = Protocol.COMPACT) -> None:
    _void(body, protocol, "inviteIntoGroupCall")


def kickout_from_group_call(chat_mid: str, target_mids: Sequence[str]) -> TalkCall[None]:
    """``kickoutFromGroupCall(2 KickoutFromGroupCallRequest{1 chatMid, 2 targetMids})``."""
    request = tv.struct((1, tv.text(chat_mid)), (2, tv.text_list(target_mids)))
    args = tv.struct((2, request))
    return talk_call("kickoutFromGroupCall", PATH_CALL, Protocol.COMPACT, args, parse_kickout_from_group_call)


def parse_kickout_from_group_call(body: bytes, protocol: Protocol = Protocol.COMPACT) -> None:
    _void(body, protocol, "kickoutFromGroupCall")


def create_group_call_url(title: str) -> TalkCall[GroupCallUrl]:
    """``createGroupCallUrl(2 CreateGroupCallUrlRequest{1 title})`` -> the new URL (urlId, title, created)."""
    args = tv.struct((2, tv.struct((1, tv.text(title)))))
    return talk_call("createGroupCallUrl", PATH_CALL, Protocol.COMPACT, args, parse_create_group_call_url)


def parse_create_group_call_url(body: bytes, protocol: Protocol = Protocol.COMPACT) -> GroupCallUrl:
    response = _success(body, protocol, "createGroupCallUrl")
    url = response.opt_struct(1)
    if url is None:
        raise ThriftDecodeError("createGroupCallUrl: the response has no url")
    return GroupCallUrl.from_thrift(url)


def get_group_call_urls() -> TalkCall[tuple[GroupCallUrl, ...]]:
    """``getGroupCallUrls(2 request{})``: every group-call URL of the account.

    Deviation: linejs's writer drops an empty struct, so it sends no field 2 at all
    (``... "getGroupCallUrls" 00``); linecall writes the declared empty request struct
    (``2c 00``, then STOP and the surplus byte), which is what a Thrift client of this IDL sends.
    """
    args = tv.struct((2, Struct()))
    return talk_call("getGroupCallUrls", PATH_CALL, Protocol.COMPACT, args, parse_get_group_call_urls)


def parse_get_group_call_urls(body: bytes, protocol: Protocol = Protocol.COMPACT) -> tuple[GroupCallUrl, ...]:
    response = _success(body, protocol, "getGroupCallUrls")
    return tuple(GroupCallUrl.from_thrift(url) for url in response.opt_struct_list(1) or ())


def get_group_call_url_info(url_id: str) -> TalkCall[GroupCallUrlInfo]:
    """``getGroupCallUrlInfo(2 GetGroupCallUrlInfoRequest{1 urlId})`` -> title and creation time.

    Deviation: linejs's ``client.call.getGroupCallUrl(ticket)`` loses the ticket and sends empty args
    (talk-map §5.1); linecall sends the urlId, as linejs's raw CallService does.
    """
    args = tv.struct((2, tv.struct((1, tv.text(url_id)))))
    return talk_call("getGroupCallUrlInfo", PATH_CALL, Protocol.COMPACT, args, parse_get_group_call_url_info)


def parse_get_group_call_url_info(body: bytes, protocol: Protocol = Protocol.COMPACT) -> GroupCallUrlInfo:
    return GroupCallUrlInfo.from_thrift(_success(body, protocol, "getGroupCallUrlInfo"))


def update_group_call_url(url_id: str, title: str) -> TalkCall[None]:
    """``updateGroupCallUrl(2 UpdateGroupCallUrlRequest{1 urlId, 2 targetAttribute{1 title}})``."""
    args = tv.struct((2, tv.struct((1, tv.text(url_id)), (2, tv.struct((1, tv.text(title)))))))
    return talk_call("updateGroupCallUrl", PATH_CALL, Protocol.COMPACT, args, parse_update_group_call_url)


def parse_update_group_call_url(body: bytes, protocol: Protocol = Protocol.COMPACT) -> None:
    _void(body, protocol, "updateGroupCallUrl")


def delete_group_call_url(url_id: str) -> TalkCall[None]:
    """``deleteGroupCallUrl(2 DeleteGroupCallUrlRequest{1 urlId})``."""
    args = tv.struct((2, tv.struct((1, tv.text(url_id)))))
    return talk_call("deleteGroupCallUrl", PATH_CALL, Protocol.COMPACT, args, parse_delete_group_call_url)


def parse_delete_group_call_url(body: bytes, protocol: Protocol = Protocol.COMPACT) -> None:
    _void(body, protocol, "deleteGroupCallUrl")


def join_chat_by_call_url(url_id: str, req_seq: int) -> TalkCall[Chat | None]:
    """``joinChatByCallUrl(2 JoinChatByCallUrlRequest{1 urlId, 2 reqSeq})`` -> the joined Chat.

    Deviation: linejs's ``client.call.joinChatByUrl(ticket)`` sends empty args (talk-map §5.1); linecall
    sends urlId and reqSeq. That a call-URL "ticket" is the urlId is not confirmed anywhere (uncertain).
    """
    args = tv.struct((2, tv.struct((1, tv.text(url_id)), (2, tv.i32(req_seq)))))
    return talk_call("joinChatByCallUrl", PATH_CALL, Protocol.COMPACT, args, parse_join_chat_by_call_url)


def parse_join_chat_by_call_url(body: bytes, protocol: Protocol = Protocol.COMPACT) -> Chat | None:
    response = _success(body, protocol, "joinChatByCallUrl")
    chat = response.opt_struct(1)
    return None if chat is None else Chat.from_thrift(chat)


# ------------------------------------------------------------------------------- server side (simulator)


def decode_call(body: bytes | bytearray | memoryview, protocol: Protocol = Protocol.COMPACT) -> TMessage:
    """Parse a request as the loopback server sees it (``message.body`` is the args struct)."""
    message = decode_message(protocol, body)
    if message.type not in (MessageType.CALL, MessageType.ONEWAY):
        raise ThriftDecodeError(f"expected a CALL, got {message.type.name}")
    return message


def encode_reply(method: str, success: Struct | None, protocol: Protocol = Protocol.COMPACT) -> bytes:
    """A REPLY whose result carries ``success`` in field 0 (``None`` for a void method)."""
    result = Struct() if success is None else Struct({0: success})
    return encode_message(protocol, TMessage(method, MessageType.REPLY, 0, result))


def encode_talk_exception(method: str, exc: TalkException, protocol: Protocol = Protocol.COMPACT) -> bytes:
    """A REPLY whose result carries ``exc`` in field 1."""
    result = Struct({1: talk_exception_to_struct(exc)})
    return encode_message(protocol, TMessage(method, MessageType.REPLY, 0, result))


def encode_application_exception(
    method: str, type: int, message: str, protocol: Protocol = Protocol.COMPACT
) -> bytes:
    """A Thrift EXCEPTION message ``{1 message, 2 type}``."""
    body = tv.struct((1, tv.text(message)), (2, tv.i32(type)))
    return encode_message(protocol, TMessage(method, MessageType.EXCEPTION, 0, body))
