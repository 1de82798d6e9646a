"""1:1 RtpSender / RtpReceiver against planet_wire.json, and their state rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.rtp.rtp import RtpError, RtpExtension, parse_rtp
from linecall.protocol.rtp.sender import (
    RtpReceiver,
    RtpSender,
    draw_first_seq,
    first_seq_from_u32,
)
from linecall.protocol.rtp.srtp import (
    SrtpAuthError,
    SrtpError,
    SrtpFormatError,
    SrtpReceiveSession,
    SrtpReplayError,
    SrtpSendSession,
)
from tests.conftest import load_vectors

MASTER = bytes(range(30))


def _wire() -> dict[str, Any]:
    data: dict[str, Any] = load_vectors("planet_wire.json")
    return data


def _srtp_cases(direction: str) -> list[dict[str, Any]]:
    return [c for c in _wire()["cases"] if c["channel"] == "srtp" and c["direction"] == direction]


def test_sender_reproduces_transcript_audio() -> None:
    session = _wire()["session"]
    rtp = session["rtp"]
    sender = RtpSender(
        SrtpSendSession(bytes.fromhex(session["media"]["send_master"])),
        ssrc=rtp["ssrc"],
        payload_type=rtp["payload_type"],
        first_seq=rtp["first_seq"],
    )
    peer = SrtpReceiveSession(bytes.fromhex(session["media"]["send_master"]))
    cases = _srtp_cases("client->relay")
    assert len(cases) == 5
    for k, case in enumerate(cases):
        out = sender.send(bytes.fromhex(case["wiresend_plaintext"]))
        assert out.kind == "audio"
        # Compared after decryption, as the peer sees it ...
        assert peer.unprotect(out.wire).hex() == case["rtp_plain"], k
        # ... and the SRTP bytes are identical to linejs's too.
        assert out.wire.hex() == case["wire"], k
        assert out.header is not None
        assert out.header.timestamp == 960 * (k + 1) == case["rtp_header"]["timestamp"]
        assert out.header.extension == RtpExtension(0x0240, b"")
        assert not out.header.marker
        assert sender.next_seq == case["wiresend_endpoint"]["seq"]
    assert sender.packets_sent == 5
    assert sender.last_timestamp == 4800


def test_receiver_delivers_peer_audio_across_the_wrap() -> None:
    """Departure from linejs (receive_results[2] is dropped there): the seq-0 packet after 0xffff,
    protected with ROC 1, authenticates and its payload is yielded."""
    wire = _wire()
    receiver = RtpReceiver(SrtpReceiveSession(bytes.fromhex(wire["session"]["media"]["recv_master"])))
    cases = _srtp_cases("relay->client")
    got = [receiver.receive(bytes.fromhex(c["wire"])) for c in cases]
    assert [m.payload.hex() for m in got] == [c["rtp_payload"] for c in cases]
    assert [m.header.seq for m in got] == [0xFFFE, 0xFFFF, 0]
    linejs = [r["payload"] for r in wire["receive_results"] if r["yielded"]]
    assert [m.payload.hex() for m in got[:2]] == linejs
    assert receiver.accepted == 3


def test_own_stream_across_wrap_round_trips() -> None:
    sender = RtpSender(SrtpSendSession(MASTER), ssrc=201, payload_type=96, first_seq=0xFFFD)
    receiver = RtpReceiver(SrtpReceiveSession(MASTER))
    payloads = [bytes([0, i]) * 10 for i in range(8)]
    wires = [sender.send(p).wire for p in payloads]
    assert list(receiver.payloads(wires)) == payloads
    observer = SrtpReceiveSession(MASTER)
    assert [parse_rtp(observer.unprotect(w)).header.seq for w in wires[2:4]] == [0xFFFF, 0]
    # Replays and garbage are dropped by payloads() and counted.
    assert list(receiver.payloads([wires[0], b"junk", wires[-1][:-1] + b"\x00"])) == []
    assert (receiver.accepted, receiver.rejected) == (8, 3)
    with pytest.raises(SrtpReplayError):
        receiver.receive(wires[1])
    with pytest.raises(SrtpFormatError):
        receiver.receive(b"\x80")
    fresh = sender.send(b"\x00tampered").wire
    with pytest.raises(SrtpAuthError):
        receiver.receive(fresh[:-1] + bytes([fresh[-1] ^ 1]))
    assert receiver.receive(fresh).payload == b"\x00tampered"


def test_timestamp_steps_and_wrap() -> None:
    sender = RtpSender(SrtpSendSession(MASTER), ssrc=1, payload_type=111, first_seq=0, default_step=480)
    steps = [None, 960, 0, None, 0xFFFFFFFF]
    stamps = []
    for step in steps:
        header = sender.send(b"\x00", step).header
        assert header is not None
        stamps.append(header.timestamp)
    assert stamps == [480, 1440, 1440, 1920, 1919]
    with pytest.raises(RtpError):
        sender.send(b"\x00", -1)
    with pytest.raises(RtpError):
        sender.send(b"\x00", 1 << 32)
    assert sender.packets_sent == 5  # failed sends leave the stream untouched


def test_failed_protect_leaves_state() -> None:
    sender = RtpSender(SrtpSendSession(MASTER), ssrc=1, payload_type=96, first_seq=7)
    with pytest.raises(SrtpError):
        sender.send(bytes(2000))
    assert (sender.next_seq, sender.packets_sent, sender.last_timestamp) == (7, 0, 0)


def test_constructor_validation() -> None:
    for kwargs in ({"ssrc": -1}, {"payload_type": 128}, {"first_seq": 0x10000}):
        args: dict[str, Any] = {"ssrc": 1, "payload_type": 96, "first_seq": 0, **kwargs}
        with pytest.raises(RtpError):
            RtpSender(SrtpSendSession(MASTER), **args)


def test_first_seq_draw() -> None:
    assert first_seq_from_u32(260557165) == 51565
    assert draw_first_seq(lambda n: bytes.fromhex("0000ffff")[:n]) == 0xFFFF


@settings(max_examples=200)
@given(st.binary(max_size=100))
def test_receiver_random_input_typed_errors_only(data: bytes) -> None:
    receiver = RtpReceiver(SrtpReceiveSession(MASTER))
    with pytest.raises((SrtpError, RtpError)):
        receiver.receive(data)
    assert receiver.rejected == 1
