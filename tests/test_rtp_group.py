"""Group media against planet_wire_group.json: audio extension sequence and marker, SSRC plan,
the ten data-channel RTP packets, the RTCP feedback, and GroupRtpSender replaying the whole send."""

from __future__ import annotations

from typing import Any

import pytest

from linecall.protocol.rtp.group import (
    GROUP_AUDIO_EXTENSIONS,
    GROUP_DATA_PAYLOADS,
    GROUP_DATA_TIMESTAMP_MAX,
    GROUP_DATA_TIMESTAMP_MIN,
    GroupSsrcPlan,
    build_group_rtcp_feedback,
    group_audio_extension,
    group_audio_marker,
    group_data_packets,
    group_data_timestamp_start,
    group_data_timestamps,
)
from linecall.protocol.rtp.rtp import LINE_EXTENSION_PROFILE, parse_rtp
from linecall.protocol.rtp.sender import GroupRtpSender, RtpReceiver, first_seq_from_u32
from linecall.protocol.rtp.srtp import SrtpReceiveSession, SrtpSendSession
from tests.conftest import load_vectors


def _wire() -> dict[str, Any]:
    data: dict[str, Any] = load_vectors("planet_wire_group.json")
    return data


def _outbound(kind: str) -> list[dict[str, Any]]:
    return [c for c in _wire()["cases"] if c["direction"] == "client->relay" and c["kind"] == kind]


def _draw(index: int) -> int:
    (draw,) = (d for d in _wire()["determinism"]["draws"] if d["index"] == index)
    return int(draw["value"])


def _plan() -> GroupSsrcPlan:
    # Draw 21 is the SSRC base draw of the data session (the first Uint32 after the group offer).
    return GroupSsrcPlan.from_u32(_draw(21))


def _master(name: str) -> bytes:
    session = _wire()["session"]
    value = session["group_data_send_master"] if name == "data" else session["media"][f"{name}_master"]
    return bytes.fromhex(value)


# --- pure builders ------------------------------------------------------------------------------


def test_ssrc_plan_matches_transcript() -> None:
    plan = _plan()
    audio, data = _outbound("srtp/audio"), _outbound("srtp/group_data")
    assert plan.base == 0x232B0F00
    assert {c["rtp_header"]["ssrc"] for c in audio} == {plan.tx_audio}
    assert {c["rtp_header"]["ssrc"] for c in data} == {plan.tx_data}
    assert (plan.rx_audio, plan.rx_data, plan.rx_video, plan.tx_video) == (
        plan.base + 0x79,
        plan.base + 0xA9,
        plan.base + 0xD9,
        plan.base + 0xDD,
    )


def test_ssrc_plan_edges() -> None:
    assert GroupSsrcPlan.from_u32(0x000000FF).base == 0x100
    assert GroupSsrcPlan.from_u32(0xFFFFFFFF).tx_video == (0xFFFFFF00 + 0xDD) & 0xFFFFFFFF
    assert GroupSsrcPlan.draw(lambda n: bytes.fromhex("830f2b23")[:n]) == GroupSsrcPlan(0x830F2B00)
    for bad in (0, 0x101, 1 << 32):
        with pytest.raises(ValueError):
            GroupSsrcPlan(bad)


def test_audio_extension_sequence_and_marker_match_transcript() -> None:
    audio = _outbound("srtp/audio")
    assert len(audio) == 16
    receiver = SrtpReceiveSession(_master("send"))
    for k, case in enumerate(audio):
        plain = receiver.unprotect(bytes.fromhex(case["wire"]))
        assert plain.hex() == case["rtp_plain"], k
        header = parse_rtp(plain).header
        assert header.extension == group_audio_extension(k)
        assert header.extension.profile == LINE_EXTENSION_PROFILE
        assert header.marker is group_audio_marker(k) is (k == 2)
        assert header.size == 24
    assert group_audio_extension(100).data == GROUP_AUDIO_EXTENSIONS[8]
    with pytest.raises(ValueError):
        group_audio_extension(-1)


def test_data_rtp_packets_match_transcript_byte_for_byte() -> None:
    data = _outbound("srtp/group_data")
    assert len(data) == 10
    start = data[0]["rtp_header"]["timestamp"]
    assert start == group_data_timestamp_start(_draw(24))
    packets = group_data_packets(ssrc=_plan().tx_data, timestamp_start=start)
    receiver = SrtpReceiveSession(_master("data"))
    for i, (packet, case) in enumerate(zip(packets, data, strict=True)):
        assert packet.to_bytes().hex() == case["rtp_plain"], i
        assert packet.payload == GROUP_DATA_PAYLOADS[i] == bytes.fromhex(case["wiresend_plaintext"])
        # On the wire they are SRTP under STREAM("DATA", local secret): compare after decryption.
        assert receiver.unprotect(bytes.fromhex(case["wire"])) == packet.to_bytes()
    assert [p.header.seq for p in packets] == list(range(2, 12))
    assert [p.header.timestamp for p in packets] == [c["rtp_header"]["timestamp"] for c in data]


def test_data_timestamps() -> None:
    assert group_data_timestamps(30648)[:3] == (30648, 30656, 30676)
    assert group_data_timestamps(0xFFFFFFFF)[1] == 7
    assert group_data_timestamp_start(0) == GROUP_DATA_TIMESTAMP_MIN
    assert group_data_timestamp_start(4096) == GROUP_DATA_TIMESTAMP_MAX
    assert group_data_timestamp_start(4097) == GROUP_DATA_TIMESTAMP_MIN


def test_rtcp_feedback_matches_transcript() -> None:
    (case,) = _outbound("rtcp/group_feedback")
    plan = _plan()
    rtcp = build_group_rtcp_feedback(rx_audio_ssrc=plan.rx_audio, rx_data_ssrc=plan.rx_data)
    assert len(rtcp) == 48
    assert rtcp.hex() == case["wire"] == case["wiresend_plaintext"]  # sent in the clear


# --- GroupRtpSender replays linejs's whole send sequence -------------------------------------


def test_group_sender_reproduces_transcript() -> None:
    wire = _wire()
    expected = [
        c for c in wire["cases"] if c["direction"] == "client->relay" and c["channel"] in ("srtp", "rtcp")
    ]
    audio_cases = [c for c in expected if c["kind"] == "srtp/audio"]
    first = audio_cases[0]["rtp_header"]
    assert first["seq"] == first_seq_from_u32(_draw(23))
    sender = GroupRtpSender.for_plan(
        _plan(),
        SrtpSendSession(_master("send")),
        payload_type=first["payload_type"],
        first_seq=first["seq"],
        data_srtp=SrtpSendSession(_master("data")),
        data_timestamp_start=group_data_timestamp_start(_draw(24)),
    )
    sent = []
    for case in audio_cases:
        sent.extend(sender.send(bytes.fromhex(case["wiresend_plaintext"]), 1920))
    kinds = {"srtp/audio": "audio", "srtp/group_data": "data", "rtcp/group_feedback": "rtcp"}
    assert [m.kind for m in sent] == [kinds[c["kind"]] for c in expected]

    audio_rx = SrtpReceiveSession(_master("send"))
    data_rx = SrtpReceiveSession(_master("data"))
    for i, (ours, case) in enumerate(zip(sent, expected, strict=True)):
        if ours.kind == "rtcp":
            assert ours.header is None
            assert ours.wire.hex() == case["wire"]
            continue
        # Compared after decryption (as PlanetTransport's SRTP would be) ...
        rx = audio_rx if ours.kind == "audio" else data_rx
        assert rx.unprotect(ours.wire).hex() == case["rtp_plain"], i
        assert ours.header is not None
        assert ours.header.seq == case["rtp_header"]["seq"]
        # ... and libsrtp's SRTP is in fact byte-identical to linejs's.
        assert ours.wire.hex() == case["wire"], i

    assert sender.audio.packets_sent == 16
    assert sender.data_packets_sent == 10
    assert sender.rtcp_sent
    timestamps = [c["rtp_header"]["timestamp"] for c in audio_cases]
    assert timestamps == [960 + 1920 * k for k in range(16)]
    # Nothing more rides along later.
    assert [m.kind for m in sender.send(b"\x10\xfb\x02", 1920)] == ["audio"]


def test_group_sender_fallbacks() -> None:
    audio_ssrc = 0x12345678
    sender = GroupRtpSender.without_plan(
        SrtpSendSession(bytes(30)),
        audio_ssrc=audio_ssrc,
        payload_type=96,
        first_seq=0xFFFF,
        data_srtp=SrtpSendSession(bytes(range(30))),
        data_timestamp_start=0x7000,
    )
    outs = [sender.send(b"\x00\x01") for _ in range(20)]
    kinds = [[m.kind for m in out] for out in outs]
    assert kinds[:5] == [["audio"]] * 5
    assert kinds[5:15] == [["audio", "data"]] * 10
    assert kinds[15:] == [["audio"]] * 5
    data_headers = [out[1].header for out in outs[5:15]]
    assert all(h is not None and h.ssrc == audio_ssrc + 0x30 for h in data_headers)
    audio_headers = [out[0].header for out in outs]
    assert [h.seq for h in audio_headers if h] == [0xFFFF, *range(19)]
    assert not sender.rtcp_sent

    no_data = GroupRtpSender.for_plan(
        GroupSsrcPlan(0x100),
        SrtpSendSession(bytes(30)),
        payload_type=96,
        first_seq=0,
        data_srtp=None,
        data_timestamp_start=0x7000,
    )
    kinds = [[m.kind for m in no_data.send(b"\x00")] for _ in range(10)]
    assert kinds[7] == ["audio", "rtcp"]
    assert sum(len(k) for k in kinds) == 11


def test_group_first_timestamp_only_special_at_1920() -> None:
    sender = GroupRtpSender.without_plan(
        SrtpSendSession(bytes(30)),
        audio_ssrc=1,
        payload_type=96,
        first_seq=0,
        data_srtp=None,
        data_timestamp_start=0x7000,
    )
    first = sender.send(b"\x00", 960)[0].header
    second = sender.send(b"\x00", 1920)[0].header
    assert first is not None and second is not None
    assert (first.timestamp, second.timestamp) == (960, 2880)


def test_mixer_audio_received() -> None:
    wire = _wire()
    inbound = [c for c in wire["cases"] if c["direction"] == "relay->client" and c["channel"] == "srtp"]
    receiver = RtpReceiver(SrtpReceiveSession(_master("recv")))
    payloads = list(receiver.payloads(bytes.fromhex(c["wire"]) for c in inbound))
    assert [p.hex() for p in payloads] == [r["payload"] for r in wire["receive_results"] if r["yielded"]]
    assert (receiver.accepted, receiver.rejected) == (2, 0)
