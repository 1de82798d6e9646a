"""Real-time pacing of payloads on Trio's clock, with absolute deadlines.

linejs sleeps 20 ms after each send, so every wake-up's lateness adds to the next and a 60 s clip ends
hundreds of milliseconds late. Here payload i is due at ``t0 + offset_i`` (offsets kept in integer
nanoseconds, so no float error builds up either), the task sleeps until that absolute deadline, and a
late wake-up only delays the one payload it belongs to. When the task falls behind (a stall, a busy
loop), everything already due goes out at once and the schedule continues where it was. Wake-ups are
aimed at the nearest whole millisecond (Trio's epoll wait has 1 ms granularity), so a payload leaves
within about half a millisecond of its deadline either way instead of up to a millisecond late.

One :class:`Pacer` is one call's timeline: 1:1 frames, group packets, repeats, several clips in a
sequence and waits between them all advance the same clock, so a sequence never drifts either.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

import trio

__all__ = ["Pacer", "PacerStats", "SendFn", "pace"]

#: Sends one payload: a plain function or a coroutine function; its return value is ignored (awaited
#: first when it is awaitable), so ``socket.send`` or an SRTP sender's ``send`` fits as they are.
SendFn = Callable[[bytes], object]

_NS: Final = 1_000_000_000
#: A payload counts as "late" (sent without waiting) when its deadline had passed by more than this.
_LATE_EPSILON: Final = 1e-6
# Lateness histogram: 10 us buckets below 10 ms, 1 ms buckets up to 1 s, one overflow bucket.
_FINE_US: Final = 10
_FINE_LIMIT_US: Final = 10_000
_COARSE_US: Final = 1_000
_COARSE_LIMIT_US: Final = 1_000_000
_FINE_BUCKETS: Final = _FINE_LIMIT_US // _FINE_US
_OVERFLOW: Final = _FINE_BUCKETS + (_COARSE_LIMIT_US - _FINE_LIMIT_US) // _COARSE_US


def _bucket(lateness_s: float) -> int:
    us = max(0, int(lateness_s * 1_000_000))
    if us < _FINE_LIMIT_US:
        return us // _FINE_US
    if us < _COARSE_LIMIT_US:
        return _FINE_BUCKETS + (us - _FINE_LIMIT_US) // _COARSE_US
    return _OVERFLOW


def _bucket_upper_s(index: int) -> float:
    if index < _FINE_BUCKETS:
        return (index + 1) * _FINE_US / 1_000_000
    if index < _OVERFLOW:
        return (_FINE_LIMIT_US + (index - _FINE_BUCKETS + 1) * _COARSE_US) / 1_000_000
    return float("inf")


@dataclass(slots=True)
class PacerStats:
    """Per-call pacing figures, in seconds.

    ``lateness`` of a payload = when it was handed to ``send`` minus its deadline. It can be slightly
    negative (at most half a millisecond, see :func:`_wake_target`); ``max_early`` is the most negative.
    ``late`` counts payloads whose deadline had already passed when the pacer reached them (sent at
    once, without sleeping). ``end_drift`` is the lateness of the last payload released: how far the end
    of the stream is from where the timeline puts it (with relative sleeps this grows with every frame;
    here it is one wake-up's error). Percentiles cover lateness (early sends count as 0) and come from a
    compact histogram (10 us resolution below 10 ms), so a call of any length costs a few kilobytes.
    """

    sent: int = 0
    late: int = 0
    max_lateness: float = 0.0
    max_early: float = 0.0
    total_lateness: float = 0.0
    end_drift: float = 0.0
    resyncs: int = 0
    _histogram: Counter[int] = field(default_factory=Counter, repr=False)

    def record(self, lateness: float, *, was_due: bool) -> None:
        self.sent += 1
        self.late += int(was_due)
        self.max_lateness = max(self.max_lateness, lateness)
        self.max_early = max(self.max_early, -lateness)
        self.total_lateness += lateness
        self.end_drift = lateness
        self._histogram[_bucket(lateness)] += 1

    @property
    def mean_lateness(self) -> float:
        return self.total_lateness / self.sent if self.sent else 0.0

    def percentile(self, q: float) -> float:
        """Upper bound of the ``q``-quantile (0 < q <= 1) of lateness, capped at the observed maximum."""
        if not 0 < q <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {q}")
        if not self.sent:
            return 0.0
        rank = q * self.sent
        seen = 0
        for index in sorted(self._histogram):
            seen += self._histogram[index]
            if seen >= rank:
                return min(_bucket_upper_s(index), self.max_lateness)
        return self.max_lateness

    @property
    def p50(self) -> float:
        return self.percentile(0.5)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)

    def merge(self, other: PacerStats) -> None:
        """Fold another call's figures into this one (for aggregate reports; end_drift keeps the worst)."""
        self.sent += other.sent
        self.late += other.late
        self.max_lateness = max(self.max_lateness, other.max_lateness)
        self.max_early = max(self.max_early, other.max_early)
        self.total_lateness += other.total_lateness
        self.end_drift = max(self.end_drift, other.end_drift, key=abs)
        self.resyncs += other.resyncs
        self._histogram.update(other._histogram)

    def summary(self) -> dict[str, float | int]:
        """Milliseconds, rounded, for logs and ``linecall`` output."""
        return {
            "sent": self.sent,
            "late": self.late,
            "resyncs": self.resyncs,
            "p50_ms": round(self.p50 * 1000, 3),
            "p99_ms": round(self.p99 * 1000, 3),
            "max_ms": round(self.max_lateness * 1000, 3),
            "end_drift_ms": round(self.end_drift * 1000, 3),
        }


class Pacer:
    """Releases payloads on one absolute timeline starting at ``t0``.

    ``send`` may be a plain function or a coroutine function. ``start`` fixes ``t0`` (Trio clock
    seconds); by default the timeline starts at the first :meth:`send_next` or :meth:`wait`. With
    ``resync_after`` set, a payload later than that many seconds restarts the timeline at "now" instead
    of bursting the backlog (counted in ``stats.resyncs``); by default the backlog is always sent.
    """

    def __init__(
        self,
        send: SendFn,
        frame_s: float,
        *,
        start: float | None = None,
        stats: PacerStats | None = None,
        resync_after: float | None = None,
    ) -> None:
        if not frame_s > 0:
            raise ValueError(f"frame duration must be > 0, got {frame_s}")
        self._send = send
        self._frame_ns = _to_ns(frame_s)
        self.stats = stats if stats is not None else PacerStats()
        self.resync_after = resync_after
        self._t0: float | None = start
        self._offset_ns = 0
        self._released_ns = 0

    @property
    def frame_s(self) -> float:
        return self._frame_ns / _NS

    @property
    def t0(self) -> float | None:
        """Trio time of offset 0, or None before the timeline has started."""
        return self._t0

    @property
    def offset(self) -> float:
        """Timeline offset (seconds after ``t0``) of the payload most recently released.

        Read it inside ``send`` to derive media timestamps: gaps made with :meth:`wait` count, so an
        RTP timestamp of ``offset * 48000`` stays in step with the audio across a whole sequence.
        """
        return self._released_ns / _NS

    @property
    def next_offset(self) -> float:
        """Timeline offset at which the next payload is due."""
        return self._offset_ns / _NS

    @property
    def next_deadline(self) -> float:
        """Trio time at which the next payload is due (starts the timeline if needed)."""
        return self._start() + self._offset_ns / _NS

    def _start(self) -> float:
        if self._t0 is None:
            self._t0 = trio.current_time()
        return self._t0

    async def send_next(self, payload: bytes, duration: float | None = None) -> float:
        """Wait for this payload's deadline, send it, and return its lateness in seconds.

        The next deadline is this one plus ``duration`` (default: the pacer's frame duration).
        """
        deadline = self.next_deadline
        before = trio.current_time()
        was_due = before - deadline > _LATE_EPSILON
        await trio.sleep_until(_wake_target(before, deadline))  # a checkpoint even when already due
        now = trio.current_time()
        lateness = now - deadline
        if self.resync_after is not None and lateness > self.resync_after:
            self._t0 = now - self._offset_ns / _NS
            self.stats.resyncs += 1
        self._released_ns = self._offset_ns
        self._offset_ns += self._frame_ns if duration is None else _to_ns(duration)
        self.stats.record(lateness, was_due=was_due)
        result = self._send(payload)
        if inspect.isawaitable(result):
            await result
        return lateness

    async def play(self, payloads: Iterable[bytes], duration: float | None = None) -> None:
        """Send every payload on the timeline (one clip, one repeat of it, ...)."""
        for payload in payloads:
            await self.send_next(payload, duration)

    def advance(self, seconds: float) -> None:
        """Move the timeline forward without sleeping (a gap before the next payload)."""
        if seconds < 0:
            raise ValueError(f"cannot move the timeline back ({seconds} s)")
        self._start()
        self._offset_ns += _to_ns(seconds)

    async def wait(self, seconds: float = 0.0) -> None:
        """Advance the timeline by ``seconds`` and sleep until that point (waits, holds, gaps)."""
        self.advance(seconds)
        await self.drain()

    async def drain(self) -> None:
        """Sleep until the last payload sent has finished playing (the next deadline)."""
        await trio.sleep_until(_wake_target(trio.current_time(), self.next_deadline))


def _wake_target(now: float, deadline: float) -> float:
    """When to wake for ``deadline``: ``now`` plus the remaining time rounded to a whole millisecond.

    Trio waits in epoll, whose timeout is whole milliseconds rounded up, so aiming at the deadline
    itself wakes 0..1 ms late (0.5 ms on average, plus the wake-up latency). Aiming at the nearest
    whole millisecond from now centres that error on the deadline (-0.5..+0.5 ms): payloads leave up to
    half a millisecond early instead of up to a whole one late. On a mock clock remaining times are
    exact, so payloads leave exactly on their deadlines.
    """
    remaining = deadline - now
    if remaining <= 0:
        return deadline
    return now + round(remaining * 1000) / 1000


def _to_ns(seconds: float) -> int:
    return round(seconds * _NS)


async def pace(
    payloads: Iterable[bytes],
    frame_s: float,
    send: SendFn,
    stats: PacerStats | None = None,
    start: float | None = None,
) -> PacerStats:
    """Send ``payloads`` one per ``frame_s`` from ``start`` (default: now); returns the stats."""
    pacer = Pacer(send, frame_s, start=start, stats=stats)
    await pacer.play(payloads)
    return pacer.stats
