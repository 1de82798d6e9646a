"""The Audio Caller API as one object the daemon wires in: ``routes()`` for its HTTP app, ``run(nursery)``.

    api = AudioCallerApi(ApiConfig.from_settings(settings), store=store, gate=gate, placer=placer)
    app = build_app(health, metrics, routes=api.routes())
    await api.run(nursery)        # recovery, callback sender, source preloading; returns once serving
    nursery.start_soon(serve_http, app, settings.line_http_listen)

Routes (all behind Basic auth and the 100/s rate limit):

* ``POST /tas/v2/agt_call/audio_caller/{to-serviceId}/{to-userId}``: Planet's Make Agent 1-to-1 Call.
* ``GET /tas/v2/agt_call/{sid}``: the call's history (an extension of ours).
* ``POST /v1/sources``, ``GET /v1/sources``, ``GET|DELETE /v1/sources/{contentId}``: stored sources (ours;
  Planet's Console does this for Planet).
* ``GET /v1/openapi.json``: the OpenAPI document (no credentials needed).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import structlog
import trio
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from linecall.bot.admission import CallGate
from linecall.bot.api.auth import Authenticator
from linecall.bot.api.bodies import read_capped
from linecall.bot.api.callbacks import CallbackSender, RetryPolicy
from linecall.bot.api.calls import MAX_BODY_BYTES, CallService
from linecall.bot.api.errors import ApiError, enveloped, success
from linecall.bot.api.history import CallHistory
from linecall.bot.api.openapi import openapi_document
from linecall.bot.api.placer import CallPlacer
from linecall.bot.api.ratelimit import DEFAULT_RATE_PER_S, RateLimiter
from linecall.bot.api.sources import SourceLibrary
from linecall.bot.clips import clip_params
from linecall.bot.http import is_loopback, parse_listen
from linecall.bot.store import Store
from linecall.config.settings import Settings
from linecall.media.clip import ClipParams

__all__ = ["ApiConfig", "AudioCallerApi"]

log = structlog.get_logger(__name__)

DEFAULT_SOURCE_MAX_BYTES = 26_214_400


@dataclass(frozen=True)
class ApiConfig:
    """What the API takes from the settings (see :meth:`from_settings`)."""

    service_id: str = "linecall"
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    loopback: bool = True
    status_callback_url: str | None = None
    event_callback_url: str | None = None
    sources_dir: Path | None = None
    source_max_bytes: int = DEFAULT_SOURCE_MAX_BYTES
    clip_params: ClipParams = field(default_factory=ClipParams)
    rate_per_s: float = DEFAULT_RATE_PER_S

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiConfig:
        host, _port = parse_listen(settings.line_http_listen)
        storage = settings.line_storage_file
        return cls(
            service_id=settings.line_api_service_id,
            api_key=settings.api_key(),
            api_secret=settings.api_secret(),
            loopback=is_loopback(host),
            status_callback_url=settings.line_api_status_callback_url,
            event_callback_url=settings.line_api_event_callback_url,
            sources_dir=storage.expanduser().parent / "sources" if storage is not None else None,
            source_max_bytes=settings.line_api_source_max_bytes,
            clip_params=clip_params(settings),
        )


class AudioCallerApi:
    """Requests, stored sources, history and callbacks, over the daemon's store, gate and call placer.

    ``clock`` (monotonic, Trio time) drives the rate limit; ``wall_clock`` (epoch seconds) stamps history
    and schedules callback retries. ``http_client`` sends callbacks (default: one of its own).
    """

    def __init__(
        self,
        config: ApiConfig,
        *,
        store: Store,
        gate: CallGate,
        placer: CallPlacer,
        http_client: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = trio.current_time,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.auth = Authenticator(config.service_id, config.api_key, config.api_secret, config.loopback)
        self.limiter = RateLimiter(config.rate_per_s, clock)
        self.history = CallHistory(store)
        self.library = SourceLibrary(
            store, config.sources_dir, config.clip_params, config.source_max_bytes, wall_clock=wall_clock
        )
        self.sender = CallbackSender(store, retry or RetryPolicy(), wall_clock, http_client)
        self._openapi_document = openapi_document()
        self.calls = CallService(
            history=self.history,
            library=self.library,
            gate=gate,
            placer=placer,
            auth=self.auth,
            sender=self.sender,
            status_url=config.status_callback_url,
            event_url=config.event_callback_url,
            wall_clock=wall_clock,
        )

    async def run(self, nursery: trio.Nursery) -> None:
        """End the calls a previous run left open, start the callback sender (resuming undelivered
        callbacks) and source preloading in ``nursery``, and accept calls from then on. Returns at once."""
        self.auth.announce()
        recovered = self.calls.recover()
        if recovered:
            log.warning("api.recovered", calls=recovered)
        await nursery.start(_run_sender, self.sender)
        nursery.start_soon(self.library.preload)
        self.calls.start(nursery)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                "/tas/v2/agt_call/audio_caller/{to_service_id}/{to_user_id}",
                enveloped(self._make_call),
                methods=["POST"],
            ),
            Route("/tas/v2/agt_call/{sid}", enveloped(self._get_call), methods=["GET"]),
            Route("/v1/sources", enveloped(self._sources), methods=["GET", "POST"]),
            Route("/v1/sources/{content_id}", enveloped(self._source), methods=["GET", "DELETE"]),
            Route("/v1/openapi.json", enveloped(self._openapi), methods=["GET"]),
        ]

    # --- handlers -----------------------------------------------------------------------------------------
    def _guard(self, request: Request) -> None:
        self.auth.check(request)
        self.limiter.check()

    async def _make_call(self, request: Request) -> Response:
        self._guard(request)
        _require_json(request)
        body = await read_capped(request, MAX_BODY_BYTES, "the request body")
        sid = await self.calls.accept(
            request.path_params["to_service_id"], request.path_params["to_user_id"], body
        )
        return success({"sid": sid})

    async def _openapi(self, _request: Request) -> Response:
        self.limiter.check()
        return JSONResponse(self._openapi_document)

    async def _get_call(self, request: Request) -> Response:
        self._guard(request)
        sid = request.path_params["sid"]
        view = self.history.view(sid) if _is_uuid(sid) else None
        if view is None:
            raise ApiError(404, f"no call with sid {sid[:64]}", field="sid")
        return success(view)

    async def _sources(self, request: Request) -> Response:
        self._guard(request)
        if request.method == "POST":
            source = await self.library.upload(request)
            return JSONResponse(source.as_json(), status_code=201)
        return JSONResponse({"sources": [source.as_json() for source in self.library.all()]})

    async def _source(self, request: Request) -> Response:
        self._guard(request)
        content_id = str(request.path_params["content_id"]).lower()
        if request.method == "DELETE":
            self.library.delete(content_id, self.history.sources_in_use())
            return JSONResponse({"contentId": content_id, "deleted": True})
        source = self.library.get(content_id)
        if source is None:
            raise ApiError(404, f"no stored source {content_id[:64]}", field="contentId")
        return JSONResponse(source.as_json())


async def _run_sender(
    sender: CallbackSender, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    await sender.run(task_status=task_status)


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def _require_json(request: Request) -> None:
    """Planet's v2 requires JSON both ways: Content-Type application/json, and an Accept that allows it."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(400, "Content-Type: must be application/json", field="Content-Type")
    accept = request.headers.get("accept")
    if accept is not None:
        kinds = {item.partition(";")[0].strip().lower() for item in accept.split(",")}
        if not kinds & {"application/json", "application/*", "*/*"}:
            raise ApiError(400, "Accept: must allow application/json", field="Accept")
