"""``linecall run``: the long-running daemon. One root nursery owns everything it does.

    root scope (cancelled by SIGTERM / SIGINT)
    └── services nursery: the HTTP listener (/healthz, /metrics, the Audio Caller API and its calls)
        └── call nursery: the Talk listener (inline) and every chat-triggered call worker

Start-up, in order, each failure a sentence and an exit status rather than a traceback: open the storage
(a warning when it is in memory), load and encode the clip, find credentials (LINE_AUTH_TOKEN, else
LINE_AUTH_TOKEN_FILE, else the session ``linecall login`` stored, else a QR login on a terminal), log in,
open the Letter Sealing keyring, then serve.

Ways out:

* SIGTERM or SIGINT cancels the root scope: every live call leaves its PLANET block, which sends rel_req
  (shielded, at most a second), the HTTP server stops, the Talk client closes, the storage is closed (the
  revision was committed after each handled operation, so there is nothing left to write). Exit 0, well
  within 2 s. A second signal exits at once.
* A revoked token (the listener raises ReloginRequired): the log names the variable to fix, /healthz turns
  503 with that reason, no new commands are read, live calls play to their end, exit 3.
* The listener failing for any other reason (a bug, a broken storage file): logged, /healthz 503, live calls
  finish, exit 1.
* Bad settings, clip or storage: exit 2; LINE unreachable at login: exit 1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NoReturn

import structlog
import trio
from starlette.routing import BaseRoute

from linecall.bot.admission import CallGate
from linecall.bot.api import placer as api_placer
from linecall.bot.api.app import ApiConfig, AudioCallerApi
from linecall.bot.call_events import CallEventHub
from linecall.bot.calls import (
    CallEnd,
    CallHooks,
    CallOptions,
    CallOutcome,
    Pause,
    Play,
    RingingHook,
    Step,
    clip_steps,
    place_one_to_one_call,
)
from linecall.bot.clips import ClipLoadError, load_configured_clip_async
from linecall.bot.dispatch import DispatchConfig, Dispatcher, SealedChatIO
from linecall.bot.health import Health
from linecall.bot.http import HttpListenError, build_app, check_listen, serve_http
from linecall.bot.keystore import KeystoreError, LoginSession, StoreKeyring, load_login_session
from linecall.bot.metrics import Metrics
from linecall.bot.store import Store, StoreError
from linecall.config.logging import mask_mid
from linecall.config.settings import Settings
from linecall.media.clip import Clip
from linecall.protocol.talk.client import ClientTimeouts, ReloginRequired
from linecall.protocol.talk.e2ee.keyservice import KeyService
from linecall.protocol.talk.gateway import LegyGateway
from linecall.protocol.talk.legy import SYNC_TIMEOUT
from linecall.protocol.talk.listener import DEFAULT_BACKOFF, ListenerHealth, run_listener
from linecall.protocol.talk.login import LoginError, Session, TokenLogin, login_with_token
from linecall.protocol.talk.structs import SyncResponse
from linecall.protocol.talk.sync import BackoffPolicy, RevisionTriple

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_TOKEN",
    "NO_CREDENTIALS",
    "Daemon",
    "DaemonCallPlacer",
    "DaemonOptions",
    "RouteFactory",
    "StartupError",
    "main_run",
    "open_session",
    "open_store",
    "run_daemon",
]

log = structlog.get_logger(__name__)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2
EXIT_TOKEN: Final = 3

NO_CREDENTIALS: Final = "no LINE credentials: set LINE_AUTH_TOKEN(_FILE) or run `linecall login`"
SESSION_VARIABLE: Final = "LINE_AUTH_TOKEN (or run `linecall login` again)"
_TOKEN_VARIABLES: Final = frozenset({"LINE_AUTH_TOKEN", "LINE_AUTH_TOKEN_FILE", SESSION_VARIABLE})
_CLOSE_GRACE_S: Final = 0.5

RouteFactory = Callable[["Daemon"], Sequence[BaseRoute]]


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """What the command line and the embedders (tests, ``linecall demo``) can change beyond the settings.

    ``gateway`` replaces the per-process encrypted-gateway key (the simulator's is not LINE's);
    ``handle_signals`` installs the SIGTERM/SIGINT handling (only possible in the main thread);
    ``interactive`` allows a QR login when no credentials exist (default: stdin is a terminal);
    ``http_routes`` adds routes to the HTTP app once the daemon is logged in (the Audio Caller API).
    """

    wav: Path | None = None
    gateway: LegyGateway | None = None
    timeouts: ClientTimeouts | None = None
    handle_signals: bool = True
    interactive: bool | None = None
    backoff: BackoffPolicy = DEFAULT_BACKOFF
    min_poll_interval: float = 1.0
    http_routes: RouteFactory | None = None
    wall_clock: Callable[[], float] = field(default=time.time)


class StartupError(Exception):
    """Start-up cannot go on: the message is printed and logged, ``status`` is the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _fail(message: str, status: int) -> NoReturn:
    raise StartupError(message, status)


# --- credentials -------------------------------------------------------------------------------------------


def _session_login(settings: Settings, session: LoginSession) -> TokenLogin:
    """A TokenLogin for the session ``linecall login`` stored (a V3 pair as JSON, its own device class)."""
    text = (
        json.dumps({"accessToken": session.access_token, "refreshToken": session.refresh_token})
        if session.refresh_token
        else session.access_token
    )
    return TokenLogin(
        token_text=text,
        token_variable=SESSION_VARIABLE,
        device=session.device,
        line_version=settings.line_version,
        endpoint=settings.line_endpoint,
        gateway_url=settings.line_gateway_url,
    )


async def _credentials(settings: Settings, store: Store, interactive: bool) -> TokenLogin:
    """LINE_AUTH_TOKEN, else LINE_AUTH_TOKEN_FILE, else the stored login session, else a QR login."""
    if settings.auth_token() is not None:
        try:
            return TokenLogin.from_settings(settings)
        except LoginError as exc:
            _fail(str(exc), EXIT_CONFIG)
    stored = load_login_session(store)
    if stored is not None:
        log.info("daemon.using_stored_session", mid=mask_mid(stored.mid), device=stored.device)
        return _session_login(settings, stored)
    if not interactive:
        _fail(NO_CREDENTIALS, EXIT_CONFIG)
    from linecall.bot.login_cli import ensure_qr_session
    from linecall.protocol.talk.login_qr import TerminalLoginUI

    log.info("daemon.qr_login", note="no token configured: logging in by QR code (secondary device)")
    try:
        report = await ensure_qr_session(settings, store, TerminalLoginUI(sys.stdout))
    except Exception as exc:
        _fail(f"QR login failed ({exc}); {NO_CREDENTIALS}", EXIT_FAILED)
    return _session_login(settings, report.session)


async def open_session(settings: Settings, store: Store, options: DaemonOptions) -> Session:
    """Find credentials and log in (see the module docstring); raises :class:`StartupError`."""
    interactive = options.interactive if options.interactive is not None else sys.stdin.isatty()
    params = await _credentials(settings, store, interactive)
    try:
        return await login_with_token(params, store, gateway=options.gateway, timeouts=options.timeouts)
    except LoginError as exc:
        if exc.variable in _TOKEN_VARIABLES and not exc.retryable:
            _fail(str(exc), EXIT_TOKEN)
        _fail(str(exc), EXIT_FAILED if exc.variable is None or exc.retryable else EXIT_CONFIG)


# --- the daemon --------------------------------------------------------------------------------------------


class _CountingSync:
    """The listener's view of the client: every failed poll is counted in /metrics by its error type."""

    def __init__(self, session: Session, metrics: Metrics) -> None:
        self._client = session.client
        self._metrics = metrics

    async def sync(self, position: RevisionTriple) -> SyncResponse:
        try:
            return await self._client.sync(position)
        except Exception as exc:
            self._metrics.poll_errors.labels(kind=type(exc).__name__).inc()
            raise


class Daemon:
    """A logged-in daemon: state shared by the listener, the dispatcher, the workers and the HTTP app."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        session: Session,
        clip: Clip,
        options: DaemonOptions,
    ) -> None:
        self.settings = settings
        self.store = store
        self.session = session
        self.clip = clip
        self.options = options
        self.health = Health(sync_hold_s=SYNC_TIMEOUT)
        self.metrics = Metrics()
        self.listener_health = ListenerHealth()
        self.hub = CallEventHub()
        self.gate = CallGate(
            max_concurrent=settings.line_call_max_concurrent,
            rate_per_minute=settings.line_call_rate_per_minute,
            allowed_mids=settings.allowed_mids,
            clock=trio.current_time,
        )
        self.call_options = CallOptions.from_settings(settings)
        self.steps: tuple[Step, ...] = clip_steps(clip, settings.line_call_repeat_count)
        self.keys = KeyService(session.client, StoreKeyring(store, session.mid), self_mid=session.mid)
        self.dispatcher: Dispatcher | None = None
        self.api: AudioCallerApi | None = None
        self.http_urls: list[str] = []
        self.exit_code = EXIT_OK
        self.stopping = False
        self._root = trio.CancelScope()
        self._started = trio.Event()
        self._call_nursery: trio.Nursery | None = None

    @property
    def mid(self) -> str:
        return self.session.mid

    async def wait_started(self) -> None:
        """Wait until the listener runs and the HTTP server listens."""
        await self._started.wait()

    def stop(self) -> None:
        """Cancel the root scope (what SIGTERM does): live calls hang up, then :meth:`run` returns 0."""
        if not self.stopping:
            self.stopping = True
            log.info("daemon.stopping", live_calls=self.gate.live_count)
        self._root.cancel()

    async def run(self) -> int:
        """Serve until stopped or the token is revoked; returns the exit status."""
        if not self.options.handle_signals:
            await self._serve()
            return self.exit_code
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as outer:
                outer.start_soon(self._watch_signals, signals)
                await self._serve()
                outer.cancel_scope.cancel()
        return self.exit_code

    async def _watch_signals(self, signals: AsyncIterator[int]) -> None:
        received = 0
        async for signum in signals:
            received += 1
            if received == 1:
                log.info(
                    "daemon.signal", signal=signal.Signals(signum).name, note="stopping; again to exit now"
                )
                self.stop()
            else:
                log.warning("daemon.signal_again", signal=signal.Signals(signum).name, note="exiting at once")
                os._exit(128 + signum)

    async def _serve(self) -> None:
        with self._root:
            async with trio.open_nursery() as services:
                api = AudioCallerApi(
                    ApiConfig.from_settings(self.settings),
                    store=self.store,
                    gate=self.gate,
                    placer=DaemonCallPlacer(self),
                    wall_clock=self.options.wall_clock,
                )
                self.api = api
                await api.run(services)
                app = build_app(self.health, self.metrics, routes=[*api.routes(), *self._routes()])
                self.http_urls = await services.start(serve_http, app, self.settings.line_http_listen)
                log.info("daemon.http_listening", urls=self.http_urls)
                async with trio.open_nursery() as calls:
                    self._call_nursery = calls
                    self.dispatcher = Dispatcher(
                        own_mid=self.mid,
                        client=self.session.client,
                        io=SealedChatIO(self.keys, self.store.next_req_seq),
                        gate=self.gate,
                        options=self.call_options,
                        steps=self.steps,
                        nursery=calls,
                        config=DispatchConfig(
                            self.settings.line_call_command, self.settings.line_call_max_command_age_s
                        ),
                        metrics=self.metrics,
                        hub=self.hub,
                        wall_clock=self.options.wall_clock,
                    )
                    await self._listen(self.dispatcher)
                    if self.gate.live_count:
                        log.info("daemon.waiting_for_calls", live_calls=self.gate.live_count)
                while self.gate.live_count:  # API calls run in the services nursery: let them end too
                    await trio.sleep(0.05)
                services.cancel_scope.cancel()
        if self._root.cancelled_caught or self.stopping:
            log.info("daemon.stopped")

    def _routes(self) -> Sequence[BaseRoute]:
        return () if self.options.http_routes is None else self.options.http_routes(self)

    async def _listen(self, dispatcher: Dispatcher) -> None:
        """Run the Talk listener until cancelled; a revoked token ends it (exit 3, live calls finish)."""
        self.health.listener_running = True
        self._started.set()
        log.info(
            "daemon.ready",
            mid=mask_mid(self.mid),
            command=self.settings.line_call_command,
            e2ee_key=self.keys.keyring.current_own_key() is not None,
        )
        try:
            await run_listener(
                _CountingSync(self.session, self.metrics),
                self.store,
                dispatcher.handle,
                own_mid=self.mid,
                backoff=self.options.backoff,
                min_poll_interval=self.options.min_poll_interval,
                health=self.listener_health,
                on_sync_ok=lambda: self.health.mark_sync_ok(trio.current_time()),
            )
        except ReloginRequired as exc:
            self.health.fatal = f"LINE refused the token: put a current one in {exc.variable}"
            self.exit_code = EXIT_TOKEN
            log.error(
                "daemon.token_revoked",
                variable=exc.variable,
                detail=str(exc),
                live_calls=self.gate.live_count,
                note="live calls play to their end, then linecall exits with status 3",
            )
        except Exception as exc:  # a bug or a broken storage file: stop reading, let live calls end, exit 1
            self.health.fatal = f"the Talk listener stopped ({type(exc).__name__}); see the log"
            self.exit_code = EXIT_FAILED
            log.exception("daemon.listener_crashed", live_calls=self.gate.live_count)
        finally:
            self.health.listener_running = False


class DaemonCallPlacer:
    """The Audio Caller API's :class:`~linecall.bot.api.placer.CallPlacer`, backed by the 1:1 call worker.

    The API admits calls through the daemon's :class:`~linecall.bot.admission.CallGate` itself, so this
    only translates: after the answer wait ``play_wait_s``, play the sources in order, the whole sequence
    ``play_count`` times, hold (LINE_CALL_HOLD_MS), hang up; the worker's outcome in the API's words.
    """

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    async def place_call(
        self,
        callee_mid: str,
        sources: Sequence[Clip],
        play_count: int,
        play_wait_s: float,
        on_ringing: RingingHook | None,
    ) -> api_placer.CallOutcome:
        daemon = self._daemon
        steps: list[Step] = [Pause(play_wait_s)] if play_wait_s > 0 else []
        for _ in range(max(1, play_count)):
            steps.extend(Play(clip) for clip in sources)
        outcome = await place_one_to_one_call(
            daemon.session.client,
            daemon.mid,
            callee_mid,
            steps,
            daemon.call_options,
            hooks=CallHooks(on_ringing=on_ringing),
            metrics=daemon.metrics,
            trigger="api",
            wall_clock=daemon.options.wall_clock,
        )
        return api_placer.CallOutcome(
            kind=outcome.end,
            ended_at=outcome.ended_at,
            setup_at=outcome.setup_at,
            answered_at=outcome.answered_at,
            packets_sent=outcome.packets_sent,
            code=outcome.code,
            detail=outcome.detail,
        )


# --- entry points ------------------------------------------------------------------------------------------


def open_store(settings: Settings) -> Store:
    """The storage file (or memory, with a warning); raises :class:`StartupError`."""
    try:
        store = Store.open(settings.line_storage_file)
    except StoreError as exc:
        _fail(str(exc), EXIT_CONFIG)
    if store.in_memory:
        log.warning(
            "daemon.storage_in_memory",
            note="LINE_STORAGE_FILE is unset: the sync position, renewed tokens and Letter Sealing keys live "
            "in memory and a restart forgets them (set LINE_STORAGE_FILE to keep them)",
        )
    return store


async def run_daemon(
    settings: Settings,
    options: DaemonOptions | None = None,
    *,
    task_status: trio.TaskStatus[Daemon] = trio.TASK_STATUS_IGNORED,
) -> int:
    """Start the daemon and serve until it stops; returns the process exit status.

    ``task_status.started`` receives the :class:`Daemon` once it is logged in and serving.
    """
    options = options or DaemonOptions()
    try:
        store = open_store(settings)
    except StartupError as exc:
        return report_startup_error(exc)
    try:
        try:
            check_listen(settings.line_http_listen)
        except HttpListenError as exc:
            _fail(str(exc), EXIT_CONFIG)
        clip = await load_configured_clip_async(settings, options.wav)
        log.info("daemon.clip", duration_s=round(clip.duration_s, 3), frames=clip.one_to_one_frames)
        session = await open_session(settings, store, options)
        try:
            try:
                daemon = Daemon(settings, store, session, clip, options)
            except KeystoreError as exc:
                _fail(str(exc), EXIT_CONFIG)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_report_started, daemon, task_status)
                status = await daemon.run()
                nursery.cancel_scope.cancel()
            return status
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_GRACE_S):
                await session.aclose()
    except ClipLoadError as exc:
        return report_startup_error(StartupError(str(exc), EXIT_CONFIG))
    except StartupError as exc:
        return report_startup_error(exc)
    finally:
        store.close()


async def _report_started(daemon: Daemon, task_status: trio.TaskStatus[Daemon]) -> None:
    await daemon.wait_started()
    task_status.started(daemon)


def report_startup_error(exc: StartupError) -> int:
    """Log and print why start-up stopped; returns the exit status."""
    log.error("daemon.cannot_start", problem=str(exc), status=exc.status)
    print(f"linecall: {exc}", file=sys.stderr)
    return exc.status


def main_run(settings: Settings, wav: Path | None = None) -> int:
    """``linecall run [WAV]``."""
    return trio.run(run_daemon, settings, DaemonOptions(wav=wav))


def describe_outcome(outcome: CallOutcome) -> str:
    """One line for a person: how a call went."""
    if outcome.end is CallEnd.COMPLETED:
        length = outcome.ended_at - (outcome.answered_at or outcome.ended_at)
        return f"call completed: {outcome.packets_sent} packets, {length:.1f} s after the answer"
    return f"call {outcome.end.value}: {outcome.detail}"
