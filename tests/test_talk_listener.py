"""The sync listener: every operation handled exactly once and in order, across faults before the reply,
mid-body resets, stalls, a crash between a handler returning and the revision being stored, restarts and
EXPIRED_REVISION; bounded backoff (MockClock); a revoked token stops it with ReloginRequired; cancellation
ends it promptly; one bad operation never stops it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
import trio
import trio.testing

from linecall.protocol.talk.client import (
    ClientTimeouts,
    ReloginRequired,
    SyncInProgressError,
    TalkClient,
    TalkTransportError,
)
from linecall.protocol.talk.events import CallIncoming, Event, MessageReceived, MessageSent
from linecall.protocol.talk.listener import ListenerHealth, run_listener
from linecall.protocol.talk.storage import MemoryTalkStorage
from linecall.protocol.talk.structs import (
    Message,
    Operation,
    OperationResponse,
    OpType,
    RevisionTriple,
    SyncResponse,
)
from linecall.protocol.talk.sync import BackoffPolicy
from linecall.protocol.thrift import values as tv
from linecall.protocol.thrift.errors import ErrorCode, TalkException
from tests.sim.legy import (
    Fault,
    GarbageBody,
    HttpError,
    LegyServer,
    RaiseTalk,
    ResetBeforeReply,
    ResetMidBody,
    Stall,
    running_legy_server,
)
from tests.talk_sim_support import GROUP_MID, OWN_MID, PEER_MID, TRANSPORT_TOKENS, make_client, register

FAST_BACKOFF = BackoffPolicy(initial=0.01, factor=2.0, cap=0.05, jitter=0.5)
TIMEOUTS = ClientTimeouts(connect=1.0, rpc=1.0, sync=1.0)


class SimulatedCrash(Exception):
    """Stands for the process dying at a chosen point."""


@dataclass
class Recorder:
    """A handler that records events and says when it has seen enough."""

    want: int = 0
    events: list[Event] = field(default_factory=list)
    enough: trio.Event = field(default_factory=trio.Event)
    fail_on: set[str] = field(default_factory=set)

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        if len(self.events) >= self.want:
            self.enough.set()
        if isinstance(event, MessageReceived | MessageSent) and event.text in self.fail_on:
            raise RuntimeError("handler bug")

    @property
    def texts(self) -> list[str | None]:
        return [e.text for e in self.events if isinstance(e, MessageReceived | MessageSent)]


async def listen_until(
    client: TalkClient,
    storage: MemoryTalkStorage,
    recorder: Recorder,
    *,
    health: ListenerHealth | None = None,
    timeout: float = 5.0,
) -> None:
    """Run the listener until the recorder has what it wants, then cancel it."""
    with trio.fail_after(timeout):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: run_listener(
                    client,
                    storage,
                    recorder,
                    own_mid=OWN_MID,
                    backoff=FAST_BACKOFF,
                    uniform=lambda: 0.5,
                    min_poll_interval=0.0,
                    health=health,
                )
            )
            await recorder.enough.wait()
            nursery.cancel_scope.cancel()


@pytest.fixture
async def server() -> AsyncIterator[LegyServer]:
    async with running_legy_server(sync_hold=0.1, echo_sent_messages=False) as srv:
        for shape in TRANSPORT_TOKENS.values():
            register(srv, shape)
        yield srv


def push_texts(server: LegyServer, *texts: str) -> list[str]:
    return [server.push_message(t, sender=PEER_MID).message.id for t in texts]  # type: ignore[union-attr,misc]


# --- delivery ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["plain", "gateway"])
async def test_operations_delivered_once_and_in_order(server: LegyServer, transport: str) -> None:
    push_texts(server, "a", "b", "c")
    storage = MemoryTalkStorage()
    recorder = Recorder(want=5)
    health = ListenerHealth()

    async def later() -> None:
        while len(recorder.events) < 3:
            await trio.sleep(0.005)
        server.push_message("d", sender=PEER_MID, to=GROUP_MID)
        server.push_operation(OpType.NOTIFIED_RECEIVED_CALL, param1="call-1", param2=PEER_MID, param3="AUDIO")

    async with (
        make_client(server, TRANSPORT_TOKENS[transport].text, storage, timeouts=TIMEOUTS) as client,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(later)
        await listen_until(client, storage, recorder, health=health)
    assert recorder.texts == ["a", "b", "c", "d"]
    assert recorder.events[4] == CallIncoming(104, "call-1", PEER_MID, "AUDIO")
    group = recorder.events[3]
    assert isinstance(group, MessageReceived) and group.reply_target == GROUP_MID
    assert storage.get_revision().revision == server.head_revision == 104
    assert storage.get_revision().individual_revision == server.individual_revision
    assert health.operations_handled == 5 and health.last_sync_ok is not None
    assert server.max_sync_in_flight == 1
    assert {r.transport for r in server.requests} == {transport}


FAULTS: list[tuple[str, Fault]] = [
    ("reset-before-reply", ResetBeforeReply()),
    ("reset-mid-body", ResetMidBody(after=12)),
    ("http-503", HttpError(503)),
    ("garbage", GarbageBody()),
    ("stall-past-read-timeout", Stall(30)),
    ("server-busy", RaiseTalk(ErrorCode.SERVER_BUSY)),
]


@pytest.mark.parametrize("transport", ["plain", "gateway"])
@pytest.mark.parametrize("fault", [f[1] for f in FAULTS], ids=[f[0] for f in FAULTS])
async def test_faults_neither_lose_nor_repeat_operations(
    server: LegyServer, fault: Fault, transport: str
) -> None:
    push_texts(server, "a", "b")
    upfront = 1 if isinstance(fault, Stall) else 2  # a stall costs a whole timeout each time
    server.inject("sync", *[fault] * upfront)
    storage = MemoryTalkStorage()
    recorder = Recorder(want=3)
    health = ListenerHealth()
    quick = ClientTimeouts(connect=1.0, rpc=0.25, sync=0.25)

    async def later() -> None:
        # once "a" and "b" are in and a poll is held, fault the next poll, then queue "c" behind it
        while len(recorder.events) < 2 or not server.sync_in_flight:
            await trio.sleep(0.002)
        seen = len(server.requests)
        server.inject("sync", fault)
        while len(server.requests) == seen:
            await trio.sleep(0.002)
        push_texts(server, "c")

    async with (
        make_client(server, TRANSPORT_TOKENS[transport].text, storage, timeouts=quick) as client,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(later)
        await listen_until(client, storage, recorder, health=health)
    assert recorder.texts == ["a", "b", "c"]
    assert storage.get_revision().revision == server.head_revision
    assert health.consecutive_failures == 0 and health.duplicates_dropped == 0
    assert server.pending_faults == 0 and len(server.requests) >= upfront + 4  # faulted polls + 3 good ones
    assert server.max_sync_in_flight == 1


class CrashingStorage(MemoryTalkStorage):
    """Dies (once) right after the handler of ``crash_after`` returned and its id was marked handled,
    before the revision is committed."""

    def __init__(self, crash_after: str) -> None:
        super().__init__()
        self.crash_after: str | None = crash_after

    def commit_operation(self, revision: RevisionTriple, message_id: str | None) -> None:
        if message_id is not None and message_id == self.crash_after:
            self.crash_after = None
            raise SimulatedCrash
        super().commit_operation(revision, message_id)


async def test_crash_between_handler_and_revision_store_handles_each_once(server: LegyServer) -> None:
    ids = push_texts(server, "a", "b", "c")
    storage = CrashingStorage(crash_after=ids[1])
    recorder = Recorder(want=99)
    async with make_client(server, TRANSPORT_TOKENS["plain"].text, storage, timeouts=TIMEOUTS) as client:
        with trio.fail_after(5), pytest.raises(SimulatedCrash):
            await run_listener(client, storage, recorder, own_mid=OWN_MID, min_poll_interval=0.0)
        assert recorder.texts == ["a", "b"]
        assert storage.get_revision().revision == 100  # "b" (101) was handled but its revision not stored
        assert storage.has_message(ids[1])

        # restart on the same storage: "b" comes again and is dropped by its stored id
        health = ListenerHealth()
        recorder.want = 3
        await listen_until(client, storage, recorder, health=health)
    assert recorder.texts == ["a", "b", "c"]
    assert health.duplicates_dropped == 1
    assert server.sync_requests[1].position.revision == 100
    assert storage.get_revision().revision == 102


async def test_restart_resumes_exactly_from_the_stored_revision(server: LegyServer) -> None:
    push_texts(server, "a", "b", "c")
    storage = MemoryTalkStorage()
    first = Recorder(want=3)
    async with make_client(server, TRANSPORT_TOKENS["gateway"].text, storage, timeouts=TIMEOUTS) as client:
        await listen_until(client, storage, first)
    stored = storage.get_revision()
    assert stored.revision == 102
    push_texts(server, "d", "e")
    polls_before = len(server.sync_requests)
    second = Recorder(want=2)
    async with make_client(server, TRANSPORT_TOKENS["gateway"].text, storage, timeouts=TIMEOUTS) as client:
        await listen_until(client, storage, second)
    assert first.texts == ["a", "b", "c"] and second.texts == ["d", "e"]
    assert server.sync_requests[polls_before].position == stored


async def test_expired_revision_restarts_from_zero_and_drops_replays(server: LegyServer) -> None:
    push_texts(server, "a", "b")
    storage = MemoryTalkStorage()
    async with make_client(server, TRANSPORT_TOKENS["plain"].text, storage, timeouts=TIMEOUTS) as client:
        await listen_until(client, storage, Recorder(want=2))
        server.expired_below = server.head_revision + 1  # everything we hold is too old now
        push_texts(server, "c")
        recorder, health = Recorder(want=1), ListenerHealth()
        second_run = len(server.sync_requests)
        await listen_until(client, storage, recorder, health=health)
    assert recorder.texts == ["c"]
    assert health.duplicates_dropped == 2  # the replayed "a" and "b"
    assert [r.position.revision for r in server.sync_requests[second_run : second_run + 2]] == [101, 0]
    assert storage.get_revision().revision == 102


async def test_full_sync_reply_moves_the_revision(server: LegyServer) -> None:
    server.full_sync_from_zero = True
    push_texts(server, "old-1", "old-2")
    storage = MemoryTalkStorage()
    recorder = Recorder(want=1)

    async def later() -> None:
        while len(server.sync_requests) < 2:
            await trio.sleep(0.005)
        push_texts(server, "new")

    async with (
        make_client(server, TRANSPORT_TOKENS["plain"].text, storage, timeouts=TIMEOUTS) as client,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(later)
        await listen_until(client, storage, recorder)
    assert recorder.texts == ["new"]
    assert server.sync_requests[1].position.revision == 101


async def test_bad_operations_are_skipped_not_fatal(server: LegyServer) -> None:
    push_texts(server, "a")
    server.push_raw_operation(tv.struct((1, tv.i64(101)), (3, tv.text("not an i32"))))  # undecodable
    server.push_operation(OpType.RECEIVE_MESSAGE)  # a message operation without its message
    push_texts(server, "boom", "z")
    storage = MemoryTalkStorage()
    recorder = Recorder(want=3, fail_on={"boom"})
    health = ListenerHealth()
    async with make_client(server, TRANSPORT_TOKENS["plain"].text, storage, timeouts=TIMEOUTS) as client:
        await listen_until(client, storage, recorder, health=health)
    assert recorder.texts == ["a", "boom", "z"]
    assert health.operations_skipped == 3 and health.operations_handled == 2
    assert storage.get_revision().revision == server.head_revision


# --- stopping -------------------------------------------------------------------------------------------

REVOCATIONS: list[tuple[str, Fault]] = [
    ("authentication-failed", RaiseTalk(ErrorCode.AUTHENTICATION_FAILED)),
    ("not-authorized-device", RaiseTalk(ErrorCode.NOT_AUTHORIZED_DEVICE)),
    ("http-401", HttpError(401)),
    ("http-403", HttpError(403)),
]


@pytest.mark.parametrize("failure", [f[1] for f in REVOCATIONS], ids=[f[0] for f in REVOCATIONS])
async def test_revoked_token_stops_the_listener_without_retrying(failure: Fault) -> None:
    shape = TRANSPORT_TOKENS["gateway"]
    async with running_legy_server(sync_hold=0.05, auth_failure=failure) as server:
        register(server, shape)
        push_texts(server, "a")
        storage = MemoryTalkStorage()

        async def handler(event: Event) -> None:
            server.revoke(shape.text)

        async with make_client(server, shape.text, storage, timeouts=TIMEOUTS) as client:
            with trio.fail_after(5), pytest.raises(ReloginRequired) as caught:
                await run_listener(client, storage, handler, backoff=FAST_BACKOFF, min_poll_interval=0.0)
        assert [r.method for r in server.requests] == ["sync", "sync"]  # one refused poll, never retried
        assert len(server.sync_requests) == 1
    assert caught.value.variable == "LINE_AUTH_TOKEN"
    assert storage.get_revision().revision == 100


async def test_cancellation_ends_a_held_poll_promptly() -> None:
    async with running_legy_server(sync_hold=60) as server:
        register(server, TRANSPORT_TOKENS["plain"])
        patient = ClientTimeouts(connect=1.0, rpc=1.0, sync=120.0)
        async with make_client(server, TRANSPORT_TOKENS["plain"].text, timeouts=patient) as client:
            with trio.fail_after(3):  # a bound on the test, not a timing assertion
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(run_listener, client, MemoryTalkStorage(), Recorder())
                    while server.sync_in_flight == 0:
                        await trio.sleep(0.005)
                    nursery.cancel_scope.cancel()
            assert not client.sync_in_flight


async def test_a_second_listener_on_the_same_client_is_refused(server: LegyServer) -> None:
    async with make_client(server, TRANSPORT_TOKENS["plain"].text, timeouts=TIMEOUTS) as client:
        with trio.fail_after(3):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_listener, client, MemoryTalkStorage(), Recorder())
                while not server.sync_in_flight:
                    await trio.sleep(0.001)
                with pytest.raises(SyncInProgressError):
                    await run_listener(client, MemoryTalkStorage(), Recorder())
                nursery.cancel_scope.cancel()
    assert server.max_sync_in_flight == 1


# --- timing, on the mock clock ----------------------------------------------------------------------------


@dataclass
class ScriptedSource:
    """A sync source that fails ``failures`` times, then returns ``reply`` once, then empty replies."""

    failures: int
    reply: SyncResponse
    error: Callable[[], Exception] = lambda: TalkTransportError("down", method="sync", path="/SYNC4")
    calls: list[float] = field(default_factory=list)

    async def sync(self, position: RevisionTriple) -> SyncResponse:
        self.calls.append(trio.current_time())
        if len(self.calls) <= self.failures:
            raise self.error()
        if len(self.calls) == self.failures + 1:
            return self.reply
        return SyncResponse(OperationResponse())


def one_message_reply() -> SyncResponse:
    message = Message(from_=PEER_MID, to=OWN_MID, to_type=0, id="1", text="hi", content_type=0)
    op = Operation(revision=7, type=OpType.RECEIVE_MESSAGE, message=message)
    return SyncResponse(OperationResponse(operations=(op,)))


async def test_backoff_is_exponential_jittered_and_capped(autojump_clock: trio.testing.MockClock) -> None:
    policy = BackoffPolicy(initial=1.0, factor=2.0, cap=20.0, jitter=0.5)
    samples = iter([0.0, 1.0, 0.5, 0.25, 0.9, 0.1, 0.7, 0.3, 0.6, 0.2])
    source = ScriptedSource(failures=10, reply=one_message_reply())
    recorder = Recorder(want=1)
    storage = MemoryTalkStorage()
    health = ListenerHealth()
    draws: list[float] = []

    def uniform() -> float:
        draws.append(next(samples))
        return draws[-1]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: run_listener(source, storage, recorder, backoff=policy, uniform=uniform, health=health)
        )
        await recorder.enough.wait()
        assert health.consecutive_failures == 0
        nursery.cancel_scope.cancel()
    gaps = [b - a for a, b in zip(source.calls, source.calls[1:11], strict=False)]
    expected = [policy.delay(n, lambda s=s: s) for n, s in enumerate(draws)]
    assert gaps == pytest.approx(expected)
    assert all(policy.cap * (1 - policy.jitter) <= g <= policy.cap for g in gaps[5:])  # capped from attempt 5
    assert storage.get_revision().revision == 7


async def test_quick_empty_replies_are_rate_limited(autojump_clock: trio.testing.MockClock) -> None:
    source = ScriptedSource(failures=0, reply=SyncResponse(OperationResponse()))
    ok: list[float] = []
    with trio.move_on_after(9.5):
        await run_listener(
            source, MemoryTalkStorage(), Recorder(), min_poll_interval=1.0, on_sync_ok=lambda: ok.append(1)
        )
    assert len(source.calls) == 10 and len(ok) == 10  # one poll per second, not a busy loop


async def test_expired_revision_twice_in_a_row_backs_off(autojump_clock: trio.testing.MockClock) -> None:
    source = ScriptedSource(
        failures=3, reply=one_message_reply(), error=lambda: TalkException(ErrorCode.EXPIRED_REVISION, "old")
    )
    storage = MemoryTalkStorage()
    storage.set_revision(RevisionTriple(50, 1, 1))
    recorder = Recorder(want=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: run_listener(source, storage, recorder, backoff=FAST_BACKOFF, uniform=lambda: 1.0)
        )
        await recorder.enough.wait()
        nursery.cancel_scope.cancel()
    gaps = [b - a for a, b in zip(source.calls, source.calls[1:4], strict=False)]
    assert gaps[0] == 0  # the first EXPIRED_REVISION resets and re-polls at once
    assert gaps[1:] == pytest.approx([0.01, 0.02])  # a repeat is a failure like any other
    assert storage.get_revision().revision == 7


async def test_talk_exception_relogin_from_any_source_is_typed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    source = ScriptedSource(
        failures=1,
        reply=one_message_reply(),
        error=lambda: TalkException(ErrorCode.NOT_AUTHORIZED_DEVICE, ""),
    )
    with pytest.raises(ReloginRequired):
        await run_listener(source, MemoryTalkStorage(), Recorder())
    assert len(source.calls) == 1
