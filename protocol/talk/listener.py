"""The HTTP ``sync`` listener (talk-map §4.2-4.4): operations in, typed events to a handler, exactly once.

linejs's poller re-polls without a pause, never backs off, keeps its cursor in memory and dies on the first
message it cannot decrypt (talk-map §4.4, §8). This loop keeps the same wire behaviour (one ``sync`` at a
time on ``/SYNC4``, through the gateway for modern tokens) and adds what a daemon needs:

* **Exactly once.** The cursor comes from storage and moves only after an operation's handler returned,
  in the storage's intended order: handler returns -> ``add_message(id)`` -> ``commit_operation(after, id)``.
  A crash before the handler returned re-delivers the operation; a crash after it returned re-delivers
  it too, but its id is stored by then and the duplicate is dropped. An empty reply stores ``plan.final``.
* **Isolation.** One bad operation (undecodable, malformed, or a handler that raises) is logged and
  skipped, its revision committed; the listener keeps going.
* **Failures.** EXPIRED_REVISION restarts from the zero triple (stored ids drop what is replayed); a
  revoked or expired token raises :class:`~.client.ReloginRequired` at once, never retried; everything else
  (network, timeout, 5xx, undecodable reply, other TalkException) waits ``BackoffPolicy.delay`` (capped,
  jittered) and polls again. Waits use ``trio.sleep``, so ``MockClock`` drives them in tests.
* **Pace.** A non-empty reply is followed by the next poll at once (more may be pending); an empty reply
  that came back faster than ``min_poll_interval`` (a server that does not hold the poll) waits out the
  rest, so a misbehaving server is polled at a bounded rate.

Handlers run inline, one operation at a time, in revision order: a handler that starts long work (a call)
should hand it to its own nursery and return.
"""

from __future__ import annotations

import random as _random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

import structlog
import trio

from linecall.protocol.talk.client import ReloginRequired, SyncInProgressError, TalkClientError
from linecall.protocol.talk.events import Event, MalformedOperationError, operation_to_event
from linecall.protocol.talk.gateway import GatewayError
from linecall.protocol.talk.storage import TalkStorage
from linecall.protocol.talk.structs import Operation, SyncResponse, UndecodableOperation
from linecall.protocol.talk.sync import (
    BackoffPolicy,
    FailureAction,
    RevisionTriple,
    SyncPlan,
    classify_failure,
    plan_sync,
)
from linecall.protocol.thrift.errors import TalkException, ThriftError

__all__ = ["DEFAULT_BACKOFF", "EventHandler", "ListenerHealth", "SyncSource", "run_listener"]

log = structlog.get_logger(__name__)

EventHandler = Callable[[Event], Awaitable[None]]
DEFAULT_BACKOFF = BackoffPolicy(initial=1.0, factor=2.0, cap=60.0, jitter=0.5)
_TOKEN_VARIABLES = "LINE_AUTH_TOKEN or LINE_AUTH_TOKEN_FILE"


class SyncSource(Protocol):
    """What the listener needs from a client (:class:`~.client.TalkClient` is one)."""

    async def sync(self, position: RevisionTriple) -> SyncResponse: ...


@dataclass(slots=True)
class ListenerHealth:
    """Live state of a listener, for /healthz and metrics.

    Times are ``trio.current_time()`` values (the run's clock, so comparable with
    ``trio.current_time()`` in the same run and driven by ``MockClock`` in tests).
    """

    last_sync_ok: float | None = None
    consecutive_failures: int = 0
    last_failure: str | None = None
    operations_handled: int = 0
    duplicates_dropped: int = 0
    operations_skipped: int = 0
    position: RevisionTriple = field(default_factory=RevisionTriple)

    def seconds_since_sync_ok(self, now: float) -> float | None:
        """How long ago the last sync succeeded (None before the first)."""
        return None if self.last_sync_ok is None else max(0.0, now - self.last_sync_ok)


async def run_listener(
    client: SyncSource,
    storage: TalkStorage,
    handler: EventHandler,
    *,
    own_mid: str | None = None,
    backoff: BackoffPolicy = DEFAULT_BACKOFF,
    uniform: Callable[[], float] = _random.random,
    min_poll_interval: float = 1.0,
    health: ListenerHealth | None = None,
    on_sync_ok: Callable[[], None] | None = None,
) -> NoReturn:
    """Poll ``sync`` forever, delivering each operation's event to ``handler`` exactly once.

    ``own_mid`` (the session's MID) decides 1:1 reply targets (see ``events.operation_to_event``).
    ``uniform`` draws the backoff jitter in [0, 1). ``health`` is updated in place and ``on_sync_ok`` called
    after every successful ``sync`` (both optional). Returns only by raising: :class:`ReloginRequired`
    when the token is dead, :class:`~.client.SyncInProgressError` when another listener polls the same
    client, a storage error, or ``trio.Cancelled``.
    """
    state = health if health is not None else ListenerHealth()
    position = storage.get_revision()
    state.position = position
    log.info("talk.listener_started", revision=position.revision)
    failures = 0
    expired_in_a_row = 0
    while True:
        started = trio.current_time()
        try:
            reply = await client.sync(position)
        except ReloginRequired:
            log.error("talk.listener_relogin_required")
            raise
        except SyncInProgressError:
            raise  # two listeners on one client: a bug in the caller, not a network failure
        except TalkException as exc:
            action = classify_failure(exc)
            if action in (FailureAction.RELOGIN, FailureAction.REFRESH_TOKEN):
                raise ReloginRequired(
                    f"LINE answered {exc.code_name} to sync: the token is no longer valid; put a current "
                    f"token in {_TOKEN_VARIABLES}",
                    variable=_TOKEN_VARIABLES,
                    code=exc.code,
                ) from None
            if action is FailureAction.RESET_REVISION and expired_in_a_row == 0:
                expired_in_a_row += 1
                position = position.after_expired_revision()
                storage.set_revision(position)
                state.position = position
                log.warning("talk.sync_revision_expired", restart_from=position.revision)
                continue
            failures = await _back_off(exc, failures, state, backoff, uniform)
            continue
        except (TalkClientError, ThriftError, GatewayError) as exc:
            failures = await _back_off(exc, failures, state, backoff, uniform)
            continue

        failures = 0
        expired_in_a_row = 0
        state.consecutive_failures = 0
        state.last_sync_ok = trio.current_time()
        if on_sync_ok is not None:
            on_sync_ok()
        position = await _apply(reply, position, storage, handler, own_mid, state)
        if not reply.operations:
            elapsed = trio.current_time() - started
            if elapsed < min_poll_interval:
                await trio.sleep(min_poll_interval - elapsed)


async def _back_off(
    exc: Exception,
    failures: int,
    state: ListenerHealth,
    backoff: BackoffPolicy,
    uniform: Callable[[], float],
) -> int:
    delay = backoff.delay(failures, uniform)
    state.consecutive_failures = failures + 1
    state.last_failure = type(exc).__name__
    status = getattr(exc, "status", None)
    code = getattr(exc, "code_name", None)
    log.warning(
        "talk.sync_failed",
        error=type(exc).__name__,
        status=status,
        code=code,
        attempt=failures + 1,
        retry_in=round(delay, 3),
    )
    await trio.sleep(delay)
    return failures + 1


async def _apply(
    reply: SyncResponse,
    position: RevisionTriple,
    storage: TalkStorage,
    handler: EventHandler,
    own_mid: str | None,
    state: ListenerHealth,
) -> RevisionTriple:
    """Deliver one reply's operations in order and persist the cursor after each; return the new cursor."""
    operation_response = reply.operation_response
    full = reply.full_sync_response
    operations = reply.operations
    plan: SyncPlan = plan_sync(
        position,
        next_revision=full.next_revision if full is not None else None,
        global_revision=operation_response.global_last_revision if operation_response else None,
        individual_revision=operation_response.individual_last_revision if operation_response else None,
        operation_revisions=[op.revision for op in operations],
    )
    if full is not None and full.next_revision:
        log.info("talk.sync_full_sync", next_revision=full.next_revision, reasons=full.reasons)
    if not operations:
        if plan.final != position:
            storage.set_revision(plan.final)
        state.position = plan.final
        return plan.final
    for op, after in zip(operations, plan.after_each, strict=True):
        await _deliver(op, after, storage, handler, own_mid, state)
        state.position = after
    return plan.final


async def _deliver(
    op: Operation | UndecodableOperation,
    after: RevisionTriple,
    storage: TalkStorage,
    handler: EventHandler,
    own_mid: str | None,
    state: ListenerHealth,
) -> None:
    message_id = _message_id(op)
    if message_id is not None and storage.has_message(message_id):
        state.duplicates_dropped += 1
        log.info("talk.operation_duplicate_dropped", revision=op.revision)
        storage.commit_operation(after, message_id)
        return
    try:
        event = operation_to_event(op, own_mid=own_mid)
    except MalformedOperationError as exc:
        state.operations_skipped += 1
        log.warning("talk.operation_skipped", revision=op.revision, type=op.type, reason=str(exc))
        event = None
    if event is not None:
        try:
            await handler(event)
        except Exception as exc:  # one failing handler must not stop the listener (linejs's does, §8)
            state.operations_skipped += 1
            log.error(
                "talk.handler_failed",
                revision=op.revision,
                event_type=type(event).__name__,
                error=type(exc).__name__,
                exc_info=True,
            )
        else:
            state.operations_handled += 1
    if message_id is not None:
        storage.add_message(message_id)
    storage.commit_operation(after, message_id)


def _message_id(op: Operation | UndecodableOperation) -> str | None:
    if isinstance(op, Operation) and op.message is not None:
        return op.message.id or None
    return None
