"""Restarts: history survives, calls left queued or live end as DAEMON_RESTART with their callbacks, none is
dialled twice, and callbacks not yet delivered are resumed by the next run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from linecall.bot.api.callbacks import RetryPolicy
from linecall.bot.store import Store
from tests.api_support import (
    CALLEE,
    EPOCH,
    OTHER_CALLEE,
    FakePlacer,
    Harness,
    Receiver,
    Script,
    call_body,
    harness,
)


async def _start_queued_and_live(h: Harness) -> tuple[str, str, str]:
    cid = await h.upload()
    h.placer.by_callee[CALLEE] = Script(ring=False, hold=trio.Event())  # stays QUEUED (dialling, not ringing)
    h.placer.by_callee[OTHER_CALLEE] = Script(ring=True, hold=trio.Event())  # live: WAITANSWER
    queued = (await h.call(call_body([cid], appSvrData="q"))).json()["data"]["sid"]
    live = (await h.call(call_body([cid], appSvrData="l"), callee=OTHER_CALLEE)).json()["data"]["sid"]
    while (await h.history(queued))["state"] != "QUEUED" or (await h.history(live))["state"] != "WAITANSWER":
        await trio.sleep(0.01)
    while len(h.placer.calls) < 2:
        await trio.sleep(0.01)
    return cid, queued, live


async def _settled(h: Harness, *sids: str) -> list[dict[str, Any]]:
    while True:
        data = [await h.history(sid) for sid in sids]
        if all(
            d["state"] == "ENDED" and all(cb["state"] == "delivered" for cb in d["callbacks"]) for d in data
        ):
            return data
        await trio.sleep(1.0)


def _check_restart_ended(queued: dict[str, Any], live: dict[str, Any], cid: str) -> None:
    for data in (queued, live):
        assert (data["terminate"], data["relCode"], data["relCodeStr"]) == (41, 41, "DAEMON_RESTART")
        assert data["request"]["storedSource"]["storedAudioSources"] == [{"contentId": cid}]
    assert [t["state"] for t in queued["transitions"]] == ["QUEUED", "ENDED"]
    assert (queued["result"], queued["failReason"]) == ("FAIL", "Daemon restarted")
    assert queued["request"]["appSvrData"] == "q" and queued["toUserId"] == CALLEE
    assert [t["state"] for t in live["transitions"]] == ["QUEUED", "WAITANSWER", "ENDED"]
    assert (live["result"], live["failReason"]) == ("SUCCESS", None)
    assert live["request"]["appSvrData"] == "l" and live["toUserId"] == OTHER_CALLEE
    assert [cb["kind"] for cb in queued["callbacks"]] == ["status", "event"]
    assert [cb["kind"] for cb in live["callbacks"]] == ["status", "event"]


async def test_crash_with_a_queued_and_a_live_call(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The process dies without recording anything: the next start ends both calls and reports them."""
    path = tmp_path / "linecall.sqlite3"
    store = Store.open(path)
    first_receiver = Receiver()
    async with harness(tmp_path, store=store, receiver=first_receiver) as h:
        cid, queued, live = await _start_queued_and_live(h)
        h.api.calls._end = lambda *args, **kwargs: None  # type: ignore[method-assign]  # a crash records nothing
        while len(first_receiver.seen) < 1:  # the live call's SUCCESS status callback
            await trio.sleep(0.01)
    first_placer = h.placer
    store.close()
    assert len(first_placer.calls) == 2

    store = Store.open(path)
    second_placer = FakePlacer(lambda: EPOCH + trio.current_time())
    receiver = Receiver()
    try:
        async with harness(tmp_path, store=store, placer=second_placer, receiver=receiver) as h:
            queued_data, live_data = await _settled(h, queued, live)
            _check_restart_ended(queued_data, live_data, cid)
            sids = {p["sid"] for p in receiver.params("/event")}
            assert sids == {queued, live}
            (status,) = receiver.params("/status")  # the live call's SUCCESS went out before the crash
            assert (status["sid"], status["result"], status["fail_reason"]) == (
                queued,
                "FAIL",
                "Daemon restarted",
            )
            event = {p["sid"]: p for p in receiver.params("/event")}
            assert event[live]["rel_code_str"] == "DAEMON_RESTART" and event[live]["terminate"] == "41"
            assert event[queued]["app_svr_data"] == "q"
            await trio.sleep(5)
            assert second_placer.calls == []  # nothing dialled again
            # The callee slots are free again: new calls to both callees are accepted and placed once each.
            for callee in (CALLEE, OTHER_CALLEE):
                response = await h.call(call_body([cid]), callee=callee)
                assert response.status_code == 200
                await h.until_ended(response.json()["data"]["sid"])
            assert [p.callee for p in second_placer.calls] == [CALLEE, OTHER_CALLEE]
    finally:
        store.close()


async def test_stop_then_start_resumes_undelivered_callbacks(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A clean stop records the ends itself; callbacks that could not be delivered are sent by the next run."""
    path = tmp_path / "linecall.sqlite3"
    store = Store.open(path)
    down = Receiver(down=True)
    slow_retries = RetryPolicy(max_attempts=5, first_delay_s=600.0)
    async with harness(tmp_path, store=store, receiver=down, retry=slow_retries) as h:
        cid, queued, live = await _start_queued_and_live(h)
        while len(down.seen) < 1:
            await trio.sleep(0.01)
    # The harness cancelled the API's nursery: the daemon stopping.
    rows = store.query("SELECT sid, kind, state, attempts FROM api_callbacks ORDER BY id")
    assert {(r[1], r[2]) for r in rows} == {("status", "pending"), ("event", "pending")}
    assert len(rows) == 4
    store.close()

    store = Store.open(path)
    up = Receiver()
    second_placer = FakePlacer(lambda: EPOCH + trio.current_time())
    try:
        async with harness(tmp_path, store=store, receiver=up, placer=second_placer, retry=slow_retries) as h:
            queued_data, live_data = await _settled(h, queued, live)
            _check_restart_ended(queued_data, live_data, cid)
            live_status = live_data["callbacks"][0]
            assert [a["error"] for a in live_status["attempts"]] == [
                "ConnectError",
                None,
            ]  # first run, then this one
            assert live_status["attempts"][1]["httpStatus"] == 200
            assert len(up.seen) == 4
            assert second_placer.calls == []
    finally:
        store.close()
