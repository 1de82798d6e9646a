"""Callbacks to the app server: Agent Call Status and 1-to-1 Call Event (audio-caller.md §3), delivered by a
background sender that never blocks a call.

A callback is a row in the store before anything is sent (``pending``, with the full URL), so a call only
ever does one quick insert; the sender picks due rows, GETs them a few at a time, and records every attempt
(time, HTTP status or error, how long it took). 2xx delivers; a timeout, a transport error, 408/425/429 or a
5xx is retried with doubling delays up to ``max_attempts``; any other 4xx means the receiver will never
take it, so it fails at once. Rows left pending when the daemon stops are resumed at the next start.
"""

from __future__ import annotations

import enum
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import structlog
import trio

from linecall.bot.api.errors import short_sid
from linecall.bot.api.outcomes import Release
from linecall.bot.store import Store
from linecall.config.logging import mask_text

__all__ = [
    "CallbackKind",
    "CallbackSender",
    "CallbackState",
    "RetryPolicy",
    "event_query",
    "insert_callback",
    "status_query",
    "with_query",
]

log = structlog.get_logger(__name__)

AGENT_TYPE: Final = "AUDIO_CALLER"
_RETRIED_4XX: Final = frozenset({408, 425, 429})


class CallbackKind(enum.StrEnum):
    STATUS = "status"
    EVENT = "event"


class CallbackState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries: attempt n (1-based) failing waits ``first_delay_s * 2**(n-1)`` (capped) before n+1."""

    max_attempts: int = 6
    first_delay_s: float = 1.0
    max_delay_s: float = 60.0
    timeout_s: float = 10.0
    concurrency: int = 8

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.concurrency < 1 or not self.timeout_s > 0:
            raise ValueError("a retry policy needs max_attempts >= 1, concurrency >= 1 and timeout_s > 0")

    def delay(self, attempts: int) -> float:
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** max(0, attempts - 1)))


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` appended to whatever query it already has."""
    parts = urlsplit(url)
    extra = urlencode(list(params.items()))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))


def status_query(sid: str, media_source_type: str, fail_reason: str | None) -> dict[str, str]:
    """Agent Call Status parameters; ``fail_reason`` None means the callee is being rung (SUCCESS)."""
    return {
        "sid": sid,
        "agent_type": AGENT_TYPE,
        "media_source_type": media_source_type,
        "result": "SUCCESS" if fail_reason is None else "FAIL",
        "fail_reason": "None" if fail_reason is None else fail_reason,
    }


@dataclass(frozen=True, slots=True)
class EventTimes:
    """Wall-clock epoch seconds; ``start_time`` None when the call was never answered."""

    setup_time: float
    start_time: float | None
    end_time: float


def event_query(
    sid: str,
    *,
    from_service_id: str,
    from_user_id: str,
    to_service_id: str,
    to_user_id: str,
    times: EventTimes,
    release: Release,
    app_svr_data: str | None,
) -> dict[str, str]:
    """1-to-1 Call Event parameters (every one of §3). Times are whole epoch seconds; an unanswered call has
    ``start_time`` = ``end_time`` so that duration = end − start = 0; billing rounds milliseconds up."""
    start = times.start_time if times.start_time is not None else times.end_time
    talk_ms = max(0, round((times.end_time - start) * 1000))
    return {
        "sid": sid,
        "from_service_id": from_service_id,
        "from_user_id": from_user_id,
        "to_service_id": to_service_id,
        "to_user_id": to_user_id,
        "type": "A",
        "setup_time": str(math.floor(times.setup_time)),
        "start_time": str(math.floor(start)),
        "end_time": str(math.floor(times.end_time)),
        "duration": str(talk_ms // 1000),
        "srcip": "",
        "dstip": "",
        "terminate": str(release.terminate),
        "rel_code": str(release.rel_code),
        "rel_code_str": release.rel_code_str,
        "user_rel_code": "",
        "billing_sec": str(-(-talk_ms // 1000)),
        "app_svr_data": app_svr_data or "",
    }


def insert_callback(db: sqlite3.Connection, sid: str, kind: CallbackKind, url: str, now: float) -> int:
    """Queue one callback inside the caller's transaction (so it commits with the state it reports)."""
    cursor = db.execute(
        "INSERT INTO api_callbacks(sid, kind, url, state, attempts, next_at, created_at) "
        "VALUES(?, ?, ?, ?, 0, ?, ?)",
        (sid, str(kind), url, str(CallbackState.PENDING), now, now),
    )
    return int(cursor.lastrowid or 0)


def callbacks_of(store: Store, sid: str) -> list[dict[str, object]]:
    """Every callback of a call with all its attempts (for the history view)."""
    rows = store.query(
        "SELECT id, kind, url, state, attempts, created_at, done_at FROM api_callbacks WHERE sid = ? ORDER BY id",
        (sid,),
    )
    out: list[dict[str, object]] = []
    for cb_id, kind, url, state, attempts, created_at, done_at in rows:
        tries = store.query(
            "SELECT at, http_status, error, elapsed_ms FROM api_callback_attempts WHERE callback_id = ? "
            "ORDER BY rowid",
            (cb_id,),
        )
        out.append(
            {
                "kind": kind,
                "url": url,
                "state": state,
                "attemptCount": attempts,
                "createdAt": _ms(created_at),
                "doneAt": _ms(done_at),
                "attempts": [
                    {"at": _ms(at), "httpStatus": status, "error": error, "elapsedMs": elapsed}
                    for at, status, error, elapsed in tries
                ],
            }
        )
    return out


def _ms(value: object) -> int | None:
    return round(float(value) * 1000) if isinstance(value, int | float) else None


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    sid: str
    kind: str
    url: str
    attempts: int


@dataclass
class CallbackSender:
    """Delivers pending callbacks in the background; :meth:`wake` after queueing new ones."""

    store: Store
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    wall_clock: Callable[[], float] = field(default=time.time)
    client: httpx.AsyncClient | None = None
    _wake: trio.Event = field(default_factory=trio.Event, init=False)
    _in_flight: set[int] = field(default_factory=set, init=False)

    def wake(self) -> None:
        self._wake.set()

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self.client is not None:
            yield self.client
            return
        async with httpx.AsyncClient(timeout=self.policy.timeout_s, follow_redirects=False) as client:
            yield client

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver until cancelled; pending rows from an earlier run are picked up first."""
        limiter = trio.Semaphore(self.policy.concurrency)
        room = 4 * self.policy.concurrency
        async with self._client() as client, trio.open_nursery() as nursery:
            task_status.started()
            while True:
                self._wake = trio.Event()
                for due in self._due(self.wall_clock(), room - len(self._in_flight)):
                    self._in_flight.add(due.id)
                    nursery.start_soon(self._deliver, client, limiter, due)
                wait = math.inf
                if len(self._in_flight) < room:
                    next_at = self._next_at()
                    if next_at is not None:
                        wait = max(0.0, next_at - self.wall_clock())
                with trio.move_on_after(wait):
                    await self._wake.wait()

    def _due(self, now: float, room: int) -> list[_Due]:
        if room <= 0:
            return []
        rows = self.store.query(
            "SELECT id, sid, kind, url, attempts FROM api_callbacks WHERE state = ? AND next_at <= ? "
            "ORDER BY next_at, id LIMIT ?",
            (str(CallbackState.PENDING), now, room + len(self._in_flight)),
        )
        due = [_Due(int(str(r[0])), str(r[1]), str(r[2]), str(r[3]), int(str(r[4]))) for r in rows]
        return [d for d in due if d.id not in self._in_flight][:room]

    def _next_at(self) -> float | None:
        rows = self.store.query(
            "SELECT id, next_at FROM api_callbacks WHERE state = ? ORDER BY next_at LIMIT ?",
            (str(CallbackState.PENDING), len(self._in_flight) + 1),
        )
        for cb_id, next_at in rows:
            if cb_id not in self._in_flight and isinstance(next_at, int | float):
                return float(next_at)
        return None

    async def _deliver(self, client: httpx.AsyncClient, limiter: trio.Semaphore, due: _Due) -> None:
        try:
            async with limiter:
                await self._attempt(client, due)
        finally:
            self._in_flight.discard(due.id)
            self.wake()

    async def _attempt(self, client: httpx.AsyncClient, due: _Due) -> None:
        started = trio.current_time()
        status: int | None = None
        error: str | None = None
        try:
            with trio.fail_after(self.policy.timeout_s):
                response = await client.get(due.url)
            status = response.status_code
        except trio.TooSlowError:
            error = f"no answer within {self.policy.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        elapsed_ms = round((trio.current_time() - started) * 1000, 1)
        attempts = due.attempts + 1
        now = self.wall_clock()
        if status is not None and 200 <= status < 300:
            state, next_at = CallbackState.DELIVERED, now
        elif (status is not None and 400 <= status < 500 and status not in _RETRIED_4XX) or (
            attempts >= self.policy.max_attempts
        ):
            state, next_at = CallbackState.FAILED, now
        else:
            state, next_at = CallbackState.PENDING, now + self.policy.delay(attempts)
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO api_callback_attempts(callback_id, at, http_status, error, elapsed_ms) "
                "VALUES(?, ?, ?, ?, ?)",
                (due.id, now, status, error, elapsed_ms),
            )
            db.execute(
                "UPDATE api_callbacks SET state = ?, attempts = ?, next_at = ?, done_at = ? WHERE id = ?",
                (str(state), attempts, next_at, None if state is CallbackState.PENDING else now, due.id),
            )
        host = urlsplit(due.url).hostname or "?"
        event = {
            CallbackState.DELIVERED: "api.callback.delivered",
            CallbackState.PENDING: "api.callback.retry",
            CallbackState.FAILED: "api.callback.failed",
        }[state]
        log_fn = log.info if state is CallbackState.DELIVERED else log.warning
        log_fn(
            event,
            sid=short_sid(due.sid),
            kind=due.kind,
            host=mask_text(host),
            attempt=attempts,
            http_status=status,
            error=error,
            retry_in_s=round(next_at - now, 3) if state is CallbackState.PENDING else None,
        )
