"""How a call ended, in the words Planet's callbacks use (the issue's outcome table).

| how it ended                              | terminate (Q.850) | rel_code_str   | rel_code                      |
|-------------------------------------------|-------------------|----------------|-------------------------------|
| answered, played, linecall hung up        | 16                | NORMAL         | 2 (linecall's own rel_req)    |
| the callee hung up after answering        | 16                | PEER_RELEASE   | the peer's code, else 16      |
| rung, never answered                      | 19                | NO_ANSWER      | 19                            |
| refused (route, setup) or declined        | 21                | REJECTED       | the relay's/peer's code, else 21 |
| route or transport error                  | 41                | NETWORK_ERROR  | 41                            |
| the daemon stopped (or restarted)         | 41                | DAEMON_RESTART | 41                            |

``rel_code`` is the PLANET release code when the wire carried one, else the Q.850 cause (ours: Planet does not
publish its integer table). A callee who hangs up while it is still ringing declined the call, so that is
REJECTED, not PEER_RELEASE (which Planet reserves for calls with a duration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from linecall.bot.api.placer import CallOutcome, EndKind
from linecall.protocol.planet.constants import REL_CODE_LOCAL_HANGUP

__all__ = [
    "DAEMON_RESTART",
    "Release",
    "fail_reason_for",
    "release_for",
]

Q850_NORMAL: Final = 16
Q850_NO_ANSWER: Final = 19
Q850_REJECTED: Final = 21
Q850_TEMPORARY_FAILURE: Final = 41


@dataclass(frozen=True, slots=True)
class Release:
    terminate: int
    rel_code: int
    rel_code_str: str


DAEMON_RESTART: Final = Release(Q850_TEMPORARY_FAILURE, Q850_TEMPORARY_FAILURE, "DAEMON_RESTART")
SOURCE_UNAVAILABLE: Final = Release(Q850_TEMPORARY_FAILURE, Q850_TEMPORARY_FAILURE, "NETWORK_ERROR")


def release_for(outcome: CallOutcome) -> Release:
    """The callback's terminate / rel_code / rel_code_str for ``outcome``."""
    kind = outcome.kind
    if kind is EndKind.COMPLETED:
        return Release(Q850_NORMAL, REL_CODE_LOCAL_HANGUP, "NORMAL")
    if kind is EndKind.PEER_HANGUP and outcome.answered:
        code = outcome.code if outcome.code is not None else Q850_NORMAL
        return Release(Q850_NORMAL, code, "PEER_RELEASE")
    if kind is EndKind.NO_ANSWER:
        return Release(Q850_NO_ANSWER, Q850_NO_ANSWER, "NO_ANSWER")
    if kind in (EndKind.REFUSED, EndKind.PEER_HANGUP):
        code = outcome.code if outcome.code is not None else Q850_REJECTED
        return Release(Q850_REJECTED, code, "REJECTED")
    if kind is EndKind.CANCELLED:
        return DAEMON_RESTART
    return Release(Q850_TEMPORARY_FAILURE, Q850_TEMPORARY_FAILURE, "NETWORK_ERROR")


_FAIL_REASONS: Final = {
    EndKind.COMPLETED: "Call ended before ringing",
    EndKind.NO_ANSWER: "No answer",
    EndKind.REFUSED: "Call refused",
    EndKind.PEER_HANGUP: "Call declined",
    EndKind.ROUTE_ERROR: "Call route unavailable",
    EndKind.NETWORK_ERROR: "Network error",
    EndKind.CANCELLED: "Daemon restarted",
}


def fail_reason_for(outcome: CallOutcome) -> str:
    """The Agent Call Status ``fail_reason`` of a call that never rang."""
    reason = _FAIL_REASONS[outcome.kind]
    if outcome.kind is EndKind.REFUSED and outcome.code is not None:
        reason += f" (code {outcome.code})"
    return reason
