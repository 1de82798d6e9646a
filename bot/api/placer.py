"""The one thing the API needs from the daemon: "place this 1:1 call, play this, tell me how it ended".

The daemon owns Talk, routes, PLANET and pacing; the API owns requests, history and callbacks. They meet
in :class:`CallPlacer`, so the API is tested with a fake placer and the daemon plugs its call worker in
through an adapter without either side importing the other's internals.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from linecall.media.clip import Clip

__all__ = ["CallOutcome", "CallPlacer", "EndKind", "RingingHook"]

RingingHook = Callable[[], Awaitable[None]]


class EndKind(enum.StrEnum):
    """How a placed call ended, in the words of the daemon's call worker."""

    COMPLETED = "completed"
    """Answered, the whole sequence played, linecall hung up."""
    NO_ANSWER = "no_answer"
    """Rung, never answered within LINE_CALL_ANSWER_TIMEOUT_MS."""
    REFUSED = "refused"
    """LINE refused the call: the route (INVALID_STATE, ...) or the relay's setup (``code``)."""
    PEER_HANGUP = "peer_hangup"
    """The callee hung up (``code`` = the peer's rel_code); before answering, that is a decline."""
    ROUTE_ERROR = "route_error"
    """The call route could not be obtained (Talk unreachable, transport error)."""
    NETWORK_ERROR = "network_error"
    """The PLANET/UDP side failed (setup timeout, socket error, media keys unusable)."""
    CANCELLED = "cancelled"
    """The daemon stopped while the call was queued or live."""


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What the call worker reports. Times are wall-clock epoch seconds (``time.time()``).

    ``setup_at``: when the call was dialled (route requested); ``answered_at``: when the callee picked up;
    ``ended_at``: when it was over. ``code`` is the refusal's or the peer's release code when the wire
    carried one. ``detail`` is a short, log-safe reason (no MIDs, routes or keys).
    """

    kind: EndKind
    ended_at: float
    setup_at: float | None = None
    answered_at: float | None = None
    packets_sent: int = 0
    code: int | None = None
    detail: str = ""

    @property
    def answered(self) -> bool:
        return self.answered_at is not None


class CallPlacer(Protocol):
    """Places one 1:1 call from the daemon's account and plays ``sources`` on one pacer timeline.

    After the answer: wait ``play_wait_s``, play the clips in order, the whole sequence ``play_count``
    times (gaps and repeats on the same timeline), then hang up. ``on_ringing`` is awaited once, when the
    relay accepted the setup and the callee's phone rings. Cancellation (the daemon stopping) may either
    propagate or come back as an outcome of kind ``CANCELLED``; the API handles both.
    """

    async def place_call(
        self,
        callee_mid: str,
        sources: Sequence[Clip],
        play_count: int,
        play_wait_s: float,
        on_ringing: RingingHook | None,
    ) -> CallOutcome: ...
