"""TalkService/CallService calls against call_thrift.json (linejs's own bytes) and talk-map §2.4/§5."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.talk import service
from linecall.protocol.talk.structs import (
    CallRoute,
    CallType,
    Chat,
    ChatType,
    GroupCall,
    GroupCallUrl,
    GroupCallUrlInfo,
    Message,
    MidType,
    Operation,
    OperationResponse,
    OpType,
    Profile,
    SyncReason,
    SyncRequest,
    SyncResponse,
    UndecodableOperation,
)
from linecall.protocol.talk.sync import RevisionTriple
from linecall.protocol.thrift import compact
from linecall.protocol.thrift.errors import (
    ErrorCode,
    TalkException,
    TApplicationError,
    ThriftDecodeError,
    ThriftError,
)
from linecall.protocol.thrift.values import I32, I64, Binary, Protocol, Struct, TList, TType, struct
from tests.conftest import load_vectors


def h(spec: str) -> bytes:
    return bytes.fromhex(spec.replace(" ", ""))


def lp(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 128
    return bytes([len(data)]) + data


def call_header(name: str) -> bytes:
    return h("82 21 00") + lp(name)


def reply_header(name: str) -> bytes:
    return h("82 41 00") + lp(name)


U_PEER = "ufedcba9876543210fedcba9876543210"
U_SELF = "u0123456789abcdef0123456789abcdef"
CHAT = "c00112233445566778899aabbccddeeff"
ANDROID_ENV = {"devname": "Android"}

# ------------------------------------------------------------------------------------- call_thrift.json
# Each case name maps to the call linecall makes for the same linejs API invocation. None of these 16
# cases hits a linejs writer defect (its BYTE/I16 drop only removes Message.sessionId, which linecall does
# not send either), so every request body must be byte-identical.

BUILDERS: dict[str, Callable[[], service.TalkCall[Any]]] = {
    "acquireCallRoute AUDIO via client.call.acquireRoute (default fromEnvInfo {devname: Android} for ANDROID "
    "devices)": lambda: service.acquire_call_route(U_PEER, CallType.AUDIO, ANDROID_ENV),
    "acquireCallRoute AUDIO without fromEnvInfo (CallService directly; the map field is left out)": lambda: (
        service.acquire_call_route(U_PEER)
    ),
    "acquireCallRoute AUDIO with fromEnvInfo {devname: Pixel 6a} (example LINE_CALL_DEVNAME)": lambda: (
        service.acquire_call_route(U_PEER, from_env_info={"devname": "Pixel 6a"})
    ),
    "acquireCallRoute VIDEO with a two-entry fromEnvInfo": lambda: service.acquire_call_route(
        U_PEER, CallType.VIDEO, {"devname": "Android", "extra": "1"}
    ),
    "acquireCallRoute answered with TalkException INVALID_STATE": lambda: service.acquire_call_route(
        U_PEER, from_env_info=ANDROID_ENV
    ),
    "acquireGroupCallRoute AUDIO isInitialHost=true capabilities [AUDIO, VIDEO] (as the example bot calls it)": (
        lambda: service.acquire_group_call_route(CHAT, is_initial_host=True)
    ),
    "acquireGroupCallRoute AUDIO isInitialHost=false capabilities [AUDIO, VIDEO] (as the example bot calls it)": (
        lambda: service.acquire_group_call_route(CHAT, is_initial_host=False)
    ),
    "getGroupCall (call online)": lambda: service.get_group_call(CHAT),
    "getGroupCall (no call: empty GroupCall)": lambda: service.get_group_call(CHAT),
    "sync (long poll) from revision 0, limit 100 (TalkService.sync defaults)": lambda: service.sync(),
    "sync with revision / globalRev / individualRev set (bigint revision > 2^53)": lambda: service.sync(
        RevisionTriple(2**53 + 1, 12345, 5000), 50
    ),
    "sendMessage plain text 1:1 (reqSeq 0 from a fresh MemoryStorage)": lambda: service.send_message(
        0, U_PEER, "calling"
    ),
    "sendMessage as TalkMessage.reply sends it (relatedMessageId, e2ee false, contentMetadata undefined; "
    "reqSeq 1)": lambda: service.send_message(
        1, U_PEER, "1:1 or group chat only", related_message_id="600000000000000001", content_metadata=None
    ),
    "sendMessage to a group": lambda: service.send_message(2, CHAT, "starting group call"),
    "getProfile() with no argument": lambda: service.get_profile(),
    "getProfile({syncReason: INTERNAL})": lambda: service.get_profile(SyncReason.INTERNAL),
}


def _cases() -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in load_vectors("call_thrift.json")["cases"]]


def test_every_vector_case_has_a_builder() -> None:
    names = {case["name"] for case in load_vectors("call_thrift.json")["cases"]}
    assert names == set(BUILDERS)


def _camel(name: str) -> str:
    if name == "from_":
        return "from"
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def to_linejs(value: Any) -> Any:
    """Our typed value in the JSON shape linejs's readThrift + rename produced (call_thrift.json 'about')."""
    if isinstance(value, OperationResponse):
        out: dict[str, Any] = {"operations": [to_linejs(op) for op in value.operations]}
        if value.has_more_ops is not None:
            out["hasMoreOps"] = value.has_more_ops
        if value.global_last_revision is not None:
            out["globalEvents"] = {"lastRevision": to_linejs(value.global_last_revision)}
        if value.individual_last_revision is not None:
            out["individualEvents"] = {"lastRevision": to_linejs(value.individual_last_revision)}
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            _camel(f.name): to_linejs(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "raw" and getattr(value, f.name) is not None
        }
    if isinstance(value, IntEnum):
        return value.name
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value <= 2**53 - 1 else str(value)
    if isinstance(value, tuple):
        return [to_linejs(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_linejs(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


@pytest.mark.parametrize("case", _cases())
def test_request_bytes_match_linejs(case: dict[str, Any]) -> None:
    call = BUILDERS[case["name"]]()
    assert call.method == case["thrift_method"]
    assert call.path == case["request"]["path"]
    assert call.protocol == Protocol.COMPACT
    assert call.body.hex() == case["request"]["body"]
    assert call.long_poll == (case["thrift_method"] == "sync")


@pytest.mark.parametrize("case", _cases())
def test_response_decodes_like_linejs(case: dict[str, Any]) -> None:
    call = BUILDERS[case["name"]]()
    body = bytes.fromhex(case["response"]["body"])
    if case.get("throws"):
        with pytest.raises(TalkException) as info:
            call.parse(body)
        data = case["error"]["data"]
        assert info.value.code_name == data["code"]
        assert info.value.code == ErrorCode[data["code"]]
        assert info.value.reason == data["reason"]
        assert dict(info.value.parameter_map) == data["parameterMap"]
        return
    assert to_linejs(call.parse(body)) == case["decoded"]


def test_invalid_state_is_not_a_relogin() -> None:
    case = next(c for c in load_vectors("call_thrift.json")["cases"] if c.get("throws"))
    with pytest.raises(TalkException) as info:
        service.parse_acquire_call_route(bytes.fromhex(case["response"]["body"]))
    assert info.value.code == ErrorCode.INVALID_STATE
    assert not info.value.needs_relogin and not info.value.must_refresh_token
    assert "INVALID_STATE" in str(info.value) and "hint" not in str(info.value)


def test_send_message_never_writes_session_id() -> None:
    # linejs passes sessionId 0 but its writer drops BYTE fields (call_thrift.json 'about', talk-map §8.6);
    # linecall leaves the field out deliberately so the bytes stay the ones the server is known to accept.
    args = compact.decode_message(service.send_message(0, U_PEER, "calling").body).body
    message = args.opt_struct(2)
    assert message is not None and 19 not in message
    assert list(message.fields) == [2, 5, 6, 10, 14, 15, 18]


# --------------------------------------------------------------------------------------- talk-map §2.4


def test_send_message_reply_bytes_from_talk_map() -> None:
    to = "c0123456789abcdef0123456789abcdef"
    call = service.send_message(5, to, "calling", related_message_id="600000000000000001")
    assert call.path == "/S4"
    assert call.body == (
        call_header("sendMessage")
        + h("15 0a 1c 28")
        + lp(to)
        + h("36 00 16 00 48")
        + lp("calling")
        + h("42 15 00 3b 00 38")
        + lp("600000000000000001")
        + h("15 06 25 02 00 00 00")
    )


def test_send_message_plain_hi_bytes_from_talk_map() -> None:
    to = "u0123456789abcdef0123456789abcdef"
    call = service.send_message(0, to, "hi")
    assert call.body == call_header("sendMessage") + h("15 00 1c 28") + lp(to) + h(
        "36 00 16 00 48 02 68 69 42 15 00 3b 00 00 00 00"
    )


def test_send_message_e2ee_shape() -> None:
    chunks = (b"\x00" * 16, b"\x01\x02", b"\xff" * 3)
    call = service.send_message(
        3,
        CHAT,
        None,
        content_metadata={"e2eeVersion": "2", "contentType": "0", "e2eeMark": "2"},
        chunks=chunks,
    )
    message = compact.decode_message(call.body).body.opt_struct(2)
    assert message is not None
    decoded = Message.from_thrift(message)
    assert decoded.text is None and decoded.chunks == chunks
    assert decoded.content_metadata == {"e2eeVersion": "2", "contentType": "0", "e2eeMark": "2"}


def test_expired_v3_token_exception_reply() -> None:
    body = reply_header("getProfile") + h("1c 15 ee 01 18") + lp("must refresh") + h("00 00")
    with pytest.raises(TalkException) as info:
        service.parse_get_profile(body)
    assert info.value.code == ErrorCode.MUST_REFRESH_V3_TOKEN and info.value.must_refresh_token
    assert info.value.reason == "must refresh"
    assert dict(info.value.parameter_map) == {}


@pytest.mark.parametrize("code", [ErrorCode.AUTHENTICATION_FAILED, ErrorCode.NOT_AUTHORIZED_DEVICE])
def test_relogin_codes(code: ErrorCode) -> None:
    body = service.encode_talk_exception("sync", TalkException(code, "gone"))
    with pytest.raises(TalkException) as info:
        service.parse_sync(body)
    assert info.value.needs_relogin


def test_expired_revision() -> None:
    body = service.encode_talk_exception("sync", TalkException(52, None))
    with pytest.raises(TalkException) as info:
        service.parse_sync(body)
    assert info.value.expired_revision and info.value.code_name == "EXPIRED_REVISION"


def test_unknown_error_code_keeps_its_number() -> None:
    body = service.encode_talk_exception("sync", TalkException(9999, "new"))
    with pytest.raises(TalkException) as info:
        service.parse_sync(body)
    assert info.value.code == 9999 and info.value.code_name == "UNKNOWN(9999)"


# ------------------------------------------------------------------------------------ talk-map §5, §5.1

C0123 = "c0123456789abcdef0123456789abcdef"
U0123 = "u0123456789abcdef0123456789abcdef"
C0011 = "c00112233445566778899aabbccddeeff"


def test_acquire_call_route_bytes() -> None:
    call = service.acquire_call_route(U0123, CallType.AUDIO, ANDROID_ENV)
    assert call.path == "/V4"
    assert call.body == call_header("acquireCallRoute") + h("28") + lp(U0123) + h(
        "15 02 1b 01 88 07"
    ) + b"devname" + h("07") + b"Android" + h("00 00")


def test_acquire_group_call_route_bytes() -> None:
    call = service.acquire_group_call_route(C0123, True)
    assert call.body == call_header("acquireGroupCallRoute") + h("28") + lp(C0123) + h(
        "15 02 11 19 28 05"
    ) + b"AUDIO" + h("05") + b"VIDEO" + h("00 00")


def test_get_group_call_bytes() -> None:
    assert service.get_group_call(C0123).body == call_header("getGroupCall") + h("28") + lp(C0123) + h(
        "00 00"
    )


def test_create_group_call_url_bytes_and_reply() -> None:
    call = service.create_group_call_url("standup")
    assert call.body == call_header("createGroupCallUrl") + h("2c 18") + lp("standup") + h("00 00 00")
    reply = (
        reply_header("createGroupCallUrl")
        + h("0c 00 1c 18")
        + lp("url-0001")
        + h("18")
        + lp("standup")
        + h("16 80 a0 ab fe f9 62 00 00 00")
    )
    assert call.parse(reply) == GroupCallUrl("url-0001", "standup", 1_700_000_000_000)


def test_update_group_call_url_bytes() -> None:
    call = service.update_group_call_url("url-0001", "retro")
    assert call.body == call_header("updateGroupCallUrl") + h("2c 18") + lp("url-0001") + h("1c 18") + lp(
        "retro"
    ) + h("00 00 00 00")
    assert call.parse(reply_header("updateGroupCallUrl") + h("0c 00 00 00")) is None


def test_delete_group_call_url_bytes() -> None:
    call = service.delete_group_call_url("url-0001")
    assert call.body == call_header("deleteGroupCallUrl") + h("2c 18") + lp("url-0001") + h("00 00 00")
    assert call.parse(reply_header("deleteGroupCallUrl") + h("00")) is None  # a bare stop byte is success


def test_get_group_call_url_info_bytes() -> None:
    # talk-map §5.1: linejs's client.call.getGroupCallUrl(ticket) sends empty args
    # (82 21 00 13 "getGroupCallUrlInfo" 00); linecall sends the bytes of linejs's raw CallService call.
    call = service.get_group_call_url_info("url-0001")
    assert call.body == call_header("getGroupCallUrlInfo") + h("2c 18") + lp("url-0001") + h("00 00 00")
    reply = (
        reply_header("getGroupCallUrlInfo") + h("0c 00 18") + lp("standup") + h("16 80 a0 ab fe f9 62 00 00")
    )
    assert call.parse(reply) == GroupCallUrlInfo("standup", 1_700_000_000_000)


def test_join_chat_by_call_url_bytes() -> None:
    # talk-map §5.1: linejs's client.call.joinChatByUrl(ticket) sends empty args
    # (82 21 00 11 "joinChatByCallUrl" 00); linecall sends urlId and reqSeq.
    call = service.join_chat_by_call_url("url-0001", 0)
    assert call.body == call_header("joinChatByCallUrl") + h("2c 18") + lp("url-0001") + h("15 00 00 00 00")
    chat = Chat(type=ChatType.GROUP, chat_mid=C0011, chat_name="team")
    reply = service.encode_reply("joinChatByCallUrl", struct((1, chat.to_thrift())))
    assert call.parse(reply) == chat
    assert call.parse(service.encode_reply("joinChatByCallUrl", Struct())) is None


def test_get_group_call_urls_bytes() -> None:
    # Deviation (talk-map §5.1): linejs drops the empty request struct and sends
    # 82 21 00 10 "getGroupCallUrls" 00; linecall writes the declared empty struct at field 2.
    call = service.get_group_call_urls()
    assert call.body == call_header("getGroupCallUrls") + h("2c 00 00 00")
    urls = (GroupCallUrl("a", "one", 1), GroupCallUrl("b", "two", 2))
    reply = service.encode_reply(
        "getGroupCallUrls", struct((1, _struct_list(*(u.to_thrift() for u in urls))))
    )
    assert call.parse(reply) == urls
    assert call.parse(service.encode_reply("getGroupCallUrls", Struct())) == ()


def test_invite_into_group_call_bytes() -> None:
    call = service.invite_into_group_call(C0011, [U_PEER])
    assert call.body == call_header("inviteIntoGroupCall") + h("28") + lp(C0011) + h("19 18") + lp(
        U_PEER
    ) + h("15 02 00 00")
    assert call.parse(reply_header("inviteIntoGroupCall") + h("00")) is None


def test_kickout_from_group_call_bytes() -> None:
    call = service.kickout_from_group_call(C0011, [U_PEER])
    assert call.body == call_header("kickoutFromGroupCall") + h("2c 18") + lp(C0011) + h("19 18") + lp(
        U_PEER
    ) + h("00 00 00")
    assert call.parse(reply_header("kickoutFromGroupCall") + h("0c 00 00 00")) is None


def test_void_method_raises_its_talk_exception() -> None:
    body = service.encode_talk_exception("inviteIntoGroupCall", TalkException(10, "not a member"))
    with pytest.raises(TalkException) as info:
        service.parse_invite_into_group_call(body)
    assert info.value.code == ErrorCode.NOT_A_MEMBER


def test_get_group_call_exception_in_field_1() -> None:
    # linejs's TT names getGroupCall_result fid 1 "studentInformation" (talk-map §8.16) and throws a generic
    # error; linecall reads it as the TalkException it is.
    body = service.encode_talk_exception("getGroupCall", TalkException(3, "no"))
    with pytest.raises(TalkException):
        service.parse_get_group_call(body)


# ---------------------------------------------------------------------------------------- error mapping


def test_application_exception() -> None:
    body = service.encode_application_exception("getProfile", 1, "Invalid method name")
    with pytest.raises(TApplicationError) as info:
        service.parse_get_profile(body)
    assert info.value.type == 1 and info.value.type_name == "UNKNOWN_METHOD"
    assert info.value.message == "Invalid method name"


def test_reply_for_another_method() -> None:
    with pytest.raises(ThriftDecodeError, match="reply is for"):
        service.parse_get_profile(service.encode_reply("sync", Struct()))


def test_reply_without_result() -> None:
    with pytest.raises(ThriftDecodeError, match="no success"):
        service.parse_get_profile(service.encode_reply("getProfile", None))
    odd = reply_header("getProfile") + h("2c 00 00")
    with pytest.raises(ThriftDecodeError, match="undeclared"):
        service.parse_get_profile(odd)


def test_call_message_is_not_a_reply() -> None:
    with pytest.raises(ThriftDecodeError, match="REPLY"):
        service.parse_get_profile(service.get_profile().body)


def test_success_of_wrong_type() -> None:
    body = reply_header("getProfile") + h("05 00 02 00")  # field 0 as an i32
    with pytest.raises(ThriftDecodeError):
        service.parse_get_profile(body)


def test_empty_and_http_error_bodies() -> None:
    for body in (b"", b"<html>403 Forbidden</html>", b"\x00"):
        with pytest.raises(ThriftDecodeError):
            service.parse_sync(body)


# ------------------------------------------------------------------------------------ binary /S3 /SYNC3


def test_binary_get_profile_matches_talk_map() -> None:
    call = service.get_profile(protocol=Protocol.BINARY)
    assert call.path == "/S3"
    assert call.body == h("80 01 00 01 00 00 00 0a") + b"getProfile" + h("00 00 00 00 00")


def test_binary_sync_round_trip() -> None:
    call = service.sync(RevisionTriple(7, 8, 9), protocol=Protocol.BINARY)
    assert call.path == "/SYNC3" and call.long_poll
    request = service.decode_call(call.body, Protocol.BINARY)
    args = request.body.opt_struct(1)
    assert args is not None
    assert SyncRequest.from_thrift(args).position == RevisionTriple(7, 8, 9)
    response = SyncResponse(
        operation_response=OperationResponse(
            operations=(Operation(revision=8, type=OpType.NOTIFIED_RECEIVED_CALL, param1="c1"),),
            global_last_revision=3,
        )
    )
    reply = service.encode_reply("sync", response.to_thrift(), Protocol.BINARY)
    assert call.parse(reply) == response


# ------------------------------------------------------------------------------------- simulator helpers


def test_decode_call_for_the_simulator() -> None:
    call = service.send_message(4, U_PEER, "hi", related_message_id="42")
    request = service.decode_call(call.body)
    assert request.name == "sendMessage" and request.body.opt_i32(1) == 4
    message = request.body.opt_struct(2)
    assert message is not None
    assert Message.from_thrift(message).related_message_id == "42"
    with pytest.raises(ThriftDecodeError):
        service.decode_call(service.encode_reply("sendMessage", None))


def test_typed_structs_round_trip_through_replies() -> None:
    profile = Profile(mid=U_SELF, display_name="linecall bot", created_time_millis=1)
    assert service.parse_get_profile(service.encode_reply("getProfile", profile.to_thrift())) == profile
    route = CallRoute(from_token="t", voip_address="192.0.2.1", voip_udp_port=1, capabilities=("AUDIO",))
    assert (
        service.parse_acquire_call_route(service.encode_reply("acquireCallRoute", route.to_thrift())) == route
    )
    group = GroupCall(online=True, chat_mid=CHAT, member_mids=(U_PEER,), media_type=7)
    assert service.parse_get_group_call(service.encode_reply("getGroupCall", group.to_thrift())) == group


def test_secrets_stay_out_of_repr() -> None:
    route = CallRoute(from_token="SECRET-TOKEN", comm_param='{"mpkey":"K"}')
    message = Message(text="private words", chunks=(b"cipher",))
    assert "SECRET-TOKEN" not in repr(route) and "mpkey" not in repr(route)
    assert "private words" not in repr(message) and "cipher" not in repr(message)
    assert "body" not in repr(service.get_profile())


# -------------------------------------------------------------------------------- per-operation isolation


def test_one_undecodable_operation_does_not_sink_the_reply() -> None:
    good = Operation(
        revision=1, type=OpType.RECEIVE_MESSAGE, message=Message(from_=U_PEER, to=U_SELF, text="x")
    )
    bad_message = struct((1, Binary(b"\xff\xfe")), (2, Binary(U_SELF.encode())))  # from: not UTF-8
    bad = struct((1, I64(2)), (3, I32(26)), (20, bad_message))
    wrong_type = struct((1, Binary(b"3")))  # revision as a string
    body = service.encode_reply(
        "sync",
        struct(
            (
                1,
                struct(
                    (
                        1,
                        _struct_list(
                            good.to_thrift(),
                            bad,
                            wrong_type,
                            Operation(revision=4, type=OpType.CANCEL_CALL).to_thrift(),
                        ),
                    )
                ),
            )
        ),
    )
    ops = service.parse_sync(body).operations
    assert [type(op) for op in ops] == [Operation, UndecodableOperation, UndecodableOperation, Operation]
    assert isinstance(ops[1], UndecodableOperation)
    assert (ops[1].revision, ops[1].type) == (2, 26) and "UTF-8" in ops[1].error
    assert isinstance(ops[2], UndecodableOperation) and ops[2].revision is None
    assert ops[0] == good


def _struct_list(*items: Struct) -> TList:
    return TList(TType.STRUCT, items)


# --------------------------------------------------------------------------------------------- hypothesis

_PARSERS = [
    ("getProfile", service.parse_get_profile),
    ("sync", service.parse_sync),
    ("sendMessage", service.parse_send_message),
    ("acquireCallRoute", service.parse_acquire_call_route),
    ("acquireGroupCallRoute", service.parse_acquire_group_call_route),
    ("getGroupCall", service.parse_get_group_call),
    ("getGroupCallUrls", service.parse_get_group_call_urls),
    ("joinChatByCallUrl", service.parse_join_chat_by_call_url),
]


def _response_bodies() -> list[bytes]:
    return [bytes.fromhex(c["response"]["body"]) for c in load_vectors("call_thrift.json")["cases"]]


@settings(max_examples=200)
@given(st.data())
def test_parsers_raise_only_typed_errors_on_mutated_replies(data: st.DataObject) -> None:
    bodies = _response_bodies()
    body = bytearray(bodies[data.draw(st.integers(0, len(bodies) - 1))])
    for _ in range(data.draw(st.integers(1, 6))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    mutated = bytes(body[:cut])
    for name, parser in _PARSERS:
        # Renamed too, so the mutated reply reaches every parser's schema, not only its own method's.
        for candidate in (mutated, _rename(mutated, name)):
            with contextlib.suppress(ThriftError):
                parser(candidate)


def _rename(body: bytes, name: str) -> bytes:
    """Swap the method name of a compact reply header (leaves malformed bodies alone)."""
    if len(body) < 4 or body[0] != 0x82 or body[3] >= 0x80 or len(body) < 4 + body[3]:
        return body
    return body[:3] + lp(name) + body[4 + body[3] :]


@settings(max_examples=200)
@given(st.binary(max_size=160))
def test_parsers_raise_only_typed_errors_on_random_bodies(tail: bytes) -> None:
    for name, parser in _PARSERS:
        for body in (tail, reply_header(name) + tail, reply_header(name) + h("0c 00") + tail):
            with contextlib.suppress(ThriftError):
                parser(body)


_text = st.text(max_size=12)
_opt_text = st.none() | _text
_opt_i64 = st.none() | st.integers(-(1 << 63), (1 << 63) - 1)
_messages = st.builds(
    Message,
    from_=_opt_text,
    to=_opt_text,
    to_type=st.none() | st.sampled_from(list(MidType)) | st.integers(8, 1000),
    id=_opt_text,
    created_time=_opt_i64,
    text=_opt_text,
    has_content=st.none() | st.booleans(),
    content_metadata=st.none() | st.dictionaries(_text, _text, max_size=3),
    session_id=st.none() | st.integers(-128, 127),
    chunks=st.none() | st.lists(st.binary(max_size=8), max_size=5).map(tuple),
    related_message_id=_opt_text,
)
_operations = st.builds(
    Operation,
    revision=_opt_i64,
    created_time=_opt_i64,
    type=st.none() | st.sampled_from(list(OpType)) | st.integers(169, 5000),
    req_seq=st.none() | st.integers(-(1 << 31), (1 << 31) - 1),
    param1=_opt_text,
    param2=_opt_text,
    param3=_opt_text,
    message=st.none() | _messages,
)


@settings(max_examples=150)
@given(st.lists(_operations, max_size=4), st.none() | st.booleans(), _opt_i64, _opt_i64)
def test_sync_response_round_trip(
    ops: list[Operation], more: bool | None, global_rev: int | None, individual_rev: int | None
) -> None:
    response = SyncResponse(
        operation_response=OperationResponse(tuple(ops), more, global_rev, individual_rev)
    )
    parsed = service.parse_sync(service.encode_reply("sync", response.to_thrift()))
    assert parsed == response


def test_to_linejs_helper_is_strict() -> None:
    # Guard for the comparison helper itself: a wrong enum name or value must show up as a mismatch.
    assert to_linejs(Message(to_type=MidType.ROOM)) == {"toType": "ROOM"}
    assert to_linejs(Operation(revision=2**53)) == {"revision": "9007199254740992"}
    assert json.dumps(to_linejs(Profile(mid="u", allow_search_by_email=False))) == (
        '{"mid": "u", "allowSearchByEmail": false}'
    )
