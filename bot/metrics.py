"""Prometheus metrics of one daemon, in a registry of its own (no process globals, so tests can run many).

What an operator watches: calls started / answered / failed by reason, calls live now, RTP packets sent,
how late the pacer released packets, and sync poll errors by kind.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Pacer lateness buckets, seconds: a healthy stream sits well under 2 ms.
LATENESS_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """The daemon's counters; every call worker and the listener update the same instance."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls_started = Counter(
            "linecall_calls_started", "Calls started", ["kind", "trigger"], registry=self.registry
        )
        self.calls_answered = Counter(
            "linecall_calls_answered",
            "Calls answered (1:1) or joined (group)",
            ["kind"],
            registry=self.registry,
        )
        self.calls_failed = Counter(
            "linecall_calls_failed", "Calls that failed, by reason", ["reason"], registry=self.registry
        )
        self.active_calls = Gauge("linecall_active_calls", "Calls live now", registry=self.registry)
        self.packets_sent = Counter("linecall_packets_sent", "RTP media packets sent", registry=self.registry)
        self.pacer_lateness = Histogram(
            "linecall_pacer_lateness_seconds",
            "How late the pacer released each payload",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.poll_errors = Counter(
            "linecall_poll_errors", "Talk sync poll errors, by kind", ["kind"], registry=self.registry
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return bytes(generate_latest(self.registry))
