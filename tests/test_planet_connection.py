"""PlanetConnection's state machine against a scripted relay (tests/planet_fake_relay.py), with plain ``now`` values.

Covers what the transcript cannot: timers (setup retransmission and timeout, no answer, keepalive interval),
refusals, the mailbox (conn_req overtaking setup_rsp), peer hang-up while ringing, local hang-up, media
endpoint learning only after authentication, the ``auto`` key mode, answers without media keys, logging
hygiene, and Hypothesis over ``receive_datagram`` (random, truncated, bit-flipped datagrams change nothing).
"""

from __future__ import annotations

import logging
import os
import random as stdlib_random
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linecall.protocol.planet import messages as m
from linecall.protocol.planet.call_state import CallState, PlanetStateError
from linecall.protocol.planet.connection import PlanetConnection
from linecall.protocol.planet.events import (
    CallReleased,
    Event,
    Failed,
    FailureReason,
    MediaReceived,
    PeerAnswered,
    PeerRinging,
    SetupAccepted,
)
from linecall.protocol.planet.framing import FrameKind
from linecall.protocol.planet.media_keys import MediaKeyMode
from linecall.protocol.planet.options import PlanetConfig, PlanetConfigError, PlanetOverrides, SsrcPolicy
from linecall.protocol.planet.proto import Writer
from linecall.protocol.planet.route import GroupCallRoute
from linecall.protocol.planet.timers import TimerName
from linecall.protocol.rtp.srtp import SrtpReceiveSession
from tests.planet_fake_relay import (
    LOCAL_MID,
    OUR_MEDIA,
    PEER_MEDIA,
    PEER_MID,
    FakeRelay,
    Received,
    make_route,
    our_send_master,
    peer_rtp,
    peer_srtp,
)

RELAY = ("192.0.2.10", 10001)
MEDIA = ("192.0.2.50", 40000)


def seeded(seed: int = 1) -> Callable[[int], bytes]:
    rng = stdlib_random.Random(seed)
    return rng.randbytes


def new_conn(config: PlanetConfig | None = None, **overrides: Any) -> PlanetConnection:
    return PlanetConnection(
        make_route(),
        LOCAL_MID,
        config or PlanetConfig(),
        random=seeded(),
        overrides=PlanetOverrides(local_media=OUR_MEDIA, **overrides),
        wall_clock_ns=lambda: 1_767_225_600_000_000_000,
    )


def events(conn: PlanetConnection) -> list[Event]:
    return list(iter(conn.next_event, None))


def to_relay(conn: PlanetConnection, relay: FakeRelay) -> list[Received]:
    out = []
    for datagram, addr in conn.datagrams_to_send():
        assert addr == RELAY
        out.append(relay.open(datagram))
    return out


def kinds(received: list[Received]) -> list[str]:
    return [r.kind for r in received]


def invited(config: PlanetConfig | None = None, **overrides: Any) -> tuple[PlanetConnection, FakeRelay]:
    conn, relay = new_conn(config, **overrides), FakeRelay()
    conn.connect(0.0)
    conn.invite(PEER_MID, 0.0)
    assert kinds(to_relay(conn, relay)) == ["cc/setup_req"]
    return conn, relay


def ringing(config: PlanetConfig | None = None, **overrides: Any) -> tuple[PlanetConnection, FakeRelay]:
    conn, relay = invited(config, **overrides)
    conn.receive_datagram(relay.setup_rsp(), RELAY, 0.5)
    assert kinds(to_relay(conn, relay)) == ["raw"] * 17 + ["sc/ka_req"]
    assert events(conn) == [SetupAccepted(15.0, 60.0), PeerRinging()]
    return conn, relay


def answered(config: PlanetConfig | None = None, **overrides: Any) -> tuple[PlanetConnection, FakeRelay]:
    conn, relay = ringing(config, **overrides)
    conn.receive_datagram(
        relay.conn_req(m_addr=m.PlanetAddr(ver=4, trpt=1, ip=MEDIA[0], port=MEDIA[1])), RELAY, 3.0
    )
    assert kinds(to_relay(conn, relay)) == ["cc/conn_rsp", "cc/info_req"]
    (answer,) = events(conn)
    assert isinstance(answer, PeerAnswered) and answer.media_ready
    return conn, relay


# ─── setup: retransmission and timeout ───────────────────────────────────────────────────────────


def test_setup_is_resent_identically_at_1_2_4_s_then_times_out() -> None:
    conn = new_conn()
    conn.connect(0.0)
    conn.invite(PEER_MID, 100.0)
    [(setup, addr)] = conn.datagrams_to_send()
    assert addr == RELAY
    resent_at = []
    now = 100.0
    while (deadline := conn.get_timer()) is not None:
        assert deadline > now
        now = deadline
        conn.handle_timer(now)
        for datagram, _ in conn.datagrams_to_send():
            if datagram == setup:
                resent_at.append(now - 100.0)
            else:
                final = datagram
    assert resent_at == [1.0, 2.0, 4.0]
    assert now == 110.0
    assert events(conn) == [Failed(FailureReason.SETUP_TIMEOUT, None, conn.outcome.detail)]  # type: ignore[union-attr]
    assert conn.state is CallState.CLOSED
    relay = FakeRelay()
    relay.open(setup)
    rel = relay.open(final).message
    assert rel is not None and rel.body == m.local_hangup_rel_req()  # the relay may have rung the callee


def test_retransmissions_past_the_timeout_are_skipped() -> None:
    conn = new_conn(PlanetConfig(timeout_ms=1500))
    conn.connect(0.0)
    conn.invite(PEER_MID, 0.0)
    conn.datagrams_to_send()
    assert conn.timers.armed() == {TimerName.SETUP_TIMEOUT: 1.5, TimerName.SETUP_RETRANSMIT: 1.0}
    conn.handle_timer(1.0)
    assert len(conn.datagrams_to_send()) == 1
    assert conn.get_timer() == 1.5


def test_any_authenticated_reply_stops_the_retransmission() -> None:
    conn, relay = invited()
    conn.receive_datagram(relay.setup_rsp(), RELAY, 0.5)
    assert TimerName.SETUP_RETRANSMIT not in conn.timers.armed()
    assert TimerName.SETUP_TIMEOUT not in conn.timers.armed()


@pytest.mark.parametrize(("result", "rel_code", "code"), [(3, None, 3), (0, 408, 408), (None, 17, 17)])
def test_a_refused_setup_is_a_typed_failure(result: int | None, rel_code: int | None, code: int) -> None:
    conn, relay = invited()
    conn.receive_datagram(relay.setup_rsp(result=result or 0, rel_code=rel_code), RELAY, 0.5)
    (failed,) = events(conn)
    assert isinstance(failed, Failed) and failed.reason is FailureReason.REFUSED and failed.code == code
    assert conn.datagrams_to_send() == []  # the relay ended it: no probes, no rel_req
    assert conn.state is CallState.CLOSED and conn.get_timer() is None


# ─── ringing: keepalives, answer timeout, early conn_req, peer hang-up ───────────────────────────


def test_keepalives_follow_the_relays_interval() -> None:
    conn, relay = ringing()
    assert conn.keepalive_interval == 15.0
    assert conn.timers.deadline(TimerName.KEEPALIVE) == 15.5
    conn.handle_timer(15.4)
    assert conn.datagrams_to_send() == []
    conn.handle_timer(15.5)
    assert kinds(to_relay(conn, relay)) == ["sc/ka_req"]
    assert conn.timers.deadline(TimerName.KEEPALIVE) == 30.5


def test_a_configured_keepalive_interval_wins_and_none_means_none() -> None:
    conn, _relay = ringing(PlanetConfig(keepalive_interval_ms=2000))
    assert conn.timers.deadline(TimerName.KEEPALIVE) == 2.5
    conn, relay = invited()
    conn.receive_datagram(relay.setup_rsp(interval=None), RELAY, 0.5)
    assert kinds(to_relay(conn, relay))[-1] == "sc/ka_req"  # the one at once
    assert TimerName.KEEPALIVE not in conn.timers.armed()
    assert events(conn)[0] == SetupAccepted(None, 60.0)


def test_keepalive_stamp_is_unix_ms_or_ns() -> None:
    for ns, want in ((False, 1_767_225_600_000), (True, 1_767_225_600_000_000_000)):
        _conn, relay = ringing(PlanetConfig(keepalive_timestamp_ns=ns))
        ka = relay.received[-1].message
        assert ka is not None and ka.body == m.KeepaliveReq(timestamp=want, is_p2p=False)


def test_no_answer_is_a_typed_timeout_and_cancels_the_ringing() -> None:
    conn, relay = ringing(PlanetConfig(answer_timeout_ms=20_000))
    assert conn.timers.deadline(TimerName.ANSWER_TIMEOUT) == 20.5
    now = 0.5
    sent = []
    while (deadline := conn.get_timer()) is not None:
        now = deadline
        conn.handle_timer(now)
        sent += to_relay(conn, relay)
    assert now == 20.5
    assert kinds(sent) == ["sc/ka_req", "cc/rel_req"]
    (failed,) = events(conn)
    assert isinstance(failed, Failed) and failed.reason is FailureReason.NO_ANSWER
    rel = sent[-1].message
    assert rel is not None and rel.chan is not None and rel.chan.dst_chan_id == 0  # never learned, as linejs


def test_a_conn_req_that_overtakes_setup_rsp_is_answered_after_it() -> None:
    """linejs's waitForCc(setup_rsp) would throw the early conn_req away; the mailbox keeps it."""
    conn, relay = invited()
    early = relay.conn_req(bootstrap=True)  # the relay's first frame always carries its key prefix
    late_setup_rsp = relay.setup_rsp(bootstrap=False)
    conn.receive_datagram(early, RELAY, 0.2)
    assert conn.state is CallState.INVITING and conn.datagrams_to_send() == []
    assert conn.mailbox.count() == 1
    conn.receive_datagram(late_setup_rsp, RELAY, 0.3)
    assert kinds(to_relay(conn, relay)) == ["raw"] * 17 + ["sc/ka_req", "cc/conn_rsp", "cc/info_req"]
    assert [type(e) for e in events(conn)] == [SetupAccepted, PeerRinging, PeerAnswered]
    assert conn.state is CallState.ANSWERED and conn.mailbox.count() == 0


def test_the_peer_declining_while_ringing_ends_the_call() -> None:
    conn, relay = ringing()
    conn.receive_datagram(relay.rel_req(rel_code=3), RELAY, 2.0)
    assert events(conn) == [CallReleased(by_peer=True, rel_code=3, releaser="responder")]
    assert conn.datagrams_to_send() == [] and conn.get_timer() is None
    conn.close(3.0)
    assert conn.datagrams_to_send() == [] and events(conn) == []


def test_a_hang_up_we_cannot_decode_still_ends_the_call() -> None:
    """linejs keeps going on a rel_req of a newer shape; an authenticated cc rel_req ends the call anyway."""
    conn, relay = answered()
    bad_body = Writer().blob(2, b"\xff\xfe").getvalue()  # rel_phrase that is not UTF-8
    body = m.UnknownCcBody(7, bad_body)
    hdr = m.PlanetMsgHdr(user_id=PEER_MID, msg_id=0x2145, tran_id=bytes(16), tran_seq=1, loc_nonce=1)
    chan = m.ChanHdr(relay.cid, 4097, conn.src_chan_id)
    assert relay.codec is not None
    frame = relay.codec.seal(m.PlanetMessage(hdr, body, chan).encode(), FrameKind.CONTROL)
    conn.receive_datagram(frame, RELAY, 9.0)
    assert events(conn) == [CallReleased(by_peer=True)]
    assert conn.datagrams_to_send() == []


# ─── answered ────────────────────────────────────────────────────────────────────────────────────


def test_answer_configures_media_and_replies() -> None:
    conn, relay = answered()
    conn_rsp, info_req = relay.received[-2:]
    assert conn_rsp.message is not None and conn_rsp.message.chan == m.ChanHdr(
        relay.cid, conn.src_chan_id, 4097
    )
    assert (
        isinstance(conn_rsp.message.body, m.ConnRsp) and conn_rsp.message.body.m_chan_id == conn.media_chan_id
    )
    assert info_req.message is not None and isinstance(info_req.message.body, m.InfoReq)
    assert info_req.message.body.tgt_ue == (m.PlanetUeInfo(user_id=PEER_MID).encode(),)
    assert conn.media is not None and conn.media.destination == MEDIA
    assert conn.media.sender.ssrc == 201 and conn.media.sender.payload_type == 96
    assert TimerName.ANSWER_TIMEOUT not in conn.timers.armed()


def test_every_duplicate_conn_req_gets_a_conn_rsp() -> None:
    conn, relay = answered()
    for _ in range(3):
        conn.receive_datagram(relay.conn_req(), RELAY, 4.0)
        assert kinds(to_relay(conn, relay)) == ["cc/conn_rsp"]
    assert events(conn) == []


def test_auto_replies() -> None:
    conn, relay = answered()
    conn.receive_datagram(relay.info_req(), RELAY, 5.0)
    conn.receive_datagram(relay.data_req(), RELAY, 5.0)
    conn.receive_datagram(relay.join_req(), RELAY, 5.0)
    conn.receive_datagram(relay.change_req(), RELAY, 5.0)
    got = to_relay(conn, relay)
    assert kinds(got) == [
        "cc/info_rsp",
        "mc/data_rsp",
        "mc/join_rsp",
        "sc/bepi_channel_open",
        "mc/check_rpt",
        "mc/change_rsp",
    ]
    data_rsp = got[1].message
    assert data_rsp is not None and isinstance(data_rsp.body, m.McDataRsp)
    assert (
        data_rsp.body.dispatch_id == 7 and data_rsp.body.data is not None and len(data_rsp.body.data) == 148
    )
    assert data_rsp.chan == m.ChanHdr(relay.cid, conn.media_chan_id, 8194)


def test_media_round_trip_and_wrap() -> None:
    conn, _relay = answered()
    conn.send_media(b"\x00abc")
    conn.send_media(b"\x00def", timestamp_step=1920)
    out = conn.datagrams_to_send()
    assert [addr for _, addr in out] == [MEDIA, MEDIA]
    peer_view = SrtpReceiveSession(our_send_master())
    plain = [peer_view.unprotect(d) for d, _ in out]
    assert plain[0][-4:] == b"\x00abc" and int.from_bytes(plain[1][4:8], "big") == 960 + 1920
    srtp = peer_srtp()
    for seq in (0xFFFE, 0xFFFF, 0x0000, 0x0001):
        conn.receive_datagram(peer_rtp(srtp, b"\x00pcm", seq), MEDIA, 6.0)
    got = events(conn)
    assert [e.seq for e in got if isinstance(e, MediaReceived)] == [0xFFFE, 0xFFFF, 0, 1]
    # a replayed packet is dropped
    again = peer_rtp(peer_srtp(), b"\x00pcm", 0xFFFE)
    conn.receive_datagram(again, MEDIA, 6.0)
    assert events(conn) == []


def test_media_destination_moves_only_after_authentication() -> None:
    conn, _relay = answered()
    srtp = peer_srtp()
    forged = bytearray(peer_rtp(srtp, b"\x00x", 10))
    forged[-1] ^= 1
    conn.receive_datagram(bytes(forged), ("203.0.113.9", 5555), 7.0)
    assert conn.media is not None and conn.media.destination == MEDIA
    assert events(conn) == []
    conn.receive_datagram(peer_rtp(srtp, b"\x00y", 11), ("203.0.113.9", 5556), 7.0)
    assert conn.media.destination == ("203.0.113.9", 5556)
    assert [type(e) for e in events(conn)] == [MediaReceived]
    conn.send_media(b"\x00z")
    assert conn.datagrams_to_send()[0][1] == ("203.0.113.9", 5556)


def test_auto_mode_switches_only_when_a_packet_authenticates() -> None:
    conn, _relay = answered(PlanetConfig(media_key_mode=MediaKeyMode.AUTO))
    assert conn.media is not None and conn.media.active_mode is MediaKeyMode.AUTO
    conn.send_media(b"\x00one")
    before = conn.datagrams_to_send()
    assert SrtpReceiveSession(our_send_master(MediaKeyMode.CURRENT)).unprotect(before[0][0])
    junk = bytearray(peer_rtp(peer_srtp(MediaKeyMode.AUDIO_REVERSE_STAGE), b"\x00j", 5))
    junk[20] ^= 0xFF
    conn.receive_datagram(bytes(junk), MEDIA, 8.0)
    assert conn.media.active_mode is MediaKeyMode.AUTO  # failed trials change nothing
    conn.receive_datagram(peer_rtp(peer_srtp(MediaKeyMode.AUDIO_REVERSE_STAGE), b"\x00k", 6), MEDIA, 8.0)
    assert conn.media.active_mode is MediaKeyMode.AUDIO_REVERSE_STAGE
    assert [e.payload for e in events(conn) if isinstance(e, MediaReceived)] == [b"\x00k"]
    conn.send_media(b"\x00two")
    ((after, _),) = conn.datagrams_to_send()
    plain = SrtpReceiveSession(our_send_master(MediaKeyMode.AUDIO_REVERSE_STAGE)).unprotect(after)
    first = SrtpReceiveSession(our_send_master(MediaKeyMode.CURRENT)).unprotect(before[0][0])
    assert (
        int.from_bytes(plain[2:4], "big") == (int.from_bytes(first[2:4], "big") + 1) & 0xFFFF
    )  # seq continues
    assert int.from_bytes(plain[4:8], "big") == 1920  # and the timestamp too


def test_an_answer_without_media_keys_is_not_media_ready() -> None:
    conn, relay = ringing()
    conn.receive_datagram(relay.conn_req(answer=m.build_group_offer(bytes(30))), RELAY, 3.0)
    # group-shaped answer: secret only, no public key: audio-reverse-stage needs the KDF material
    assert events(conn) == [PeerAnswered(media_ready=False, media_key_mode=None)]
    with pytest.raises(PlanetStateError):
        conn.send_media(b"\x00")
    conn.receive_datagram(relay.conn_req(), RELAY, 4.0)  # a later conn_req with material fixes it
    assert conn.media is not None
    conn.send_media(b"\x00")


def test_random_ssrc_policy() -> None:
    conn, _ = answered(PlanetConfig(ssrc_policy=SsrcPolicy.RANDOM))
    assert conn.media is not None and conn.media.sender.ssrc != 201


# ─── hanging up ──────────────────────────────────────────────────────────────────────────────────


def test_close_sends_one_rel_req_and_is_idempotent() -> None:
    conn, relay = answered()
    conn.close(9.0)
    conn.close(9.5)
    (rel,) = to_relay(conn, relay)
    assert rel.message is not None and rel.message.body == m.local_hangup_rel_req()
    assert rel.message.chan == m.ChanHdr(conn.cid, conn.src_chan_id, 4097)
    assert events(conn) == [CallReleased(by_peer=False)]
    assert conn.get_timer() is None


def test_close_before_invite_sends_nothing() -> None:
    conn = new_conn()
    conn.connect(0.0)
    conn.close(1.0)
    assert conn.datagrams_to_send() == [] and events(conn) == [CallReleased(by_peer=False)]


def test_api_misuse_is_a_typed_error() -> None:
    conn = new_conn()
    with pytest.raises(PlanetStateError):
        conn.invite(PEER_MID, 0.0)
    conn.connect(0.0)
    with pytest.raises(PlanetStateError):
        conn.connect(0.0)
    with pytest.raises(PlanetStateError):
        conn.send_media(b"\x00")
    with pytest.raises(PlanetConfigError):
        conn.invite("", 0.0)


def test_config_and_override_validation() -> None:
    for bad in (
        {"timeout_ms": 0},
        {"rtp_timestamp_step": 0},
        {"setup_retransmit_ms": (2000, 1000)},
        {"keepalive_interval_ms": -1},
    ):
        with pytest.raises(PlanetConfigError):
            PlanetConfig(**bad)
    with pytest.raises(PlanetConfigError):
        PlanetOverrides(bootstrap_seed=b"short")
    with pytest.raises(PlanetConfigError):
        PlanetOverrides(tran_ids={1: b"x"})
    group = GroupCallRoute.from_json(
        {"token": "t", "voipAddress": "192.0.2.1", "voipUdpPort": 1, "commParam": make_route().comm_param}
    )
    conn = PlanetConnection(group, LOCAL_MID, random=os.urandom)  # a group route gives the group role
    conn.connect(0.0)
    with pytest.raises(PlanetStateError):
        conn.invite("u" + "1" * 32, 0.0)  # groups join with join_group()


# ─── logging ─────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def debug_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Capture structlog events at DEBUG whatever an earlier test configured, and restore it after."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**saved)


def test_debug_events_are_named_and_leak_nothing(debug_logs: list[MutableMapping[str, Any]]) -> None:
    logs = debug_logs
    conn, _relay = answered()
    conn.receive_datagram(b"\xd0" * 40, RELAY, 9.0)
    conn.send_media(b"\x00x")
    conn.receive_datagram(peer_rtp(peer_srtp(), b"\x00y", 1), MEDIA, 9.0)
    conn.receive_datagram(b"\x80" * 40, MEDIA, 9.0)
    names = {entry["event"] for entry in logs}
    assert {
        "send",
        "recv",
        "decrypt_ok",
        "decrypt_fail",
        "plain_shape",
        "media_configured",
        "media_send",
        "media_recv",
        "media_decrypt_fail",
    } <= names
    text = repr(logs)
    for secret in (LOCAL_MID, PEER_MID, OUR_MEDIA.secret.hex(), conn.cid, PEER_MEDIA.nonce.hex()):
        assert secret not in text
    assert "ufedcba98…" in text  # MIDs appear masked only
    assert not any(isinstance(v, bytes | bytearray) for entry in logs for v in entry.values())


def test_debug_logging_is_skipped_when_debug_is_off() -> None:
    """The hot path (media_send / media_recv / recv) checks one flag instead of building events."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        assert new_conn().debug_enabled is False
    finally:
        structlog.configure(**saved)


# ─── Hypothesis: junk changes nothing ────────────────────────────────────────────────────────────


def _snapshot(conn: PlanetConnection) -> tuple[Any, ...]:
    media = conn.media
    return (
        conn.state,
        conn.codec.recv_keys,
        conn.codec.next_seq,
        conn.next_tran_seq,
        conn.peer_header.rmt_nonce,
        conn.peer_header.sess_id,
        conn.timers.armed(),
        conn.mailbox.count(),
        None if media is None else (media.destination, media.active_mode, media.sender.next_seq),
    )


def _valid_frames() -> list[bytes]:
    relay = FakeRelay()
    conn = new_conn()
    conn.connect(0.0)
    conn.invite(PEER_MID, 0.0)
    to_relay(conn, relay)
    return [
        relay.setup_rsp(),
        relay.conn_req(),
        relay.info_req(),
        relay.rel_req(),
        peer_rtp(peer_srtp(), b"\x00z", 3),
    ]


VALID = _valid_frames()


@st.composite
def junk(draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["random", "truncated", "flipped", "rtp"]))
    if how == "random":
        return draw(st.binary(max_size=1600))
    frame = draw(st.sampled_from(VALID))
    if how == "truncated":
        return frame[: draw(st.integers(0, len(frame) - 1))]
    if how == "rtp":
        return bytes([0x80 | draw(st.integers(0, 0x3F))]) + draw(st.binary(min_size=11, max_size=300))
    flipped = bytearray(frame)
    for pos in draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=4, unique=True)):
        flipped[pos] ^= 1 << draw(st.integers(0, 7))
    return bytes(flipped)


def _states() -> dict[str, tuple[PlanetConnection, FakeRelay]]:
    return {"inviting": invited(), "ringing": ringing(), "answered": answered()}


@pytest.mark.parametrize("state", ["inviting", "ringing", "answered"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(junk(), min_size=1, max_size=5))
def test_junk_datagrams_change_nothing(state: str, data: list[bytes]) -> None:
    conn, _ = _CALLS[state]
    before = _snapshot(conn)
    for datagram in data:
        conn.receive_datagram(datagram, ("198.51.100.7", 9), 1.0)
    assert _snapshot(conn) == before
    assert conn.datagrams_to_send() == []
    assert conn.next_event() is None


_CALLS = _states()
