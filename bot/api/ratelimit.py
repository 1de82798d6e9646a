"""Planet's server-API rate: at most 100 operations per second per service (audio-caller.md §2), else 429.

A token bucket (capacity = one second's allowance, refilled continuously) on an injected clock, so a burst
of 100 passes, the 101st within the same second is refused, and tests drive time with a MockClock or a
plain function instead of waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from linecall.bot.api.errors import ApiError

DEFAULT_RATE_PER_S = 100


@dataclass
class RateLimiter:
    rate_per_s: float = DEFAULT_RATE_PER_S
    clock: Callable[[], float] = field(default=trio.current_time)
    _tokens: float | None = field(default=None, init=False)
    _at: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0:
            raise ValueError(f"the rate must be > 0 per second, got {self.rate_per_s}")

    def allow(self) -> bool:
        """Take one token if there is one."""
        now = self.clock()
        if self._tokens is None:
            self._tokens = self.rate_per_s
        else:
            self._tokens = min(self.rate_per_s, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def check(self) -> None:
        """Raise 429 (with Retry-After) when the service is over its rate."""
        if not self.allow():
            raise ApiError(
                429,
                f"more than {self.rate_per_s:g} requests per second; retry in a second",
                headers={"Retry-After": "1"},
            )
