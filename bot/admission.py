"""Who may start a call, and when: the rules every trigger (chat command or HTTP API) passes through.

One gate per daemon holds the live calls, so the limits hold across triggers: at most one call per chat (or
callee), a global cap (LINE_CALL_MAX_CONCURRENT), and for chat commands only an allowlist
(LINE_CALL_ALLOWED_MIDS) and a per-sender rate limit (LINE_CALL_RATE_PER_MINUTE). A granted slot is a context
manager, so a call's slot is released however the call ends.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class Refusal(enum.Enum):
    """Why a call was not started; ``reply`` is what the person who asked is told."""

    NOT_ALLOWED = "calls from this account are not enabled here"
    CHAT_BUSY = "call already running"
    CAPACITY = "too many calls right now — try again in a minute"
    RATE_LIMITED = "too many calls — wait a minute before the next !call"

    @property
    def reply(self) -> str:
        return self.value


@dataclass
class Slot:
    """A granted call slot: ``key`` is the chat (or callee) it occupies."""

    key: str
    trigger: str


@dataclass
class CallGate:
    """Admission state shared by every trigger of one daemon."""

    max_concurrent: int = 16
    rate_per_minute: int = 3
    allowed_mids: frozenset[str] = frozenset()
    clock: Callable[[], float] = field(default=lambda: 0.0)
    _live: dict[str, Slot] = field(default_factory=dict)
    _recent: dict[str, deque[float]] = field(default_factory=dict)

    @property
    def live_count(self) -> int:
        return len(self._live)

    def is_busy(self, key: str) -> bool:
        return key in self._live

    def check(self, key: str, *, sender: str | None = None) -> Refusal | None:
        """The refusal a request would get now, or None; chat commands pass ``sender``."""
        if sender is not None and self.allowed_mids and sender not in self.allowed_mids:
            return Refusal.NOT_ALLOWED
        if key in self._live:
            return Refusal.CHAT_BUSY
        if len(self._live) >= self.max_concurrent:
            return Refusal.CAPACITY
        if sender is not None and self.rate_per_minute > 0:
            window = self._recent.get(sender)
            now = self.clock()
            if window is not None:
                while window and now - window[0] >= 60.0:
                    window.popleft()
                if len(window) >= self.rate_per_minute:
                    return Refusal.RATE_LIMITED
        return None

    def try_acquire(self, key: str, *, sender: str | None = None, trigger: str = "chat") -> Slot | Refusal:
        """Take a slot for ``key`` (counting against ``sender``'s rate) or say why not."""
        refusal = self.check(key, sender=sender)
        if refusal is not None:
            return refusal
        if sender is not None and self.rate_per_minute > 0:
            self._recent.setdefault(sender, deque()).append(self.clock())
        slot = Slot(key, trigger)
        self._live[key] = slot
        return slot

    def release(self, slot: Slot) -> None:
        if self._live.get(slot.key) is slot:
            del self._live[slot.key]

    @contextmanager
    def held(self, slot: Slot) -> Iterator[Slot]:
        """Release ``slot`` when the block ends, however it ends."""
        try:
            yield slot
        finally:
            self.release(slot)


def is_command(text: str | None, command: str) -> bool:
    """The chat command matches exactly after trimming surrounding white space."""
    return text is not None and text.strip() == command.strip()


def command_age_s(created_time_ms: int | None, now_s: float) -> float:
    """How old a message is, from its createdTime (ms since the epoch); unknown counts as fresh."""
    if created_time_ms is None or created_time_ms <= 0:
        return 0.0
    return max(0.0, now_s - created_time_ms / 1000.0)
