"""The one thing the API needs from the daemon: "place this 1:1 call, play this, tell me how it ended".

The daemon owns Talk, routes, PLANET and pacing; the API owns requests, history and callbacks. They meet
in :class:`CallPlacer`, so the API is tested with a fake placer and the daemon plugs its call worker in
through an adapter. The one thing shared is the words for how a call ended: :data:`EndKind` is the call
worker's own enum, so the two sides cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from linecall.bot.calls import CallEnd
from linecall.media.clip import Clip

__all__ = ["CallOutcome", "CallPlacer", "EndKind", "RingingHook"]

RingingHook = Callable[[], Awaitable[None]]


EndKind = CallEnd
"""How a placed call ended: the daemon's call-worker enum itself, named for the API (whose history has a
different ``CallEnd``, the record of an ended call), so the adapter passes it through without translating."""


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
