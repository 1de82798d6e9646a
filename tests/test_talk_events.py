"""Operations -> typed events: call_thrift.json's incoming_call_events and the chat rules of talk-map §4.9."""

from __future__ import annotations

from typing import Any

import pytest

from linecall.protocol.talk import service
from linecall.protocol.talk.events import (
    CallCancel,
    CallIncoming,
    ChatKind,
    MalformedOperationError,
    MessageReceived,
    MessageSent,
    mid_type_of,
    operation_to_event,
)
from linecall.protocol.talk.structs import (
    ContentType,
    Message,
    MessageRelationType,
    MidType,
    Operation,
    OpType,
    UndecodableOperation,
)
from linecall.protocol.thrift.errors import ThriftDecodeError
from linecall.protocol.thrift.values import Binary, Struct, TList, TType
from tests.conftest import load_vectors

SELF = "u0123456789abcdef0123456789abcdef"
PEER = "ufedcba9876543210fedcba9876543210"
GROUP = "c00112233445566778899aabbccddeeff"
ROOM = "r00112233445566778899aabbccddeeff"


def _sync_case_operations() -> list[Operation]:
    cases = load_vectors("call_thrift.json")["cases"]
    case = next(
        c for c in cases if c["thrift_method"] == "sync" and "NOTIFIED_RECEIVED_CALL" in str(c["decoded"])
    )
    ops = service.parse_sync(bytes.fromhex(case["response"]["body"])).operations
    assert all(isinstance(op, Operation) for op in ops)
    return [op for op in ops if isinstance(op, Operation)]


def _call_event_cases() -> list[Any]:
    return [
        pytest.param(case, id=case["op_type"])
        for case in load_vectors("call_thrift.json")["incoming_call_events"]
    ]


@pytest.mark.parametrize("case", _call_event_cases())
def test_incoming_call_events(case: dict[str, Any]) -> None:
    op = next(op for op in _sync_case_operations() if op.type == OpType[case["op_type"]])
    event = operation_to_event(op)
    parsed = case["parsed"]
    if case["op_type"] == "NOTIFIED_RECEIVED_CALL":
        assert event == CallIncoming(op.revision, parsed["callMid"], parsed["from"], parsed["kind"])
    else:
        assert event == CallCancel(op.revision, parsed["callMid"], parsed["from"], parsed["reason"])


def test_call_events_with_missing_params_follow_linejs() -> None:
    # linejs substitutes "" for a missing callMid/from and leaves kind/reason undefined.
    assert operation_to_event(Operation(revision=1, type=OpType.NOTIFIED_RECEIVED_CALL)) == CallIncoming(
        1, "", "", None
    )
    assert operation_to_event(Operation(type=OpType.CANCEL_CALL, param1="m")) == CallCancel(
        None, "m", "", None
    )


def test_sync_vector_messages() -> None:
    ops = _sync_case_operations()
    events = [operation_to_event(op, own_mid=SELF) for op in ops]
    direct, group, _, _, sent = events
    assert isinstance(direct, MessageReceived)
    assert (direct.chat_kind, direct.reply_target, direct.text, direct.message_id) == (
        ChatKind.DIRECT,
        PEER,
        "!call",
        "600000000000000001",
    )
    assert direct.to_type == MidType.USER and not direct.e2ee and direct.revision == 1001
    assert isinstance(group, MessageReceived)
    assert (group.chat_kind, group.reply_target, group.sender) == (ChatKind.GROUP, GROUP, PEER)
    assert isinstance(sent, MessageSent)
    assert (sent.chat_kind, sent.reply_target, sent.text) == (ChatKind.DIRECT, PEER, "calling")
    assert sent.related_message_id == "600000000000000001"
    assert sent.revision == 2**53 + 1
    # Without own_mid the operation type decides whose message it is; the vector agrees.
    assert [operation_to_event(op) for op in ops] == events


def _message_op(op_type: OpType, **fields: Any) -> Operation:
    return Operation(revision=9, type=op_type, message=Message(**fields))


@pytest.mark.parametrize(
    ("to", "to_type", "kind", "target_received", "target_sent"),
    [
        pytest.param(SELF, MidType.USER, ChatKind.DIRECT, PEER, SELF, id="user"),
        pytest.param(GROUP, MidType.GROUP, ChatKind.GROUP, GROUP, GROUP, id="group"),
        pytest.param(ROOM, MidType.ROOM, ChatKind.GROUP, ROOM, ROOM, id="room"),
        pytest.param(GROUP, None, ChatKind.GROUP, GROUP, GROUP, id="group by prefix"),
        pytest.param(ROOM, None, ChatKind.GROUP, ROOM, ROOM, id="room by prefix"),
        pytest.param(SELF, None, ChatKind.DIRECT, PEER, SELF, id="user by prefix"),
        pytest.param("s1234", MidType.SQUARE, ChatKind.OTHER, "s1234", "s1234", id="square"),
        pytest.param("x1234", None, ChatKind.OTHER, "x1234", "x1234", id="unknown prefix"),
        pytest.param(GROUP, 42, ChatKind.OTHER, GROUP, GROUP, id="unknown toType"),
    ],
)
def test_chat_kind_and_reply_target(
    to: str, to_type: MidType | int | None, kind: ChatKind, target_received: str, target_sent: str
) -> None:
    received = operation_to_event(_message_op(OpType.RECEIVE_MESSAGE, from_=PEER, to=to, to_type=to_type))
    assert isinstance(received, MessageReceived)
    assert (received.chat_kind, received.reply_target) == (kind, target_received)
    # Our own message (SEND_MESSAGE from our MID): in a 1:1 chat the reply goes to `to`, the peer.
    peer_to = PEER if to == SELF else to
    sent = operation_to_event(
        _message_op(OpType.SEND_MESSAGE, from_=SELF, to=peer_to, to_type=to_type), own_mid=SELF
    )
    assert isinstance(sent, MessageSent)
    assert sent.reply_target == (PEER if to == SELF else target_sent)


def test_own_mid_rule_overrides_operation_type() -> None:
    # talk-map §4.9 compares `from` with our MID: a RECEIVE_MESSAGE that is ours replies to `to`.
    op = _message_op(OpType.RECEIVE_MESSAGE, from_=SELF, to=PEER, to_type=MidType.USER)
    event = operation_to_event(op, own_mid=SELF)
    assert isinstance(event, MessageReceived) and event.reply_target == PEER
    assert mid_type_of(GROUP) == MidType.GROUP and mid_type_of("") is None


def test_e2ee_message() -> None:
    op = _message_op(
        OpType.RECEIVE_MESSAGE,
        from_=PEER,
        to=GROUP,
        to_type=MidType.GROUP,
        content_type=ContentType.NONE,
        chunks=(b"a", b"b", b"c", b"d", b"e"),
        content_metadata={"e2eeVersion": "2"},
    )
    event = operation_to_event(op)
    assert isinstance(event, MessageReceived)
    assert event.e2ee and event.text is None and event.message.chunks is not None


def test_forward_link_is_not_a_reply_target() -> None:
    op = _message_op(
        OpType.RECEIVE_MESSAGE,
        from_=PEER,
        to=SELF,
        related_message_id="77",
        message_relation_type=MessageRelationType.FORWARD,
    )
    event = operation_to_event(op)
    assert isinstance(event, MessageReceived) and event.related_message_id is None


def test_text_stays_out_of_repr() -> None:
    event = operation_to_event(_message_op(OpType.RECEIVE_MESSAGE, from_=PEER, to=SELF, text="secret words"))
    assert event is not None and "secret words" not in repr(event)


@pytest.mark.parametrize(
    "op",
    [
        pytest.param(Operation(revision=1, type=OpType.RECEIVE_MESSAGE), id="no message"),
        pytest.param(_message_op(OpType.SEND_MESSAGE, to=PEER), id="no sender"),
        pytest.param(_message_op(OpType.RECEIVE_MESSAGE, from_=PEER, to=""), id="empty recipient"),
        pytest.param(
            UndecodableOperation(3, 26, "field 1: invalid UTF-8", Struct()),
            id="undecodable",
        ),
    ],
)
def test_malformed_operations_raise_typed(op: Operation | UndecodableOperation) -> None:
    with pytest.raises(MalformedOperationError):
        operation_to_event(op)


@pytest.mark.parametrize(
    "op_type", [OpType.END_OF_OPERATION, OpType.NOTIFIED_READ_MESSAGE, OpType.SEND_CHAT_CHECKED, 9999, None]
)
def test_other_operations_are_ignored(op_type: OpType | int | None) -> None:
    assert operation_to_event(Operation(revision=5, type=op_type, param1="x")) is None


def test_undecodable_operation_from_wire_is_typed() -> None:
    bad = Struct({1: Binary.text("not an i64")})
    body = service.encode_reply("sync", Struct({1: Struct({1: TList(TType.STRUCT, (bad,))})}))
    (op,) = service.parse_sync(body).operations
    assert isinstance(op, UndecodableOperation)
    with pytest.raises(MalformedOperationError):
        operation_to_event(op)
    with pytest.raises(ThriftDecodeError):
        Operation.from_thrift(op.raw)
