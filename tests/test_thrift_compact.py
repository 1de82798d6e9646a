"""Thrift codecs: linejs's framing and talk-map §2.4's worked bytes, strict decoding, round trips."""

from __future__ import annotations

import contextlib
import struct as pystruct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linecall.protocol.talk import service
from linecall.protocol.talk.structs import FullSyncResponse, MidType, Operation, OpType, SyncResponse
from linecall.protocol.talk.sync import RevisionTriple
from linecall.protocol.thrift import binary, codec, compact
from linecall.protocol.thrift.errors import ThriftDecodeError, ThriftEncodeError
from linecall.protocol.thrift.values import (
    I16,
    I32,
    I64,
    Binary,
    Bool,
    Byte,
    DecodeLimits,
    Double,
    MessageType,
    Protocol,
    Struct,
    TList,
    TMap,
    TMessage,
    TSet,
    TType,
    Value,
    struct,
)
from tests.conftest import load_vectors


def h(spec: str) -> bytes:
    return bytes.fromhex(spec.replace(" ", ""))


def lp(text: str) -> bytes:
    """A compact string: varint length (one byte here) + UTF-8."""
    data = text.encode()
    assert len(data) < 128
    return bytes([len(data)]) + data


def vector_bodies() -> list[tuple[str, bytes]]:
    cases = load_vectors("call_thrift.json")["cases"]
    out = []
    for case in cases:
        out.append((case["name"] + " (request)", bytes.fromhex(case["request"]["body"])))
        out.append((case["name"] + " (response)", bytes.fromhex(case["response"]["body"])))
    return out


# ---------------------------------------------------------------------------------- talk-map §2.1/§2.4


def test_get_profile_call_compact_and_binary() -> None:
    # §2.4: empty args are the single surplus byte in both protocols.
    assert compact.encode_call("getProfile", Struct()) == h("82 21 00 0a") + b"getProfile" + h("00")
    assert binary.encode_call("getProfile", Struct()) == h("80 01 00 01 00 00 00 0a") + b"getProfile" + h(
        "00 00 00 00 00"
    )


def test_get_profile_reply_field0_long_form() -> None:
    mid = "u" + "3" * 32
    body = (
        h("82 41 00 0a")
        + b"getProfile"
        + h("0c 00")
        + h("18")
        + lp(mid)
        + h("08 28")
        + lp("bot")
        + h("00 00")
    )
    message = compact.decode_message(body)
    assert (message.name, message.type, message.seqid) == ("getProfile", MessageType.REPLY, 0)
    profile = message.body.opt_struct(0)
    assert profile is not None
    assert profile.opt_text(1) == mid
    assert profile.opt_text(20) == "bot"
    # Re-encoding writes field 0 in the long form and field 20 (delta 19) in the long form too.
    assert compact.encode_message(message) == body


def test_exception_reply_bytes_decode() -> None:
    body = h("82 41 00 0a") + b"getProfile" + h("1c 15 ee 01 18 0c") + b"must refresh" + h("00 00")
    result = compact.decode_message(body).body
    exc = result.opt_struct(1)
    assert exc is not None
    assert exc.opt_i32(1) == 119
    assert exc.opt_text(2) == "must refresh"


def test_sync_request_bytes() -> None:
    first = service.sync()
    assert first.body == h("82 21 00 04") + b"sync" + h("1c 16 00 15 c8 01 16 00 16 00 00 00 00")
    later = service.sync(RevisionTriple(123456789, 5, 7))
    assert later.body == h("82 21 00 04") + b"sync" + h("1c 16 aa b4 de 75 15 c8 01 16 0a 16 0e 00 00 00")


def test_sync_reply_with_group_message_bytes() -> None:
    sender, chat = "u" + "1" * 32, "c" + "2" * 32
    message = (
        h("18")
        + lp(sender)
        + h("18")
        + lp(chat)
        + h("15 04 18")
        + lp("600000000000000001")
        + h("16 80 a0 ab fe f9 62 58")
        + lp("!call")
        + h("55 00 3b 00 00")
    )
    operation = h("16 c8 01 16 80 a0 ab fe f9 62 15 34 15 00 0c 28") + message + h("00")
    body = (
        h("82 41 00 04")
        + b"sync"
        + h("0c 00 1c 19 1c")
        + operation
        + h("2c 26 9a 01 00 1c 26 b0 01 00 00 00 00")
    )
    response = service.parse_sync(body)
    assert response.operation_response is not None
    assert response.operation_response.global_last_revision == 77
    assert response.operation_response.individual_last_revision == 88
    (op,) = response.operations
    assert isinstance(op, Operation)
    assert op.revision == 100 and op.type == OpType.RECEIVE_MESSAGE and op.req_seq == 0
    assert op.created_time == 1_700_000_000_000
    msg = op.message
    assert msg is not None
    assert (msg.from_, msg.to, msg.to_type, msg.text) == (sender, chat, MidType.GROUP, "!call")
    assert msg.content_metadata == {}


def test_full_sync_reply_bytes() -> None:
    body = h("82 41 00 04") + b"sync" + h("0c 00 2c 1a 15 02 16 a4 42 00 00 00")
    response = service.parse_sync(body)
    assert response == SyncResponse(full_sync_response=FullSyncResponse(reasons=(1,), next_revision=4242))


def test_binary_get_rsa_key_info_call_bytes() -> None:
    # §2.4 binary example: args fid 1 struct {fid 2 i32 1}.
    args = struct((1, struct((2, I32(1)))))
    expected = (
        h("80 01 00 01 00 00 00 0d")
        + b"getRSAKeyInfo"
        + h("00 00 00 00")
        + h("0c 00 01 08 00 02 00 00 00 01 00 00 00")
    )
    assert binary.encode_call("getRSAKeyInfo", args) == expected
    decoded = binary.decode_message(expected)  # the surplus byte after the args is ignored
    assert decoded.body == args


def test_binary_result_field0_header() -> None:
    reply = binary.encode_message(TMessage("x", MessageType.REPLY, 0, struct((0, Struct()))))
    assert reply.endswith(h("0c 00 00 00 00"))


# ---------------------------------------------------------------------------------------------- framing


def test_field_headers_short_and_long() -> None:
    # delta 1 and 15 are short; delta 17, a step back and a negative id are long (ctype, zigzag fid).
    s = struct((1, I32(1)), (16, I32(2)), (33, I32(3)), (3, I32(4)), (-1, I32(5)))
    assert compact.encode_struct(s) == h("15 02 f5 04 05 42 06 05 06 08 05 01 0a 00")


def test_bool_fields_carry_value_in_header() -> None:
    assert compact.encode_struct(struct((1, Bool(True)), (2, Bool(False)))) == h("11 12 00")
    assert compact.encode_value(TList(TType.BOOL, (Bool(True), Bool(False)))) == h("21 01 02")


def test_writer_keeps_byte_and_i16_fields() -> None:
    # linejs's writer drops BYTE and I16 fields (talk-map §2.2, §8.6); ours writes them.
    assert compact.encode_struct(struct((19, Byte(0)), (20, I16(-2)))) == h("03 26 00 14 03 00")
    assert binary.encode_struct(struct((19, Byte(0)))) == h("03 00 13 00 00")


def test_collections_and_maps() -> None:
    empty_map = TMap(TType.STRING, TType.STRING, ())
    assert compact.encode_value(empty_map) == h("00")
    long_list = TList(TType.I32, tuple(I32(i) for i in range(15)))
    assert compact.encode_value(long_list)[:2] == h("f5 0f")
    assert compact.decode_struct(compact.encode_struct(struct((1, long_list)))) == struct((1, long_list))


def test_encode_rejects_bad_values() -> None:
    with pytest.raises(ThriftEncodeError):
        I32(1 << 31)
    with pytest.raises(ThriftEncodeError):
        I64(-(1 << 63) - 1)
    with pytest.raises(ThriftEncodeError):
        TList(TType.I32, (I64(1),))
    with pytest.raises(ThriftEncodeError):
        Bool(1)  # type: ignore[arg-type]
    with pytest.raises(ThriftEncodeError):
        Struct({1 << 15: I32(0)})


def test_signed_i64_round_trip() -> None:
    # linejs reads i64 as unsigned (talk-map §8.7); ours is signed.
    for value in (-1, -(1 << 63), (1 << 63) - 1, (1 << 53) + 1):
        s = struct((1, I64(value)))
        assert compact.decode_struct(compact.encode_struct(s)).opt_i64(1) == value
        assert binary.decode_struct(binary.encode_struct(s)).opt_i64(1) == value


def test_accessors_insist_on_wire_type() -> None:
    s = struct((1, I32(5)), (2, Binary(b"\xff")), (3, TList(TType.I32, (I32(1),))))
    with pytest.raises(ThriftDecodeError, match="field 1"):
        s.opt_i64(1)
    with pytest.raises(ThriftDecodeError, match="UTF-8"):
        s.opt_text(2)
    assert s.opt_binary(2) == b"\xff"
    with pytest.raises(ThriftDecodeError):
        s.opt_text_list(3)


# ---------------------------------------------------------------------------------------- strict decoding


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(h("81 21 00 00 00"), id="bad protocol id"),
        pytest.param(h("82 22 00 00 00"), id="bad version"),
        pytest.param(h("82 a1 00 00 00"), id="bad message type"),
        pytest.param(h("82 41 00 02 ff fe 00"), id="name not UTF-8"),
        pytest.param(h("82 41 ff ff ff ff ff 01 00 00"), id="overlong varint"),
        pytest.param(h("82 41 00 00 0d 00"), id="bad compact type 13"),
        pytest.param(h("82 41 00 00 19 f8 ff ff ff 0f"), id="list count beyond body"),
        pytest.param(h("82 41 00 00 18 05 61"), id="string beyond body"),
        pytest.param(h("82 41 00 00 1b 01 00 00"), id="map of STOP types"),
        pytest.param(h("82 41 00 00 19 11 05"), id="bool element not 0/1/2"),
        pytest.param(h("82 41 00 00 05 80 80 04 00"), id="field id beyond i16"),
        pytest.param(h("82 41 00 00 15 80 80 80 80 10 00"), id="i32 beyond 32 bits"),
    ],
)
def test_compact_malformed(body: bytes) -> None:
    with pytest.raises(ThriftDecodeError):
        compact.decode_message(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(h("80 02 00 02 00 00 00 00 00 00 00 00 00"), id="bad version"),
        pytest.param(h("80 01 00 02 ff ff ff ff"), id="negative name length"),
        pytest.param(h("80 01 00 02 00 00 00 00 00 00 00 00 0b 00 01 80 00 00 00"), id="negative string"),
        pytest.param(h("80 01 00 02 00 00 00 00 00 00 00 00 0f 00 01 08 7f ff ff ff"), id="list beyond body"),
        pytest.param(h("80 01 00 02 00 00 00 00 00 00 00 00 10 00 01"), id="bad type id"),
        pytest.param(h("80 01 00 02 00 00 00 00 00 00 00 00 02 00 01 02 00"), id="bool byte 2"),
        pytest.param(h("80 01 00 09 00 00 00 00 00 00 00 00 00"), id="bad message type"),
    ],
)
def test_binary_malformed(body: bytes) -> None:
    with pytest.raises(ThriftDecodeError):
        binary.decode_message(body)


def test_nesting_depth_is_bounded() -> None:
    deep = h("82 41 00 00") + h("1c") * 200 + h("00") * 201
    with pytest.raises(ThriftDecodeError, match="nesting"):
        compact.decode_message(deep)
    shallow_limit = DecodeLimits(max_depth=3)
    with pytest.raises(ThriftDecodeError, match="nesting"):
        compact.decode_message(h("82 41 00 00 1c 1c 1c 00 00 00 00"), shallow_limit)


def test_item_count_is_bounded() -> None:
    body = h("82 41 00 00 19 f5 e8 07") + h("00") * 1000 + h("00")
    assert len(compact.decode_message(body).body.opt_list(1, TType.I32) or ()) == 1000
    with pytest.raises(ThriftDecodeError, match="limit"):
        compact.decode_message(body, DecodeLimits(max_items=999))


def test_decode_struct_rejects_trailing_bytes() -> None:
    with pytest.raises(ThriftDecodeError):
        compact.decode_struct(h("00 00"))
    with pytest.raises(ThriftDecodeError):
        binary.decode_struct(h("00 00"))


def test_vector_bodies_reencode_identically() -> None:
    for name, body in vector_bodies():
        message = compact.decode_message(body)
        if message.type == MessageType.CALL:
            assert compact.encode_call(message.name, message.body) == body, name
        else:
            assert compact.encode_message(message) == body, name


def test_every_truncation_of_every_vector_body_fails_typed() -> None:
    # Cutting one byte off a request only drops linejs's surplus 00, so stop two bytes short of the end.
    for name, body in vector_bodies():
        for cut in range(len(body) - 1):
            with pytest.raises(ThriftDecodeError):
                compact.decode_message(body[:cut])
            assert name


# --------------------------------------------------------------------------------------------- hypothesis

_SCALARS: dict[TType, st.SearchStrategy[Value]] = {
    TType.BOOL: st.booleans().map(Bool),
    TType.BYTE: st.integers(-128, 127).map(Byte),
    TType.I16: st.integers(-(1 << 15), (1 << 15) - 1).map(I16),
    TType.I32: st.integers(-(1 << 31), (1 << 31) - 1).map(I32),
    TType.I64: st.integers(-(1 << 63), (1 << 63) - 1).map(I64),
    TType.DOUBLE: st.floats(allow_nan=False).map(Double),
    TType.STRING: st.binary(max_size=24).map(Binary),
}
_CONTAINERS = (TType.STRUCT, TType.LIST, TType.SET, TType.MAP)


def _values(ttype: TType, depth: int) -> st.SearchStrategy[Value]:
    if ttype in _SCALARS:
        return _SCALARS[ttype]
    inner = list(_SCALARS) + (list(_CONTAINERS) if depth > 1 else [])
    if ttype == TType.STRUCT:
        fields = st.dictionaries(
            st.integers(-(1 << 15), (1 << 15) - 1),
            st.sampled_from(inner).flatmap(lambda t: _values(t, depth - 1)),
            max_size=5,
        )
        return fields.map(lambda f: Struct(f))
    if ttype in (TType.LIST, TType.SET):
        cls = TList if ttype == TType.LIST else TSet
        return st.sampled_from(inner).flatmap(
            lambda et: st.lists(_values(et, depth - 1), max_size=4).map(lambda items: cls(et, tuple(items)))
        )
    return st.tuples(st.sampled_from(inner), st.sampled_from(inner)).flatmap(
        lambda kv: st.lists(st.tuples(_values(kv[0], depth - 1), _values(kv[1], depth - 1)), max_size=3).map(
            lambda pairs: TMap(kv[0], kv[1], tuple(pairs))
        )
    )


def _normalise_empty_maps(value: Value) -> Value:
    """Compact writes no key/value types for an empty map, so they decode as STOP."""
    if isinstance(value, TMap):
        if not value.items:
            return TMap(TType.STOP, TType.STOP, ())
        return TMap(
            value.ktype,
            value.vtype,
            tuple((_normalise_empty_maps(k), _normalise_empty_maps(v)) for k, v in value.items),
        )
    if isinstance(value, TList | TSet):
        return type(value)(value.etype, tuple(_normalise_empty_maps(v) for v in value.items))
    if isinstance(value, Struct):
        return Struct({fid: _normalise_empty_maps(v) for fid, v in value.fields.items()})
    return value


_structs = _values(TType.STRUCT, 4).map(lambda v: v if isinstance(v, Struct) else Struct())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(_structs)
def test_compact_round_trip(value: Struct) -> None:
    assert compact.decode_struct(compact.encode_struct(value)) == _normalise_empty_maps(value)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(_structs)
def test_binary_round_trip(value: Struct) -> None:
    assert binary.decode_struct(binary.encode_struct(value)) == value


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(_structs, st.sampled_from(list(Protocol)), st.text(max_size=40), st.sampled_from(list(MessageType)))
def test_message_round_trip(body: Struct, protocol: Protocol, name: str, mtype: MessageType) -> None:
    message = TMessage(name, mtype, 0, body)
    decoded = codec.decode_message(protocol, codec.encode_message(protocol, message))
    expected = _normalise_empty_maps(body) if protocol == Protocol.COMPACT else body
    assert decoded == TMessage(name, mtype, 0, expected)


def _decode_any(data: bytes) -> None:
    for decoder in (
        compact.decode_message,
        binary.decode_message,
        compact.decode_struct,
        binary.decode_struct,
    ):
        with contextlib.suppress(ThriftDecodeError):
            decoder(data)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_errors(data: bytes) -> None:
    _decode_any(data)


@settings(max_examples=200)
@given(st.binary(max_size=120))
def test_random_after_valid_header_raises_only_decode_errors(tail: bytes) -> None:
    _decode_any(h("82 41 00 04") + b"sync" + tail)
    _decode_any(h("80 01 00 02 00 00 00 04") + b"sync" + h("00 00 00 00") + tail)


@settings(max_examples=300)
@given(st.data())
def test_bit_flipped_vector_bodies_raise_only_decode_errors(data: st.DataObject) -> None:
    bodies = vector_bodies()
    _, body = bodies[data.draw(st.integers(0, len(bodies) - 1))]
    mutated = bytearray(body)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        mutated[position] ^= 1 << data.draw(st.integers(0, 7))
    _decode_any(bytes(mutated))


def test_double_is_little_endian_in_compact() -> None:
    assert compact.encode_value(Double(1.0)) == pystruct.pack("<d", 1.0)
    assert binary.encode_struct(struct((1, Double(1.0))))[3:11] == pystruct.pack(">d", 1.0)
