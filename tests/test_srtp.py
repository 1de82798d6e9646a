"""SRTP over libsrtp against srtp.json (linejs's bytes) plus the RFC 3711 behaviour linejs lacks."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.rtp.rtp import RtpExtension, RtpHeader, build_rtp, parse_rtp
from linecall.protocol.rtp.srtp import (
    MAX_PROTECT_LEN,
    SrtpAuthError,
    SrtpError,
    SrtpFormatError,
    SrtpKeyError,
    SrtpReceiveSession,
    SrtpReplayError,
    SrtpSendSession,
    derive_session_keys,
    split_master,
)
from tests.conftest import load_vectors

MASTER = bytes(range(30))


def _cases(kind: str) -> list[Any]:
    return [pytest.param(c, id=c["name"]) for c in load_vectors("srtp.json")["cases"] if c["kind"] == kind]


def _one_case(kind: str) -> dict[str, Any]:
    (case,) = (c for c in load_vectors("srtp.json")["cases"] if c["kind"] == kind)
    assert isinstance(case, dict)
    return case


def _rtp(seq: int, ssrc: int = 0x11223344, payload: bytes = b"\x00hello", ts: int = 960) -> bytes:
    return build_rtp(RtpHeader(96, seq, ts, ssrc, extension=RtpExtension()), payload)


# --- srtp.json -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("derive"))
def test_derive_vectors(case: dict[str, Any]) -> None:
    keys = derive_session_keys(bytes.fromhex(case["master_key"] + case["master_salt"]))
    assert keys.cipher_key.hex() == case["cipher_key"]
    assert keys.cipher_salt.hex() == case["cipher_salt"]
    assert keys.auth_key.hex() == case["auth_key"]
    assert case["cipher_key"] not in repr(keys)


@pytest.mark.parametrize("case", _cases("derive_error"))
def test_derive_error_vectors(case: dict[str, Any]) -> None:
    master = bytes(29 if "29" in case["name"] else 31)
    for make in (derive_session_keys, split_master, SrtpSendSession, SrtpReceiveSession):
        with pytest.raises(SrtpKeyError, match=case["error_message"]):
            make(master)


@pytest.mark.parametrize("case", _cases("protect"))
def test_protect_vectors_byte_identical(case: dict[str, Any]) -> None:
    master = bytes.fromhex(case["master"])
    assert case["roc"] == 0
    wire = SrtpSendSession(master).protect(bytes.fromhex(case["rtp"]))
    assert wire.hex() == case["srtp"]
    assert SrtpReceiveSession(master).unprotect(wire).hex() == case["rtp"]


@pytest.mark.parametrize("case", _cases("protect_sequence"))
def test_protect_sequence_vectors(case: dict[str, Any]) -> None:
    master = bytes.fromhex(case["master"])
    sender, receiver = SrtpSendSession(master), SrtpReceiveSession(master)
    for packet in case["packets"]:
        wire = sender.protect(bytes.fromhex(packet["rtp"]))
        assert wire.hex() == packet["srtp"], (packet["ssrc"], packet["seq"], packet["roc"])
        # An RFC 3711 receiver follows the wrap per SSRC (linejs's own receiver would not).
        assert receiver.unprotect(wire).hex() == packet["rtp"]


@pytest.mark.parametrize("case", _cases("protect_sequence_long"))
def test_protect_sequence_long_vector(case: dict[str, Any]) -> None:
    """Two wraps. The ROC depends only on the packet index, so between the recorded packets we send
    fillers every 0x4000 sequence numbers (libsrtp, like RFC 3711, accepts forward jumps < 2^15)
    instead of all 65540 packets."""
    master = bytes.fromhex(case["master"])
    recorded = {p["k"]: p for p in case["packets"]}
    ks = sorted(set(recorded) | set(range(0x4000, case["count"], 0x4000)))
    sender, receiver = SrtpSendSession(master), SrtpReceiveSession(master)
    for k in ks:
        if k in recorded:
            rtp = bytes.fromhex(recorded[k]["rtp"])
        else:
            header = RtpHeader(96, (case["first_seq"] + k) & 0xFFFF, (k * 960) & 0xFFFFFFFF, case["ssrc"])
            rtp = build_rtp(header, b"\x00")
        wire = sender.protect(rtp)
        if k in recorded:
            assert wire.hex() == recorded[k]["srtp"], (k, recorded[k]["roc"])
        assert receiver.unprotect(wire) == rtp


@pytest.mark.parametrize("case", _cases("unprotect"))
def test_unprotect_vectors(case: dict[str, Any]) -> None:
    receiver = SrtpReceiveSession(bytes.fromhex(case["master"]))
    wire = bytes.fromhex(case["srtp"])
    if not case.get("throws"):
        assert receiver.unprotect(wire).hex() == case["rtp"]
        return
    expected = SrtpFormatError if "too short" in case["error_message"] else SrtpAuthError
    with pytest.raises(expected):
        receiver.unprotect(wire)


def test_unprotect_linejs_roc_quirk_departure() -> None:
    """Departure from case 'packet protected with ROC 1 (seq 0 after a wrap), fresh receive context'.

    linejs rejects the packet because its receiver never leaves ROC 0. Per RFC 3711, a receiver with no
    history also assumes ROC 0 and rejects it, but one that has seen the SSRC reach seq 0xffff
    estimates ROC 1 and delivers it. We assert both halves of that."""
    case = _one_case("unprotect_linejs_roc_quirk")
    master, wire = bytes.fromhex(case["master"]), bytes.fromhex(case["srtp"])
    assert case["sender_roc"] == 1
    with pytest.raises(SrtpAuthError):
        SrtpReceiveSession(master).unprotect(wire)

    ssrc = parse_rtp(wire[:-10]).header.ssrc  # the header is in the clear
    sender, receiver = SrtpSendSession(master), SrtpReceiveSession(master)
    receiver.unprotect(sender.protect(build_rtp(RtpHeader(96, 0xFFFF, 0, ssrc), b"\x00")))
    plain = receiver.unprotect(wire)
    header = parse_rtp(plain).header
    assert (header.seq, header.ssrc) == (0, ssrc)
    # And our sender, after the same wrap, produces linejs's ROC-1 bytes exactly.
    assert sender.protect(plain) == wire


def test_protect_linejs_roc_quirk_departure() -> None:
    """Departure from case 'seq 0xfffe then 0x0001 (0xffff skipped): linejs keeps ROC 0'.

    An RFC 3711 sender (libsrtp) uses ROC 1 for seq 1 after 0xfffe; linejs used ROC 0. Our second
    packet therefore differs from linejs's, and an RFC receiver accepts ours and rejects linejs's."""
    case = _one_case("protect_linejs_roc_quirk")
    master = bytes.fromhex(case["master"])
    first, second = (bytes.fromhex(p["srtp"]) for p in case["packets"])
    assert [p["roc"] for p in case["packets"]] == [0, 0]
    # Recover the plaintexts: each was protected with ROC 0, which a fresh receiver assumes.
    plain_first = SrtpReceiveSession(master).unprotect(first)
    plain_second = SrtpReceiveSession(master).unprotect(second)

    sender = SrtpSendSession(master)
    assert sender.protect(plain_first) == first
    ours_second = sender.protect(plain_second)
    assert ours_second != second

    receiver = SrtpReceiveSession(master)
    assert receiver.unprotect(first) == plain_first
    with pytest.raises(SrtpAuthError):
        receiver.unprotect(second)
    assert receiver.unprotect(ours_second) == plain_second


# --- 1:1 transcript: the peer's packets across its sequence wrap -------------------------------


def test_transcript_peer_packet_after_wrap_is_delivered() -> None:
    """planet_wire.json: linejs drops the peer's third packet (seq 0 after 0xffff, ROC 1); we deliver it."""
    wire = load_vectors("planet_wire.json")
    peer = [c for c in wire["cases"] if c["channel"] == "srtp" and c["direction"] == "relay->client"]
    assert [c["roc"] for c in peer] == [0, 0, 1]
    receiver = SrtpReceiveSession(bytes.fromhex(wire["session"]["media"]["recv_master"]))
    for case in peer:
        assert receiver.unprotect(bytes.fromhex(case["wire"])).hex() == case["rtp_plain"]
    assert [r["yielded"] for r in wire["receive_results"]] == [True, True, False]


# --- RFC 3711 properties linejs lacks ----------------------------------------------------------


def test_own_sender_across_wrap_is_received() -> None:
    sender, receiver = SrtpSendSession(MASTER), SrtpReceiveSession(MASTER)
    for i in range(6):
        rtp = _rtp((0xFFFD + i) & 0xFFFF)
        assert receiver.unprotect(sender.protect(rtp)) == rtp


def test_replay_rejected() -> None:
    sender, receiver = SrtpSendSession(MASTER), SrtpReceiveSession(MASTER)
    wires = [sender.protect(_rtp(seq)) for seq in range(200)]
    receiver.unprotect(wires[0])
    with pytest.raises(SrtpReplayError):
        receiver.unprotect(wires[0])
    # Out of order but inside the window is fine; each only once.
    receiver.unprotect(wires[150])
    receiver.unprotect(wires[100])
    with pytest.raises(SrtpReplayError):
        receiver.unprotect(wires[100])
    receiver.unprotect(wires[199])
    # Older than the 128-packet window: rejected although never seen.
    with pytest.raises(SrtpReplayError):
        receiver.unprotect(wires[5])


def test_tampered_packets_rejected_without_state_change() -> None:
    sender, receiver = SrtpSendSession(MASTER), SrtpReceiveSession(MASTER)
    rtp = _rtp(10, payload=bytes(range(40)))
    wire = sender.protect(rtp)
    for pos in (1, 3, 9, 13, 16, 30, len(wire) - 1):  # header, extension, payload, tag
        tampered = bytearray(wire)
        tampered[pos] ^= 0x01
        with pytest.raises(SrtpAuthError):
            receiver.unprotect(bytes(tampered))
    tampered = bytearray(wire)
    tampered[14] ^= 0x01  # extension length now runs past the packet: caught before libsrtp
    with pytest.raises(SrtpFormatError):
        receiver.unprotect(bytes(tampered))
    with pytest.raises(SrtpAuthError):
        SrtpReceiveSession(bytes(30)).unprotect(wire)
    # Failures left no trace: the genuine packet is still accepted, once.
    assert receiver.unprotect(wire) == rtp


def test_format_errors() -> None:
    sender, receiver = SrtpSendSession(MASTER), SrtpReceiveSession(MASTER)
    with pytest.raises(SrtpFormatError):
        sender.protect(b"\x00" * 12)  # version 0
    with pytest.raises(SrtpFormatError):
        sender.protect(_rtp(1, payload=bytes(MAX_PROTECT_LEN)))
    assert len(sender.protect(_rtp(2, payload=bytes(MAX_PROTECT_LEN - 16)))) == MAX_PROTECT_LEN + 10
    with pytest.raises(SrtpFormatError):
        receiver.unprotect(_rtp(1)[:16] + bytes(9))
    with pytest.raises(SrtpFormatError):
        receiver.unprotect(bytes(2000))


def test_srtcp_round_trip() -> None:
    rtcp = bytes.fromhex("80c8000611223344") + bytes(20)
    wire = SrtpSendSession(MASTER).protect_rtcp(rtcp)
    receiver = SrtpReceiveSession(MASTER)
    assert receiver.unprotect_rtcp(wire) == rtcp
    with pytest.raises(SrtpReplayError):
        receiver.unprotect_rtcp(wire)
    with pytest.raises(SrtpFormatError):
        receiver.unprotect_rtcp(wire[:10])


# --- Hypothesis: untrusted input gives typed errors only ---------------------------------------

_GENUINE_SENDER = SrtpSendSession(MASTER)
_GENUINE = [_GENUINE_SENDER.protect(_rtp(seq, payload=bytes(range(seq % 50)))) for seq in range(1, 40)]


_rtp_like = st.builds(
    lambda seq, ssrc, ext, tail: _rtp(seq, ssrc)[: 16 if ext else 12] + tail,
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.booleans(),
    st.binary(max_size=100),
)
_rtcp_like = st.builds(
    lambda b1, tail: bytes([0x80 | (b1 & 0x1F), 0xC8]) + tail, st.integers(0, 255), st.binary()
)


@settings(max_examples=300)
@given(st.binary(max_size=120) | _rtp_like | _rtcp_like)
def test_unprotect_random_bytes(data: bytes) -> None:
    """Random datagrams, and ones with a plausible header so libsrtp itself is exercised."""
    receiver = SrtpReceiveSession(MASTER)
    with contextlib.suppress(SrtpError):
        receiver.unprotect(data)
    with contextlib.suppress(SrtpError):
        receiver.unprotect_rtcp(data)
    receiver.unprotect(_GENUINE[0])


@settings(max_examples=200)
@given(st.sampled_from(_GENUINE), st.data())
def test_unprotect_truncated_or_bit_flipped(wire: bytes, data: st.DataObject) -> None:
    receiver = SrtpReceiveSession(MASTER)
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(SrtpError):
        receiver.unprotect(wire[:cut])
    bit = data.draw(st.integers(0, 8 * len(wire) - 1))
    flipped = bytearray(wire)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SrtpError):
        receiver.unprotect(bytes(flipped))
    # State unchanged by the garbage: the genuine packet still authenticates.
    receiver.unprotect(wire)
