"""Whole calls through the Trio driver (``open_planet_call``) against the loopback relay on real UDP sockets.

The realtime test streams a seeded band-limited noise clip through the project's media pipeline (clip
encoding, the pacer) on the wall clock and checks that the answering peer decodes it back to the source.
Everything timing-related runs on ``trio.testing.MockClock`` (autojump): ring delays, hang-ups, the 60 s
no-answer limit and the setup retransmissions take no real time and are checked exactly.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from linecall.media.clip import ClipParams, clip_from_pcm
from linecall.media.opus import OpusEncoder, OpusParams
from linecall.media.pacer import pace
from linecall.protocol.planet.driver import PlanetCallFailed, PlanetCallReleased, open_planet_call
from linecall.protocol.planet.events import CallReleased, Failed, FailureReason, PeerAnswered
from tests.audio_match import audio_match, band_noise, log_chirp
from tests.planet_sim_support import CALLEE, CALLER, seeded
from tests.sim.planet_relay import CallState, PeerScript, Refusal, run_planet_relay

FRAME_S = 0.02


def reply_payloads(count: int) -> tuple[bytes, ...]:
    """A few real 20 ms Opus packets (a chirp) the peer sends back, prefixed like LINE 1:1 audio."""
    encoder = OpusEncoder(OpusParams(bitrate=32_000))
    frames = log_chirp(count * FRAME_S).reshape(count, 960)
    return tuple(b"\x00" + encoder.encode(frame) for frame in frames)


@pytest.mark.realtime
async def test_answered_call_streams_a_clip_the_peer_decodes_to_the_source() -> None:
    source = band_noise(1.5, seed=42)
    clip = clip_from_pcm(source, ClipParams(opus=OpusParams(bitrate=32_000)))
    replies = reply_payloads(5)
    script = PeerScript(ring_delay_s=0.1, reply_payloads=replies)
    with trio.fail_after(15):
        async with run_planet_relay(script) as relay:
            async with open_planet_call(relay.route, CALLER) as call:
                await call.invite(CALLEE)
                answered = await call.wait_answer()
                assert answered == PeerAnswered(media_ready=True, media_key_mode="audio-reverse-stage")

                async def send(payload: bytes) -> None:
                    await call.send(payload, clip.one_to_one_timestamp_step)

                stats = await pace(clip.one_to_one_payloads, clip.frame_s, send)
                assert stats.sent == clip.one_to_one_frames
                heard_back = [await call.received.receive() for _ in replies]
                await trio.sleep(0.1)  # let the last packets land before hanging up
            rel = await relay.wait_for("cc/rel_req")
    assert heard_back == list(replies)  # the client's receive path, across the peer's sequence wrap
    relay_stats = relay.stats()
    assert relay_stats.rel_req_seen and relay_stats.rel_code == 2 and relay_stats.releaser == "initiator"
    assert relay_stats.media_packets == clip.one_to_one_frames and relay_stats.media_lost == 0
    assert relay_stats.replies_missing == ()
    last_media_at = max(r.at for r in relay.received if r.kind == "srtp/audio")
    assert rel.at >= last_media_at
    assert audio_match(source, relay.heard_pcm()) >= 0.9


async def test_peer_hang_up_mid_stream_ends_the_call_released_by_peer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clip = clip_from_pcm(band_noise(2.0, seed=5), ClipParams())
    script = PeerScript.minimal(hangup_after_s=0.5, hangup_code=6)
    async with run_planet_relay(script, random=seeded(8)) as relay:
        async with open_planet_call(relay.route, CALLER, random=seeded(9)) as call:
            await call.invite(CALLEE)
            await call.wait_answer()

            async def send(payload: bytes) -> None:
                await call.send(payload, clip.one_to_one_timestamp_step)

            with pytest.raises(PlanetCallReleased) as released:
                await pace(clip.one_to_one_payloads, clip.frame_s, send)
            assert released.value.event == CallReleased(by_peer=True, rel_code=6, releaser="responder")
            assert call.connection.closed
        hangup_at = next(s.at for s in relay.sent if s.kind == "cc/rel_req")
    assert call.outcome == CallReleased(by_peer=True, rel_code=6, releaser="responder")
    assert [r.kind for r in relay.received if r.at > hangup_at] == []  # nothing sent after the peer's rel_req
    assert not relay.stats().rel_req_seen
    assert 0 < relay.stats().media_packets < len(clip.one_to_one_payloads)


async def test_no_answer_is_a_typed_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async with run_planet_relay(PeerScript(answer=False), random=seeded(10)) as relay:
        start = trio.current_time()
        async with open_planet_call(relay.route, CALLER, random=seeded(11)) as call:
            await call.invite(CALLEE)
            with pytest.raises(PlanetCallFailed) as failed:
                await call.wait_answer()
            assert trio.current_time() - start == pytest.approx(60.0, abs=0.1)
        await relay.wait_for("cc/rel_req")
    event = failed.value.event
    assert isinstance(event, Failed) and event.reason is FailureReason.NO_ANSWER
    assert relay.state is CallState.RELEASED_BY_CLIENT


async def test_silent_relay_gets_setup_retransmitted_then_a_typed_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with run_planet_relay(PeerScript(silent=True), random=seeded(12)) as relay:
        start = trio.current_time()
        async with open_planet_call(relay.route, CALLER, random=seeded(13)) as call:
            with pytest.raises(PlanetCallFailed) as failed:
                await call.invite(CALLEE)
            assert trio.current_time() - start == pytest.approx(10.0, abs=0.1)
    event = failed.value.event
    assert isinstance(event, Failed) and event.reason is FailureReason.SETUP_TIMEOUT
    setups = relay.core.received_of("cc/setup_req")
    assert [round(r.at - start, 1) for r in setups] == [0.0, 1.0, 2.0, 4.0]
    assert len({r.plaintext for r in setups}) == 1 and relay.sent == []


async def test_refusal_is_a_typed_failure(autojump_clock: trio.testing.MockClock) -> None:
    script = PeerScript(refuse=Refusal(result=486, rel_code=21, rel_phrase="busy"))
    async with (
        run_planet_relay(script, random=seeded(14)) as relay,
        open_planet_call(relay.route, CALLER, random=seeded(15)) as call,
    ):
        with pytest.raises(PlanetCallFailed) as failed:
            await call.invite(CALLEE)
    event = failed.value.event
    assert isinstance(event, Failed) and event.reason is FailureReason.REFUSED and event.code in (486, 21)
    assert relay.core.received_kinds() == ["cc/setup_req"]  # nothing more after a refusal, no rel_req
