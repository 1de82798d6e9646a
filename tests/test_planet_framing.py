"""PLANET framing: chunk word shuffle, headers, bootstrap layout, sealing/opening and inbound handling."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.planet.crypto import P256KeyPair, frame_tag
from linecall.protocol.planet.errors import FramingError, PlanetCryptoError
from linecall.protocol.planet.framing import (
    BOOTSTRAP_CIPHER_OFFSET,
    BOOTSTRAP_OVERHEAD,
    MAX_FRAME_LEN,
    BootstrapPrefix,
    FrameCodec,
    FrameHeader,
    FrameKind,
    IgnoredDatagram,
    IgnoreReason,
    InboundFrame,
    PeerHeaderState,
    is_rtp_like,
    looks_bootstrap,
    make_chunk_header,
    parse_chunk_header,
    security_header,
)
from tests.planet_vector_params import case_params, h, require, vector_file

FILE = "planet_framing.json"
COVERED = {"chunk_hdr", "parse_chunk_hdr", "captured_frame_header", "parse_frame_header_error"}
# The legacy 4-byte "fixed header" model, which the transport does not use (planet-map §10.5).
NOT_USED_BY_TRANSPORT = {"fixed_hdr", "parse_fixed_hdr", "parse_fixed_hdr_error", "frame_header"}


def test_every_kind_is_covered_or_deliberately_excluded() -> None:
    data = vector_file(FILE)
    if data is None:
        pytest.skip(f"{FILE} absent")
    assert {c["kind"] for c in data["cases"]} == COVERED | NOT_USED_BY_TRANSPORT


def test_chunk_table_hashes() -> None:
    data = require(vector_file(FILE), FILE)
    chunk_table = b"".join(make_chunk_header(i) for i in range(0x10000))
    assert hashlib.sha256(chunk_table).hexdigest() == data["chunk_table_sha256"]
    # Entry i of the parse table is parseChunkHdr of the little-endian word i, stored little-endian.
    parse_table = b"".join(
        parse_chunk_header(i.to_bytes(2, "little")).to_bytes(2, "little") for i in range(0x10000)
    )
    assert hashlib.sha256(parse_table).hexdigest() == data["parse_table_sha256"]


@pytest.mark.parametrize("case", case_params(FILE, "chunk_hdr"))
def test_chunk_hdr(case: Any) -> None:
    case = require(case, FILE)
    wire = make_chunk_header(case["logical"])
    assert wire.hex() == case["wire_bytes"]
    assert int.from_bytes(wire, "little") == case["make_chunk_hdr"]
    assert parse_chunk_header(wire) == case["parse_chunk_hdr_of_make"] == case["logical"]


@pytest.mark.parametrize("case", case_params(FILE, "parse_chunk_hdr"))
def test_parse_chunk_hdr(case: Any) -> None:
    case = require(case, FILE)
    wire = h(case["wire_bytes"])
    assert int.from_bytes(wire, "little") == case["word_le"]
    assert parse_chunk_header(wire) == case["logical"]


@pytest.mark.parametrize("case", case_params(FILE, "captured_frame_header"))
def test_captured_frame_header(case: Any) -> None:
    case = require(case, FILE)
    header = FrameHeader.parse(h(case["wire"]))
    assert header.seq == case["sequence_be_bytes_2_3"]
    assert header.length == case["total_len_from_chunk"]
    assert header.chunk_logical == case["parse_frame_header"]["chunkLogical"]
    assert header.to_bytes() == h(case["wire"])


@pytest.mark.parametrize("case", case_params(FILE, "parse_frame_header_error"))
def test_parse_frame_header_error(case: Any) -> None:
    case = require(case, FILE)
    with pytest.raises(FramingError):
        FrameHeader.parse(h(case["wire"]))


def test_chunk_word_simple_form() -> None:
    """§3.1: byte 0 = 0xD0 | flag << 3 | hi3(len - 4), byte 1 = lo8(len - 4)."""
    for total in (22, 32, 541, 765, 2051):
        for bootstrap in (False, True):
            header = FrameHeader.build(
                FrameKind.BOOTSTRAP if bootstrap else FrameKind.CONTROL,
                total_len=total,
                seq=1,
                plaintext_len=0,
            )
            wire = header.to_bytes()
            assert wire[0] == 0xD0 | (bootstrap << 3) | ((total - 4) >> 8)
            assert wire[1] == (total - 4) & 0xFF
            assert header.length == total and header.bootstrap_flag is bootstrap


def test_reference_header_words() -> None:
    """planet-map §11: header words of a loopback run (setup, probe, report, keepalive)."""
    build = FrameHeader.build
    assert build(FrameKind.BOOTSTRAP, total_len=765, seq=0x263, plaintext_len=687).to_bytes() == h(
        "daf902630602"
    )
    assert build(FrameKind.RAW, total_len=541, seq=0x264, plaintext_len=519).to_bytes() == h("d21902644a07")
    assert build(FrameKind.RAW, total_len=32, seq=7, plaintext_len=10).to_bytes() == h("d01c0007480a")
    assert build(FrameKind.CONTROL, total_len=102, seq=0x10001, plaintext_len=80).to_bytes() == h(
        "d06200011850"
    )
    assert security_header(873) == h("0000002b69")
    assert security_header(874) == h("0000002b6a")


def test_frame_size_limits() -> None:
    with pytest.raises(FramingError):
        FrameHeader.build(FrameKind.CONTROL, total_len=MAX_FRAME_LEN + 1, seq=0, plaintext_len=0)
    codec, _ = _pair()
    codec.seal(bytes(MAX_FRAME_LEN - 22), FrameKind.CONTROL)
    codec.seal(bytes(MAX_FRAME_LEN - BOOTSTRAP_OVERHEAD), FrameKind.BOOTSTRAP)
    before = codec.next_seq
    with pytest.raises(FramingError):
        codec.seal(bytes(MAX_FRAME_LEN - 21), FrameKind.CONTROL)
    with pytest.raises(FramingError):
        codec.seal(bytes(MAX_FRAME_LEN - BOOTSTRAP_OVERHEAD + 1), FrameKind.BOOTSTRAP)
    assert codec.next_seq == before  # a refused frame consumes no sequence


# --------------------------------------------------------------------------------------------------
# Codec round trips between a client and a relay built from the same class

CLIENT_KEY = P256KeyPair.from_private(
    bytes.fromhex("570dc4671097ff288752489aa8e7120931dc5f84c22da3dea0823587cefa61be")
)
RELAY_KEY = P256KeyPair.from_private(
    bytes.fromhex("84083f2ba9907840094a877e3a732b8c572b325c00eff9c8b80e5b5eb6de1660")
)


def _pair(first_seq: int = 611) -> tuple[FrameCodec, FrameCodec]:
    client = FrameCodec(
        local=CLIENT_KEY,
        peer_public_key=RELAY_KEY.public_key,
        bootstrap_seed=bytes(range(16)),
        send_label=0x329A,
        first_seq=first_seq,
    )
    relay = FrameCodec(
        local=RELAY_KEY,
        peer_public_key=CLIENT_KEY.public_key,
        bootstrap_seed=bytes(range(16, 32)),
        send_label=0x4567,
        first_seq=20737,
    )
    return client, relay


def test_bootstrap_exchange_sets_receive_keys_on_both_sides() -> None:
    client, relay = _pair()
    setup = client.seal(b"setup_req", FrameKind.BOOTSTRAP)
    assert looks_bootstrap(setup) and not is_rtp_like(setup)
    assert BootstrapPrefix.parse(setup) == client.prefix
    assert setup[57:BOOTSTRAP_CIPHER_OFFSET] == security_header(9)

    opened = relay.open(setup)
    assert isinstance(opened, InboundFrame)
    assert opened.bootstrap and opened.plaintext == b"setup_req" and opened.relay_prefix == client.prefix
    assert opened.header.seq == 611 and opened.header.tail16 == 0x0602
    assert relay.recv_keys == client.send_keys

    assert client.recv_keys is None
    assert client.open(relay.seal(b"x" * 100, FrameKind.CONTROL)) == IgnoredDatagram(
        IgnoreReason.UNAUTHENTICATED
    )
    assert client.recv_keys is None  # a failed attempt leaves no trace

    reply = client.open(relay.seal(b"setup_rsp", FrameKind.BOOTSTRAP))
    assert isinstance(reply, InboundFrame) and reply.bootstrap and reply.plaintext == b"setup_rsp"
    assert client.recv_keys == relay.send_keys

    for kind in (FrameKind.CONTROL, FrameKind.RAW):
        later = client.open(relay.seal(b"later", kind))
        assert isinstance(later, InboundFrame) and not later.bootstrap and later.plaintext == b"later"
        probe = relay.open(client.seal(b"\x1a" * 519, kind))
        assert isinstance(probe, InboundFrame) and probe.header.tail16 >> 11 == (
            9 if kind is FrameKind.RAW else 3
        )


def test_sequence_counts_every_frame_and_wraps_on_the_wire() -> None:
    client, relay = _pair(first_seq=0xFFFE)
    seqs = []
    for kind in (FrameKind.BOOTSTRAP, FrameKind.RAW, FrameKind.CONTROL, FrameKind.CONTROL):
        opened = relay.open(client.seal(b"abc", kind))
        assert isinstance(opened, InboundFrame)
        seqs.append(opened.header.seq)
    assert seqs == [0xFFFE, 0xFFFF, 0, 1]
    assert client.next_seq == 0x10002


def test_short_and_foreign_datagrams_are_ignored() -> None:
    client, _relay = _pair()
    assert client.open(b"") == IgnoredDatagram(IgnoreReason.SHORT)
    assert client.open(bytes(21)) == IgnoredDatagram(IgnoreReason.SHORT)
    assert client.open(bytes(22)) == IgnoredDatagram(IgnoreReason.UNAUTHENTICATED)
    assert client.open(bytes(200)) == IgnoredDatagram(IgnoreReason.UNAUTHENTICATED)
    rtp = bytes.fromhex("90601b76000003c0000000c902400000d667c2fc3cf9b65a1f2fe9c337")
    assert is_rtp_like(rtp) and not is_rtp_like(rtp[:11])


def test_regular_frame_that_does_not_look_bootstrap_still_tries_the_bootstrap_path() -> None:
    """§3.5 step 3: a relay bootstrap frame whose tail is not 06 02 authenticates on the second try."""
    client, relay = _pair()
    frame = bytearray(relay.seal(b"setup_rsp", FrameKind.BOOTSTRAP))
    # Rebuild with a different (authenticated) tail so that it does not "look bootstrap".
    frame[4:6] = b"\x18\x09"
    body = bytes(frame[:-16])
    datagram = body + frame_tag(relay.send_keys.mac_key, body)
    assert not looks_bootstrap(datagram)
    opened = client.open(datagram)
    assert isinstance(opened, InboundFrame) and opened.bootstrap and opened.plaintext == b"setup_rsp"


def test_later_bootstrap_frame_replaces_receive_keys() -> None:
    client, relay = _pair()
    client.open(relay.seal(b"one", FrameKind.BOOTSTRAP))
    first = client.recv_keys
    relay2 = FrameCodec(
        local=RELAY_KEY,
        peer_public_key=CLIENT_KEY.public_key,
        bootstrap_seed=bytes(16),
        send_label=1,
        first_seq=5,
    )
    opened = client.open(relay2.seal(b"two", FrameKind.BOOTSTRAP))
    assert isinstance(opened, InboundFrame) and opened.plaintext == b"two"
    assert client.recv_keys == relay2.send_keys != first
    assert isinstance(client.open(relay2.seal(b"three", FrameKind.CONTROL)), InboundFrame)
    assert client.open(relay.seal(b"old", FrameKind.CONTROL)) == IgnoredDatagram(IgnoreReason.UNAUTHENTICATED)


def test_create_draws_randomness_in_the_documented_order() -> None:
    draws = iter([bytes(31) + b"\x09", b"S" * 16, b"\x32\x9a", (2046).to_bytes(4, "big")])
    codec = FrameCodec.create(mpkey=RELAY_KEY.public_key, random=lambda n: next(draws))
    assert codec.local == P256KeyPair.from_private(bytes(31) + b"\x09")
    assert codec.prefix == BootstrapPrefix(label=0x329A, seed=b"S" * 16, public_key=codec.local.public_key)
    assert codec.next_seq == 1 + 2046 % 1023 == 1
    with pytest.raises(PlanetCryptoError):
        FrameCodec.create(mpkey=bytes([2]) + bytes(31) + b"\x01", random=lambda n: bytes(n - 1) + b"\x01")


def test_peer_header_state() -> None:
    state = PeerHeaderState()
    state.observe(loc_nonce=None, sess_id=None)
    assert (state.rmt_nonce, state.nonce_learned, state.sess_id) == (0, False, b"")
    state.observe(loc_nonce=7642030284661133203, sess_id=b"")
    state.observe(loc_nonce=1, sess_id=b"A" * 16)
    assert (state.rmt_nonce, state.nonce_learned, state.sess_id) == (7642030284661133203, True, b"A" * 16)
    state.observe(loc_nonce=2, sess_id=b"")
    state.observe(loc_nonce=3, sess_id=b"B" * 16)
    assert (state.rmt_nonce, state.sess_id) == (7642030284661133203, b"B" * 16)


# --------------------------------------------------------------------------------------------------
# Hypothesis: untrusted bytes only ever give typed errors or an ignored result

_CLIENT, _RELAY = _pair()
_CLIENT.open(_RELAY.seal(b"setup_rsp", FrameKind.BOOTSTRAP))
_GOOD = [
    _RELAY.seal(b"\x0a\x05hello" * 20, FrameKind.CONTROL),
    _RELAY.seal(b"\x0a\x02hi", FrameKind.RAW),
    FrameCodec(
        local=RELAY_KEY,
        peer_public_key=CLIENT_KEY.public_key,
        bootstrap_seed=bytes(range(16, 32)),
        send_label=0x4567,
        first_seq=9,
    ).seal(b"\x0a\x03rsp" * 10, FrameKind.BOOTSTRAP),
]


def _assert_open_is_safe(datagram: bytes) -> InboundFrame | IgnoredDatagram:
    keys_before = _CLIENT.recv_keys
    result = _CLIENT.open(datagram)
    assert isinstance(result, InboundFrame | IgnoredDatagram)
    if isinstance(result, IgnoredDatagram):
        assert _CLIENT.recv_keys == keys_before
    return result


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_random_datagrams_are_ignored(data: bytes) -> None:
    assert isinstance(_assert_open_is_safe(data), IgnoredDatagram)


@settings(max_examples=200)
@given(st.sampled_from(_GOOD), st.data())
def test_truncated_datagrams_are_ignored(good: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(good) - 1))
    assert isinstance(_assert_open_is_safe(good[:cut]), IgnoredDatagram)
    assert isinstance(_assert_open_is_safe(good[cut:][:-1] if cut else good[1:]), IgnoredDatagram)


@settings(max_examples=200)
@given(st.sampled_from(_GOOD), st.data())
def test_bit_flipped_datagrams_are_ignored(good: bytes, data: st.DataObject) -> None:
    assert isinstance(_assert_open_is_safe(good), InboundFrame)
    bit = data.draw(st.integers(0, len(good) * 8 - 1))
    flipped = bytearray(good)
    flipped[bit // 8] ^= 1 << (bit % 8)
    assert isinstance(_assert_open_is_safe(bytes(flipped)), IgnoredDatagram)


@given(st.binary(max_size=80))
def test_header_and_prefix_parsers_raise_only_framing_errors(data: bytes) -> None:
    for parse in (FrameHeader.parse, BootstrapPrefix.parse, parse_chunk_header):
        with contextlib.suppress(FramingError):
            parse(data)


@settings(max_examples=100)
@given(st.binary(max_size=1973), st.sampled_from(list(FrameKind)), st.integers(0, 0x3FFFF))
def test_seal_open_round_trip(plaintext: bytes, kind: FrameKind, seq: int) -> None:
    client, relay = _pair(first_seq=seq)
    if kind is not FrameKind.BOOTSTRAP and len(plaintext) > MAX_FRAME_LEN - 22:
        return
    relay.open(client.seal(b"boot", FrameKind.BOOTSTRAP))
    datagram = client.seal(plaintext, kind)
    assert FrameHeader.parse(datagram).length == len(datagram)
    opened = relay.open(datagram)
    assert isinstance(opened, InboundFrame) and opened.plaintext == plaintext
    assert opened.header.seq == (seq + 1) & 0xFFFF
