"""planet_wire.json replayed through PlanetConnection: the whole 1:1 call, frame for frame.

The transcript's values are injected BY NAME (transport key pair, bootstrap seed, send label, first frame
sequence, cid, channel id, nonce, first tran_seq, each message's tran_id keyed by its tran_seq, dev_id, the
local media material, the first RTP sequence), never as linejs's stream of random draws. The relay's
datagrams are fed in at the points the transcript shows them; a keepalive timer tick stands in for each
keepalive linejs sent (its fake relay delivered inbound frames as replies to keepalives).

Then: every frame we emit decrypts with the transcript's send keys and decodes field for field to the
transcript's; setup_req, conn_rsp, info_req/info_rsp, data_rsp, join_rsp/check_rpt and change_rsp are
byte-identical; keepalives, pinhole probes and the BEPI open (random token, wall-clock stamps) by shape.
The intended divergences from linejs are asserted one by one at the end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from linecall.protocol.planet import messages as m
from linecall.protocol.planet.call_state import CallState, PlanetStateError
from linecall.protocol.planet.connection import PlanetConnection
from linecall.protocol.planet.crypto import P256KeyPair
from linecall.protocol.planet.events import (
    CallReleased,
    Event,
    MediaReceived,
    PeerAnswered,
    PeerRinging,
    SetupAccepted,
)
from linecall.protocol.planet.media_keys import LocalMediaMaterial, MediaKeyMode
from linecall.protocol.planet.options import PlanetConfig, PlanetOverrides
from linecall.protocol.planet.proto import read_fields
from linecall.protocol.planet.route import CallRoute
from linecall.protocol.rtp.srtp import SrtpReceiveSession
from tests.conftest import load_vectors
from tests.planet_vector_params import check_sent_frame, h, transport_keys, vector_file

NAME = "planet_wire.json"
BYTE_IDENTICAL = {
    "cc/setup_req",
    "cc/conn_rsp",
    "cc/info_req",
    "cc/info_rsp",
    "mc/data_rsp",
    "mc/join_rsp",
    "mc/check_rpt",
    "mc/change_rsp",
}
RELAY = ("192.0.2.10", 10001)
PEER_MEDIA = ("192.0.2.50", 40000)


def _cases(*, direction: str, channel: str) -> list[Any]:
    data = vector_file(NAME)
    if data is None:
        return [pytest.param(None, id="vectors-absent")]
    return [
        pytest.param(c, id=f"{c['index']}-{c['kind']}")
        for c in data["cases"]
        if c["direction"] == direction and c["channel"] == channel
    ]


def overrides_for(wire: dict[str, Any]) -> PlanetOverrides:
    """Every value the transcript's client drew, by name."""
    s = wire["session"]
    tran_ids = {
        c["decoded"]["hdr"]["tranSeq"]: h(c["decoded"]["hdr"]["tranId"])
        for c in wire["cases"]
        if c["direction"] == "client->relay" and c["channel"] == "planet" and "hdr" in c["decoded"]
    }
    setup_fields = wire["cases"][0]["decoded"]["body"]["fields"]
    media = s["local_media_offer"]
    return PlanetOverrides(
        transport_keypair=P256KeyPair.from_private(h(s["transport_keypair"]["private_key"])),
        bootstrap_seed=h(s["bootstrap_seed"]),
        send_label=s["send_label"],
        first_frame_seq=s["first_frame_seq"],
        cid=s["cid"],
        src_chan_id=int(s["src_chan_id"]),
        loc_nonce=int(s["loc_nonce"]),
        first_tran_seq=s["first_tran_seq"],
        tran_ids=tran_ids,
        dev_id=next(f["text"] for f in setup_fields if f["tag"] == 6),
        local_media=LocalMediaMaterial(
            P256KeyPair.from_private(h(media["keypair"]["private_key"])),
            media["material"]["media_key_id"],
            h(media["material"]["media_nonce"]),
            h(media["material"]["media_secret"]),
        ),
        rtp_first_seq=s["rtp"]["first_seq"],
    )


def _no_random(n: int) -> bytes:
    """Anything not injected by name still needs randomness (probe payloads, BEPI token, keepalive tran ids)."""
    return os.urandom(n)


@dataclass
class Replay:
    conn: PlanetConnection
    sent: dict[int, tuple[bytes, tuple[str, int]]]  # transcript index of the client case -> what we sent
    events_at: dict[int, list[Event]]  # transcript index of the relay case -> events it produced
    before_peer_release: int


@cache
def _replay() -> Replay | None:
    wire = vector_file(NAME)
    if wire is None:
        return None
    config = PlanetConfig(media_key_mode=MediaKeyMode(wire["transport_options"]["mediaKeyMode"]))
    conn = PlanetConnection(
        CallRoute.from_json(wire["route"]),
        wire["local_mid"],
        config,
        random=_no_random,
        overrides=overrides_for(wire),
    )
    client = [c for c in wire["cases"] if c["direction"] == "client->relay"]
    out: list[tuple[bytes, tuple[str, int]]] = []
    events_at: dict[int, list[Event]] = {}
    now = 0.0
    conn.connect(now)
    conn.invite(wire["peer_mid"], now)
    out += conn.datagrams_to_send(now)
    before_release = 0
    for case in wire["cases"][1:]:
        if case["direction"] == "relay->client":
            if case["kind"] == "cc/rel_req":
                before_release = len(out)
            source = PEER_MEDIA if case["channel"] == "srtp" else RELAY
            conn.receive_datagram(h(case["wire"]), source, now)
            out += conn.datagrams_to_send(now)
            events_at[case["index"]] = list(iter(conn.next_event, None))
            continue
        position = client.index(case)
        if len(out) > position:
            continue  # already produced as a reply to an inbound frame
        if case["kind"] == "sc/ka_req":
            assert conn.keepalive_interval is not None
            now += conn.keepalive_interval
            conn.handle_timer(now)
        elif case["channel"] == "srtp":
            conn.send_media(h(case["wiresend_plaintext"]))
        else:
            break  # linejs's closing rel_req: checked separately (we must not send it)
        out += conn.datagrams_to_send(now)
    sent = {c["index"]: out[i] for i, c in enumerate(client) if i < len(out)}
    return Replay(conn, sent, events_at, before_release)


@pytest.fixture(scope="module")
def wire() -> Any:
    return load_vectors(NAME)


@pytest.fixture(scope="module")
def replay(wire: Any) -> Replay:
    result = _replay()
    assert result is not None
    return result


def _fields(raw: bytes) -> list[tuple[int, int, str]]:
    return [
        (f.number, int(f.wire_type), f.value.hex() if isinstance(f.value, bytes) else str(f.value))
        for f in read_fields(raw)
    ]


# ─── every client frame ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("case", _cases(direction="client->relay", channel="planet"))
def test_client_frame_matches_the_transcript(case: Any, replay: Replay, wire: Any) -> None:
    kind, index = case["kind"], case["index"]
    if kind == "cc/rel_req":  # linejs's close() after the peer hung up: deliberately not sent (see below)
        assert index not in replay.sent
        return
    datagram, addr = replay.sent[index]
    assert addr == (case["to"]["host"], case["to"]["port"])
    compared = check_sent_frame(
        datagram, case, transport_keys(wire["session"]["transport_send_keys"]), BYTE_IDENTICAL
    )
    if compared is None:
        return
    plaintext, recorded = compared
    ours, theirs = m.decode_planet_message(plaintext), m.decode_planet_message(recorded)
    assert ours.hdr == theirs.hdr  # msg id, session id, tran id/seq, both nonces
    assert ours.chan == theirs.chan
    assert type(ours.body) is type(theirs.body)
    if isinstance(ours.body, m.KeepaliveReq) and isinstance(theirs.body, m.KeepaliveReq):
        assert ours.body.is_p2p is theirs.body.is_p2p is False
        assert abs(ours.body.timestamp - theirs.body.timestamp) < 10**13  # Unix milliseconds, now-ish
        assert [f[:2] for f in _fields(m.encode_oneof(ours.body))] == [
            f[:2] for f in _fields(m.encode_oneof(theirs.body))
        ]
    else:
        assert kind == "sc/bepi_channel_open"
        assert len(m.encode_oneof(ours.body)) == len(m.encode_oneof(theirs.body)) == 13


@pytest.mark.parametrize("case", _cases(direction="client->relay", channel="srtp"))
def test_srtp_compared_after_decryption(case: Any, replay: Replay) -> None:
    """Divergence: SRTP is libsrtp's; it is compared after decryption with the mode's send master."""
    datagram, addr = replay.sent[case["index"]]
    assert addr == (case["to"]["host"], case["to"]["port"])
    session = SrtpReceiveSession(h(case["srtp_master"]))
    assert session.unprotect(datagram).hex() == case["rtp_plain"]


def test_the_call_events_in_order(replay: Replay, wire: Any) -> None:
    relay = {c["index"]: c for c in wire["cases"] if c["direction"] == "relay->client"}
    setup_events = replay.events_at[1]
    assert setup_events == [SetupAccepted(keepalive_interval=15.0, no_answer_timeout=60.0), PeerRinging()]
    assert replay.events_at[21] == [PeerAnswered(media_ready=True, media_key_mode="audio-reverse-stage")]
    for index, events in replay.events_at.items():
        if index not in (1, 21, 53) and relay[index]["channel"] == "planet":
            assert events == [], relay[index]["kind"]


def test_media_configured_from_the_answer(replay: Replay, wire: Any) -> None:
    media = replay.conn.media
    assert media is not None
    rtp = wire["session"]["rtp"]
    assert media.destination == PEER_MEDIA
    assert (media.sender.ssrc, media.sender.payload_type) == (rtp["ssrc"], rtp["payload_type"])
    assert replay.conn.remote_cc_chan == 4097 and replay.conn.remote_media_chan == 8194


def test_relay_header_values_are_learned(replay: Replay, wire: Any) -> None:
    setup_rsp = wire["cases"][1]["decoded"]["hdr"]
    assert replay.conn.peer_header.rmt_nonce == int(setup_rsp["locNonce"])
    assert replay.conn.peer_header.sess_id == h(setup_rsp["sessId"])


# ─── intended divergences from linejs ────────────────────────────────────────────────────────────


def test_the_peer_packet_after_the_sequence_wrap_is_delivered(replay: Replay, wire: Any) -> None:
    """linejs drops the third peer packet (seq 0 after 0xffff, ROC 1); libsrtp estimates the ROC."""
    received = [
        e for i in sorted(replay.events_at) for e in replay.events_at[i] if isinstance(e, MediaReceived)
    ]
    peer = [c for c in wire["cases"] if c["direction"] == "relay->client" and c["channel"] == "srtp"]
    assert [e.payload.hex() for e in received] == [c["rtp_payload"] for c in peer]
    assert [e.seq for e in received] == [0xFFFE, 0xFFFF, 0x0000]
    assert wire["receive_results"][2]["yielded"] is False  # what linejs did


def test_after_the_peer_hangs_up_we_send_nothing(replay: Replay, wire: Any) -> None:
    """linejs only logs the peer's rel_req and later sends its own (case 54); we end the call at once."""
    conn = replay.conn
    assert replay.events_at[53] == [CallReleased(by_peer=True, rel_code=1, releaser="responder")]
    assert len(replay.sent) == replay.before_peer_release  # the rel_req produced no reply
    assert conn.state is CallState.CLOSED and conn.released_by_peer
    assert conn.get_timer() is None  # keepalives stopped
    conn.handle_timer(10**6)
    conn.close(10**6)
    assert conn.datagrams_to_send() == []
    assert conn.next_event() is None
    with pytest.raises(PlanetStateError):
        conn.send_media(b"\x00\x01")
    linejs_close = wire["cases"][-1]
    assert linejs_close["kind"] == "cc/rel_req" and linejs_close["direction"] == "client->relay"
    assert linejs_close["index"] not in replay.sent
    # and inbound is ignored from now on
    conn.receive_datagram(h(wire["cases"][39]["wire"]), RELAY, 10**6)
    assert conn.datagrams_to_send() == [] and conn.next_event() is None
