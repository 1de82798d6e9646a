"""The rel_req of a cancelled call is never lost to another task's cancelled flush.

The driver's receiver and timer tasks flush the connection too. When the whole call is cancelled (SIGTERM)
while one of them is mid-flush, the hang-up queues rel_req and waits for the flush lock; the flushing task,
itself cancelled, then takes the rel_req off the connection and must still put it on the wire. Here the
timer task's keepalive send is held open (a send that completes, but late) at the moment the call is
cancelled, which makes that interleaving certain instead of occasional.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from tests.planet_fake_relay import PEER_MID
from tests.test_planet_driver import Script, _call, clock, with_relay

__all__ = ["clock"]


class _SlowKeepalive:
    """The call's socket, except that sending the first keepalive after ``armed`` returns only once
    ``release`` is set (the datagram itself goes out at once, as a real send's would)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.armed = False
        self.holding = trio.Event()
        self.release = trio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    async def sendto(self, data: bytes, addr: Any) -> int:
        sent: int = await self._sock.sendto(data, addr)
        if self.armed and data[0] & 0xC0 != 0x80:  # a planet datagram (the keepalive), not our SRTP
            self.armed = False
            self.holding.set()
            with trio.CancelScope(shield=True):
                await self.release.wait()
        return sent


async def test_cancelled_mid_keepalive_the_hang_up_still_reaches_the_relay(
    clock: trio.testing.MockClock,
) -> None:
    script = Script()

    async def body(relay: tuple[str, int]) -> None:
        slow: _SlowKeepalive | None = None
        async with trio.open_nursery() as nursery:
            with trio.CancelScope() as call_scope:
                async with _call(relay[1]) as call:
                    await call.invite(PEER_MID)
                    await call.wait_answer()
                    slow = _SlowKeepalive(call._sock)
                    call._sock = slow  # type: ignore[assignment]
                    slow.armed = True
                    await slow.holding.wait()  # the timer task is inside its flush, holding the lock

                    async def release_soon() -> None:
                        await trio.sleep(0.1)
                        slow.release.set()

                    nursery.start_soon(release_soon)
                    call_scope.cancel()  # SIGTERM: the body and the driver's tasks are all cancelled
                    await trio.sleep_forever()
        assert slow is not None and call.outcome is not None
        await trio.sleep(0.5)

    await with_relay(script, body)
    assert script.kinds()[-2:] == ["sc/ka_req", "cc/rel_req"]  # the held keepalive, then the hang-up
