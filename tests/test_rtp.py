"""RTP codec: srtp.json's build_rtp / parse_rtp cases, the transcripts' plaintext RTP, strict parsing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.rtp.rtp import (
    LINE_EXTENSION_PROFILE,
    RtpError,
    RtpExtension,
    RtpHeader,
    RtpPacket,
    build_rtp,
    parse_rtp,
    parse_rtp_header,
)
from tests.conftest import load_vectors


def _cases(kind: str) -> list[Any]:
    return [pytest.param(c, id=c["name"]) for c in load_vectors("srtp.json")["cases"] if c["kind"] == kind]


def _header_from_input(inp: dict[str, Any]) -> RtpHeader:
    extension = None
    if "extensionProfile" in inp:
        extension = RtpExtension(inp["extensionProfile"], bytes.fromhex(inp.get("extensionData", "")))
    return RtpHeader(
        payload_type=inp["payloadType"],
        seq=inp["seq"],
        timestamp=inp["timestamp"],
        ssrc=inp["ssrc"],
        marker=bool(inp.get("marker", False)),
        extension=extension,
    )


def _assert_parsed(packet: RtpPacket, parsed: dict[str, Any]) -> None:
    assert packet.header.payload_type == parsed["payloadType"]
    assert packet.header.marker == parsed["marker"]
    assert packet.header.seq == parsed["seq"]
    assert packet.header.timestamp == parsed["timestamp"]
    assert packet.header.ssrc == parsed["ssrc"]
    assert packet.payload.hex() == parsed["payload"]


MASKED_CASE = "PT masked to 7 bits, seq/ts/ssrc masked"


@pytest.mark.parametrize("case", _cases("build_rtp"))
def test_build_rtp_vectors(case: dict[str, Any]) -> None:
    inp = case["input"]
    if case.get("throws"):
        with pytest.raises(RtpError, match="multiple of 4"):
            _header_from_input(inp)
        return
    if case["name"] == MASKED_CASE:
        # Departure from linejs (case "PT masked to 7 bits, seq/ts/ssrc masked"): linejs masks an
        # out-of-range payload type / seq / timestamp / SSRC silently; we refuse to build such a header.
        with pytest.raises(RtpError, match="out of range"):
            _header_from_input(inp)
        inp = {
            **inp,
            "payloadType": inp["payloadType"] & 0x7F,
            "seq": inp["seq"] & 0xFFFF,
            "timestamp": inp["timestamp"] & 0xFFFFFFFF,
            "ssrc": inp["ssrc"] & 0xFFFFFFFF,
        }
    packet = build_rtp(_header_from_input(inp), bytes.fromhex(inp["payload"]))
    assert packet.hex() == case["packet"]
    _assert_parsed(parse_rtp(packet), case["parsed"])


@pytest.mark.parametrize("case", _cases("parse_rtp"))
def test_parse_rtp_vectors(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["packet"])
    if case.get("throws"):
        with pytest.raises(RtpError, match=case["error_message"]):
            parse_rtp(data)
        return
    _assert_parsed(parse_rtp(data), case["parsed"])


def _transcript_rtp_cases() -> list[Any]:
    out = []
    for name in ("planet_wire.json", "planet_wire_group.json"):
        for case in load_vectors(name)["cases"]:
            if case["channel"] == "srtp":
                out.append(pytest.param(case, id=f"{name}#{case['index']}"))
    return out


@pytest.mark.parametrize("case", _transcript_rtp_cases())
def test_transcript_plaintext_rtp_parses_and_rebuilds(case: dict[str, Any]) -> None:
    plain = bytes.fromhex(case["rtp_plain"])
    packet = parse_rtp(plain)
    assert packet.payload.hex() == case["rtp_payload"]
    assert packet.to_bytes() == plain
    assert packet.header.extension is not None
    assert packet.header.extension.profile == LINE_EXTENSION_PROFILE
    if "rtp_header" in case:
        h = case["rtp_header"]
        assert (packet.header.seq, packet.header.timestamp, packet.header.ssrc) == (
            h["seq"],
            h["timestamp"],
            h["ssrc"],
        )
        assert (packet.header.payload_type, packet.header.marker) == (h["payload_type"], h["marker"])


def test_line_header_sizes() -> None:
    one_to_one = RtpHeader(96, 1, 960, 201, extension=RtpExtension())
    assert one_to_one.size == 16 == len(one_to_one.to_bytes())
    group = RtpHeader(96, 1, 960, 201, extension=RtpExtension(data=bytes(8)))
    assert group.size == 24 == len(group.to_bytes())


def test_version_must_be_2() -> None:
    with pytest.raises(RtpError, match="version"):
        parse_rtp(bytes.fromhex("40600001000000010000000200"))


def test_padding_is_stripped_and_checked() -> None:
    body = bytes.fromhex("a0600001000000010000000211223344")
    assert parse_rtp(body + bytes.fromhex("000003")).payload == bytes.fromhex("11223344")
    with pytest.raises(RtpError, match="padding"):
        parse_rtp(body[:-4] + bytes.fromhex("ff"))
    with pytest.raises(RtpError, match="padding"):
        parse_rtp(body + bytes.fromhex("00"))
    with pytest.raises(RtpError, match="padding"):
        parse_rtp(body[:12])
    # Header-only parsing (used on SRTP, where padding is encrypted) does not look at it.
    assert parse_rtp_header(body[:12] + b"\xff")[1] == 12


def test_header_field_ranges() -> None:
    for kwargs in (
        {"payload_type": 128},
        {"seq": 0x10000},
        {"timestamp": -1},
        {"ssrc": 1 << 32},
        {"csrcs": tuple(range(16))},
        {"csrcs": (1 << 32,)},
    ):
        base: dict[str, Any] = {"payload_type": 96, "seq": 0, "timestamp": 0, "ssrc": 0}
        with pytest.raises(RtpError):
            RtpHeader(**{**base, **kwargs})
    with pytest.raises(RtpError):
        RtpExtension(0x10000)


headers = st.builds(
    RtpHeader,
    payload_type=st.integers(0, 127),
    seq=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    marker=st.booleans(),
    extension=st.none()
    | st.builds(
        RtpExtension,
        profile=st.integers(0, 0xFFFF),
        data=st.binary(max_size=40).map(lambda b: b[: len(b) - len(b) % 4]),
    ),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
)


@settings(max_examples=200)
@given(headers, st.binary(max_size=64))
def test_build_parse_round_trip(header: RtpHeader, payload: bytes) -> None:
    packet = parse_rtp(build_rtp(header, payload))
    assert packet == RtpPacket(header, payload)


def _parse_or_typed_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError:
        return
    assert packet.header.size + len(packet.payload) <= len(data)


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_parse_random_bytes_typed_errors_only(data: bytes) -> None:
    _parse_or_typed_error(data)


@settings(max_examples=200)
@given(headers, st.binary(max_size=32), st.data())
def test_parse_truncated_and_bit_flipped(header: RtpHeader, payload: bytes, data: st.DataObject) -> None:
    wire = build_rtp(header, payload)
    cut = data.draw(st.integers(0, len(wire)))
    _parse_or_typed_error(wire[:cut])
    bit = data.draw(st.integers(0, 8 * len(wire) - 1))
    flipped = bytearray(wire)
    flipped[bit // 8] ^= 1 << (bit % 8)
    _parse_or_typed_error(bytes(flipped))
