"""Call workers: place one call (1:1 or group), play a sequence of clips on one pacer timeline, report how it went.

Every trigger goes through here: the chat command (``bot/dispatch.py``), the Audio Caller API (``bot/api/``
through an adapter), ``linecall call`` and the demo. A worker never raises for a call that went wrong: LINE
refusing the route, nobody answering, the peer hanging up, a dead relay, all come back as a
:class:`CallOutcome` whose ``end`` says which and whose ``detail`` is the short sentence a person is shown
(the chat reply). Only cancellation propagates (the daemon is stopping); leaving the PLANET block on the way
out still sends rel_req, shielded, so the relay and the callee's phone know the call is over.

One :class:`~linecall.media.pacer.Pacer` carries the whole call: clips, repeats, pauses between them and the
hold before hanging up all advance the same absolute timeline, and RTP timestamps are derived from it, so a
pause is a gap in the timestamps too (the receiver's jitter buffer sees silence, not a jump).
"""

from __future__ import annotations

import enum
import math
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import structlog
import trio

from linecall.bot.metrics import Metrics
from linecall.config.logging import mask_mid
from linecall.config.settings import Settings
from linecall.media.clip import Clip
from linecall.media.pacer import Pacer, PacerStats
from linecall.media.packetize import GroupPrefixer
from linecall.protocol.planet import events as ev
from linecall.protocol.planet.driver import PlanetCall, PlanetCallFailed, PlanetCallReleased, open_planet_call
from linecall.protocol.planet.errors import PlanetError
from linecall.protocol.planet.media_keys import MediaKeyMode
from linecall.protocol.planet.options import PlanetConfig
from linecall.protocol.planet.route import CallRoute, GroupCallRoute, RouteError
from linecall.protocol.talk import structs
from linecall.protocol.talk.client import (
    CallServiceForbidden,
    InvalidCallState,
    ReloginRequired,
    TalkClientError,
)
from linecall.protocol.talk.routes import planet_call_route, planet_group_call_route
from linecall.protocol.thrift.errors import TalkException, ThriftError

__all__ = [
    "CallEnd",
    "CallHooks",
    "CallOptions",
    "CallOutcome",
    "GroupRouteSource",
    "Pause",
    "Play",
    "RingingHook",
    "RouteSource",
    "Step",
    "clip_steps",
    "place_group_call",
    "place_one_to_one_call",
]

log = structlog.get_logger(__name__)

_RTP_RATE = 48_000

_TalkRoute = TypeVar("_TalkRoute", structs.CallRoute, structs.GroupCallRoute)
_PlanetRoute = TypeVar("_PlanetRoute", CallRoute, GroupCallRoute)


class CallEnd(enum.StrEnum):
    """How a call ended; the Audio Caller API reports it as ``bot.api.placer.EndKind`` (the same enum)."""

    COMPLETED = "completed"
    """Answered (or joined), the whole sequence played, linecall hung up."""
    NO_ANSWER = "no_answer"
    """Rung, never answered within LINE_CALL_ANSWER_TIMEOUT_MS."""
    REFUSED = "refused"
    """LINE refused: the call route (INVALID_STATE, HTTP 403, another TalkException) or the relay's setup."""
    PEER_HANGUP = "peer_hangup"
    """The other side hung up (``code`` = its rel_code); before answering, that is a decline."""
    ROUTE_ERROR = "route_error"
    """No usable call route: LINE unreachable, or a route without what a call needs."""
    NETWORK_ERROR = "network_error"
    """The PLANET/UDP side failed: relay silent (setup timeout), socket error, unusable media keys."""
    CANCELLED = "cancelled"
    """The daemon stopped while the call was queued or live."""


@dataclass(frozen=True, slots=True)
class Play:
    """Play an encoded clip once (1:1 payloads or group packets, chosen by the call's kind)."""

    clip: Clip


@dataclass(frozen=True, slots=True)
class Pause:
    """Silence on the timeline: nothing is sent for ``seconds``, and the RTP timestamps move on by as much."""

    seconds: float

    def __post_init__(self) -> None:
        if not (self.seconds >= 0 and math.isfinite(self.seconds)):
            raise ValueError(f"a pause lasts a finite, non-negative time, not {self.seconds}")


Step = Play | Pause


def clip_steps(clip: Clip, repeat: int = 1) -> tuple[Step, ...]:
    """The chat command's sequence: the clip ``repeat`` times back to back (LINE_CALL_REPEAT_COUNT)."""
    return tuple(Play(clip) for _ in range(max(1, repeat)))


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-daemon call settings, resolved once from :class:`~linecall.config.settings.Settings`."""

    from_env_info: Mapping[str, str]
    planet: PlanetConfig
    hold_s: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> CallOptions:
        return cls(
            from_env_info=dict(settings.from_env_info),
            planet=PlanetConfig(
                timeout_ms=settings.line_call_timeout_ms,
                answer_timeout_ms=settings.line_call_answer_timeout_ms,
                media_key_mode=MediaKeyMode(settings.media_key_mode_1to1),
                group_media_key_mode=MediaKeyMode(settings.media_key_mode_group),
                device_info=settings.device_info,
            ),
            hold_s=settings.line_call_hold_ms / 1000,
        )


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What a call worker reports. Times are wall-clock epoch seconds (``time.time()``).

    ``setup_at``: when the call was dialled (route requested); ``answered_at``: when the callee picked up
    (group: when the mixer accepted us); ``ended_at``: when it was over. ``code``: the refusal's code (a
    TalkException code, 403 for CallService's HTTP refusal, the relay's result) or the peer's rel_code.
    ``detail`` is the short sentence for the person who asked (no MIDs, routes or keys). ``joined_existing``
    (group calls) says whether a call was already running in the chat.
    """

    end: CallEnd
    ended_at: float
    setup_at: float | None = None
    answered_at: float | None = None
    packets_sent: int = 0
    code: int | None = None
    detail: str = ""
    group: bool = False
    joined_existing: bool | None = None
    pacer: PacerStats | None = field(default=None, compare=False, repr=False)

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def ok(self) -> bool:
        return self.end is CallEnd.COMPLETED


RingingHook = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CallHooks:
    """Optional notifications during a call (each awaited in the call's task; keep them short).

    ``on_ringing``: the relay accepted the setup, the callee's phone rings (1:1 only). ``on_answered``: the
    callee picked up or the mixer accepted us; streaming starts next. ``on_group_mode``: before joining a
    group call, with True when one is already running in the chat (the chat reply says which).
    """

    on_ringing: RingingHook | None = None
    on_answered: RingingHook | None = None
    on_group_mode: Callable[[bool], Awaitable[None]] | None = None


class RouteSource(Protocol):
    """What a 1:1 worker needs from Talk (:class:`~linecall.protocol.talk.client.TalkClient` is one)."""

    async def acquire_call_route(
        self, to: str, from_env_info: Mapping[str, str] | None = None
    ) -> structs.CallRoute: ...


class GroupRouteSource(Protocol):
    """What a group worker needs from Talk (:class:`~linecall.protocol.talk.client.TalkClient` is one)."""

    async def get_group_call(self, chat_mid: str) -> structs.GroupCall: ...

    async def acquire_group_call_route(
        self, chat_mid: str, *, is_initial_host: bool
    ) -> structs.GroupCallRoute: ...


class _CallFailure(Exception):
    """Internal: the call ended early; carries the outcome's end, code and reply."""

    def __init__(self, end: CallEnd, detail: str, code: int | None = None) -> None:
        super().__init__(detail)
        self.end = end
        self.detail = detail
        self.code = code


@dataclass(slots=True)
class _Progress:
    """Mutable record of one call, folded into the outcome however the call ends."""

    kind: str
    trigger: str
    setup_at: float
    answered_at: float | None = None
    packets: int = 0
    joined_existing: bool | None = None
    pacer: PacerStats = field(default_factory=PacerStats)


# --- route errors ------------------------------------------------------------------------------------------


def _route_failure(exc: Exception, what: str) -> _CallFailure:
    """Turn a Talk error from acquireCallRoute / acquireGroupCallRoute into the outcome and its reply."""
    if isinstance(exc, InvalidCallState):
        return _CallFailure(
            CallEnd.REFUSED,
            f"LINE refused the {what}: INVALID_STATE — check LINE_DEVICE and LINE_CALL_DEVNAME",
            exc.code,
        )
    if isinstance(exc, CallServiceForbidden):
        return _CallFailure(
            CallEnd.REFUSED,
            f"LINE refused the {what}: HTTP 403 — calls need a primary token (LINE_DEVICE=ANDROID)",
            403,
        )
    if isinstance(exc, ReloginRequired):
        return _CallFailure(CallEnd.ROUTE_ERROR, f"no {what}: LINE refused the token ({exc.variable})")
    if isinstance(exc, TalkException):
        return _CallFailure(CallEnd.REFUSED, f"LINE refused the {what}: {exc.code_name}", exc.code)
    return _CallFailure(CallEnd.ROUTE_ERROR, f"could not get a {what} from LINE — try again in a moment")


def _planet_failure(exc: PlanetCallFailed | PlanetCallReleased, *, answered: bool) -> _CallFailure:
    event = exc.event
    if isinstance(event, ev.CallReleased):
        if answered:
            return _CallFailure(CallEnd.PEER_HANGUP, "the call was hung up before the end", event.rel_code)
        return _CallFailure(CallEnd.PEER_HANGUP, "call declined", event.rel_code)
    reason = event.reason
    if reason is ev.FailureReason.NO_ANSWER:
        return _CallFailure(CallEnd.NO_ANSWER, "no answer")
    if reason is ev.FailureReason.REFUSED:
        code = f" (code {event.code})" if event.code is not None else ""
        return _CallFailure(CallEnd.REFUSED, f"LINE refused the call{code}", event.code)
    if reason is ev.FailureReason.SETUP_TIMEOUT:
        return _CallFailure(CallEnd.NETWORK_ERROR, "the call relay did not answer — check UDP to LINE")
    if reason is ev.FailureReason.MEDIA_KEYS:
        return _CallFailure(
            CallEnd.NETWORK_ERROR, "answered, but no usable media keys — check LINE_CALL_MEDIA_KEY_MODE"
        )
    return _network_failure()


def _network_failure() -> _CallFailure:
    return _CallFailure(CallEnd.NETWORK_ERROR, "the call's network connection failed")


# --- streaming ---------------------------------------------------------------------------------------------


async def _stream(
    call: PlanetCall,
    steps: Sequence[Step],
    hold_s: float,
    progress: _Progress,
    metrics: Metrics | None,
    *,
    group: bool,
) -> None:
    """Play ``steps`` then hold, on one pacer timeline; RTP timestamp steps follow the timeline."""
    prefixer = GroupPrefixer() if group else None
    first_step = 0
    last_offset: float | None = None

    async def send(payload: bytes) -> None:
        nonlocal last_offset
        offset = pacer.offset
        step = first_step if last_offset is None else max(1, round((offset - last_offset) * _RTP_RATE))
        last_offset = offset
        await call.send(prefixer.wrap(payload) if prefixer is not None else payload, step)
        progress.packets += 1
        if metrics is not None:
            metrics.packets_sent.inc()

    first_clip = next((s.clip for s in steps if isinstance(s, Play)), None)
    frame_s = 0.02 if first_clip is None else (first_clip.group_frame_s if group else first_clip.frame_s)
    pacer = Pacer(send, frame_s, stats=progress.pacer)
    for step in steps:
        if isinstance(step, Pause):
            await pacer.wait(step.seconds)
            continue
        clip = step.clip
        if group:
            payloads, duration, ts_step = clip.group_packets, clip.group_frame_s, 1920
        else:
            payloads, duration = clip.one_to_one_payloads, clip.frame_s
            ts_step = clip.one_to_one_timestamp_step
        if last_offset is None:
            first_step = ts_step
        for payload in payloads:
            lateness = await pacer.send_next(payload, duration)
            if metrics is not None:
                metrics.pacer_lateness.observe(max(0.0, lateness))
    await pacer.wait(hold_s)


# --- 1:1 ---------------------------------------------------------------------------------------------------


async def place_one_to_one_call(
    client: RouteSource,
    own_mid: str,
    callee: str,
    steps: Sequence[Step],
    options: CallOptions,
    *,
    hold_s: float | None = None,
    hooks: CallHooks | None = None,
    metrics: Metrics | None = None,
    trigger: str = "chat",
    route: CallRoute | None = None,
    wall_clock: Callable[[], float] = time.time,
    random: Callable[[int], bytes] = os.urandom,
) -> CallOutcome:
    """Ring ``callee`` from ``own_mid``, play ``steps`` once answered, hold, hang up; report the outcome.

    A fresh route is acquired through ``client`` unless ``route`` is given (``linecall call --route``).
    ``hold_s`` defaults to ``options.hold_s`` (LINE_CALL_HOLD_MS). Never raises for a failed call (see
    :class:`CallEnd`); cancellation propagates after the shielded hang-up.
    """
    call_hooks = hooks or CallHooks()
    hold = options.hold_s if hold_s is None else hold_s
    bound = log.bind(kind="one_to_one", trigger=trigger, callee=mask_mid(callee))
    run = _Run(_Progress("one_to_one", trigger, wall_clock()), bound, metrics, wall_clock)
    progress = run.progress

    async def call_body() -> None:
        planet_route = route
        if planet_route is None:
            try:
                talk_route = await client.acquire_call_route(callee, options.from_env_info)
            except (TalkClientError, ThriftError) as exc:
                raise _route_failure(exc, "call route") from None
            planet_route = _usable_route(planet_call_route, talk_route, "call route", bound)
        bound.info("call.dialling")
        async with open_planet_call(planet_route, own_mid, options.planet, random=random) as call:
            try:
                await call.invite(callee)
                bound.info("call.ringing")
                if call_hooks.on_ringing is not None:
                    await call_hooks.on_ringing()
                await call.wait_answer()
                await run.answered_then_stream(call, steps, hold, call_hooks, "call.answered")
            except (PlanetCallFailed, PlanetCallReleased) as exc:
                raise _planet_failure(exc, answered=progress.answered_at is not None) from None

    return await run.outcome_of(call_body)


# --- group -------------------------------------------------------------------------------------------------


async def place_group_call(
    client: GroupRouteSource,
    own_mid: str,
    chat_mid: str,
    steps: Sequence[Step],
    options: CallOptions,
    *,
    hold_s: float | None = None,
    hooks: CallHooks | None = None,
    metrics: Metrics | None = None,
    trigger: str = "chat",
    route: GroupCallRoute | None = None,
    wall_clock: Callable[[], float] = time.time,
    random: Callable[[int], bytes] = os.urandom,
) -> CallOutcome:
    """Start or join the group call of ``chat_mid``, play ``steps`` (group packets), hold, leave.

    ``getGroupCall`` says whether a call is running (any failure of it counts as "none", as in linejs);
    ``hooks.on_group_mode`` hears which before the join. Never raises for a failed call.
    """
    call_hooks = hooks or CallHooks()
    hold = options.hold_s if hold_s is None else hold_s
    bound = log.bind(kind="group", trigger=trigger, chat=mask_mid(chat_mid))
    run = _Run(_Progress("group", trigger, wall_clock()), bound, metrics, wall_clock)
    progress = run.progress

    async def call_body() -> None:
        planet_route = route
        if planet_route is None:
            try:
                online = bool((await client.get_group_call(chat_mid)).online)
            except ReloginRequired as exc:
                raise _route_failure(exc, "group call route") from None
            except (TalkClientError, ThriftError) as exc:
                bound.info("call.group_state_unknown", error=type(exc).__name__)
                online = False
            progress.joined_existing = online
            if call_hooks.on_group_mode is not None:
                await call_hooks.on_group_mode(online)
            try:
                talk_route = await client.acquire_group_call_route(chat_mid, is_initial_host=not online)
            except (TalkClientError, ThriftError) as exc:
                raise _route_failure(exc, "group call route") from None
            planet_route = _usable_route(planet_group_call_route, talk_route, "group call route", bound)
        bound.info("call.joining", existing=progress.joined_existing)
        async with open_planet_call(planet_route, own_mid, options.planet, random=random) as call:
            try:
                await call.join_group(chat_mid)
                await run.answered_then_stream(call, steps, hold, call_hooks, "call.joined")
            except (PlanetCallFailed, PlanetCallReleased) as exc:
                failure = _planet_failure(exc, answered=progress.answered_at is not None)
                if failure.end is CallEnd.PEER_HANGUP:
                    failure = _CallFailure(CallEnd.PEER_HANGUP, "the group call ended", failure.code)
                raise failure from None

    return await run.outcome_of(call_body)


# --- shared by both workers -------------------------------------------------------------------------------


def _usable_route(
    convert: Callable[[_TalkRoute], _PlanetRoute],
    talk_route: _TalkRoute,
    what: str,
    bound: structlog.typing.FilteringBoundLogger,
) -> _PlanetRoute:
    """Talk's route as PLANET needs it, or the ROUTE_ERROR outcome when LINE sent one linecall cannot use."""
    try:
        return convert(talk_route)
    except RouteError as exc:
        bound.warning("call.route_unusable", problem=str(exc))
        raise _CallFailure(CallEnd.ROUTE_ERROR, f"LINE sent a {what} linecall cannot use") from None


@dataclass(frozen=True, slots=True)
class _Run:
    """One worker's call in progress: what both kinds do once answered, and how any ending becomes the outcome."""

    progress: _Progress
    bound: structlog.typing.FilteringBoundLogger
    metrics: Metrics | None
    wall_clock: Callable[[], float]

    async def answered_then_stream(
        self, call: PlanetCall, steps: Sequence[Step], hold_s: float, hooks: CallHooks, event: str
    ) -> None:
        """The callee picked up (or the mixer let us in): record it, tell the hook, play the steps, hold."""
        self.progress.answered_at = self.wall_clock()
        _answered(self.metrics, self.progress)
        self.bound.info(event)
        if hooks.on_answered is not None:
            await hooks.on_answered()
        await _stream(call, steps, hold_s, self.progress, self.metrics, group=self.progress.kind == "group")

    async def outcome_of(self, body: Callable[[], Awaitable[None]]) -> CallOutcome:
        """Run the worker's ``body`` and fold however it ends into the outcome; only cancellation propagates."""
        bound, metrics, progress, wall_clock = self.bound, self.metrics, self.progress, self.wall_clock
        _started(metrics, progress)
        try:
            await body()
        except _CallFailure as failure:
            return _finish(bound, metrics, progress, failure, wall_clock())
        except (PlanetCallFailed, PlanetCallReleased) as exc:  # raised while leaving the PLANET block
            return _finish(bound, metrics, progress, _planet_failure(exc, answered=False), wall_clock())
        except (OSError, PlanetError) as exc:
            bound.warning("call.network_error", error=type(exc).__name__)
            return _finish(bound, metrics, progress, _network_failure(), wall_clock())
        except trio.Cancelled:
            _finish(bound, metrics, progress, _CallFailure(CallEnd.CANCELLED, "cancelled"), wall_clock())
            raise
        return _finish(bound, metrics, progress, None, wall_clock())


# --- bookkeeping -------------------------------------------------------------------------------------------


def _started(metrics: Metrics | None, progress: _Progress) -> None:
    if metrics is not None:
        metrics.calls_started.labels(kind=progress.kind, trigger=progress.trigger).inc()
        metrics.active_calls.inc()


def _answered(metrics: Metrics | None, progress: _Progress) -> None:
    if metrics is not None:
        metrics.calls_answered.labels(kind=progress.kind).inc()


def _finish(
    bound: structlog.typing.FilteringBoundLogger,
    metrics: Metrics | None,
    progress: _Progress,
    failure: _CallFailure | None,
    now: float,
) -> CallOutcome:
    end = CallEnd.COMPLETED if failure is None else failure.end
    outcome = CallOutcome(
        end=end,
        ended_at=now,
        setup_at=progress.setup_at,
        answered_at=progress.answered_at,
        packets_sent=progress.packets,
        code=None if failure is None else failure.code,
        detail="call completed" if failure is None else failure.detail,
        group=progress.kind == "group",
        joined_existing=progress.joined_existing,
        pacer=progress.pacer,
    )
    if metrics is not None:
        metrics.active_calls.dec()
        if failure is not None:
            metrics.calls_failed.labels(reason=end.value).inc()
    fields = {
        "end": end.value,
        "code": outcome.code,
        "packets": outcome.packets_sent,
        "answered": outcome.answered,
        "seconds": round(now - progress.setup_at, 3),
        **({"pacer": progress.pacer.summary()} if progress.pacer.sent else {}),
    }
    if failure is None:
        bound.info("call.completed", **fields)
    elif end is CallEnd.CANCELLED:
        bound.info("call.cancelled", **fields)
    else:
        bound.warning("call.failed", reason=failure.detail, **fields)
    return outcome
