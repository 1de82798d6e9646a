"""open_planet_call over loopback UDP against a tiny scripted relay (a trio task in the test), under MockClock.

The relay answers with tests/planet_fake_relay.py's codecs: setup_rsp, a conn_req whose m_addr points back at
the relay's own socket (so our SRTP comes to it and is decrypted as the peer would), peer audio, and a hang-up
when the script says so. Every test runs on the autojumping mock clock: timeouts of 10 and 60 s take no
real time, and the times asserted are mock times.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import trio
import trio.testing

from linecall.protocol.planet import messages as m
from linecall.protocol.planet.call_state import CallState
from linecall.protocol.planet.driver import PlanetCallFailed, PlanetCallReleased, open_planet_call
from linecall.protocol.planet.events import CallReleased, FailureReason, PeerAnswered, SetupAccepted
from linecall.protocol.planet.options import PlanetConfig, PlanetOverrides
from linecall.protocol.rtp.srtp import SrtpReceiveSession
from tests.planet_fake_relay import (
    LOCAL_MID,
    OUR_MEDIA,
    PEER_MID,
    FakeRelay,
    make_route,
    our_send_master,
    peer_rtp,
    peer_srtp,
)

LOOPBACK = "127.0.0.1"


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


@dataclass
class Script:
    """What the scripted relay does and what it saw (with mock arrival times)."""

    answer_after: float | None = 2.0  # None: never answer
    silent: bool = False  # never reply at all
    refuse: int | None = None  # setup_rsp result code
    hang_up_after_media: int | None = None  # peer rel_req after this many of our audio packets
    peer_audio: list[bytes] = field(default_factory=list)
    seen: list[tuple[float, str, bytes]] = field(default_factory=list)
    media: list[bytes] = field(default_factory=list)  # our audio payloads, decrypted as the peer would

    def kinds(self) -> list[str]:
        return [k for _, k, _ in self.seen if k != "raw"]


async def run_relay(sock: trio.socket.SocketType, script: Script) -> None:
    relay = FakeRelay()
    peer_view = SrtpReceiveSession(our_send_master())
    peer_send = peer_srtp()
    client: tuple[str, int] | None = None
    async with trio.open_nursery() as nursery:

        async def answer() -> None:
            assert script.answer_after is not None and client is not None
            await trio.sleep(script.answer_after)
            addr = m.PlanetAddr(ver=4, trpt=1, ip=LOOPBACK, port=sock.getsockname()[1])
            await sock.sendto(relay.conn_req(m_addr=addr), client)
            for seq, payload in enumerate(script.peer_audio, start=100):
                await sock.sendto(peer_rtp(peer_send, payload, seq), client)

        while True:
            data, client = await sock.recvfrom(4096)
            if data[0] & 0xC0 == 0x80:  # our SRTP, sent to the conn_req's m_addr
                script.media.append(peer_view.unprotect(data)[16:])
                if len(script.media) == script.hang_up_after_media:
                    await sock.sendto(relay.rel_req(rel_code=5), client)
                continue
            got = relay.open(data)
            script.seen.append((trio.current_time(), got.kind, data))
            if script.silent or got.kind != "cc/setup_req" or len(script.kinds()) > 1:
                continue
            await sock.sendto(relay.setup_rsp(result=script.refuse or 0), client)
            if script.answer_after is not None and script.refuse is None:
                nursery.start_soon(answer)


async def with_relay(script: Script, body: Callable[[tuple[str, int]], Awaitable[None]]) -> None:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind((LOOPBACK, 0))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_relay, sock, script)
        await body(sock.getsockname())
        nursery.cancel_scope.cancel()
    sock.close()


def _call(port: int, config: PlanetConfig | None = None):  # type: ignore[no-untyped-def]
    return open_planet_call(
        make_route(LOOPBACK, port),
        LOCAL_MID,
        config,
        bind=(LOOPBACK, 0),
        overrides=PlanetOverrides(local_media=OUR_MEDIA),
    )


async def test_a_full_call_with_local_hang_up(clock: trio.testing.MockClock) -> None:
    script = Script(peer_audio=[b"\x00peer-1", b"\x00peer-2", b"\x00peer-3"])

    async def body(relay: tuple[str, int]) -> None:
        async with _call(relay[1]) as call:
            accepted = await call.invite(PEER_MID)
            assert accepted == SetupAccepted(keepalive_interval=15.0, no_answer_timeout=60.0)
            assert call.state is CallState.RINGING
            answered = await call.wait_answer()
            assert answered == PeerAnswered(media_ready=True, media_key_mode="audio-reverse-stage")
            assert trio.current_time() == pytest.approx(2.0)
            for i in range(5):
                await call.send(b"\x00opus-%d" % i, 960)
            got = [await call.received.receive() for _ in range(3)]
            assert got == script.peer_audio
            await trio.sleep(1.0)
        assert call.state is CallState.CLOSED
        assert call.events[-1] == CallReleased(by_peer=False)
        await trio.sleep(0.5)

    await with_relay(script, body)
    assert script.media == [b"\x00opus-%d" % i for i in range(5)]
    assert script.kinds() == ["cc/setup_req", "sc/ka_req", "cc/conn_rsp", "cc/info_req", "cc/rel_req"]


async def test_peer_hang_up_mid_stream_ends_the_call_cleanly(clock: trio.testing.MockClock) -> None:
    script = Script(hang_up_after_media=3)

    async def body(relay: tuple[str, int]) -> None:
        async with _call(relay[1]) as call:
            await call.invite(PEER_MID)
            await call.wait_answer()
            with pytest.raises(PlanetCallReleased) as ended:
                for i in range(100):
                    await call.send(b"\x00%d" % i)
                    await trio.sleep(0.02)
            assert ended.value.event == CallReleased(by_peer=True, rel_code=5, releaser="responder")
            assert [p async for p in call.received] == []  # the payload stream ends
            assert call.connection.get_timer() is None  # keepalives stopped
            assert call._sock.fileno() == -1  # the socket closed with the call
            await trio.sleep(30)  # still inside the block: nothing more goes out

    await with_relay(script, body)
    assert len(script.media) == 3
    assert script.kinds()[-1] == "cc/info_req"  # no rel_req of ours, no keepalive after the hang-up


async def test_no_answer_is_a_typed_timeout(clock: trio.testing.MockClock) -> None:
    script = Script(answer_after=None)

    async def body(relay: tuple[str, int]) -> None:
        async with _call(relay[1], PlanetConfig(answer_timeout_ms=60_000)) as call:
            await call.invite(PEER_MID)
            with pytest.raises(PlanetCallFailed) as failed:
                await call.wait_answer()
            assert failed.value.event.reason is FailureReason.NO_ANSWER
            assert trio.current_time() == pytest.approx(60.0)
        await trio.sleep(0.5)

    await with_relay(script, body)
    times = [t for t, k, _ in script.seen if k == "sc/ka_req"]
    assert times == pytest.approx([0.0, 15.0, 30.0, 45.0])  # one at once, then the relay's 15 s interval
    assert script.kinds()[-1] == "cc/rel_req"
    assert script.seen[-1][0] == pytest.approx(60.0)


async def test_a_silent_relay_gets_the_same_setup_four_times_then_a_typed_timeout(
    clock: trio.testing.MockClock,
) -> None:
    script = Script(silent=True)

    async def body(relay: tuple[str, int]) -> None:
        async with _call(relay[1]) as call:
            with pytest.raises(PlanetCallFailed) as failed:
                await call.invite(PEER_MID)
            assert failed.value.event.reason is FailureReason.SETUP_TIMEOUT
            assert trio.current_time() == pytest.approx(10.0)
        await trio.sleep(0.5)

    await with_relay(script, body)
    setups = [(t, data) for t, k, data in script.seen if k == "cc/setup_req"]
    assert [t for t, _ in setups] == pytest.approx([0.0, 1.0, 2.0, 4.0])
    assert len({data for _, data in setups}) == 1  # the identical datagram each time
    assert script.kinds()[-1] == "cc/rel_req"


async def test_cancellation_hangs_up_and_closes_the_socket(clock: trio.testing.MockClock) -> None:
    script = Script(answer_after=None)

    async def body(relay: tuple[str, int]) -> None:
        with trio.move_on_after(5.0):
            async with _call(relay[1]) as call:
                await call.invite(PEER_MID)
                await call.wait_answer()  # cancelled while ringing
        assert call.outcome == CallReleased(by_peer=False)
        assert call._sock.fileno() == -1
        await trio.sleep(0.5)

    await with_relay(script, body)
    assert script.kinds()[-1] == "cc/rel_req"
    assert script.seen[-1][0] == pytest.approx(5.0)


async def test_a_refused_setup_raises_from_invite(clock: trio.testing.MockClock) -> None:
    script = Script(refuse=3)

    async def body(relay: tuple[str, int]) -> None:
        async with _call(relay[1]) as call:
            with pytest.raises(PlanetCallFailed) as failed:
                await call.invite(PEER_MID)
            assert (failed.value.event.reason, failed.value.event.code) == (FailureReason.REFUSED, 3)
            with pytest.raises(PlanetCallFailed):
                await call.send(b"\x00")
        await trio.sleep(0.5)

    await with_relay(script, body)
    assert script.kinds() == ["cc/setup_req"]  # refused by LINE: no probes, no rel_req
