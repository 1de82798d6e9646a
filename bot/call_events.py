"""Incoming-call events inside the daemon: a small publish/subscribe hub for call:incoming and call:cancel.

The listener decodes NOTIFIED_RECEIVED_CALL and CANCEL_CALL into :class:`CallIncoming` / :class:`CallCancel`
(``protocol/talk/events.py``); the dispatcher logs each and publishes it here. Nothing answers calls yet; a
later feature (answering, an HTTP webhook) subscribes:

    with hub.subscribe() as events:
        async for event in events:
            ...

Publishing never blocks the listener: each subscriber has a bounded buffer, and a subscriber that falls
that far behind loses events (counted in :attr:`CallEventHub.dropped`, logged) instead of stalling sync.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias

import structlog
import trio

from linecall.protocol.talk.events import CallCancel, CallIncoming

__all__ = ["CallEvent", "CallEventHub"]

log = structlog.get_logger(__name__)

CallEvent: TypeAlias = CallIncoming | CallCancel


class CallEventHub:
    """Fan-out of call events to every current subscriber (in publish order, per subscriber)."""

    def __init__(self) -> None:
        self._subscribers: list[trio.MemorySendChannel[CallEvent]] = []
        self.published = 0
        self.dropped = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @contextmanager
    def subscribe(self, max_buffer: int = 64) -> Iterator[trio.MemoryReceiveChannel[CallEvent]]:
        """Receive every event published while the block runs (at most ``max_buffer`` unread at once)."""
        send, receive = trio.open_memory_channel[CallEvent](max_buffer)
        self._subscribers.append(send)
        try:
            yield receive
        finally:
            self._subscribers.remove(send)
            send.close()
            receive.close()

    def publish(self, event: CallEvent) -> None:
        """Hand ``event`` to every subscriber without waiting; a full subscriber misses it."""
        self.published += 1
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                self.dropped += 1
                log.warning("call_events.subscriber_behind", event_type=type(event).__name__)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                pass
