"""Call workers in pieces: the pacer timeline with pauses (MockClock), route failures turned into outcomes,
the call-event hub, and the Audio Caller API's placer adapter against the simulator."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import trio
import trio.testing

from linecall.bot.api.placer import EndKind
from linecall.bot.call_events import CallEventHub
from linecall.bot.calls import (
    CallEnd,
    CallOptions,
    Pause,
    Play,
    _Progress,
    _stream,
    clip_steps,
    place_one_to_one_call,
)
from linecall.bot.daemon import DaemonCallPlacer
from linecall.bot.metrics import Metrics
from linecall.bot.simulator.line import ALICE_MID, running_line_simulator
from linecall.config.settings import load_settings
from linecall.media.clip import ClipParams, clip_from_pcm
from linecall.protocol.planet.driver import PlanetCall
from linecall.protocol.talk import structs
from linecall.protocol.talk.client import CallServiceForbidden, InvalidCallState, TalkTransportError
from linecall.protocol.talk.events import CallCancel, CallIncoming
from linecall.protocol.thrift.errors import ErrorCode, TalkException
from tests.audio_match import band_noise
from tests.daemon_support import clean_env, daemon_settings, noise_wav, running_daemon

__all__ = ["clean_env"]

CLIP = clip_from_pcm(band_noise(0.1, seed=1), ClipParams())  # 5 frames of 20 ms, 3 group packets
OWN = "u" + "1" * 32


class FakeCall:
    """Records what a worker sends and when (stands in for PlanetCall in the streaming loop)."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes, int | None]] = []

    async def send(self, payload: bytes, timestamp_step: int | None = None) -> None:
        self.sent.append((trio.current_time(), payload, timestamp_step))


def _as_call(fake: FakeCall) -> PlanetCall:
    return fake  # type: ignore[return-value]


async def test_pauses_are_gaps_on_one_timeline_and_in_the_rtp_timestamps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeCall()
    progress = _Progress("one_to_one", "test", 0.0)
    start = trio.current_time()
    steps = (Pause(1.0), Play(CLIP), Pause(0.5), Play(CLIP))
    await _stream(_as_call(fake), steps, 0.25, progress, Metrics(), group=False)
    times = [round(t - start, 6) for t, _p, _s in fake.sent]
    assert times == [1.0, 1.02, 1.04, 1.06, 1.08, 1.6, 1.62, 1.64, 1.66, 1.68]
    assert [s for _t, _p, s in fake.sent] == [960, 960, 960, 960, 960, 960 + 24_000, 960, 960, 960, 960]
    assert trio.current_time() - start == pytest.approx(1.7 + 0.25)  # hold after the last frame's end
    assert progress.packets == 10 and progress.pacer.sent == 10


async def test_group_payloads_are_prefixed_per_call_across_repeats(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeCall()
    await _stream(_as_call(fake), clip_steps(CLIP, 2), 0.0, _Progress("group", "test", 0.0), None, group=True)
    prefixes = [payload[:1] for _t, payload, _s in fake.sent]
    assert prefixes == [b"\x00", b"\x00"] + [b"\x10"] * (2 * len(CLIP.group_packets) - 2)
    assert {s for _t, _p, s in fake.sent} == {1920}
    assert fake.sent[1][0] - fake.sent[0][0] == pytest.approx(0.04)


class RefusingRoutes:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def acquire_call_route(
        self, to: str, from_env_info: Mapping[str, str] | None = None
    ) -> structs.CallRoute:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "end", "code", "detail"),
    [
        (
            InvalidCallState(TalkException(ErrorCode.INVALID_STATE, "x"), method="acquireCallRoute"),
            CallEnd.REFUSED,
            ErrorCode.INVALID_STATE,
            "LINE refused the call route: INVALID_STATE — check LINE_DEVICE and LINE_CALL_DEVNAME",
        ),
        (
            CallServiceForbidden("403", method="acquireCallRoute", path="/V4", status=403),
            CallEnd.REFUSED,
            403,
            "LINE refused the call route: HTTP 403 — calls need a primary token (LINE_DEVICE=ANDROID)",
        ),
        (
            TalkException(ErrorCode.NOT_FOUND, "no"),
            CallEnd.REFUSED,
            ErrorCode.NOT_FOUND,
            "LINE refused the call route: NOT_FOUND",
        ),
        (
            TalkTransportError("down", method="acquireCallRoute", path="/V4"),
            CallEnd.ROUTE_ERROR,
            None,
            "could not get a call route from LINE — try again in a moment",
        ),
    ],
    ids=["invalid-state", "forbidden", "talk-exception", "transport"],
)
async def test_route_failures_become_outcomes_with_a_reply(
    clean_env: Path, exc: Exception, end: CallEnd, code: int | None, detail: str
) -> None:
    metrics = Metrics()
    outcome = await place_one_to_one_call(
        RefusingRoutes(exc),
        OWN,
        ALICE_MID,
        clip_steps(CLIP),
        CallOptions.from_settings(load_settings()),
        metrics=metrics,
    )
    assert (outcome.end, outcome.code, outcome.detail) == (end, code, detail)
    assert not outcome.answered and outcome.packets_sent == 0 and outcome.setup_at is not None
    assert f'linecall_calls_failed_total{{reason="{end.value}"}} 1.0' in metrics.render().decode()
    assert "linecall_active_calls 0.0" in metrics.render().decode()


def test_options_follow_the_settings(clean_env: Path) -> None:
    settings = load_settings(
        line_call_timeout_ms=1234,
        line_call_answer_timeout_ms=5678,
        line_call_hold_ms=250,
        line_call_devname="Pixel 8",
        line_call_media_key_mode="audio-current",
    )
    options = CallOptions.from_settings(settings)
    assert options.from_env_info == {"devname": "Pixel 8"} and options.hold_s == 0.25
    planet = options.planet
    assert (planet.timeout_ms, planet.answer_timeout_ms) == (1234, 5678)
    assert planet.media_key_mode == "audio-current" and planet.group_media_key_mode == "audio-current"
    assert planet.device_info == settings.device_info


async def test_call_event_hub_fans_out_and_never_blocks() -> None:
    hub = CallEventHub()
    incoming = CallIncoming(1, "call", "u" + "2" * 32, "AUDIO")
    hub.publish(incoming)  # nobody listens: fine
    with hub.subscribe(max_buffer=1) as first, hub.subscribe() as second:
        hub.publish(incoming)
        hub.publish(CallCancel(2, "call", "u" + "2" * 32, "CANCEL"))  # first is full: dropped there only
        assert first.receive_nowait() == incoming
        assert [second.receive_nowait(), second.receive_nowait()][1].reason == "CANCEL"
        with pytest.raises(trio.WouldBlock):
            first.receive_nowait()
    assert hub.subscriber_count == 0 and hub.published == 3 and hub.dropped == 1


@pytest.mark.realtime
async def test_the_api_placer_plays_the_sequence_after_the_wait_and_reports_in_api_words(
    clean_env: Path,
) -> None:
    wav, _pcm = noise_wav(clean_env, seconds=0.3)
    rang: list[float] = []
    with trio.fail_after(15):
        async with running_line_simulator() as sim, running_daemon(daemon_settings(sim, wav)) as daemon:

            async def on_ringing() -> None:
                rang.append(trio.current_time())

            outcome = await DaemonCallPlacer(daemon).place_call(ALICE_MID, [daemon.clip], 2, 0.2, on_ringing)
            call = sim.calls[0]
    assert outcome.kind is EndKind.COMPLETED and outcome.answered and len(rang) == 1
    assert outcome.packets_sent == 2 * daemon.clip.one_to_one_frames == call.media_packets
    first_audio = call.core.received_of("srtp/audio")[0].at
    answered_at = next(s.at for s in call.core.sent if s.kind == "cc/conn_req")
    assert first_audio - answered_at >= 0.19  # playWaitTime before the first audio
