"""Per-message-kind mailbox for inbound PLANET messages that no handler consumed (yet).

linejs hands inbound messages to waiters in FIFO order and its ``waitForCc(tag)`` throws away every
message that is not the awaited tag, so a conn_req that overtakes setup_rsp is lost (planet-map §7.1).
Here every message lands in a queue of its own kind (channel + one-of tag): a handler that cannot use a
message in the current state leaves it there and drains it when the state allows (conn_req before
setup_rsp is answered right after setup_rsp), and a later role (group join) can wait for its own kind
without disturbing the others. Each kind keeps at most ``limit`` messages, dropping the oldest, so a relay
(or an attacker with the keys) cannot grow memory without bound.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum

from linecall.protocol.planet.constants import CcTag, McTag, ScTag
from linecall.protocol.planet.messages import (
    Channel,
    PlanetMessage,
    UnknownCcBody,
    UnknownMcBody,
    UnknownScBody,
)


@dataclass(frozen=True, slots=True)
class MessageKind:
    """A message kind: channel (sc/cc/mc) and its one-of tag, e.g. ``MessageKind(Channel.CC, 5)`` = conn_req."""

    channel: Channel
    tag: int

    @classmethod
    def of(cls, message: PlanetMessage) -> MessageKind:
        body = message.body
        if isinstance(body, UnknownCcBody | UnknownMcBody | UnknownScBody):
            return cls(message.channel, body.tag)
        return cls(message.channel, int(body.TAG))

    @property
    def name(self) -> str:
        """``cc/conn_req``-style name (the transcripts' ``kind``); unknown tags keep their number."""
        names: dict[Channel, type[IntEnum]] = {Channel.CC: CcTag, Channel.MC: McTag, Channel.SC: ScTag}
        try:
            return f"{self.channel.value}/{names[self.channel](self.tag).name.lower()}"
        except ValueError:
            return f"{self.channel.value}/{self.tag}"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A decoded inbound message with the time it arrived (driver clock)."""

    message: PlanetMessage
    received_at: float


class Mailbox:
    """FIFO queues of inbound messages, one per :class:`MessageKind`, each bounded by ``limit``."""

    __slots__ = ("_dropped", "_limit", "_queues")

    def __init__(self, limit: int = 32) -> None:
        if limit < 1:
            raise ValueError("mailbox limit must be at least 1")
        self._limit = limit
        self._queues: dict[MessageKind, deque[InboundMessage]] = {}
        self._dropped = 0

    def put(self, item: InboundMessage) -> None:
        kind = MessageKind.of(item.message)
        queue = self._queues.setdefault(kind, deque())
        if len(queue) >= self._limit:
            queue.popleft()
            self._dropped += 1
        queue.append(item)

    def take(self, kind: MessageKind) -> InboundMessage | None:
        """The oldest message of ``kind``, removed; ``None`` when there is none."""
        queue = self._queues.get(kind)
        if not queue:
            return None
        item = queue.popleft()
        if not queue:
            del self._queues[kind]
        return item

    def take_all(self, kind: MessageKind) -> list[InboundMessage]:
        """Every message of ``kind`` in arrival order, removed."""
        queue = self._queues.pop(kind, None)
        return list(queue) if queue else []

    def count(self, kind: MessageKind | None = None) -> int:
        if kind is not None:
            return len(self._queues.get(kind, ()))
        return sum(len(q) for q in self._queues.values())

    def kinds(self) -> list[MessageKind]:
        return list(self._queues)

    @property
    def dropped(self) -> int:
        """Messages discarded because their kind's queue was full."""
        return self._dropped

    def clear(self) -> None:
        self._queues.clear()
