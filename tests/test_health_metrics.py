"""Health rules and the metrics exposition."""

from __future__ import annotations

from linecall.bot.health import Health
from linecall.bot.metrics import Metrics


def test_health_needs_listener_and_recent_sync() -> None:
    health = Health(sync_hold_s=10)
    assert health.status(0) == (False, "the Talk listener is not running")
    health.listener_running = True
    assert health.status(0) == (False, "no sync has completed yet")
    health.mark_sync_ok(100)
    assert health.status(119) == (True, "ok")
    ok, reason = health.status(121)
    assert not ok and "21 s ago" in reason
    health.fatal = "LINE_AUTH_TOKEN was revoked"
    assert health.status(101) == (False, "LINE_AUTH_TOKEN was revoked")


def test_metrics_render_prometheus_text() -> None:
    metrics = Metrics()
    metrics.calls_started.labels(kind="1:1", trigger="chat").inc()
    metrics.calls_failed.labels(reason="no_answer").inc()
    metrics.pacer_lateness.observe(0.0007)
    metrics.packets_sent.inc(50)
    text = metrics.render().decode()
    assert 'linecall_calls_started_total{kind="1:1",trigger="chat"} 1.0' in text
    assert 'linecall_calls_failed_total{reason="no_answer"} 1.0' in text
    assert "linecall_packets_sent_total 50.0" in text
    assert 'linecall_pacer_lateness_seconds_bucket{le="0.001"} 1.0' in text
    assert Metrics().render() != text.encode()  # each daemon has its own registry
