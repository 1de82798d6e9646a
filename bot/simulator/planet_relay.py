"""The loopback PLANET relay on a real UDP socket: ``async with run_planet_relay(script) as relay:``.

A thin Trio runner around :class:`~.planet_relay_core.RelayCore`: one socket bound to an ephemeral
loopback port, one task that feeds the core every datagram and timer on Trio's clock (so
``trio.testing.MockClock`` drives ring delays and hang-ups), and small awaitables for tests
(:meth:`PlanetRelay.wait_for`). The client under test gets ``relay.route_json`` (or ``relay.route``)
exactly as it would get a route from ``acquireCallRoute``.

The core, script and records are re-exported here, so ``linecall.bot.simulator.planet_relay`` is the one
import a test or the product's simulator (:mod:`.line`) needs.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt
import structlog
import trio

from linecall.protocol.planet.crypto import RandomSource
from linecall.protocol.planet.route import CallRoute

from .planet_peer_media import MediaStats, PeerMedia
from .planet_records import CallState, ReceivedDatagram, RelayStats, SentDatagram, message_kind
from .planet_relay_core import PEER_RELEASER, RelayCore
from .planet_script import (
    RESULT_BAD_CREDENTIAL,
    RESULT_BAD_OFFER,
    RESULT_UNKNOWN_CALLEE,
    PeerScript,
    Refusal,
    RelayConfig,
    RelaySessionParams,
    relay_call_route,
    relay_route_json,
)

__all__ = [
    "PEER_RELEASER",
    "RESULT_BAD_CREDENTIAL",
    "RESULT_BAD_OFFER",
    "RESULT_UNKNOWN_CALLEE",
    "CallState",
    "MediaStats",
    "PeerMedia",
    "PeerScript",
    "PlanetRelay",
    "ReceivedDatagram",
    "Refusal",
    "RelayConfig",
    "RelayCore",
    "RelaySessionParams",
    "RelayStats",
    "SentDatagram",
    "message_kind",
    "relay_call_route",
    "relay_route_json",
    "run_planet_relay",
    "serve_relay",
]

log = structlog.get_logger(__name__)

Int16Array = npt.NDArray[np.int16]
Address = tuple[str, int]
_MAX_DATAGRAM: Final = 65_535
_Record = TypeVar("_Record", ReceivedDatagram, SentDatagram)


class PlanetRelay:
    """A running loopback relay. Everything it learns is on :attr:`core`; the rest is convenience."""

    def __init__(self, core: RelayCore, sock: trio.socket.SocketType, address: tuple[str, int]) -> None:
        self.core = core
        self.address = address
        self._sock = sock
        self._changed = trio.Event()

    def __repr__(self) -> str:
        return f"PlanetRelay(address={self.address}, state={self.core.state.value})"

    # ── what the client is given ─────────────────────────────────────────────────────────────────

    @property
    def route_json(self) -> dict[str, Any]:
        """CallRoute JSON (Thrift field names) pointing at this relay; ``toMid`` = the config's callee."""
        host, port = self.address
        return self.core.route_json(host, port)

    @property
    def route(self) -> CallRoute:
        return CallRoute.from_json(self.route_json)

    # ── what the relay saw ───────────────────────────────────────────────────────────────────────

    @property
    def received(self) -> list[ReceivedDatagram]:
        return self.core.received

    @property
    def sent(self) -> list[SentDatagram]:
        return self.core.sent

    @property
    def state(self) -> CallState:
        return self.core.state

    def heard_pcm(self) -> Int16Array:
        return self.core.heard_pcm()

    def stats(self) -> RelayStats:
        return self.core.stats()

    async def wait_for(self, kind: str, count: int = 1) -> ReceivedDatagram:
        """Wait until the ``count``-th datagram of ``kind`` (e.g. ``"cc/rel_req"``) has been received."""
        return await self._wait_nth(lambda: self.core.received, kind, count)

    async def wait_sent(self, kind: str, count: int = 1) -> SentDatagram:
        """Wait until the relay has sent its ``count``-th datagram of ``kind`` (e.g. ``"cc/conn_req"``)."""
        return await self._wait_nth(lambda: self.core.sent, kind, count)

    async def _wait_nth(self, records: Callable[[], list[_Record]], kind: str, count: int) -> _Record:
        while True:
            matches = [r for r in records() if r.kind == kind]
            if len(matches) >= count:
                return matches[count - 1]
            await self._changed.wait()

    async def wait_changed(self) -> None:
        """Wait until the relay has handled its next datagram or timer (then look at :attr:`core` again)."""
        await self._changed.wait()

    # ── the loop ─────────────────────────────────────────────────────────────────────────────────

    async def serve(self) -> None:
        """Feed the core until cancelled: each datagram as it arrives, each timer when it is due."""
        core = self.core
        while True:
            deadline = core.get_timer()
            got: tuple[bytes, Any] | None = None
            with trio.move_on_at(deadline if deadline is not None else math.inf):
                got = await self._sock.recvfrom(_MAX_DATAGRAM)
            now = trio.current_time()
            if got is not None:
                data, addr = got
                core.receive_datagram(data, (str(addr[0]), int(addr[1])), now)
            core.handle_timer(now)
            for wire, destination in core.datagrams_to_send(now):
                try:
                    await self._sock.sendto(wire, destination)
                except OSError as exc:  # the client went away; the record keeps what was meant
                    log.debug("sim_relay_send_failed", error=type(exc).__name__)
            self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()


@asynccontextmanager
async def run_planet_relay(
    script: PeerScript | None = None,
    config: RelayConfig | None = None,
    *,
    host: str = "127.0.0.1",
    random: RandomSource = os.urandom,
    advertise_media_addr: bool = True,
) -> AsyncIterator[PlanetRelay]:
    """Run a relay on ``host`` (IPv4 or IPv6 literal; an ephemeral UDP port) for the duration of the block.

    With ``advertise_media_addr`` (and no ``config.media_addr``), conn_req's ``m_addr`` names the
    relay's own socket, so the client's media-address parsing is exercised and media still arrives
    here. Leaving the block stops the relay and closes its socket.
    """
    config = config if config is not None else RelayConfig()

    def make_relay(sock: trio.socket.SocketType, address: Address) -> PlanetRelay:
        bound_config = config
        if advertise_media_addr and bound_config.media_addr is None:
            bound_config = replace(bound_config, media_addr=address)
        return PlanetRelay(RelayCore(script, bound_config, random=random), sock, address)

    async with serve_relay(host, make_relay) as relay:
        yield relay


_Relay = TypeVar("_Relay", bound=PlanetRelay)


@asynccontextmanager
async def serve_relay(
    host: str, make_relay: Callable[[trio.socket.SocketType, Address], _Relay]
) -> AsyncIterator[_Relay]:
    """Bind an ephemeral UDP port on ``host``, build the relay for that address, serve it for the block.

    The runner of both loopback relays (1:1 and group): leaving the block stops the relay and closes its
    socket.
    """
    family = trio.socket.AF_INET6 if ":" in host else trio.socket.AF_INET
    sock = trio.socket.socket(family, trio.socket.SOCK_DGRAM)
    with sock:
        await sock.bind((host, 0))
        bound_host, port = sock.getsockname()[:2]
        relay = make_relay(sock, (str(bound_host), int(port)))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relay.serve)
            try:
                yield relay
            finally:
                nursery.cancel_scope.cancel()
