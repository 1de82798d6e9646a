"""Bookkeeping of the ``sync`` long poll, sans-I/O (talk-map §4.2-4.4, §1.5).

Rules this module keeps:

* The cursor is the triple ``(revision, globalRev, individualRev)``; a ``sync`` request sends
  ``(revision, 100, globalRev, individualRev)``, zeros included.
* A reply advances it in linejs's order: a non-zero ``fullSyncResponse.nextRevision`` replaces
  ``revision``; non-zero ``globalEvents.lastRevision`` / ``individualEvents.lastRevision`` replace the
  other two; then each operation, in order, sets ``revision`` to its own revision.
* The triple is stored only after an operation's handlers returned (:class:`SyncPlan` gives the triple
  to store after each operation), so a crash re-delivers at most the operation in hand; handled message
  ids in storage drop the duplicate.
* ``EXPIRED_REVISION`` (52) restarts from the zero triple (linejs has no handling; this is ours).
* Errors back off exponentially with jitter, capped; a revoked or invalid token is never retried.

Nothing here sleeps or draws randomness itself: the listener passes replies in and gets decisions out.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from linecall.protocol.thrift.errors import ErrorCode

__all__ = [
    "SYNC_LIMIT",
    "BackoffPolicy",
    "FailureAction",
    "RevisionTriple",
    "SyncPlan",
    "SyncRequestArgs",
    "classify_failure",
    "is_relogin_error",
    "plan_sync",
]

#: Operations asked for per ``sync`` (linejs always sends 100).
SYNC_LIMIT: Final = 100

_RELOGIN_CODES: Final = frozenset({ErrorCode.AUTHENTICATION_FAILED, ErrorCode.NOT_AUTHORIZED_DEVICE})
_RELOGIN_STATUSES: Final = frozenset({401, 403})
#: ``/V4`` answers 403 to a secondary-device token: a device-class refusal (calls need a primary token),
#: not a dead token, so it must not be reported as "log in again" (talk-map §3.1).
_CALL_SERVICE_PATH: Final = "/V4"


@dataclass(frozen=True, slots=True)
class SyncRequestArgs:
    """The four ``SyncRequest`` fields linejs always writes (fields 1-4)."""

    last_revision: int
    count: int
    last_global_revision: int
    last_individual_revision: int


@dataclass(frozen=True, slots=True)
class RevisionTriple:
    """Where the ``sync`` cursor stands; the zero triple means "from the beginning"."""

    revision: int = 0
    global_revision: int = 0
    individual_revision: int = 0

    def request(self, limit: int = SYNC_LIMIT) -> SyncRequestArgs:
        """Arguments of the next ``sync`` call."""
        return SyncRequestArgs(self.revision, limit, self.global_revision, self.individual_revision)

    def after_expired_revision(self) -> RevisionTriple:
        """The cursor after the server answered EXPIRED_REVISION: start over from zero.

        What LINE replays from zero is not known (talk-map §4.3); the handled-message ids in storage keep
        a replayed message from being answered twice.
        """
        return RevisionTriple()


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """How one ``sync`` reply moves the cursor.

    ``head`` is the cursor after the reply's own revision fields; ``after_each[i]`` the cursor to store
    once operation ``i`` has been handled. With no operations, store :attr:`final` right away.
    """

    head: RevisionTriple
    after_each: tuple[RevisionTriple, ...]

    @property
    def final(self) -> RevisionTriple:
        """The cursor once the whole reply has been handled: the next request's arguments."""
        return self.after_each[-1] if self.after_each else self.head


def plan_sync(
    current: RevisionTriple,
    *,
    next_revision: int | None = None,
    global_revision: int | None = None,
    individual_revision: int | None = None,
    operation_revisions: Sequence[int | None] = (),
) -> SyncPlan:
    """Apply talk-map §4.3 to one reply, given its fields already decoded:

    ``next_revision`` = ``fullSyncResponse.nextRevision``, ``global_revision`` =
    ``operationResponse.globalEvents.lastRevision``, ``individual_revision`` =
    ``operationResponse.individualEvents.lastRevision``, ``operation_revisions`` = each operation's
    ``revision`` in order. Absent or zero values change nothing (linejs tests truthiness); an operation
    without a revision leaves the cursor where it was instead of clearing it as linejs would.
    """
    head = current
    if next_revision:
        head = replace(head, revision=next_revision)
    if global_revision:
        head = replace(head, global_revision=global_revision)
    if individual_revision:
        head = replace(head, individual_revision=individual_revision)
    steps: list[RevisionTriple] = []
    cursor = head
    for revision in operation_revisions:
        if revision is not None:
            cursor = replace(cursor, revision=revision)
        steps.append(cursor)
    return SyncPlan(head, tuple(steps))


# --- failures ---------------------------------------------------------------------------------------------


class _HasCode(Protocol):
    @property
    def code(self) -> int | None: ...


def _code_of(code: int | _HasCode | None) -> int | None:
    if code is None or isinstance(code, int):
        return code
    return code.code


def is_relogin_error(
    code: int | _HasCode | None = None, *, http_status: int | None = None, path: str | None = None
) -> bool:
    """Whether an error means the token is revoked, expired beyond refresh, or invalid (talk-map §1.5).

    TalkException codes AUTHENTICATION_FAILED (1) and NOT_AUTHORIZED_DEVICE (8), and HTTP 401/403, count;
    ``code`` may be the int or anything with a ``code`` attribute (``thrift.errors.TalkException``).
    A 403 on ``/V4`` is a device-class refusal (a secondary login asking for a call route), not this.
    """
    value = _code_of(code)
    if value is not None and value in _RELOGIN_CODES:
        return True
    if http_status == 403 and path is not None and path.split("?", 1)[0] == _CALL_SERVICE_PATH:
        return False
    return http_status in _RELOGIN_STATUSES


class FailureAction(enum.Enum):
    """What the listener does after a failed ``sync``."""

    RELOGIN = "relogin"
    """Stop: the token is dead; surface a typed re-login error (never retried)."""
    REFRESH_TOKEN = "refresh-token"
    """MUST_REFRESH_V3_TOKEN: refresh with the stored refresh token and retry; if there is none, the
    caller treats this as :attr:`RELOGIN`."""
    RESET_REVISION = "reset-revision"
    """EXPIRED_REVISION: store :meth:`RevisionTriple.after_expired_revision` and poll again at once."""
    RETRY = "retry"
    """Anything else (network error, timeout, 5xx, undecodable reply, other TalkException): back off."""


def classify_failure(code: int | _HasCode | None = None, *, http_status: int | None = None) -> FailureAction:
    """The action for a failed ``sync`` given its TalkException code and/or its HTTP status."""
    if is_relogin_error(code, http_status=http_status):
        return FailureAction.RELOGIN
    value = _code_of(code)
    if value == ErrorCode.MUST_REFRESH_V3_TOKEN:
        return FailureAction.REFRESH_TOKEN
    if value == ErrorCode.EXPIRED_REVISION:
        return FailureAction.RESET_REVISION
    return FailureAction.RETRY


# --- backoff ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Capped exponential backoff with jitter, as a pure function of the attempt number.

    The ceiling for attempt ``n`` (0 for the first failure) is ``min(cap, initial * factor**n)``; the
    delay is drawn uniformly from ``[ceiling * (1 - jitter), ceiling]``. Keeping a floor (rather than
    "full jitter" down to zero) means a server that fails fast is never hammered in a tight loop, while
    the spread still de-synchronises many clients restarting at once. linejs has no backoff at all
    (talk-map §4.4, §8 item 15).
    """

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (self.initial > 0 and self.cap >= self.initial and self.factor >= 1 and 0 <= self.jitter <= 1):
            raise ValueError("backoff needs 0 < initial <= cap, factor >= 1 and 0 <= jitter <= 1")

    def ceiling(self, attempt: int) -> float:
        """The largest delay of attempt ``attempt`` (negative attempts count as 0)."""
        n = max(0, attempt)
        # Compare in log space so a large attempt count cannot overflow a float.
        if n * math.log(self.factor) >= math.log(self.cap / self.initial):
            return self.cap
        return min(self.cap, self.initial * self.factor**n)

    def delay(self, attempt: int, uniform: Callable[[], float]) -> float:
        """The delay before retry number ``attempt``; ``uniform()`` returns a float in [0, 1)
        (``random.random`` in production, a fixed value in tests). Out-of-range samples are clamped."""
        top = self.ceiling(attempt)
        sample = min(1.0, max(0.0, uniform()))
        return top * (1.0 - self.jitter * (1.0 - sample))
