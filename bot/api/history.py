"""Call history: every Audio Caller request in the store, from QUEUED to ENDED, with its callbacks.

One row per sid holds the request as accepted (defaults filled in) and how it ended; every state change is
a timestamped transition row. A call's end and the callbacks that report it commit in one transaction, so
a crash can lose neither half. ``GET /tas/v2/agt_call/{sid}`` (an extension of ours; Planet has no such
read) returns :meth:`CallHistory.view`. Calls the previous run left unfinished are found by
:meth:`CallHistory.unfinished` and ended as DAEMON_RESTART, never dialled again.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from linecall.bot.api.callbacks import CallbackKind, callbacks_of, insert_callback
from linecall.bot.api.models import CallRequest
from linecall.bot.api.outcomes import Release
from linecall.bot.store import Store

__all__ = ["CallEnd", "CallHistory", "CallRecord", "CallState"]


class CallState(enum.StrEnum):
    QUEUED = "QUEUED"
    """Accepted, not yet ringing (dialling included)."""
    WAITANSWER = "WAITANSWER"
    """The callee's phone rings (Planet's word)."""
    ANSWERED = "ANSWERED"
    """The callee picked up; recorded with the answer's time when the call ends."""
    ENDED = "ENDED"


@dataclass(frozen=True, slots=True)
class CallRecord:
    sid: str
    created_at: float
    to_service_id: str
    to_user_id: str
    body: dict[str, Any]
    status_url: str | None
    event_url: str | None
    state: CallState
    result: str | None
    setup_time: float | None

    @property
    def content_ids(self) -> list[str]:
        sources = self.body.get("storedSource", {}).get("storedAudioSources", [])
        return [str(source["contentId"]) for source in sources]


@dataclass(frozen=True, slots=True)
class CallEnd:
    """How a call ended (wall-clock epoch seconds)."""

    end_time: float
    release: Release
    setup_time: float | None = None
    start_time: float | None = None
    packets_sent: int = 0
    detail: str = ""


Callback = tuple[CallbackKind, str]

_RECORD_COLUMNS = "sid, created_at, request, status_url, event_url, state, result, setup_time"


class CallHistory:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        sid: str,
        *,
        request: CallRequest,
        to_service_id: str,
        to_user_id: str,
        status_url: str | None,
        event_url: str | None,
        at: float,
    ) -> None:
        stored = {"toServiceId": to_service_id, "toUserId": to_user_id, "body": request.as_stored()}
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO api_calls(sid, created_at, request, to_user_id, status_url, event_url, state) "
                "VALUES(?, ?, ?, ?, ?, ?, ?)",
                (sid, at, json.dumps(stored), to_user_id, status_url, event_url, str(CallState.QUEUED)),
            )
            db.execute(
                "INSERT INTO api_call_states(sid, state, at, detail) VALUES(?, ?, ?, ?)",
                (sid, str(CallState.QUEUED), at, None),
            )

    def record(self, sid: str) -> CallRecord | None:
        rows = self.store.query(f"SELECT {_RECORD_COLUMNS} FROM api_calls WHERE sid = ?", (sid,))
        return _record(rows[0]) if rows else None

    def unfinished(self) -> list[CallRecord]:
        rows = self.store.query(
            f"SELECT {_RECORD_COLUMNS} FROM api_calls WHERE state != ? ORDER BY created_at",
            (str(CallState.ENDED),),
        )
        return [_record(row) for row in rows]

    def sources_in_use(self) -> set[str]:
        """contentIds named by calls that are queued or live."""
        return {cid for record in self.unfinished() for cid in record.content_ids}

    def dialling(self, sid: str, at: float) -> None:
        """The call worker took the call: remember when setup began (the event's setup_time)."""
        with self.store.transaction() as db:
            db.execute("UPDATE api_calls SET setup_time = ? WHERE sid = ?", (at, sid))

    def ringing(self, sid: str, at: float, callbacks: Sequence[Callback] = ()) -> None:
        """WAITANSWER, result SUCCESS, and the status callback that says so."""
        with self.store.transaction() as db:
            db.execute(
                "UPDATE api_calls SET state = ?, result = 'SUCCESS', fail_reason = NULL WHERE sid = ?",
                (str(CallState.WAITANSWER), sid),
            )
            db.execute(
                "INSERT INTO api_call_states(sid, state, at, detail) VALUES(?, ?, ?, ?)",
                (sid, str(CallState.WAITANSWER), at, None),
            )
            for kind, url in callbacks:
                insert_callback(db, sid, kind, url, at)

    def finish(
        self,
        sid: str,
        end: CallEnd,
        *,
        fail_reason: str | None = None,
        callbacks: Sequence[Callback] = (),
        now: float | None = None,
    ) -> None:
        """ENDED with ``end``; ``fail_reason`` marks a call that never rang as FAIL. One transaction."""
        queued_at = end.end_time if now is None else now
        with self.store.transaction() as db:
            if end.start_time is not None:
                db.execute(
                    "INSERT INTO api_call_states(sid, state, at, detail) VALUES(?, ?, ?, ?)",
                    (sid, str(CallState.ANSWERED), end.start_time, None),
                )
            db.execute(
                "INSERT INTO api_call_states(sid, state, at, detail) VALUES(?, ?, ?, ?)",
                (sid, str(CallState.ENDED), end.end_time, end.release.rel_code_str),
            )
            if fail_reason is not None:
                db.execute(
                    "UPDATE api_calls SET result = 'FAIL', fail_reason = ? WHERE sid = ? AND result IS NULL",
                    (fail_reason, sid),
                )
            db.execute(
                "UPDATE api_calls SET state = ?, setup_time = COALESCE(?, setup_time), start_time = ?, "
                "end_time = ?, terminate = ?, rel_code = ?, rel_code_str = ?, packets_sent = ?, detail = ? "
                "WHERE sid = ?",
                (
                    str(CallState.ENDED),
                    end.setup_time,
                    end.start_time,
                    end.end_time,
                    end.release.terminate,
                    end.release.rel_code,
                    end.release.rel_code_str,
                    end.packets_sent,
                    end.detail or None,
                    sid,
                ),
            )
            for kind, url in callbacks:
                insert_callback(db, sid, kind, url, queued_at)

    def has_callback(self, sid: str, kind: CallbackKind) -> bool:
        return bool(
            self.store.query("SELECT 1 FROM api_callbacks WHERE sid = ? AND kind = ?", (sid, str(kind)))
        )

    def view(self, sid: str) -> dict[str, Any] | None:
        """The JSON history of one call (what ``GET /tas/v2/agt_call/{sid}`` returns)."""
        rows = self.store.query(
            "SELECT sid, created_at, request, state, result, fail_reason, setup_time, start_time, end_time, "
            "terminate, rel_code, rel_code_str, packets_sent, detail FROM api_calls WHERE sid = ?",
            (sid,),
        )
        if not rows:
            return None
        (
            _sid,
            created_at,
            request,
            state,
            result,
            fail_reason,
            setup_time,
            start_time,
            end_time,
            terminate,
            rel_code,
            rel_code_str,
            packets,
            detail,
        ) = rows[0]
        stored = json.loads(str(request))
        transitions = self.store.query(
            "SELECT state, at, detail FROM api_call_states WHERE sid = ? ORDER BY at, rowid", (sid,)
        )
        duration = None
        if isinstance(end_time, float):
            start = start_time if isinstance(start_time, float) else end_time
            duration = max(0, round((end_time - start) * 1000)) // 1000
        return {
            "sid": sid,
            "state": state,
            "createdAt": _ms(created_at),
            "toServiceId": stored["toServiceId"],
            "toUserId": stored["toUserId"],
            "request": stored["body"],
            "transitions": [{"state": s, "at": _ms(at), "detail": d} for s, at, d in transitions],
            "result": result,
            "failReason": fail_reason,
            "setupTime": _ms(setup_time),
            "startTime": _ms(start_time),
            "endTime": _ms(end_time),
            "duration": duration,
            "terminate": terminate,
            "relCode": rel_code,
            "relCodeStr": rel_code_str,
            "packetsSent": packets,
            "detail": detail,
            "callbacks": callbacks_of(self.store, sid),
        }


def _ms(value: object) -> int | None:
    return round(float(value) * 1000) if isinstance(value, int | float) else None


def _record(row: tuple[object, ...]) -> CallRecord:
    sid, created_at, request, status_url, event_url, state, result, setup_time = row
    stored = json.loads(str(request))
    return CallRecord(
        sid=str(sid),
        created_at=float(str(created_at)),
        to_service_id=str(stored["toServiceId"]),
        to_user_id=str(stored["toUserId"]),
        body=dict(stored["body"]),
        status_url=None if status_url is None else str(status_url),
        event_url=None if event_url is None else str(event_url),
        state=CallState(str(state)),
        result=None if result is None else str(result),
        setup_time=float(setup_time) if isinstance(setup_time, int | float) else None,
    )
