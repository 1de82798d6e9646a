"""One simulated LINE on loopback: Talk (legy, plain and gateway), a PLANET relay per call, answering peers.

    async with running_line_simulator() as sim:
        settings = load_settings(**sim.daemon_settings())      # the daemon talks to sim, not to LINE
        ...                                                   # start the daemon (see bot/daemon.py)
        sim.say("!call")                                      # Alice sends !call in her 1:1 chat
        call = await sim.wait_call()                          # the daemon asked for a route
        await call.wait_ended()                               # ... rang, streamed, hung up
        call.heard_pcm()                                      # what Alice's phone decoded

Every ``acquireCallRoute`` starts a fresh 1:1 relay (:mod:`.planet_relay`) whose answering peer follows
:attr:`LineSimulator.peer_script` (or a per-callee script); every ``acquireGroupCallRoute`` starts a group
relay with a mixer (:mod:`.planet_group_relay`). Each :class:`SimCall` keeps the relay's records after the
call, so tests and the demo can ask what LINE's side saw: ringing, the answer, every packet (decoded), the
rel_req. Faults are injected on the Talk side with :meth:`LineSimulator.inject` (5xx, stalls, connection
resets, TalkException) and on the call side through the scripts (no answer, refusal, peer hang-up).

Nothing here imports pytest: it backs ``linecall demo`` as much as the tests.
"""

from __future__ import annotations

import enum
import itertools
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import structlog
import trio

from linecall.protocol.talk.gateway import LegyGateway
from linecall.protocol.talk.structs import (
    CallFlowType,
    CallRoute,
    GroupCall,
    GroupCallProtocol,
    GroupCallRoute,
    Operation,
    OpType,
)
from linecall.protocol.thrift.errors import ErrorCode

from .legy import (
    CallRouteRequest,
    Fault,
    GroupRouteRequest,
    LegyServer,
    RaiseTalk,
    SentMessage,
    running_legy_server,
)
from .planet_group_relay import GroupRelay, GroupRelayConfig, GroupRelayCore, GroupScript, GroupState
from .planet_records import CallState
from .planet_relay import PeerScript, PlanetRelay, RelayConfig, RelayCore

__all__ = [
    "ACCOUNT_MID",
    "ALICE_MID",
    "BOB_MID",
    "GROUP_MID",
    "PLAIN_TOKEN",
    "ROOM_MID",
    "CallKind",
    "LineSimulator",
    "SimCall",
    "running_line_simulator",
]

log = structlog.get_logger(__name__)

Int16Array = npt.NDArray[np.int16]

#: The daemon's account, the people who talk to it, and the chats they share.
ACCOUNT_MID: Final = "u" + "1" * 32
ALICE_MID: Final = "u" + "a11ce" * 6 + "00"
BOB_MID: Final = "u" + "b0b" * 10 + "00"
GROUP_MID: Final = "c" + "9" * 32
ROOM_MID: Final = "r" + "8" * 32
#: An opaque (legacy) token: it travels in x-line-access on plain legy.
PLAIN_TOKEN: Final = "linecall-simulator-token"
#: A V3-shaped JWT: it travels through the encrypted gateway (which needs :meth:`LineSimulator.client_gateway`).
GATEWAY_TOKEN: Final = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ2ZXIiOiIzLjEiLCJzY3AiOiJMSU5FX0FVVEgifQ.c2ltdWxhdG9y"
)
#: How long a finished call's relay keeps listening (late retransmissions), then its socket closes.
_LINGER_S: Final = 1.0
#: A relay nobody ever reached is closed after this long.
_IDLE_LIMIT_S: Final = 300.0
_DONE_1TO1: Final = frozenset({CallState.REFUSED, CallState.RELEASED_BY_PEER, CallState.RELEASED_BY_CLIENT})
_DONE_GROUP: Final = frozenset({GroupState.REFUSED, GroupState.KICKED, GroupState.LEFT})


class CallKind(enum.Enum):
    ONE_TO_ONE = "one_to_one"
    GROUP = "group"


@dataclass(eq=False)
class SimCall:
    """One call the daemon placed through the simulator: the relay (records kept after it closes)."""

    kind: CallKind
    peer: str
    """The callee (1:1) or the chat (group)."""
    relay: PlanetRelay
    started_at: float
    ended: trio.Event = field(default_factory=trio.Event)

    @property
    def is_group(self) -> bool:
        return self.kind is CallKind.GROUP

    @property
    def core(self) -> RelayCore:
        """The 1:1 relay core (raises for a group call; see :attr:`group_core`)."""
        if not isinstance(self.relay.core, RelayCore):
            raise TypeError("a group call has a GroupRelayCore")
        return self.relay.core

    @property
    def group_core(self) -> GroupRelayCore:
        core: object = self.relay.core
        if not isinstance(core, GroupRelayCore):
            raise TypeError("a 1:1 call has a RelayCore")
        return core

    @property
    def stage(self) -> str:
        """Where the call stands from LINE's side: ringing, answered, connected/joined, or how it ended."""
        if self.is_group:
            return self.group_core.state.value
        return self.core.state.value

    @property
    def finished(self) -> bool:
        if self.is_group:
            return self.group_core.state in _DONE_GROUP
        return self.core.state in _DONE_1TO1

    @property
    def answered(self) -> bool:
        if self.is_group:
            return self.group_core.state in (GroupState.JOINED, GroupState.LEFT, GroupState.KICKED)
        return self.core.stats().answered

    @property
    def media_packets(self) -> int:
        """Authenticated audio packets the peer (or the mixer) received so far."""
        if self.is_group:
            return self.group_core.mixer_stats.audio_packets
        return self.core.stats().media_packets

    @property
    def released_by_client(self) -> bool:
        """The daemon sent rel_req (it hung up or left)."""
        if self.is_group:
            return self.group_core.client_release is not None
        return self.core.client_release is not None

    def heard_pcm(self) -> Int16Array:
        """What the peer (or the mixer) decoded of the daemon's audio, 48 kHz mono int16."""
        if self.is_group:
            return self.group_core.heard_pcm()
        return self.core.heard_pcm()

    async def wait_for(self, kind: str, count: int = 1) -> None:
        """Wait until the relay received the ``count``-th datagram of ``kind`` (e.g. ``"cc/rel_req"``)."""
        await self.relay.wait_for(kind, count)

    async def wait_ended(self) -> None:
        await self.ended.wait()


class LineSimulator:
    """LINE for one account (:data:`ACCOUNT_MID`), its friends Alice and Bob, and their group and room."""

    def __init__(self, legy: LegyServer, nursery: trio.Nursery, *, host: str = "127.0.0.1") -> None:
        self.legy = legy
        self.host = host
        self.account_mid = legy.mid
        self.token = PLAIN_TOKEN
        self.gateway_token = GATEWAY_TOKEN
        self.peer_script = PeerScript()
        """How a called phone behaves, unless :attr:`peer_scripts` names the callee."""
        self.peer_scripts: dict[str, PeerScript] = {}
        self.group_script = GroupScript()
        self.calls: list[SimCall] = []
        self._nursery = nursery
        self._calls_changed = trio.Event()
        self._message_ids = itertools.count(700_000_000_000_000_001)
        legy.accept(self.token, via="plain")
        legy.accept(self.gateway_token, via="gateway")
        legy.call_route = self._call_route
        legy.group_call_route = self._group_call_route

    # -- what the daemon is pointed at

    @property
    def base_url(self) -> str:
        return self.legy.base_url

    @property
    def gateway_url(self) -> str:
        return self.legy.gateway_url

    @staticmethod
    def client_gateway() -> LegyGateway:
        """The encrypted-gateway client key this simulator can unwrap (LINE's own key would not work)."""
        return LegyServer.client_gateway()

    def daemon_settings(self, *, gateway: bool = False) -> dict[str, Any]:
        """Settings overrides (``load_settings(**...)``) that point a daemon at this simulator.

        ``gateway`` logs in with the V3-shaped token, so every call goes through the encrypted gateway
        (the daemon then needs :meth:`client_gateway`); otherwise the opaque token on plain legy.
        """
        return {
            "line_auth_token": self.gateway_token if gateway else self.token,
            "line_auth_token_file": None,
            "line_device": "ANDROID",
            "line_endpoint": self.base_url,
            "line_gateway_url": self.gateway_url,
        }

    # -- people talking

    def say(
        self,
        text: str,
        *,
        sender: str = ALICE_MID,
        chat: str | None = None,
        created_time: int | None = None,
    ) -> Operation:
        """``sender`` says ``text``: in a 1:1 chat with the account (default) or in ``chat`` (a group/room
        MID, or another user's MID for the account's own messages). A message of the account itself
        (sender = :attr:`account_mid`, from its phone) arrives as SEND_MESSAGE."""
        ours = sender == self.account_mid
        to = chat if chat is not None else self.account_mid
        return self.legy.push_message(
            text,
            sender=sender,
            to=to,
            message_id=str(next(self._message_ids)),
            op_type=OpType.SEND_MESSAGE if ours else OpType.RECEIVE_MESSAGE,
            created_time=created_time,
        )

    def replies(self, chat: str | None = None) -> list[str]:
        """Texts the account sent, oldest first (only those into ``chat`` when given; 1:1 chats are named
        by the peer's MID)."""
        return [m.message.text or "" for m in self.legy.sent_messages if chat is None or m.message.to == chat]

    @property
    def sent_messages(self) -> list[SentMessage]:
        return self.legy.sent_messages

    async def wait_reply(self, text: str, *, chat: str | None = None, count: int = 1) -> None:
        """Wait until the account has sent ``text`` (into ``chat``) ``count`` times."""
        while self.replies(chat).count(text) < count:
            await trio.sleep(0.01)

    def set_group_call_online(self, chat: str, online: bool = True) -> None:
        """Whether ``getGroupCall`` says a call is running in ``chat`` (decides starting vs joining)."""
        self.legy.group_calls[chat] = GroupCall(online=online, chat_mid=chat, media_type=1)

    # -- faults

    def inject(self, method: str | None, *faults: Fault) -> None:
        """Answer the next calls of ``method`` (any method when None) with these faults, in order."""
        self.legy.inject(method, *faults)

    def revoke_token(self) -> None:
        """From now on the account's tokens are refused (AUTHENTICATION_FAILED), as after a log-out."""
        self.legy.auth_failure = RaiseTalk(ErrorCode.AUTHENTICATION_FAILED, "token revoked")
        self.legy.revoke(self.token)
        self.legy.revoke(self.gateway_token)

    # -- calls

    async def wait_call(self, index: int = 0) -> SimCall:
        """Wait for the ``index``-th call (0 = the first) the daemon placed."""
        while len(self.calls) <= index:
            changed = self._calls_changed
            await changed.wait()
        return self.calls[index]

    def _new_call(
        self,
        kind: CallKind,
        peer: str,
        make_core: Callable[[tuple[str, int]], RelayCore | GroupRelayCore],
    ) -> SimCall:
        """Bind a fresh loopback UDP socket, build the relay core for its address, serve it in the background."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.host, 0))
        sock.setblocking(False)
        bound = sock.getsockname()
        address = (str(bound[0]), int(bound[1]))
        trio_sock = trio.socket.from_stdlib_socket(sock)
        core = make_core(address)
        relay: PlanetRelay
        if isinstance(core, RelayCore):
            relay = PlanetRelay(core, trio_sock, address)
        else:
            relay = GroupRelay(core, trio_sock, address)  # type: ignore[arg-type]
        call = SimCall(kind, peer, relay, trio.current_time())
        self.calls.append(call)
        self._calls_changed.set()
        self._calls_changed = trio.Event()
        self._nursery.start_soon(self._run_relay, call, trio_sock)
        return call

    async def _run_relay(self, call: SimCall, sock: trio.socket.SocketType) -> None:
        with sock:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call.relay.serve)
                with trio.move_on_after(_IDLE_LIMIT_S):
                    while not call.finished:
                        await call.relay.wait_changed()
                await trio.sleep(_LINGER_S)
                nursery.cancel_scope.cancel()
        call.ended.set()

    def _call_route(self, request: CallRouteRequest) -> CallRoute:
        script = self.peer_scripts.get(request.to, self.peer_script)

        def make_core(address: tuple[str, int]) -> RelayCore:
            # conn_req's media address names the relay's own socket, as a real relay's m_addr would.
            config = RelayConfig(caller_mid=self.account_mid, callee_mid=request.to, media_addr=address)
            return RelayCore(script, config)

        call = self._new_call(CallKind.ONE_TO_ONE, request.to, make_core)
        host, port = call.relay.address
        route = call.core.route_json(host, port, to_mid=request.to)
        log.info("sim.call_route", relay_port=port)
        return CallRoute(
            from_token=route["fromToken"],
            call_flow_type=CallFlowType.PLANET,
            voip_address=route["voipAddress"],
            voip_udp_port=route["voipUdpPort"],
            voip_tcp_port=route["voipTcpPort"],
            from_zone=route["fromZone"],
            to_zone=route["toZone"],
            fake_call=False,
            to_mid=request.to,
            comm_param=route["commParam"],
            stid=route["stid"],
            voip_address6="",
            stnpk="",
        )

    def _group_call_route(self, request: GroupRouteRequest) -> GroupCallRoute:
        script = self.group_script
        config = GroupRelayConfig(room_id=request.chat_mid)
        call = self._new_call(
            CallKind.GROUP, request.chat_mid, lambda _address: GroupRelayCore(script, config)
        )
        host, port = call.relay.address
        route = call.group_core.route_json(host, port)
        self.set_group_call_online(request.chat_mid)
        log.info("sim.group_call_route", relay_port=port)
        return GroupCallRoute(
            token=route["token"],
            host_mid=route["hostMid"],
            proto=GroupCallProtocol.STANDARD,
            voip_address=route["voipAddress"],
            voip_udp_port=route["voipUdpPort"],
            voip_tcp_port=route["voipTcpPort"],
            from_zone=route["fromZone"],
            comm_param=route["commParam"],
            polaris_address=route["polarisAddress"],
            polaris_udp_port=route["polarisUdpPort"],
            polaris_zone=route["polarisZone"],
            orion_address=route["orionAddress"],
            voip_address6="",
            stnpk="",
        )


@asynccontextmanager
async def running_line_simulator(
    *,
    sync_hold: float = 0.5,
    wall_clock: Callable[[], float] = time.time,
    host: str = "127.0.0.1",
) -> AsyncIterator[LineSimulator]:
    """Run the simulator on loopback for the duration of the block (everything stops on exit)."""
    async with (
        running_legy_server(
            mid=ACCOUNT_MID, display_name="linecall", sync_hold=sync_hold, wall_clock=wall_clock
        ) as legy,
        trio.open_nursery() as nursery,
    ):
        sim = LineSimulator(legy, nursery, host=host)
        sim.legy.group_calls.setdefault(GROUP_MID, GroupCall(online=False, chat_mid=GROUP_MID))
        try:
            yield sim
        finally:
            nursery.cancel_scope.cancel()
