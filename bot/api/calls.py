"""Make Agent 1-to-1 Call: accept a request, run the call in the background, record and report how it went.

A request is checked completely before anything is dialled: service ids (403), the body against the seed's
limits (400 naming the field), the callee MID, every contentId (known and encoded), then admission through
the daemon's one CallGate (503 CALL_CAPACITY / CALLEE_BUSY, counting chat-triggered calls too). Only then
does it get a sid, a QUEUED history row and a task in the daemon's nursery; the response does not wait for
the call. The task hands the call to the :class:`CallPlacer` and turns what comes back into history and
callbacks (Agent Call Status once ringing or failed, 1-to-1 Call Event when over).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
import trio
from pydantic import ValidationError

from linecall.bot.admission import CallGate, Refusal, Slot
from linecall.bot.api.auth import Authenticator
from linecall.bot.api.callbacks import (
    CallbackKind,
    CallbackSender,
    EventTimes,
    event_query,
    status_query,
    with_query,
)
from linecall.bot.api.errors import ApiError, bad_request, from_validation, short_sid
from linecall.bot.api.history import CallEnd, CallHistory, CallRecord, CallState
from linecall.bot.api.models import LINE_USER_MID, CallRequest
from linecall.bot.api.outcomes import DAEMON_RESTART, fail_reason_for, release_for
from linecall.bot.api.placer import CallOutcome, CallPlacer, EndKind
from linecall.bot.api.sources import SourceLibrary
from linecall.config.logging import mask_mid
from linecall.media.clip import Clip
from linecall.media.errors import MediaError

__all__ = ["CallService"]

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 64 * 1024
MEDIA_SOURCE_TYPE = "STORED_SOURCE"


@dataclass(frozen=True, slots=True)
class _Accepted:
    sid: str
    callee: str
    request: CallRequest
    clips: tuple[Clip, ...]
    status_url: str | None
    event_url: str | None
    to_service_id: str


class CallService:
    """Accepts call requests and runs them; :meth:`start` hands it the nursery calls run in."""

    def __init__(
        self,
        *,
        history: CallHistory,
        library: SourceLibrary,
        gate: CallGate,
        placer: CallPlacer,
        auth: Authenticator,
        sender: CallbackSender,
        status_url: str | None,
        event_url: str | None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.history = history
        self.library = library
        self.gate = gate
        self.placer = placer
        self.auth = auth
        self.sender = sender
        self.status_url = status_url
        self.event_url = event_url
        self._wall = wall_clock
        self._nursery: trio.Nursery | None = None

    def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery

    # --- accepting ----------------------------------------------------------------------------------------
    async def accept(self, to_service_id: str, to_user_id: str, body: bytes) -> str:
        """Validate and admit one request; returns its sid once the call is queued."""
        self.auth.check_service(to_service_id, "to-serviceId")
        try:
            raw = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise bad_request("body", "is not JSON; send the seed's JSON object") from None
        if not isinstance(raw, dict):
            raise bad_request("body", "must be a JSON object")
        try:
            request = CallRequest.model_validate(raw)
        except ValidationError as exc:
            raise from_validation(exc) from None
        self.auth.check_service(request.request_context.service_id, "requestContext.serviceId")
        if not LINE_USER_MID.fullmatch(to_user_id):
            raise bad_request("to-userId", "must be a LINE user MID (u followed by 32 hex digits)")
        clips = await self._clips(request)
        if self._nursery is None:
            raise ApiError(503, "linecall is still starting; retry in a moment")
        slot = self.gate.try_acquire(to_user_id, trigger="api")
        if isinstance(slot, Refusal):
            raise _refusal(slot)
        accepted = _Accepted(
            sid=str(uuid.uuid4()),
            callee=to_user_id,
            request=request,
            clips=clips,
            status_url=(request.linecall_callbacks and request.linecall_callbacks.status_url)
            or self.status_url,
            event_url=(request.linecall_callbacks and request.linecall_callbacks.event_url) or self.event_url,
            to_service_id=to_service_id,
        )
        try:
            self.history.create(
                accepted.sid,
                request=request,
                to_service_id=to_service_id,
                to_user_id=to_user_id,
                status_url=accepted.status_url,
                event_url=accepted.event_url,
                at=self._wall(),
            )
            self._nursery.start_soon(self._run, accepted, slot)
        except BaseException:
            self.gate.release(slot)
            raise
        log.info(
            "api.call.accepted",
            sid=short_sid(accepted.sid),
            callee=mask_mid(to_user_id),
            sources=len(clips),
            play_count=request.stored_source.play_count,
            play_wait_ms=request.stored_source.play_wait_time,
        )
        return accepted.sid

    async def _clips(self, request: CallRequest) -> tuple[Clip, ...]:
        """Every source's clip, or 400 naming the first unknown contentId (nothing is dialled)."""
        ids = request.content_ids
        for index, content_id in enumerate(ids):
            if self.library.get(content_id) is None:
                raise _unknown_source(index)
        clips: list[Clip] = []
        for index, content_id in enumerate(ids):
            try:
                clips.append(await self.library.clip(content_id))
            except KeyError:
                raise _unknown_source(index) from None
            except (OSError, MediaError) as exc:
                log.error("api.source.unreadable", content_id=content_id, error=type(exc).__name__)
                raise ApiError(
                    500,
                    f"stored source {content_id} cannot be read; upload it again",
                    field=_source_field(index),
                ) from None
        return tuple(clips)

    # --- running ------------------------------------------------------------------------------------------
    async def _run(self, call: _Accepted, slot: Slot) -> None:
        rang = False

        async def on_ringing() -> None:
            nonlocal rang
            if not rang:
                rang = True
                self._ringing(call.sid, call.status_url)

        with self.gate.held(slot):
            self.history.dialling(call.sid, self._wall())
            try:
                outcome = await self.placer.place_call(
                    call.callee,
                    call.clips,
                    call.request.stored_source.play_count,
                    call.request.stored_source.play_wait_time / 1000,
                    on_ringing,
                )
            except Exception as exc:
                log.exception("api.call.worker_error", sid=short_sid(call.sid), error=type(exc).__name__)
                outcome = CallOutcome(EndKind.NETWORK_ERROR, self._wall(), detail=type(exc).__name__)
            except BaseException:
                # The daemon is stopping: record the end and queue its callbacks (sent at the next start).
                self._end(call.sid, CallOutcome(EndKind.CANCELLED, self._wall()), rang=rang)
                raise
            self._end(call.sid, outcome, rang=rang)

    def _ringing(self, sid: str, status_url: str | None) -> None:
        callbacks = []
        if status_url:
            callbacks.append(
                (CallbackKind.STATUS, with_query(status_url, status_query(sid, MEDIA_SOURCE_TYPE, None)))
            )
        self.history.ringing(sid, self._wall(), callbacks)
        self.sender.wake()
        log.info("api.call.ringing", sid=short_sid(sid))

    def _end(self, sid: str, outcome: CallOutcome, *, rang: bool) -> None:
        record = self.history.record(sid)
        if record is None or record.state is CallState.ENDED:
            return
        if not rang and (outcome.answered or outcome.kind is EndKind.NO_ANSWER):
            # The placer rang without saying so: report the ringing before the end.
            self._ringing(sid, record.status_url)
            rang = True
        release = release_for(outcome)
        fail_reason = None if rang else fail_reason_for(outcome)
        setup = outcome.setup_at or record.setup_time or record.created_at
        end = CallEnd(
            end_time=outcome.ended_at,
            release=release,
            setup_time=setup,
            start_time=outcome.answered_at,
            packets_sent=outcome.packets_sent,
            detail=outcome.detail,
        )
        self.history.finish(
            sid,
            end,
            fail_reason=fail_reason,
            callbacks=self._end_callbacks(record, end, fail_reason),
            now=self._wall(),
        )
        self.sender.wake()
        log.info(
            "api.call.ended",
            sid=short_sid(sid),
            outcome=str(outcome.kind),
            rel_code_str=release.rel_code_str,
            terminate=release.terminate,
            answered=outcome.answered,
            packets=outcome.packets_sent,
        )

    def _end_callbacks(
        self, record: CallRecord, end: CallEnd, fail_reason: str | None
    ) -> Sequence[tuple[CallbackKind, str]]:
        callbacks: list[tuple[CallbackKind, str]] = []
        if fail_reason is not None and record.status_url:
            params = status_query(record.sid, MEDIA_SOURCE_TYPE, fail_reason)
            callbacks.append((CallbackKind.STATUS, with_query(record.status_url, params)))
        if record.event_url:
            context = record.body.get("requestContext", {})
            params = event_query(
                record.sid,
                from_service_id=str(context.get("serviceId", "")),
                from_user_id=str(context.get("userId", "")),
                to_service_id=record.to_service_id,
                to_user_id=record.to_user_id,
                times=EventTimes(end.setup_time or record.created_at, end.start_time, end.end_time),
                release=end.release,
                app_svr_data=record.body.get("appSvrData"),
            )
            callbacks.append((CallbackKind.EVENT, with_query(record.event_url, params)))
        return callbacks

    # --- restart ------------------------------------------------------------------------------------------
    def recover(self) -> int:
        """End every call a previous run left QUEUED or live as DAEMON_RESTART (none is dialled again)."""
        now = self._wall()
        unfinished = self.history.unfinished()
        for record in unfinished:
            fail_reason = "Daemon restarted" if record.state is CallState.QUEUED else None
            end = CallEnd(
                end_time=now,
                release=DAEMON_RESTART,
                setup_time=record.setup_time or record.created_at,
                detail="ended by a daemon restart",
            )
            callbacks = self._end_callbacks(record, end, fail_reason)
            self.history.finish(record.sid, end, fail_reason=fail_reason, callbacks=callbacks, now=now)
            log.warning("api.call.restart_ended", sid=short_sid(record.sid), state=str(record.state))
        if unfinished:
            self.sender.wake()
        return len(unfinished)


def _source_field(index: int) -> str:
    return f"storedSource.storedAudioSources[{index}].contentId"


def _unknown_source(index: int) -> ApiError:
    return bad_request(_source_field(index), "unknown contentId; upload the WAV with POST /v1/sources first")


def _refusal(refusal: Refusal) -> ApiError:
    if refusal is Refusal.CHAT_BUSY:
        return ApiError(503, "the callee already has a live call; retry when it ends", code="CALLEE_BUSY")
    if refusal is Refusal.CAPACITY:
        return ApiError(
            503,
            "linecall is placing as many calls as LINE_CALL_MAX_CONCURRENT allows; retry later",
            code="CALL_CAPACITY",
        )
    return ApiError(503, refusal.reply)
