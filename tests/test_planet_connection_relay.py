"""PlanetConnection (the real client core) against the loopback relay core, both sans-I/O, on a virtual clock.

No sockets and no Trio: datagrams are shuttled between the two cores and the clock jumps to the next
timer of either, so every outcome is deterministic and timings are exact. This pins the contract the Trio
driver and the product rely on: an answered call whose audio the peer decodes to the source, the peer's
hang-up ending the call, no answer, a silent relay (setup re-sent, then a typed timeout), a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from linecall.media.clip import ClipParams, clip_from_pcm
from linecall.media.opus import OpusParams
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
from linecall.protocol.planet.options import PlanetConfig
from linecall.protocol.planet.route import CallRoute
from tests.audio_match import audio_match, band_noise
from tests.planet_sim_support import CALLEE, CALLER, seeded
from tests.sim.planet_relay import CallState, PeerScript, Refusal, RelayConfig, RelayCore

RELAY_ADDR = ("127.0.0.1", 40_000)
CLIENT_ADDR = ("127.0.0.1", 50_000)
FRAME_S = 0.02


@dataclass
class Call:
    """One connection and one relay core wired back to back."""

    conn: PlanetConnection
    core: RelayCore
    now: float = 0.0
    events: list[Event] = field(default_factory=list)
    event_times: list[float] = field(default_factory=list)
    media_due: list[tuple[float, bytes]] = field(default_factory=list)
    destinations: set[tuple[str, int]] = field(default_factory=set)

    def pump(self) -> None:
        """Deliver everything queued on either side until both are quiet."""
        while True:
            moved = False
            for wire, dest in self.conn.datagrams_to_send(self.now):
                self.destinations.add(dest)
                self.core.receive_datagram(wire, CLIENT_ADDR, self.now)
                moved = True
            for wire, _dest in self.core.datagrams_to_send(self.now):
                self.conn.receive_datagram(wire, RELAY_ADDR, self.now)
                moved = True
            while (event := self.conn.next_event()) is not None:
                self.events.append(event)
                self.event_times.append(self.now)
            if not moved:
                return

    def run(self, until: float) -> None:
        """Advance the virtual clock to ``until``, firing both sides' timers and any scheduled media."""
        self.pump()
        while True:
            due = [t for t in (self.conn.get_timer(), self.core.get_timer()) if t is not None]
            if self.media_due and not self.conn.closed:
                due.append(self.media_due[0][0])
            if not due or min(due) > until:
                self.now = max(self.now, until)
                return
            self.now = max(self.now, min(due))
            self.conn.handle_timer(self.now)
            self.core.handle_timer(self.now)
            while self.media_due and self.media_due[0][0] <= self.now and not self.conn.closed:
                _at, payload = self.media_due.pop(0)
                self.conn.send_media(payload)
            self.pump()

    def stream(self, payloads: tuple[bytes, ...], start: float) -> None:
        self.media_due = [(start + i * FRAME_S, p) for i, p in enumerate(payloads)]

    def kinds(self) -> list[type]:
        return [type(e) for e in self.events if not isinstance(e, MediaReceived)]


def place_call(script: PeerScript, *, config: RelayConfig | None = None, seed: int = 1) -> Call:
    core = RelayCore(script, config or RelayConfig(media_addr=RELAY_ADDR), random=seeded(seed))
    route = CallRoute.from_json(core.route_json(*RELAY_ADDR))
    conn = PlanetConnection(route, CALLER, PlanetConfig(), random=seeded(seed + 100), wall_clock_ns=lambda: 0)
    call = Call(conn, core)
    conn.connect(0.0)
    conn.invite(CALLEE, 0.0)
    return call


@pytest.fixture(scope="module")
def clip_payloads() -> tuple[tuple[bytes, ...], object]:
    source = band_noise(1.5, seed=21)
    clip = clip_from_pcm(source, ClipParams(opus=OpusParams(bitrate=32_000)))
    return clip.one_to_one_payloads, source


def test_answered_call_the_peer_hears_the_source(clip_payloads: tuple[tuple[bytes, ...], object]) -> None:
    payloads, source = clip_payloads
    replies = tuple(bytes([0, 0xF8, i]) for i in range(4))
    call = place_call(PeerScript(ring_delay_s=2.0, reply_payloads=replies))
    call.run(until=2.5)
    assert call.kinds() == [SetupAccepted, PeerRinging, PeerAnswered]
    answered = next(e for e in call.events if isinstance(e, PeerAnswered))
    assert answered.media_ready and answered.media_key_mode == "audio-reverse-stage"
    assert call.core.stats().replies_missing == ()  # every follow-up got its reply
    assert call.core.state is CallState.CONNECTED
    call.stream(payloads, start=3.0)
    call.run(until=3.0 + len(payloads) * FRAME_S + 1)
    call.conn.close(call.now)
    call.pump()
    stats = call.core.stats()
    assert stats.media_packets == len(payloads) and stats.media_rejected == 0 and stats.media_lost == 0
    assert set(stats.timestamps[i + 1] - stats.timestamps[i] for i in range(len(payloads) - 1)) == {960}
    assert audio_match(source, call.core.heard_pcm()) >= 0.9
    assert stats.rel_req_seen and stats.rel_code == 2 and stats.released_by == "client"
    assert call.events[-1] == CallReleased(by_peer=False)
    # The peer's audio came back through the client's receive path, across the sequence wrap.
    assert [e.payload for e in call.events if isinstance(e, MediaReceived)] == list(replies)
    assert call.destinations == {RELAY_ADDR}  # signalling to the route, media to conn_req's m_addr


def test_peer_hang_up_mid_stream_ends_the_call_cleanly(
    clip_payloads: tuple[tuple[bytes, ...], object],
) -> None:
    payloads, _ = clip_payloads
    call = place_call(PeerScript.minimal(hangup_after_s=1.0, hangup_code=4))
    call.run(until=0.1)
    call.stream(payloads, start=0.1)
    call.run(until=10)
    assert call.events[-1] == CallReleased(by_peer=True, rel_code=4, releaser="responder")
    assert call.conn.closed and call.conn.get_timer() is None
    hangup_at = next(s.at for s in call.core.sent if s.kind == "cc/rel_req")
    assert hangup_at == pytest.approx(1.0)
    assert [r.kind for r in call.core.received if r.at > hangup_at] == []  # nothing after the peer's rel_req
    assert not call.core.stats().rel_req_seen
    assert 0 < call.core.stats().media_packets < len(payloads)


def test_no_answer_ends_in_a_typed_timeout_and_rel_req() -> None:
    call = place_call(PeerScript(answer=False))
    call.run(until=600)
    failed = call.events[-1]
    assert isinstance(failed, Failed) and failed.reason is FailureReason.NO_ANSWER
    assert call.event_times[-1] == pytest.approx(60.0)
    keepalives = [r.at for r in call.core.received if r.kind == "sc/ka_req"]
    assert keepalives == pytest.approx([0.0, 15.0, 30.0, 45.0])  # the relay's 15 s interval
    assert call.core.stats().rel_req_seen and call.core.state is CallState.RELEASED_BY_CLIENT


def test_silent_relay_gets_setup_retransmitted_then_a_typed_timeout() -> None:
    call = place_call(PeerScript(silent=True))
    call.run(until=600)
    failed = call.events[-1]
    assert isinstance(failed, Failed) and failed.reason is FailureReason.SETUP_TIMEOUT
    assert call.event_times[-1] == pytest.approx(10.0)
    setups = call.core.received_of("cc/setup_req")
    assert [r.at for r in setups] == pytest.approx([0.0, 1.0, 2.0, 4.0])
    assert len({r.plaintext for r in setups}) == 1  # the identical datagram each time
    assert call.core.sent == []


def test_relay_answering_only_a_retransmission_still_connects() -> None:
    call = place_call(PeerScript.minimal(ignore_first_setups=2))
    call.run(until=5)
    assert call.kinds() == [SetupAccepted, PeerRinging, PeerAnswered]
    assert call.core.stats().setup_reqs == 3 and call.core.sent[0].at == pytest.approx(2.0)


def test_refusal_is_a_typed_failure_with_the_relays_code() -> None:
    call = place_call(PeerScript(refuse=Refusal(result=486, rel_phrase="busy")))
    call.run(until=600)
    assert call.kinds() == [Failed]
    failed = call.events[-1]
    assert isinstance(failed, Failed) and failed.reason is FailureReason.REFUSED and failed.code == 486
    assert call.core.received_kinds() == ["cc/setup_req"]  # no probes, no rel_req after a refusal


def test_wrong_route_token_is_refused_by_the_relay() -> None:
    core = RelayCore(PeerScript(), RelayConfig(from_token="relay-token"), random=seeded(3))
    route_json = core.route_json(*RELAY_ADDR) | {"fromToken": "stale-token"}
    conn = PlanetConnection(
        CallRoute.from_json(route_json), CALLER, random=seeded(4), wall_clock_ns=lambda: 0
    )
    call = Call(conn, core)
    conn.connect(0.0)
    conn.invite(CALLEE, 0.0)
    call.run(until=60)
    failed = call.events[-1]
    assert isinstance(failed, Failed) and failed.reason is FailureReason.REFUSED
