"""The call states of a PlanetConnection and the only transitions allowed between them.

Kept in its own module (like h11's ``_state.py``) so the connection core and the role handlers share one
table; the rules for what triggers each transition are at the top of :mod:`.connection`.
"""

from __future__ import annotations

import enum

from linecall.protocol.planet.errors import PlanetError


class CallState(enum.Enum):
    IDLE = "idle"  # constructed
    CONNECTED = "connected"  # keys and ids made; nothing sent
    INVITING = "inviting"  # setup_req (or participate_req) sent, no (final) reply yet
    RINGING = "ringing"  # setup accepted, the callee's phone rings (1:1 only)
    ANSWERED = "answered"  # in the call (1:1 answered, group joined): media may flow
    CLOSED = "closed"  # terminal: hung up, released by the peer, refused or failed


TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    CallState.IDLE: frozenset({CallState.CONNECTED, CallState.CLOSED}),
    CallState.CONNECTED: frozenset({CallState.INVITING, CallState.CLOSED}),
    CallState.INVITING: frozenset({CallState.RINGING, CallState.ANSWERED, CallState.CLOSED}),  # group: joined
    CallState.RINGING: frozenset({CallState.ANSWERED, CallState.CLOSED}),
    CallState.ANSWERED: frozenset({CallState.CLOSED}),
    CallState.CLOSED: frozenset(),
}

LIVE_STATES = frozenset({CallState.INVITING, CallState.RINGING, CallState.ANSWERED})
"""States in which inbound datagrams are processed."""


class PlanetStateError(PlanetError, RuntimeError):
    """An API call the connection cannot honour in its current state (send_media before the answer ...)."""


def check_transition(old: CallState, new: CallState) -> None:
    """Raise PlanetStateError unless ``old`` → ``new`` is in :data:`TRANSITIONS`."""
    if new not in TRANSITIONS[old]:
        raise PlanetStateError(f"cannot go from {old.value} to {new.value}")
