"""The daemon's one HTTP app (Starlette) and its server (hypercorn's Trio worker in the root nursery).

/healthz and /metrics live here; the Audio Caller API mounts its routes into the same app, so one listener
(LINE_HTTP_LISTEN) serves everything and shuts down with the daemon's nursery.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from linecall.bot.health import Health
from linecall.bot.metrics import CONTENT_TYPE, Metrics


def build_app(
    health: Health,
    metrics: Metrics,
    *,
    clock: Callable[[], float] = trio.current_time,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The ASGI app: /healthz (200 or 503 with the reason), /metrics, plus ``routes``."""

    async def healthz(_request: Request) -> Response:
        ok, reason = health.status(clock())
        return JSONResponse(
            {"status": "ok" if ok else "unhealthy", "reason": reason}, status_code=200 if ok else 503
        )

    async def metrics_endpoint(_request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/metrics", metrics_endpoint), *routes],
    )


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets) → (host, port); raises ValueError naming LINE_HTTP_LISTEN."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"LINE_HTTP_LISTEN={listen}: write host:port, such as 127.0.0.1:8080")
    return host.strip("[]"), int(port)


class HttpListenError(Exception):
    """LINE_HTTP_LISTEN cannot be bound; the message names the variable and the fix."""


def check_listen(listen: str) -> None:
    """Bind LINE_HTTP_LISTEN once and let go, so a taken port is a clear start-up error, not a traceback.

    hypercorn binds with SO_REUSEADDR; this check does the same, so it refuses exactly what hypercorn would.
    """
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise HttpListenError(str(exc)) from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise HttpListenError(
            f"LINE_HTTP_LISTEN={listen}: cannot resolve {host} ({exc}); use an IP address"
        ) from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise HttpListenError(
                f"LINE_HTTP_LISTEN={listen}: cannot listen there ({exc.strerror}); stop whatever uses it "
                "or choose another host:port"
            ) from None


def is_loopback(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")


async def serve_http(
    app: Starlette,
    listen: str,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``listen`` until cancelled; ``task_status.started`` gets the bound URLs."""
    host, port = parse_listen(listen)
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.5
    await serve(app, config, mode="asgi", task_status=task_status)  # type: ignore[arg-type]
