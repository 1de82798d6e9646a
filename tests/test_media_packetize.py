"""Group Opus payloads against linejs's vectors, RFC 6716 packet parsing, and per-call prefixes.

Where linejs is right, our bytes equal its bytes. For a VBR left frame of 252 bytes or more linejs writes a
frame length RFC 6716 decoders misread; there we assert the RFC 6716 form and that libopus decodes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from typing import Any

import numpy as np
import opuslib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.media.errors import OpusPacketError
from linecall.media.opus import OpusDecoder
from linecall.media.packetize import (
    GroupPrefixer,
    frame_length_bytes,
    group_prefix,
    join_group_pair,
    linejs_group_payloads,
    pack_code3_pair,
    packet_duration_ms,
    parse_packet,
    parse_toc,
)
from tests.audio_match import audio_match
from tests.conftest import load_vectors

VECTORS: dict[str, Any] = load_vectors("group_opus.json")
CASES = {c["name"]: c for c in VECTORS["cases"]}


def _prefix_bytes(case: dict[str, Any]) -> Any:
    options = case.get("options") or {}
    value = options.get("inputPrefixBytes", 1)
    return math.nan if value is None and "inputPrefixBytes" in options else value


def _expected_rfc(case: dict[str, Any]) -> list[bytes]:
    """linejs's outputs with every two-byte size rewritten in RFC 6716 form (identity where linejs is right)."""
    p = _prefix_bytes(case)
    inputs = [bytes.fromhex(h) for h in case["input_packets"]]
    outputs = [bytes.fromhex(h) for h in case["output_payloads"]]
    pairs = [
        (inputs[i], inputs[i + 1])
        for i in range(0, len(inputs) - 1, 2)
        if len(inputs[i]) > p and len(inputs[i + 1]) > p
    ]
    assert len(pairs) == len(outputs)
    fixed = []
    for (left, right), out in zip(pairs, outputs, strict=True):
        fl, fr = left[p + 1 :], right[p + 1 :]
        if len(fl) != len(fr) and len(fl) >= 252:
            # linejs: prefix, TOC, 0x82, two (wrong) size bytes, frames.
            assert out[3:5] != frame_length_bytes(len(fl)), "linejs is not expected to be right here"
            out = out[:3] + frame_length_bytes(len(fl)) + out[5:]
        fixed.append(out)
    return fixed


def _hits_size_bug(case: dict[str, Any]) -> bool:
    return "linejs_size_bytes" in case or bool(case.get("hits_linejs_size_bug"))


VALID = [n for n, c in CASES.items() if not c.get("throws")]
EXACT = [n for n in VALID if not _hits_size_bug(CASES[n])]
BUGGY = [n for n in VALID if _hits_size_bug(CASES[n])]
THROWS = [n for n, c in CASES.items() if c.get("throws")]


def test_vector_file_has_the_expected_kinds() -> None:
    assert len(EXACT) >= 15 and len(BUGGY) >= 8 and len(THROWS) == 3
    assert any(n.startswith("opusscript") for n in BUGGY)


@pytest.mark.parametrize("name", EXACT)
def test_group_payloads_match_linejs_byte_for_byte(name: str) -> None:
    case = CASES[name]
    inputs = [bytes.fromhex(h) for h in case["input_packets"]]
    got = linejs_group_payloads(inputs, _prefix_bytes(case))
    assert [g.hex() for g in got] == case["output_payloads"]


@pytest.mark.parametrize("name", BUGGY)
def test_group_payloads_use_rfc6716_sizes_where_linejs_is_wrong(name: str) -> None:
    case = CASES[name]
    inputs = [bytes.fromhex(h) for h in case["input_packets"]]
    got = linejs_group_payloads(inputs, _prefix_bytes(case))
    expected = _expected_rfc(case)
    assert [g.hex() for g in got] == [e.hex() for e in expected]
    if "rfc6716_size_bytes" in case:
        assert got[0][3:5].hex() == case["rfc6716_size_bytes"]
    linejs = [bytes.fromhex(h) for h in case["output_payloads"]]
    differing = [i for i, (a, b) in enumerate(zip(got, linejs, strict=True)) if a != b]
    assert differing, "a size-bug case must differ from linejs somewhere"
    # Every payload parses into the two original frames and libopus decodes 40 ms from it.
    decoder = OpusDecoder()
    p = _prefix_bytes(case)
    for k, payload in enumerate(got):
        packet = parse_packet(payload[1:])
        left, right = inputs[2 * k], inputs[2 * k + 1]
        assert packet.frames == (left[p + 1 :], right[p + 1 :])
        if parse_toc(payload[1]).frame_samples == 960:
            assert len(decoder.decode(payload[1:])) == 1920
    # linejs's form is what an RFC 6716 decoder misreads.
    for i in differing:
        bad = linejs[i][1:]
        try:
            frames = parse_packet(bad).frames
        except OpusPacketError:
            continue
        assert frames != parse_packet(got[i][1:]).frames


@pytest.mark.parametrize("name", THROWS)
def test_invalid_prefix_length_is_rejected(name: str) -> None:
    case = CASES[name]
    inputs = [bytes.fromhex(h) for h in case["input_packets"]]
    with pytest.raises(ValueError, match="input_prefix_bytes"):
        linejs_group_payloads(inputs, _prefix_bytes(case))


@pytest.mark.parametrize("name", [n for n in VALID if n.startswith("opusscript")])
def test_opusscript_cases_decode_with_libopus(name: str) -> None:
    case = CASES[name]
    pcm = case["pcm"]
    source = _vector_pcm(pcm["samples"])
    assert hashlib.sha256(source.tobytes()).hexdigest() == pcm["sha256_int16le"]
    got = linejs_group_payloads([bytes.fromhex(h) for h in case["input_packets"]], 1)
    decoder = OpusDecoder()
    decoded = np.concatenate([decoder.decode(g[1:]) for g in got])
    assert len(decoded) == pcm["samples"]
    assert audio_match(source, decoded) >= 0.9
    assert [g[0] for g in got] == [0x00, 0x00] + [0x10] * (len(got) - 2)


def _vector_pcm(n: int) -> np.ndarray:
    """The test signal of the opusscript cases (see the case's pcm.formula)."""

    def tri(idx: np.ndarray, p: int, a: int) -> np.ndarray:
        v = a * (4 * np.abs(2 * (idx % p) - p) - 2 * p)
        return np.trunc(v / (2 * p)).astype(np.int64)

    idx = np.arange(n, dtype=np.int64)
    s = tri(idx, 100, 8000) + tri(idx, 48, 3000)
    x = 12345
    noise = np.zeros(n, dtype=np.int64)
    for k in range(48_000, n):
        x = (1103515245 * x + 12345) % 2**32
        noise[k] = ((x >> 16) % 2001) - 1000
    return np.clip(s + noise, -32768, 32767).astype("<i2")


# --- RFC 6716 frame lengths and packets -----------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "hexed"),
    [
        (0, "00"),
        (251, "fb"),
        (252, "fc00"),
        (253, "fd00"),
        (255, "ff00"),
        (256, "fc01"),
        (300, "fc0c"),
        (1000, "fcbb"),
        (1275, "ffff"),
    ],
)
def test_frame_length_bytes(n: int, hexed: str) -> None:
    assert frame_length_bytes(n).hex() == hexed


def test_frame_length_bytes_round_trip_and_limits() -> None:
    for n in range(1276):
        encoded = frame_length_bytes(n)
        value = encoded[0] if len(encoded) == 1 else encoded[0] + 4 * encoded[1]
        assert value == n
    with pytest.raises(OpusPacketError):
        frame_length_bytes(1276)
    with pytest.raises(OpusPacketError):
        frame_length_bytes(-1)


def test_parse_toc_table() -> None:
    assert parse_toc(0x78) == parse_toc(0x78)  # dataclass equality
    info = parse_toc(0xF8)  # config 31: CELT FB 20 ms
    assert (info.mode, info.bandwidth, info.frame_samples, info.stereo, info.code) == (
        "celt",
        "fullband",
        960,
        False,
        0,
    )
    info = parse_toc(0x7B)  # config 15: hybrid FB 20 ms, code 3
    assert (info.mode, info.bandwidth, info.frame_samples, info.code) == ("hybrid", "fullband", 960, 3)
    info = parse_toc(0x10)  # config 2: SILK NB 40 ms
    assert (info.mode, info.bandwidth, info.frame_samples) == ("silk", "narrowband", 1920)
    assert parse_toc(0x04).stereo
    with pytest.raises(OpusPacketError):
        parse_toc(256)


def test_parse_all_codes() -> None:
    assert parse_packet(bytes.fromhex("f8aabb")).frames == (b"\xaa\xbb",)
    assert parse_packet(bytes.fromhex("f9aabb")).frames == (b"\xaa", b"\xbb")
    assert parse_packet(bytes.fromhex("fa01aabbcc")).frames == (b"\xaa", b"\xbb\xcc")
    assert parse_packet(bytes.fromhex("fb02aabb")).frames == (b"\xaa", b"\xbb")
    assert parse_packet(bytes.fromhex("fb8201aabbcc")).frames == (b"\xaa", b"\xbb\xcc")
    padded = parse_packet(bytes.fromhex("fb4102aa0000"))  # CBR, padding 2, one frame
    assert (padded.frames, padded.padding) == ((b"\xaa",), 2)
    long_pad = parse_packet(bytes.fromhex("fb41ff01") + b"\x01" + bytes(255))
    assert (long_pad.frames, long_pad.padding) == ((b"\x01",), 255)
    assert packet_duration_ms(bytes.fromhex("fb02aabb")) == 40.0


@pytest.mark.parametrize(
    "hexed",
    [
        "",
        "f9aa",
        "fa",
        "fafc",
        "fa05aa",
        "fb",
        "fb00",
        "fb4102aa",
        "fb03aabb",
        "fb83aa",
        "fb8202aa",
        "fbff" + "00" * 10,
        "fb41",
    ],
)
def test_malformed_packets_raise(hexed: str) -> None:
    with pytest.raises(OpusPacketError):
        parse_packet(bytes.fromhex(hexed))


def test_oversized_frame_is_rejected() -> None:
    with pytest.raises(OpusPacketError):
        parse_packet(b"\xf8" + bytes(1276))


def _libopus_accepts(packet: bytes) -> bool:
    decoder = opuslib.Decoder(48_000, 1)
    try:
        decoder.decode(packet, 5760)
    except opuslib.OpusError:
        return False
    return True


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=64))
def test_parser_agrees_with_libopus_on_validity(packet: bytes) -> None:
    try:
        parsed = parse_packet(packet)
    except OpusPacketError:
        assert not _libopus_accepts(packet)
        return
    assert _libopus_accepts(packet)
    assert 1 <= len(parsed.frames) <= 48


@settings(max_examples=200)
@given(st.binary(max_size=40))
def test_parser_raises_only_typed_errors(packet: bytes) -> None:
    with contextlib.suppress(OpusPacketError):
        parse_packet(b"\xfb" + packet)


# --- pairs and prefixes ---------------------------------------------------------------------------


def test_join_group_pair_unwraps_padded_input() -> None:
    left = bytes.fromhex("f8") + b"\x01\x02\x03"
    right_padded = bytes.fromhex("fb4102") + b"\x04\x05" + bytes(2)  # code 3, one frame, 2 bytes padding
    assert join_group_pair(left, right_padded) == bytes.fromhex("fb8203010203") + b"\x04\x05"


def test_join_group_pair_rejects_mixed_configs_and_multi_frame_input() -> None:
    with pytest.raises(OpusPacketError, match="different configurations"):
        join_group_pair(b"\xf8\x01", b"\x78\x01")
    with pytest.raises(OpusPacketError, match="single-frame"):
        join_group_pair(b"\xf9\x01\x02", b"\xf8\x01")


def test_pack_code3_pair_cbr_and_vbr() -> None:
    assert pack_code3_pair(0xF8, b"ab", b"cd") == b"\xfb\x02abcd"
    left = bytes(300)
    out = pack_code3_pair(0xF8, left, b"x")
    assert out[:4] == b"\xfb\x82\xfc\x0c"
    assert parse_packet(out).frames == (left, b"x")


def test_group_prefix_rule_spans_repeats() -> None:
    assert [group_prefix(i) for i in range(4)] == [b"\x00", b"\x00", b"\x10", b"\x10"]
    prefixer = GroupPrefixer()
    clip = (b"A", b"B", b"C")
    first = [prefixer.wrap(p) for p in clip]
    second = list(prefixer.wrap_all(clip))
    assert first == [b"\x00A", b"\x00B", b"\x10C"]
    assert second == [b"\x10A", b"\x10B", b"\x10C"]
    assert prefixer.sent == 6
    assert GroupPrefixer().wrap(b"A") == b"\x00A"  # each call starts again
