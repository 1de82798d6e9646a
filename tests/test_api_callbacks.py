"""The callback sender: a receiver that is down, slow, failing or refusing gets bounded retries with doubling
delays, every attempt is recorded, and calls go on regardless (MockClock: the delays are exact)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from linecall.bot.api.callbacks import EventTimes, RetryPolicy, event_query, status_query, with_query
from linecall.bot.api.history import CallHistory
from linecall.bot.api.outcomes import DAEMON_RESTART
from tests.api_support import OTHER_CALLEE, Harness, Receiver, Script, call_body, harness

POLICY = RetryPolicy(max_attempts=4, first_delay_s=1.0, max_delay_s=3.0, timeout_s=2.0)


async def _settled(h: Harness, sid: str) -> dict[str, Any]:
    while True:
        data = await h.history(sid)
        if (
            data["state"] == "ENDED"
            and data["callbacks"]
            and all(cb["state"] != "pending" for cb in data["callbacks"])
        ):
            return data
        await trio.sleep(0.05)


async def test_receiver_down_retries_bounded_recorded_and_calls_unaffected(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(down=True)
    async with harness(tmp_path, receiver=receiver, retry=POLICY) as h:
        cid = await h.upload()
        h.placer.default.talk_s = 2.0
        first = (await h.call(call_body([cid]))).json()["data"]["sid"]
        ended_first = await h.until_ended(first)
        second = (await h.call(call_body([cid]), callee=OTHER_CALLEE)).json()["data"]["sid"]
        ended_second = await h.until_ended(second)
        # Both calls ran their full course while every callback was failing.
        assert ended_first["relCodeStr"] == ended_second["relCodeStr"] == "NORMAL"
        assert ended_second["endTime"] - ended_first["endTime"] < 3000  # the second did not wait on retries
        data = await _settled(h, first)
        await _settled(h, second)
    assert len(h.placer.calls) == 2
    for callback in data["callbacks"]:
        assert callback["state"] == "failed"
        assert callback["attemptCount"] == 4
        assert [a["error"] for a in callback["attempts"]] == ["ConnectError"] * 4
        assert all(a["httpStatus"] is None for a in callback["attempts"])
        at = [a["at"] for a in callback["attempts"]]
        assert [b - a for a, b in itertools.pairwise(at)] == [
            1000,
            2000,
            3000,
        ]  # doubling, capped at 3 s
    assert len(receiver.seen) == 4 * 4  # two calls x (status + event) x 4 attempts, no more


@pytest.mark.parametrize(
    ("case", "answers", "state", "statuses"),
    [
        ("5xx then 2xx", [503, 500, 204], "delivered", [503, 500, 204]),
        ("429 is retried", [429, 200], "delivered", [429, 200]),
        ("404 is final", [404], "failed", [404]),
        ("401 is final", [401], "failed", [401]),
        ("5xx every time", [502] * 10, "failed", [502] * 4),
    ],
)
async def test_http_answers_decide_retry(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    case: str,
    answers: list[int],
    state: str,
    statuses: list[int],
) -> None:
    script = {"/status": list(answers), "/event": list(answers)}
    receiver = Receiver(status=lambda request: script[request.url.path].pop(0))
    async with harness(tmp_path, receiver=receiver, retry=POLICY) as h:
        cid = await h.upload()
        sid = (await h.call(call_body([cid]))).json()["data"]["sid"]
        data = await _settled(h, sid)
    for callback in data["callbacks"]:
        assert callback["state"] == state
        assert [a["httpStatus"] for a in callback["attempts"]] == statuses


async def test_slow_receiver_times_out_and_is_retried(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(delay_s=30.0)
    async with harness(tmp_path, receiver=receiver, retry=POLICY) as h:
        cid = await h.upload()
        sid = (await h.call(call_body([cid]))).json()["data"]["sid"]
        ended = await h.until_ended(sid)
        assert ended["relCodeStr"] == "NORMAL"
        data = await _settled(h, sid)
    for callback in data["callbacks"]:
        assert callback["state"] == "failed"
        assert [a["error"] for a in callback["attempts"]] == ["no answer within 2 s"] * 4
        assert all(a["elapsedMs"] == 2000.0 for a in callback["attempts"])


async def test_many_calls_with_a_hanging_receiver_never_block_calls(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(delay_s=1000.0)
    policy = RetryPolicy(max_attempts=2, first_delay_s=1.0, timeout_s=100.0, concurrency=2)
    async with harness(tmp_path, receiver=receiver, retry=policy, max_concurrent=64) as h:
        cid = await h.upload()
        h.placer.default.talk_s = 1.0
        sids = []
        for n in range(20):
            callee = "u" + f"{n:032x}"
            sids.append((await h.call(call_body([cid]), callee=callee)).json()["data"]["sid"])
        started = trio.current_time()
        for sid in sids:
            await h.until_ended(sid)
        assert (
            trio.current_time() - started < 5
        )  # calls end on their own time; 40 callbacks wait, 2 at a time


def test_query_builders() -> None:
    assert with_query("http://a/cb", {"sid": "x y"}) == "http://a/cb?sid=x+y"
    assert with_query("http://a:8/cb?k=1#f", {"a": "&"}) == "http://a:8/cb?k=1&a=%26#f"
    assert with_query("http://a", {"b": "1"}) == "http://a/?b=1"
    assert status_query("s", "STORED_SOURCE", "Invalid peerId")["result"] == "FAIL"
    params = event_query(
        "s",
        from_service_id="f",
        from_user_id="fu",
        to_service_id="t",
        to_user_id="tu",
        times=EventTimes(100.9, None, 130.2),
        release=DAEMON_RESTART,
        app_svr_data=None,
    )
    assert (params["setup_time"], params["start_time"], params["end_time"]) == ("100", "130", "130")
    assert (params["duration"], params["billing_sec"], params["app_svr_data"]) == ("0", "0", "")
    times = EventTimes(100.0, 101.0, 161.001)
    params = event_query(
        "s",
        from_service_id="f",
        from_user_id="fu",
        to_service_id="t",
        to_user_id="tu",
        times=times,
        release=DAEMON_RESTART,
        app_svr_data="d",
    )
    assert (params["duration"], params["billing_sec"]) == ("60", "61")


def test_retry_policy() -> None:
    policy = RetryPolicy(first_delay_s=1, max_delay_s=10)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


async def test_callback_rows_are_queued_before_sending(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The status callback row exists as soon as the call rings, whatever the receiver does later."""
    receiver = Receiver(delay_s=1000.0)
    async with harness(tmp_path, receiver=receiver, retry=POLICY) as h:
        cid = await h.upload()
        hold = trio.Event()
        h.placer.scripts.append(Script(hold=hold))
        sid = (await h.call(call_body([cid]))).json()["data"]["sid"]
        while (await h.history(sid))["state"] != "WAITANSWER":
            await trio.sleep(0.01)
        history = CallHistory(h.store)
        assert history.has_callback(sid, "status")  # type: ignore[arg-type]
        rows = h.store.query("SELECT url, state FROM api_callbacks WHERE sid = ?", (sid,))
        assert len(rows) == 1 and "result=SUCCESS" in str(rows[0][0])
        hold.set()
        await h.until_ended(sid)
    assert isinstance(receiver.seen[0], httpx.Request)
