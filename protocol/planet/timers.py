"""Named deadlines for the sans-I/O connection: at most one pending deadline per :class:`TimerName`.

The connection never sleeps: it arms deadlines here (absolute times on the driver's clock, in seconds),
the driver asks for the earliest one (``get_timer()``) and calls ``handle_timer(now)`` when it passes, and
the connection pops whatever is due. Keeping the timers by name makes "re-arm the keepalive" and "cancel
the setup retransmission" one-line operations and the state easy to inspect in tests.
"""

from __future__ import annotations

import enum
import math


class TimerName(enum.Enum):
    SETUP_RETRANSMIT = "setup_retransmit"  # re-send the identical setup_req datagram
    SETUP_TIMEOUT = "setup_timeout"  # no setup_rsp: the call fails with setup_timeout
    ANSWER_TIMEOUT = "answer_timeout"  # no conn_req: the call fails with no_answer
    KEEPALIVE = "keepalive"  # next ka_req


class Timers:
    """A tiny deadline table. Deadlines are floats (seconds); firing order is by deadline, then name order."""

    __slots__ = ("_deadlines",)

    def __init__(self) -> None:
        self._deadlines: dict[TimerName, float] = {}

    def arm(self, name: TimerName, at: float) -> None:
        """Set (or move) ``name``'s deadline to ``at``."""
        if math.isnan(at):
            raise ValueError("timer deadline is NaN")
        self._deadlines[name] = at

    def cancel(self, name: TimerName) -> None:
        self._deadlines.pop(name, None)

    def cancel_all(self) -> None:
        self._deadlines.clear()

    def deadline(self, name: TimerName) -> float | None:
        return self._deadlines.get(name)

    def armed(self) -> dict[TimerName, float]:
        """A copy of every pending deadline (for inspection)."""
        return dict(self._deadlines)

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, or ``None`` when nothing is armed."""
        return min(self._deadlines.values(), default=None)

    def pop_due(self, now: float) -> list[TimerName]:
        """Remove and return every timer whose deadline is at or before ``now``, earliest first."""
        order = list(TimerName)
        due = sorted(
            (name for name, at in self._deadlines.items() if at <= now),
            key=lambda name: (self._deadlines[name], order.index(name)),
        )
        for name in due:
            del self._deadlines[name]
        return due
