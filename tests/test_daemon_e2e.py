"""The real daemon (in-process, its root nursery) against the product's LINE simulator, end to end.

Each test starts the simulator (legy + a PLANET relay per call + an answering phone or group mixer that
decodes what it hears) and ``run_daemon`` pointed at it, then acts as the people in the chats. Calls are
real time with 1 s clips, so these are the project's slowest tests; everything else about timing is
bounded with ``trio.fail_after``.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import trio

from linecall.bot.admission import Refusal
from linecall.bot.calls import CallEnd
from linecall.bot.dispatch import REPLY_CALLING, REPLY_GROUP_JOIN, REPLY_GROUP_START, REPLY_WRONG_CHAT
from linecall.bot.simulator.legy import HttpError, RaiseTalk
from linecall.bot.simulator.line import (
    ALICE_MID,
    BOB_MID,
    GROUP_MID,
    ROOM_MID,
    running_line_simulator,
)
from linecall.bot.simulator.planet_records import CallState
from linecall.bot.simulator.planet_relay import PeerScript
from linecall.bot.simulator.planet_relay import Refusal as PeerRefusal
from linecall.protocol.talk.events import CallCancel, CallIncoming
from linecall.protocol.talk.structs import OpType
from linecall.protocol.thrift.errors import ErrorCode
from tests.audio_match import audio_match
from tests.daemon_support import clean_env, daemon_settings, noise_wav, running_daemon

__all__ = ["clean_env"]

pytestmark = pytest.mark.realtime

REFUSING = PeerScript(refuse=PeerRefusal(result=486))


def user(n: int) -> str:
    return "u" + f"{n:02x}" * 16


@pytest.mark.parametrize("gateway", [False, True], ids=["plain", "gateway"])
async def test_one_to_one_call_end_to_end(clean_env: Path, gateway: bool) -> None:
    wav, pcm = noise_wav(clean_env)
    with trio.fail_after(20):
        async with running_line_simulator() as sim:
            sim.peer_script = PeerScript(ring_delay_s=0.1)
            settings = daemon_settings(sim, wav, **sim.daemon_settings(gateway=gateway))
            async with running_daemon(settings) as daemon, httpx.AsyncClient() as http:
                url = daemon.http_urls[0]
                first = await http.get(f"{url}/healthz")  # before the first sync completes
                while (health := await http.get(f"{url}/healthz")).status_code != 200:
                    await trio.sleep(0.05)
                sim.say("!call")
                await sim.wait_reply(REPLY_CALLING, chat=ALICE_MID)
                call = await sim.wait_call()
                assert call.peer == ALICE_MID and sim.legy.call_route_requests[0].from_env_info == {
                    "devname": "Android"
                }
                await call.wait_for("cc/rel_req")
                while not daemon.dispatcher or not daemon.dispatcher.outcomes:
                    await trio.sleep(0.01)
                metrics = (await http.get(f"{url}/metrics")).text
    assert first.status_code == 503 and first.json()["reason"] == "no sync has completed yet"
    assert health.json() == {"status": "ok", "reason": "ok"}
    outcome = daemon.dispatcher.outcomes[0]
    assert outcome.end is CallEnd.COMPLETED and outcome.answered and outcome.packets_sent == 50
    stats = call.core.stats()
    assert stats.answered and stats.rel_req_seen and stats.releaser == "initiator"
    assert stats.media_packets == 50 and stats.media_lost == 0
    assert audio_match(pcm, call.heard_pcm()) >= 0.9
    assert sim.replies() == [REPLY_CALLING]  # nothing else: a completed call needs no explanation
    assert 'linecall_calls_started_total{kind="one_to_one",trigger="chat"} 1.0' in metrics
    assert 'linecall_calls_answered_total{kind="one_to_one"} 1.0' in metrics
    assert "linecall_packets_sent_total 50.0" in metrics


@pytest.mark.parametrize("running", [False, True], ids=["start", "join"])
async def test_group_call_end_to_end(clean_env: Path, running: bool) -> None:
    wav, pcm = noise_wav(clean_env, seed=11)
    with trio.fail_after(20):
        async with running_line_simulator() as sim:
            sim.set_group_call_online(GROUP_MID, running)
            async with running_daemon(daemon_settings(sim, wav)) as daemon:
                sim.say("!call", chat=GROUP_MID)
                call = await sim.wait_call()
                await call.wait_ended()
                while not daemon.dispatcher or not daemon.dispatcher.outcomes:
                    await trio.sleep(0.01)
    assert sim.replies(GROUP_MID) == [REPLY_GROUP_JOIN if running else REPLY_GROUP_START]
    assert sim.legy.group_route_requests[0].is_initial_host is (not running)
    outcome = daemon.dispatcher.outcomes[0]
    assert outcome.end is CallEnd.COMPLETED and outcome.group and outcome.joined_existing is running
    assert call.is_group and call.released_by_client and call.media_packets == 25
    assert audio_match(pcm, call.heard_pcm()) >= 0.9


async def test_ten_chats_call_at_once_and_all_complete(clean_env: Path) -> None:
    wav, pcm = noise_wav(clean_env, seed=3)
    people = [user(n) for n in range(1, 11)]
    with trio.fail_after(30):
        async with running_line_simulator() as sim, running_daemon(daemon_settings(sim, wav)) as daemon:
            for person in people:
                sim.say("!call", sender=person)
            calls = [await sim.wait_call(i) for i in range(10)]
            for call in calls:
                await call.wait_ended()
            while not daemon.dispatcher or len(daemon.dispatcher.outcomes) < 10:
                await trio.sleep(0.01)
            assert daemon.gate.live_count == 0
    assert sorted(call.peer for call in calls) == sorted(people)
    assert all(o.end is CallEnd.COMPLETED for o in daemon.dispatcher.outcomes)
    assert all(call.media_packets == 50 and call.released_by_client for call in calls)
    assert min(audio_match(pcm, call.heard_pcm()) for call in calls) >= 0.9
    assert sorted(m.message.to or "" for m in sim.sent_messages) == sorted(people)


async def test_second_call_in_the_same_chat_is_refused_while_one_runs(clean_env: Path) -> None:
    wav, _pcm = noise_wav(clean_env)
    with trio.fail_after(20):
        async with running_line_simulator() as sim, running_daemon(daemon_settings(sim, wav)) as daemon:
            sim.say("!call")
            sim.say("  !call  ")  # exact match after trimming: a command too
            await sim.wait_reply(Refusal.CHAT_BUSY.reply, chat=ALICE_MID)
            call = await sim.wait_call()
            await call.wait_ended()
            while not daemon.dispatcher or not daemon.dispatcher.outcomes:
                await trio.sleep(0.01)
            sim.say("!call")  # the chat is free again
            await sim.wait_call(1)
    assert len(sim.legy.call_route_requests) == 2
    # the refusal and the first call's "calling" go out from separate tasks, in either order
    assert sorted(sim.replies(ALICE_MID)[:2]) == sorted([REPLY_CALLING, Refusal.CHAT_BUSY.reply])


async def test_allowlist_and_rate_limit(clean_env: Path) -> None:
    wav, _pcm = noise_wav(clean_env)
    with trio.fail_after(20):
        async with running_line_simulator() as sim:
            sim.peer_script = REFUSING  # calls end at once; only admission matters here
            settings = daemon_settings(
                sim, wav, line_call_allowed_mids=ALICE_MID, line_call_rate_per_minute="1"
            )
            async with running_daemon(settings):
                sim.say("!call", sender=BOB_MID)
                await sim.wait_reply(Refusal.NOT_ALLOWED.reply, chat=BOB_MID)
                sim.say("!call")
                call = await sim.wait_call()
                await call.wait_ended()
                await sim.wait_reply("LINE refused the call (code 486)", chat=ALICE_MID)
                sim.say("!call")
                await sim.wait_reply(Refusal.RATE_LIMITED.reply, chat=ALICE_MID)
                # The account's own command (from its phone) is not subject to either rule.
                sim.say("!call", sender=sim.account_mid, chat=BOB_MID)
                own = await sim.wait_call(1)
    assert own.peer == BOB_MID
    assert [r.to for r in sim.legy.call_route_requests] == [ALICE_MID, BOB_MID]


async def test_stale_command_is_answered_but_not_dialled(clean_env: Path) -> None:
    wav, _pcm = noise_wav(clean_env)
    with trio.fail_after(20):
        async with (
            running_line_simulator() as sim,
            running_daemon(daemon_settings(sim, wav, line_call_max_command_age_s=60)),
        ):
            now_ms = int(time.time() * 1000)
            sim.say("!call", created_time=now_ms - 61_000)
            await sim.wait_reply("missed while offline — send !call again", chat=ALICE_MID)
            sim.say("!call", sender=BOB_MID, created_time=now_ms - 30_000)  # young enough
            await sim.wait_call()
    assert [r.to for r in sim.legy.call_route_requests] == [BOB_MID]


async def test_other_chats_and_other_texts(clean_env: Path) -> None:
    wav, _pcm = noise_wav(clean_env)
    square_chat = "m" + "5" * 32
    with trio.fail_after(20):
        async with running_line_simulator() as sim:
            sim.peer_script = REFUSING
            async with running_daemon(daemon_settings(sim, wav)):
                sim.say("!call", chat=square_chat)
                sim.say("!calling")
                sim.say("hello")
                sim.say("!call", chat=ROOM_MID)
                await sim.wait_reply(REPLY_WRONG_CHAT, chat=square_chat)
                await sim.wait_reply(REPLY_GROUP_START, chat=ROOM_MID)
                await sim.wait_call()
    assert [r.chat_mid for r in sim.legy.group_route_requests] == [ROOM_MID]
    assert sim.legy.call_route_requests == []


@pytest.mark.parametrize(
    ("script", "fault", "reply", "end"),
    [
        (PeerScript(answer=False), None, "no answer", CallEnd.NO_ANSWER),
        (PeerScript.minimal(hangup_after_s=0.3), None, "the call was hung up before the end", None),
        (
            PeerScript(),
            RaiseTalk(ErrorCode.INVALID_STATE, "nope"),
            "LINE refused the call route: INVALID_STATE — check LINE_DEVICE and LINE_CALL_DEVNAME",
            CallEnd.REFUSED,
        ),
        (PeerScript(), HttpError(503), "could not get a call route from LINE — try again in a moment", None),
    ],
    ids=["no-answer", "peer-hangup", "invalid-state", "route-5xx"],
)
async def test_failures_get_a_short_reply_and_the_listener_goes_on(
    clean_env: Path, script: PeerScript, fault: RaiseTalk | HttpError | None, reply: str, end: CallEnd | None
) -> None:
    wav, _pcm = noise_wav(clean_env)
    with trio.fail_after(20):
        async with running_line_simulator() as sim:
            sim.peer_scripts[ALICE_MID] = script
            sim.peer_script = REFUSING
            if fault is not None:
                sim.inject("acquireCallRoute", fault)
            settings = daemon_settings(sim, wav, line_call_answer_timeout_ms=400)
            async with running_daemon(settings) as daemon:
                sim.say("!call")
                await sim.wait_reply(reply, chat=ALICE_MID)
                sim.say("!call", sender=BOB_MID)  # still listening, and calls still work
                await sim.wait_reply("LINE refused the call (code 486)", chat=BOB_MID)
    assert daemon.dispatcher is not None
    if end is not None:
        assert daemon.dispatcher.outcomes[0].end is end


async def test_listener_survives_5xx_resets_and_stalls_without_losing_or_repeating_a_command(
    clean_env: Path,
) -> None:
    from linecall.bot.simulator.legy import ResetBeforeReply, ResetMidBody, Stall
    from linecall.protocol.talk.client import ClientTimeouts
    from tests.daemon_support import daemon_options

    wav, _pcm = noise_wav(clean_env)
    people = [user(n) for n in range(20, 26)]
    with trio.fail_after(30):
        async with running_line_simulator(sync_hold=0.2) as sim:
            sim.peer_script = REFUSING
            options = daemon_options(timeouts=ClientTimeouts(connect=1.0, rpc=2.0, sync=0.6))
            async with running_daemon(daemon_settings(sim, wav), options) as daemon:
                faults = [
                    HttpError(500),
                    ResetBeforeReply(),
                    ResetMidBody(after=5),
                    Stall(1.0),
                    HttpError(502),
                ]
                for person, fault in zip(people, [*faults, None], strict=True):
                    sim.say("!call", sender=person)
                    if fault is not None:
                        sim.inject("sync", fault)
                    await trio.sleep(0.05)
                for person in people:
                    await sim.wait_reply("LINE refused the call (code 486)", chat=person)
                await trio.sleep(0.5)  # a few more polls: nothing is delivered twice
                errors = daemon.listener_health.consecutive_failures
    assert sim.legy.pending_faults == 0 and errors == 0
    assert sorted(r.to for r in sim.legy.call_route_requests) == sorted(people)
    assert sorted(sim.replies()) == sorted([REPLY_CALLING, "LINE refused the call (code 486)"] * len(people))


async def test_call_events_reach_subscribers(clean_env: Path) -> None:
    wav, _pcm = noise_wav(clean_env)
    with trio.fail_after(10):
        async with running_line_simulator() as sim, running_daemon(daemon_settings(sim, wav)) as daemon:
            with daemon.hub.subscribe() as events:
                sim.legy.push_operation(
                    OpType.NOTIFIED_RECEIVED_CALL, param1="call-1", param2=ALICE_MID, param3="AUDIO"
                )
                sim.legy.push_operation(
                    OpType.CANCEL_CALL, param1="call-1", param2=ALICE_MID, param3="CANCEL"
                )
                first = await events.receive()
                second = await events.receive()
    assert isinstance(first, CallIncoming) and (first.call_mid, first.sender, first.kind) == (
        "call-1",
        ALICE_MID,
        "AUDIO",
    )
    assert isinstance(second, CallCancel) and second.reason == "CANCEL"


async def test_restart_mid_stream_does_not_handle_the_command_again(clean_env: Path) -> None:
    wav, _pcm = noise_wav(clean_env, seconds=2.0)
    store = clean_env / "linecall.sqlite3"
    with trio.fail_after(30):
        async with running_line_simulator() as sim:
            settings = daemon_settings(sim, wav, line_storage_file=store)
            async with running_daemon(settings):
                sim.say("!call")
                call = await sim.wait_call()
                while call.media_packets < 10:  # mid-stream
                    await call.relay.wait_changed()
            # stopped like SIGTERM: the call hung up on the way out
            await call.wait_for("cc/rel_req")
            assert call.core.state is CallState.RELEASED_BY_CLIENT and call.media_packets < 100
            sim.say("!call", sender=BOB_MID)  # arrives while the daemon is down
            async with running_daemon(settings) as second:
                second_call = await sim.wait_call(1)
                await trio.sleep(0.6)  # more syncs pass: nothing else is dialled
                synced = second.listener_health.last_sync_ok is not None
    assert synced and second_call.peer == BOB_MID
    assert [r.to for r in sim.legy.call_route_requests] == [ALICE_MID, BOB_MID]
    assert sim.replies(ALICE_MID) == [REPLY_CALLING]


async def test_revoked_token_lets_the_live_call_finish_then_exits_3(clean_env: Path) -> None:
    wav, pcm = noise_wav(clean_env, seconds=1.5)
    with trio.fail_after(20):
        async with (
            running_line_simulator(sync_hold=0.2) as sim,
            running_daemon(daemon_settings(sim, wav), expect_status=3) as daemon,
        ):
            sim.say("!call")
            call = await sim.wait_call()
            while call.media_packets < 5:
                await call.relay.wait_changed()
            sim.revoke_token()
            async with httpx.AsyncClient() as http:
                while daemon.health.fatal is None:
                    await trio.sleep(0.02)
                health = await http.get(f"{daemon.http_urls[0]}/healthz")
            await call.wait_for("cc/rel_req")
            while daemon.gate.live_count:
                await trio.sleep(0.02)
            daemon_done = daemon.exit_code
    assert health.status_code == 503 and "LINE_AUTH_TOKEN" in health.json()["reason"]
    assert daemon_done == 3
    assert call.media_packets == 75 and call.core.state is CallState.RELEASED_BY_CLIENT
    assert audio_match(pcm, call.heard_pcm()) >= 0.9


async def test_calls_beyond_the_global_cap_are_politely_refused(clean_env: Path) -> None:
    wav, _pcm = noise_wav(clean_env)
    with trio.fail_after(20):
        async with running_line_simulator() as sim:
            sim.peer_script = PeerScript(answer=False)  # the first call rings and holds its slot
            settings = daemon_settings(sim, wav, line_call_max_concurrent=1, line_call_answer_timeout_ms=800)
            async with running_daemon(settings):
                sim.say("!call")
                await sim.wait_call()
                sim.say("!call", sender=BOB_MID)
                await sim.wait_reply(Refusal.CAPACITY.reply, chat=BOB_MID)
                await sim.wait_reply("no answer", chat=ALICE_MID)
                sim.say("!call", sender=BOB_MID)  # the slot is free again
                await sim.wait_call(1)
    assert [r.to for r in sim.legy.call_route_requests] == [ALICE_MID, BOB_MID]
