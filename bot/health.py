"""What /healthz reports: is the Talk listener alive and has a sync completed recently?

A sync poll is held by the server for up to the sync hold time, so "recent" means within twice that. A revoked
token turns the daemon unhealthy for good (the operator must fix a variable), with the reason in the body.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Health:
    """Mutable health state, written by the listener and the daemon, read by the HTTP endpoint."""

    sync_hold_s: float = 180.0
    listener_running: bool = False
    last_sync_ok: float | None = None
    fatal: str | None = None

    def mark_sync_ok(self, now: float) -> None:
        self.last_sync_ok = now

    def status(self, now: float) -> tuple[bool, str]:
        """``(healthy, reason)`` at monotonic time ``now``."""
        if self.fatal is not None:
            return False, self.fatal
        if not self.listener_running:
            return False, "the Talk listener is not running"
        if self.last_sync_ok is None:
            return False, "no sync has completed yet"
        age = now - self.last_sync_ok
        if age > 2 * self.sync_hold_s:
            return False, f"the last sync completed {age:.0f} s ago (limit {2 * self.sync_hold_s:.0f} s)"
        return True, "ok"
