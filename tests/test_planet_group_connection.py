"""PlanetConnection in the group role, sans I/O: the join's state rules against GroupRelayCore on a virtual clock.

The two ends are wired directly (datagrams delivered instantly, the clock moved to the next deadline of
either side), so every rule of the group role can be checked without sockets: API misuse, provisional and
final replies, the data session (also after a provisional reply when configured), retransmission of the
identical participate_req, a late duplicate reply, leaving before any reply, the fallback SSRCs without a
data session, and junk datagrams changing nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linecall.protocol.planet import messages as m
from linecall.protocol.planet.call_state import CallState, PlanetStateError
from linecall.protocol.planet.connection import PlanetConnection
from linecall.protocol.planet.events import Event, Failed, FailureReason, GroupJoined
from linecall.protocol.planet.group_media import GroupMediaSession
from linecall.protocol.planet.handlers_group import GroupHandler
from linecall.protocol.planet.options import CallRole, PlanetConfig, PlanetConfigError, PlanetOverrides
from linecall.protocol.planet.route import CallRoute, GroupCallRoute
from linecall.protocol.planet.timers import TimerName
from tests.planet_sim_support import CALLER, seeded
from tests.sim.planet_group_relay import GroupRelayCore, GroupScript, GroupState

ROOM = "c00112233445566778899aabbccddeeff"
RELAY_ADDR = ("192.0.2.30", 10002)
CLIENT_ADDR = ("127.0.0.1", 50_000)


@dataclass
class Pair:
    conn: PlanetConnection
    relay: GroupRelayCore
    now: float = 0.0
    events: list[Event] = field(default_factory=list)
    drop_to_relay: bool = False

    def pump(self) -> None:
        """Deliver everything queued on either side until both are quiet (no clock movement)."""
        while True:
            moved = False
            for wire, _addr in self.conn.datagrams_to_send(self.now):
                moved = True
                if not self.drop_to_relay:
                    self.relay.receive_datagram(wire, CLIENT_ADDR, self.now)
            for wire, _addr in self.relay.datagrams_to_send(self.now):
                moved = True
                self.conn.receive_datagram(wire, RELAY_ADDR, self.now)
            self.events.extend(iter(self.conn.next_event, None))
            if not moved:
                return

    def run_until(self, until: float) -> None:
        """Advance the virtual clock deadline by deadline up to ``until``."""
        self.pump()
        while True:
            deadlines = [d for d in (self.conn.get_timer(), self.relay.get_timer()) if d is not None]
            due = min(deadlines, default=None)
            if due is None or due > until:
                self.now = max(self.now, until)
                return
            self.now = max(self.now, due)
            self.conn.handle_timer(self.now)
            self.relay.handle_timer(self.now)
            self.pump()


def make_pair(
    script: GroupScript | None = None,
    config: PlanetConfig | None = None,
    overrides: PlanetOverrides | None = None,
    seed: int = 1,
) -> Pair:
    relay = GroupRelayCore(script or GroupScript(), random=seeded(seed))
    route = m_route(relay)
    conn = PlanetConnection(route, CALLER, config, random=seeded(seed + 100), overrides=overrides)
    conn.connect(0.0)
    return Pair(conn, relay)


def m_route(relay: GroupRelayCore) -> GroupCallRoute:
    return GroupCallRoute.from_json(relay.route_json(*RELAY_ADDR))


def joined_events(pair: Pair) -> list[GroupJoined]:
    return [e for e in pair.events if isinstance(e, GroupJoined)]


# ─── API ─────────────────────────────────────────────────────────────────────────────────────────


def test_join_group_api_misuse() -> None:
    pair = make_pair()
    conn = pair.conn
    assert conn.role is CallRole.GROUP
    with pytest.raises(PlanetConfigError):
        conn.join_group("", 0.0)
    conn.join_group(ROOM, 0.0)
    with pytest.raises(PlanetStateError):
        conn.join_group(ROOM, 0.0)  # only once, from CONNECTED
    with pytest.raises(PlanetStateError):
        conn.send_media(b"\x00\x01")  # no media before the final reply

    fresh = PlanetConnection(m_route(pair.relay), CALLER, random=os.urandom)
    with pytest.raises(PlanetStateError):
        fresh.join_group(ROOM, 0.0)  # connect() first

    one_to_one = CallRoute.from_json(
        {
            "fromToken": "t",
            "voipAddress": "192.0.2.1",
            "voipUdpPort": 1,
            "commParam": m_route(pair.relay).comm_param,
        }
    )
    conn11 = PlanetConnection(one_to_one, CALLER, random=os.urandom)
    conn11.connect(0.0)
    with pytest.raises(PlanetStateError):
        conn11.join_group(ROOM, 0.0)


def test_channel_ids_have_the_group_widths() -> None:
    for seed in range(20):
        conn = make_pair(seed=seed).conn
        assert 1 << 27 <= conn.src_chan_id < 1 << 28
        assert 1 << 30 <= conn.media_chan_id < 1 << 31


def test_overrides_validated() -> None:
    with pytest.raises(PlanetConfigError):
        PlanetOverrides(group_ssrc_base=0x123)  # low byte must be clear
    with pytest.raises(PlanetConfigError):
        PlanetOverrides(media_chan_id=-1)
    with pytest.raises(PlanetConfigError):
        PlanetOverrides(group_data_timestamp_start=1 << 32)


# ─── the join ────────────────────────────────────────────────────────────────────────────────────


def test_provisional_then_final() -> None:
    pair = make_pair(GroupScript(provisional=2, join_delay_s=3.0))
    conn = pair.conn
    conn.join_group(ROOM, 0.0)
    pair.pump()
    assert conn.state is CallState.INVITING and pair.events == []
    handler = conn.role_handler
    assert isinstance(handler, GroupHandler) and handler.provisional_replies == 2
    assert conn.remote_cc_chan == pair.relay.config.relay_cc_chan_id  # learned from the provisional reply
    assert not handler.data_session_sent
    assert TimerName.SETUP_RETRANSMIT not in conn.timers.armed()  # the relay heard us
    assert TimerName.SETUP_TIMEOUT in conn.timers.armed()  # but the join is not done
    pair.run_until(3.0)
    assert conn.state is CallState.ANSWERED
    assert joined_events(pair) == [
        GroupJoined(True, "audio-secret-sender", 15.0, "participant", 1767229200000, None)
    ]
    assert conn.remote_media_chan == pair.relay.config.mixer_media_chan_id
    assert handler.data_session_sent and pair.relay.data_session is not None
    assert isinstance(conn.media, GroupMediaSession) and conn.media.destination == RELAY_ADDR
    assert conn.keepalive_interval == 15.0
    kinds = pair.relay.received_kinds()
    assert kinds[:2] == ["cc/participate_req", "mc/data_req"]
    assert kinds[2:18] == ["raw/pinhole_probe"] * 16 and kinds[18:20] == ["raw/pinhole_report", "sc/ka_req"]


def test_data_session_after_provisional_when_configured() -> None:
    config = PlanetConfig(group_data_session_after_provisional=True)
    pair = make_pair(GroupScript(provisional=1, join_delay_s=1.0), config)
    pair.conn.join_group(ROOM, 0.0)
    pair.pump()
    assert pair.relay.received_kinds() == ["cc/participate_req", "mc/data_req"]
    data_req = pair.relay.received[1].message
    assert data_req is not None and data_req.chan is not None
    assert data_req.chan.dst_chan_id == pair.relay.config.relay_cc_chan_id  # the provisional reply's source
    pair.run_until(1.0)
    assert pair.relay.received_kinds().count("mc/data_req") == 1  # at most once


def test_timeout_after_provisional_only() -> None:
    pair = make_pair(GroupScript(provisional=1, join_delay_s=60.0))
    pair.conn.join_group(ROOM, 0.0)
    pair.run_until(20.0)
    (failed,) = pair.events
    assert isinstance(failed, Failed) and failed.reason is FailureReason.SETUP_TIMEOUT
    assert "final participate_rsp" in failed.detail
    assert pair.relay.received_kinds()[-1] == "cc/rel_req"  # the join was sent: release it


def test_retransmission_is_the_identical_datagram() -> None:
    pair = make_pair(GroupScript(ignore_first_participates=2))
    conn = pair.conn
    conn.join_group(ROOM, 0.0)
    (first, _addr) = conn.datagrams_to_send(0.0)[0]
    pair.relay.receive_datagram(first, CLIENT_ADDR, 0.0)
    pair.run_until(1.0)
    pair.run_until(2.5)
    assert conn.state is CallState.ANSWERED  # the third copy (at 2 s) was answered
    assert pair.relay.participates == 3


def test_late_duplicate_reply_is_ignored_and_unknown_messages_wait() -> None:
    pair = make_pair(GroupScript(provisional=0, join_delay_s=0.0))
    pair.conn.join_group(ROOM, 0.0)
    pair.run_until(0.0)
    assert pair.conn.state is CallState.ANSWERED
    # the relay sees the (retransmitted) participate_req again and repeats its final reply
    pair.relay._on_participate_req(
        m.ParticipateReq(participant=CALLER, room_id=ROOM),
        m.ChanHdr(pair.conn.cid, pair.conn.src_chan_id),
        1.0,
    )
    pair.pump()
    assert len(joined_events(pair)) == 1 and pair.conn.state is CallState.ANSWERED
    assert pair.conn.mailbox.count() == 1  # the data_rsp, kept for anyone who wants it


def test_leave_before_any_reply_releases_without_a_destination_channel() -> None:
    pair = make_pair(GroupScript(silent=True))
    conn = pair.conn
    conn.join_group(ROOM, 0.0)
    pair.pump()
    conn.close(0.5)
    pair.pump()
    rel = pair.relay.received[-1]
    assert rel.kind == "cc/rel_req" and rel.message is not None and rel.message.chan is not None
    assert rel.message.body == m.group_leave_rel_req()
    assert rel.message.chan.dst_chan_id == 0  # never learned: left out


def test_refusal_sends_no_release() -> None:
    from tests.sim.planet_script import Refusal

    pair = make_pair(GroupScript(refuse=Refusal(result=486)))
    pair.conn.join_group(ROOM, 0.0)
    pair.pump()
    (failed,) = pair.events
    assert failed == Failed(FailureReason.REFUSED, 486, failed.detail if isinstance(failed, Failed) else "")
    assert pair.conn.closed and pair.relay.state is GroupState.REFUSED
    pair.conn.close(1.0)
    pair.pump()
    assert "cc/rel_req" not in pair.relay.received_kinds()


def test_without_a_data_session_the_fallback_ssrcs_apply() -> None:
    """No remote channel at all (hdr src 0, no m_chan_id): no data session, linejs's fallback SSRCs, no RTCP."""
    pair = make_pair(GroupScript(provisional=0, join_delay_s=0.0))
    pair.relay.config = type(pair.relay.config)(relay_cc_chan_id=0, mixer_media_chan_id=0)
    pair.conn.join_group(ROOM, 0.0)
    pair.run_until(0.0)
    handler = pair.conn.role_handler
    assert isinstance(handler, GroupHandler) and not handler.data_session_sent
    media = pair.conn.media
    assert isinstance(media, GroupMediaSession) and media.plan is None
    assert media.sender.ssrc == 203  # the mixer answer's audio rtcp_id, as linejs falls back
    for _ in range(10):
        pair.conn.send_media(b"\x00\xfb\x02\x01\x02")
    pair.pump()
    stats = pair.relay.mixer_stats
    assert stats.audio_packets == 10 and stats.rtcp == []
    assert {h.ssrc for h in stats.data_headers} == {203 + 0x30}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(st.binary(min_size=0, max_size=300), max_size=8))
def test_junk_datagrams_change_nothing(junk: list[bytes]) -> None:
    pair = _joined_pair()
    conn = pair.conn
    before = (
        conn.state,
        conn.remote_cc_chan,
        conn.remote_media_chan,
        conn.next_tran_seq,
        conn.timers.armed(),
    )
    for data in junk:
        conn.receive_datagram(data, RELAY_ADDR, 1.0)
    assert conn.datagrams_to_send() == []
    assert conn.next_event() is None
    assert (
        conn.state,
        conn.remote_cc_chan,
        conn.remote_media_chan,
        conn.next_tran_seq,
        conn.timers.armed(),
    ) == before


@cache
def _joined_pair() -> Pair:
    """One joined call shared by the examples (junk must not change it, which is what they check)."""
    pair = make_pair(GroupScript(provisional=0, join_delay_s=0.0))
    pair.conn.join_group(ROOM, 0.0)
    pair.run_until(0.0)
    assert pair.conn.state is CallState.ANSWERED
    pair.events.clear()
    return pair
