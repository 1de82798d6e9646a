"""What a PLANET driver raises when a call ends before what was awaited happened.

Kept apart from :mod:`.driver` (which re-exports them) so the driver stays small and anything that waits on a
call (the CLI, the daemon) can import the error types without the Trio machinery.
"""

from __future__ import annotations

from linecall.protocol.planet import events as ev
from linecall.protocol.planet.errors import PlanetError

__all__ = ["PlanetCallError", "PlanetCallFailed", "PlanetCallReleased", "error_for"]


class PlanetCallError(PlanetError):
    """The call ended before what was awaited happened; ``event`` says how."""

    def __init__(self, event: ev.CallReleased | ev.Failed) -> None:
        super().__init__(f"{type(event).__name__}: {event}")
        self.event = event


class PlanetCallFailed(PlanetCallError):
    """The call failed: ``event`` is a :class:`Failed` (reason: setup_timeout, no_answer, refused ...)."""


class PlanetCallReleased(PlanetCallError):
    """Somebody hung up: ``event`` is a :class:`CallReleased` (``by_peer``, ``rel_code``)."""


def error_for(outcome: ev.CallReleased | ev.Failed) -> PlanetCallError:
    """The exception that reports ``outcome``."""
    return PlanetCallFailed(outcome) if isinstance(outcome, ev.Failed) else PlanetCallReleased(outcome)
