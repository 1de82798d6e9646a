"""Trio driver for one PLANET call: a UDP socket, two tasks and a :class:`PlanetConnection` between them.

    async with open_planet_call(route, local_mid, config) as call:
        await call.invite(peer_mid)          # SetupAccepted, or PlanetCallFailed(setup_timeout / refused)
        await call.wait_answer()             # PeerAnswered with media, or PlanetCallFailed / PlanetCallReleased
        # a group route instead: await call.join_group(chat_mid) -> GroupJoined, or PlanetCallFailed
        await call.send(b"\\x00" + opus, 960)
        async for payload in call.received:  # the peer's audio; ends when the call ends
            ...

The call is a nursery: a receiver task feeds datagrams in, a timer task wakes at ``get_timer()``. Leaving
the block, by return, error or cancellation, hangs up (rel_req when due, sent shielded) and closes the socket.
All protocol decisions are the connection's; this module only moves bytes and wakes tasks.
"""

from __future__ import annotations

import math
import os
import socket as _socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import trio

from linecall.protocol.planet import events as ev
from linecall.protocol.planet.call_errors import (
    PlanetCallError,
    PlanetCallFailed,
    PlanetCallReleased,
    error_for,
)
from linecall.protocol.planet.call_state import CallState
from linecall.protocol.planet.connection import Address, PlanetConnection
from linecall.protocol.planet.options import PlanetConfig, PlanetOverrides
from linecall.protocol.planet.route import CallRoute, GroupCallRoute

E = TypeVar("E", ev.SetupAccepted, ev.PeerAnswered, ev.GroupJoined)
J = TypeVar("J", ev.PeerAnswered, ev.GroupJoined)  # the events that say whether media keys are usable
_HANGUP_GRACE_S = 1.0  # how long a shielded hang-up may take on exit
_SEND_GRACE_S = 1.0  # how long one flush may wait for a full socket buffer, cancelled or not


__all__ = ["PlanetCall", "PlanetCallError", "PlanetCallFailed", "PlanetCallReleased", "open_planet_call"]


class PlanetCall:
    """A live call. ``events`` is every non-media event so far, in order; ``received`` yields audio payloads."""

    def __init__(self, conn: PlanetConnection, sock: trio.socket.SocketType, media_buffer: int) -> None:
        self.connection = conn
        self.events: list[ev.Event] = []
        self.media_dropped = 0
        self._sock = sock
        self._lock = trio.Lock()
        self._wakeup = trio.Event()
        self._changed = trio.Event()
        self._media_in, self.received = trio.open_memory_channel[bytes](media_buffer)

    @property
    def state(self) -> CallState:
        return self.connection.state

    @property
    def outcome(self) -> ev.CallReleased | ev.Failed | None:
        return self.connection.outcome

    async def invite(self, to: str) -> ev.SetupAccepted:
        """Ring ``to`` and wait until the relay accepts the setup."""
        self.connection.invite(to, trio.current_time())
        await self._flush()
        return await self._wait_for(ev.SetupAccepted)

    async def wait_answer(self) -> ev.PeerAnswered:
        """Wait for the callee to pick up; an answer without usable media keys fails the call."""
        return await self._with_media(await self._wait_for(ev.PeerAnswered))

    async def join_group(self, room_id: str) -> ev.GroupJoined:
        """Join chat ``room_id``'s group call (a group route); returns once joined with media keys."""
        self.connection.join_group(room_id, trio.current_time())
        await self._flush()
        return await self._with_media(await self._wait_for(ev.GroupJoined))

    async def _with_media(self, event: J) -> J:
        if not event.media_ready:
            detail = "the answer has no media keys usable in the configured key mode"
            self.connection.fail(ev.FailureReason.MEDIA_KEYS, detail, trio.current_time())
            await self._flush()
            raise error_for(self.outcome or ev.Failed(ev.FailureReason.MEDIA_KEYS, None, detail))
        return event

    async def send(self, payload: bytes, timestamp_step: int | None = None) -> None:
        """Send one RTP payload (LINE prefix included); raises PlanetCallError once the call has ended."""
        if self.outcome is not None:
            raise error_for(self.outcome)
        self.connection.send_media(payload, timestamp_step)
        await self._flush()

    async def hangup(self) -> None:
        self.connection.close(trio.current_time())
        await self._flush()

    async def _wait_for(self, kind: type[E]) -> E:
        while True:
            for event in self.events:
                if isinstance(event, kind):
                    return event
            if self.outcome is not None:
                raise error_for(self.outcome)
            await self._changed.wait()

    async def _flush(self) -> None:
        """Send what the connection queued, then publish its events (one task at a time). Sending is
        shielded (briefly): a task cancelled mid-flush may be the one holding the hang-up's rel_req."""
        conn = self.connection
        async with self._lock:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + _SEND_GRACE_S):
                while datagrams := conn.datagrams_to_send(trio.current_time()):
                    for data, addr in datagrams:
                        try:
                            await self._sock.sendto(data, addr)
                        except (OSError, trio.ClosedResourceError) as exc:
                            self._transport_failed("send", exc)
            while (event := conn.next_event()) is not None:
                if isinstance(event, ev.MediaReceived):
                    try:
                        self._media_in.send_nowait(event.payload)
                    except (trio.WouldBlock, trio.ClosedResourceError):
                        self.media_dropped += 1
                    continue
                self.events.append(event)
            if conn.closed:  # nothing more will be sent or received: the payload stream ends too
                self._media_in.close()
                self._sock.close()
            self._changed.set()
            self._changed = trio.Event()
            self._wakeup.set()

    async def _receive_loop(self) -> None:
        while not self.connection.closed:
            try:
                data, addr = await self._sock.recvfrom(65535)
            except (OSError, trio.ClosedResourceError) as exc:
                self._transport_failed("receive", exc)  # a no-op once the call has ended
                await self._flush()
                return
            self.connection.receive_datagram(data, (addr[0], addr[1]), trio.current_time())
            await self._flush()

    def _transport_failed(self, what: str, exc: Exception) -> None:
        self.connection.fail(ev.FailureReason.TRANSPORT, f"UDP {what} failed: {exc}", trio.current_time())

    async def _timer_loop(self) -> None:
        while not self.connection.closed:
            self._wakeup = trio.Event()
            deadline = self.connection.get_timer()
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._wakeup.wait()
            self.connection.handle_timer(trio.current_time())  # early calls are harmless
            await self._flush()


@asynccontextmanager
async def open_planet_call(
    route: CallRoute | GroupCallRoute,
    local_mid: str,
    config: PlanetConfig | None = None,
    *,
    random: Callable[[int], bytes] = os.urandom,
    bind: Address | None = None,
    overrides: PlanetOverrides | None = None,
    media_buffer: int = 256,
) -> AsyncIterator[PlanetCall]:
    """Connect a call (nothing sent yet) on a fresh UDP socket bound to ``bind`` (default: any, ephemeral)."""
    conn = PlanetConnection(route, local_mid, config, random=random, overrides=overrides)
    family = _socket.AF_INET6 if ":" in conn.relay[0] else _socket.AF_INET
    sock = trio.socket.socket(family, _socket.SOCK_DGRAM)
    try:
        await sock.bind(bind or ("::" if family == _socket.AF_INET6 else "0.0.0.0", 0))
        conn.connect(trio.current_time())
        call = PlanetCall(conn, sock, media_buffer)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call._receive_loop)
                nursery.start_soon(call._timer_loop)
                try:
                    yield call
                finally:
                    with trio.CancelScope(shield=True), trio.move_on_after(_HANGUP_GRACE_S):
                        await call.hangup()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:  # the body's own error, not a wrapper around it
                raise group.exceptions[0] from None
            raise
    finally:
        sock.close()
