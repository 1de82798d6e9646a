"""planet_wire_group.json replayed through PlanetConnection in the group role: the whole join, frame for frame.

As in the 1:1 replay (test_planet_wire_replay.py), the transcript's values are injected BY NAME (transport
key pair, bootstrap seed, send label, first frame sequence, cid, cc and media channel ids, nonce, first
tran_seq, each message's tran_id keyed by its tran_seq, dev_id, the local media material, the first RTP
sequence, the SSRC base and the data channel's first timestamp), never as linejs's stream of draws. The
relay's datagrams are fed in where the transcript has them; a keepalive timer tick stands in for each
keepalive linejs sent (its fake relay delivered the mixer's audio as replies to keepalives).

Every datagram we emit is checked against the transcript's: PLANET frames decrypt with the transcript's
send keys and decode field for field (participate_req, the data-session request and the group rel_req
byte for byte; keepalives and pinhole probes, which carry wall-clock stamps and random bytes, by shape);
every SRTP packet decrypts to the transcript's RTP plaintext and is byte-identical, as is the clear RTCP
feedback. The mixer's audio is authenticated, decrypted and decoded to PCM.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from linecall.media.opus import OpusDecoder
from linecall.protocol.planet import messages as m
from linecall.protocol.planet.call_state import CallState
from linecall.protocol.planet.connection import PlanetConnection
from linecall.protocol.planet.crypto import P256KeyPair
from linecall.protocol.planet.events import CallReleased, Event, GroupJoined, MediaReceived
from linecall.protocol.planet.framing import HEADER_LEN, open_frame
from linecall.protocol.planet.group_media import GroupMediaSession
from linecall.protocol.planet.handlers_group import GroupHandler
from linecall.protocol.planet.media_keys import LocalMediaMaterial
from linecall.protocol.planet.options import CallRole, PlanetOverrides
from linecall.protocol.planet.route import GroupCallRoute
from linecall.protocol.rtp.group import GroupSsrcPlan, group_data_timestamp_start
from linecall.protocol.rtp.srtp import SrtpReceiveSession
from tests.conftest import load_vectors
from tests.planet_vector_params import check_sent_frame, h, transport_keys, vector_file

NAME = "planet_wire_group.json"
BYTE_IDENTICAL = {"cc/participate_req", "mc/data_req", "cc/rel_req"}
RELAY = ("192.0.2.30", 10002)


def _cases(*channels: str) -> list[Any]:
    data = vector_file(NAME)
    if data is None:
        return [pytest.param(None, id="vectors-absent")]
    return [
        pytest.param(c, id=f"{c['index']}-{c['kind']}")
        for c in data["cases"]
        if c["direction"] == "client->relay" and c["channel"] in channels
    ]


def _draw_u32(wire: dict[str, Any], index: int) -> int:
    (draw,) = (d for d in wire["determinism"]["draws"] if d["index"] == index)
    return int(draw["value"])


def group_overrides(wire: dict[str, Any]) -> PlanetOverrides:
    """Every value the transcript's client drew, by name."""
    s = wire["session"]
    tran_ids = {
        c["decoded"]["hdr"]["tranSeq"]: h(c["decoded"]["hdr"]["tranId"])
        for c in wire["cases"]
        if c["direction"] == "client->relay" and c["channel"] == "planet" and "hdr" in c["decoded"]
    }
    (dev_draw,) = (d for d in wire["determinism"]["draws"] if d["source"].endswith("Uint8Array[32])"))
    audio = [c for c in wire["cases"] if c["kind"] == "srtp/audio" and c["direction"] == "client->relay"]
    media = s["local_media_offer"]
    return PlanetOverrides(
        transport_keypair=P256KeyPair.from_private(h(s["transport_keypair"]["private_key"])),
        bootstrap_seed=h(s["bootstrap_seed"]),
        send_label=s["send_label"],
        first_frame_seq=s["first_frame_seq"],
        cid=s["cid"],
        src_chan_id=int(s["cc_src_chan_id"]),
        media_chan_id=int(s["media_chan_id"]),
        loc_nonce=int(s["loc_nonce"]),
        first_tran_seq=s["first_tran_seq"],
        tran_ids=tran_ids,
        dev_id=base64.b64encode(h(dev_draw["bytes"])).decode("ascii"),
        local_media=LocalMediaMaterial(
            P256KeyPair.from_private(h(media["keypair"]["private_key"])),
            media["material"]["media_key_id"],
            h(media["material"]["media_nonce"]),
            h(media["material"]["media_secret"]),
        ),
        rtp_first_seq=audio[0]["rtp_header"]["seq"],
        # draw 21: the SSRC base of the data session; draw 24: the data channel's first timestamp
        group_ssrc_base=GroupSsrcPlan.from_u32(_draw_u32(wire, 21)).base,
        group_data_timestamp_start=group_data_timestamp_start(_draw_u32(wire, 24)),
    )


@dataclass
class Replay:
    conn: PlanetConnection
    sent: dict[int, tuple[bytes, tuple[str, int]]]  # transcript index of the client case -> what we sent
    events_at: dict[int, list[Event]]  # transcript index (relay case, or the closing rel_req) -> events
    extra: list[tuple[bytes, tuple[str, int]]]  # anything sent beyond the transcript's client cases


@cache
def _replay() -> Replay | None:
    wire = vector_file(NAME)
    if wire is None:
        return None
    conn = PlanetConnection(
        GroupCallRoute.from_json(wire["route"]),
        wire["local_mid"],
        random=os.urandom,  # only probe payloads and similar draws are left to chance
        overrides=group_overrides(wire),
    )
    client = [c for c in wire["cases"] if c["direction"] == "client->relay"]
    out: list[tuple[bytes, tuple[str, int]]] = []
    events_at: dict[int, list[Event]] = {}
    now = 0.0
    conn.connect(now)
    conn.join_group(wire["room_id"], now)
    out += conn.datagrams_to_send(now)
    for case in wire["cases"][1:]:
        if case["direction"] == "relay->client":
            conn.receive_datagram(h(case["wire"]), RELAY, now)
            out += conn.datagrams_to_send(now)
            events_at[case["index"]] = list(iter(conn.next_event, None))
            continue
        if len(out) > client.index(case):
            continue  # already produced (a reply, or a data/RTCP packet riding on an audio send)
        if case["kind"] == "sc/ka_req":
            assert conn.keepalive_interval is not None
            now += conn.keepalive_interval
            conn.handle_timer(now)
        elif case["kind"] == "srtp/audio":
            conn.send_media(h(case["wiresend_plaintext"]), 1920)
        elif case["kind"] == "cc/rel_req":
            conn.close(now)
            events_at[case["index"]] = list(iter(conn.next_event, None))
        else:
            raise AssertionError(f"nothing in the replay produces {case['kind']}")
        out += conn.datagrams_to_send(now)
    sent = {c["index"]: out[i] for i, c in enumerate(client) if i < len(out)}
    return Replay(conn, sent, events_at, out[len(client) :])


@pytest.fixture(scope="module")
def wire() -> Any:
    return load_vectors(NAME)


@pytest.fixture(scope="module")
def replay(wire: Any) -> Replay:
    result = _replay()
    assert result is not None
    return result


# ─── every client datagram ───────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("case", _cases("planet"))
def test_planet_frame_matches_the_transcript(case: Any, replay: Replay, wire: Any) -> None:
    if case is None:
        load_vectors(NAME)
    kind, index = case["kind"], case["index"]
    datagram, addr = replay.sent[index]
    assert addr == (case["to"]["host"], case["to"]["port"]) == RELAY
    compared = check_sent_frame(
        datagram, case, transport_keys(wire["session"]["transport_send_keys"]), BYTE_IDENTICAL
    )
    if compared is None:
        return
    plaintext, recorded = compared
    assert kind == "sc/ka_req"
    ours, theirs = m.decode_planet_message(plaintext), m.decode_planet_message(recorded)
    assert ours.hdr == theirs.hdr and ours.chan == theirs.chan is None
    assert isinstance(ours.body, m.KeepaliveReq) and isinstance(theirs.body, m.KeepaliveReq)
    assert ours.body.is_p2p is theirs.body.is_p2p is False
    assert abs(ours.body.timestamp - theirs.body.timestamp) < 10**13  # Unix milliseconds, now-ish


@pytest.mark.parametrize("case", _cases("srtp", "rtcp"))
def test_media_datagram_matches_the_transcript(case: Any, replay: Replay) -> None:
    if case is None:
        load_vectors(NAME)
    datagram, addr = replay.sent[case["index"]]
    assert addr == (case["to"]["host"], case["to"]["port"]) == RELAY  # group media goes to the relay
    if case["channel"] == "rtcp":
        assert datagram.hex() == case["wire"] == case["wiresend_plaintext"]  # in the clear
        return
    plain = SrtpReceiveSession(h(case["srtp_master"])).unprotect(datagram)
    assert plain.hex() == case["rtp_plain"]
    assert datagram.hex() == case["wire"]


def test_nothing_beyond_the_transcript_was_sent(replay: Replay, wire: Any) -> None:
    client = [c for c in wire["cases"] if c["direction"] == "client->relay"]
    assert len(replay.sent) == len(client)
    assert replay.extra == []


# ─── state and events ────────────────────────────────────────────────────────────────────────────


def test_join_events_and_learned_values(replay: Replay, wire: Any) -> None:
    conn = replay.conn
    assert conn.role is CallRole.GROUP
    assert replay.events_at[1] == [
        GroupJoined(
            media_ready=True,
            media_key_mode="audio-secret-sender",
            keepalive_interval=15.0,
            role="participant",
            join_ts=1767229200000,
        )
    ]
    assert replay.events_at[3] == []  # the data session's data_rsp is only logged
    assert (conn.remote_cc_chan, conn.remote_media_chan) == (180092929, 180092930)
    handler = conn.role_handler
    assert isinstance(handler, GroupHandler)
    assert handler.bridge == m.PlanetAddr(ver=4, trpt=1, ip="192.0.2.31", port=10003)
    assert handler.plan is not None and handler.plan.base == 0x232B0F00
    assert handler.data_session_sent and handler.provisional_replies == 0
    rsp_hdr = wire["cases"][1]["decoded"]["hdr"]
    assert conn.peer_header.rmt_nonce == int(rsp_hdr["locNonce"])
    assert conn.peer_header.sess_id == h(rsp_hdr["sessId"])


def test_media_configured_from_the_mixer_answer(replay: Replay, wire: Any) -> None:
    media = replay.conn.media
    assert isinstance(media, GroupMediaSession)
    assert media.destination == RELAY
    keys = wire["session"]["media"]
    assert media.active_mode.value == keys["mode"] == "audio-secret-sender"
    assert media.sender.payload_type == 96 and media.sender.ssrc == 590024573
    group = media.group_sender
    assert (group.audio.packets_sent, group.data_packets_sent, group.rtcp_sent) == (16, 10, True)
    stamps = [c["rtp_header"]["timestamp"] for c in wire["cases"] if c["kind"] == "srtp/audio" and "to" in c]
    assert stamps == [960 + 1920 * k for k in range(16)]


def test_mixer_audio_is_received_and_decodes_to_pcm(replay: Replay, wire: Any) -> None:
    received = [
        e for i in sorted(replay.events_at) for e in replay.events_at[i] if isinstance(e, MediaReceived)
    ]
    expected = [r["payload"] for r in wire["receive_results"] if r["yielded"]]
    assert [e.payload.hex() for e in received] == expected
    assert {e.ssrc for e in received} == {0x00C0FFEE}
    decoder = OpusDecoder()
    for event in received:
        pcm = decoder.decode_payload(event.payload)  # prefix byte, then a 40 ms code-3 pair
        assert len(pcm) == 1920


def test_leave_sends_the_group_rel_req_and_ends(replay: Replay, wire: Any) -> None:
    conn = replay.conn
    (rel_case,) = (c for c in wire["cases"] if c["kind"] == "cc/rel_req")
    assert replay.events_at[rel_case["index"]] == [CallReleased(by_peer=False)]
    datagram, _ = replay.sent[rel_case["index"]]
    plain = open_frame(transport_keys(wire["session"]["transport_send_keys"]), datagram, HEADER_LEN)
    assert plain is not None
    message = m.decode_planet_message(plain)
    assert message.body == m.group_leave_rel_req()
    assert message.chan == m.ChanHdr(conn.cid, conn.src_chan_id, 180092929)
    assert conn.state is CallState.CLOSED and conn.get_timer() is None
