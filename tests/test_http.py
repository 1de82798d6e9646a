"""The daemon's HTTP endpoint served for real on loopback: /healthz turns 503 with a reason, /metrics."""

from __future__ import annotations

import httpx
import pytest
import trio

from linecall.bot.health import Health
from linecall.bot.http import HttpListenError, build_app, check_listen, is_loopback, parse_listen, serve_http
from linecall.bot.metrics import Metrics


async def test_healthz_and_metrics_over_loopback() -> None:
    health = Health(sync_hold_s=5)
    metrics = Metrics()
    metrics.packets_sent.inc(3)
    app = build_app(health, metrics)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(serve_http, app, "127.0.0.1:0")
            base = urls[0]
            async with httpx.AsyncClient(base_url=base) as client:
                response = await client.get("/healthz")
                assert response.status_code == 503
                assert response.json()["reason"] == "the Talk listener is not running"
                health.listener_running = True
                health.mark_sync_ok(trio.current_time())
                response = await client.get("/healthz")
                assert response.status_code == 200
                metrics_text = (await client.get("/metrics")).text
                assert "linecall_packets_sent_total 3.0" in metrics_text
            nursery.cancel_scope.cancel()


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError, match="LINE_HTTP_LISTEN"):
        parse_listen("8080")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")


def test_taken_port_is_a_clear_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(HttpListenError, match=rf"LINE_HTTP_LISTEN=127.0.0.1:{port}: cannot listen there"):
            check_listen(f"127.0.0.1:{port}")
    check_listen("127.0.0.1:0")
    with pytest.raises(HttpListenError, match="write host:port"):
        check_listen("8080")
