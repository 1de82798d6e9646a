"""Placing calls through the API with a fake CallPlacer: states, admission (CALL_CAPACITY / CALLEE_BUSY with
chat calls counted), and the outcome table turned into Agent Call Status and 1-to-1 Call Event values and
history. Runs on Trio's MockClock (autojump), so times in the callbacks are exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from linecall.bot.admission import CallGate, Slot
from linecall.bot.api import CallOutcome, EndKind
from linecall.bot.api.placer import RingingHook
from tests.api_support import (
    CALLEE,
    EPOCH,
    OTHER_CALLEE,
    SERVICE,
    FakePlacer,
    Harness,
    Script,
    call_body,
    harness,
)

EVENT_KEYS = [
    "sid",
    "from_service_id",
    "from_user_id",
    "to_service_id",
    "to_user_id",
    "type",
    "setup_time",
    "start_time",
    "end_time",
    "duration",
    "srcip",
    "dstip",
    "terminate",
    "rel_code",
    "rel_code_str",
    "user_rel_code",
    "billing_sec",
    "app_svr_data",
]


async def _delivered(h: Harness, sid: str, count: int) -> dict[str, Any]:
    """The call's history once ``count`` callbacks are done (delivered or failed)."""
    while True:
        data = await h.history(sid)
        done = [cb for cb in data["callbacks"] if cb["state"] != "pending"]
        if data["state"] == "ENDED" and len(done) >= count and len(data["callbacks"]) == count:
            return data
        await trio.sleep(0.05)


async def test_call_goes_queued_waitanswer_ended_with_callbacks(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness(tmp_path) as h:
        cid1, cid2 = await h.upload(seed=1), await h.upload(seed=2)
        hold = trio.Event()
        h.placer.scripts.append(Script(hold=hold, talk_s=2.5))
        body = call_body([cid1, cid2], appSvrData="order=42&x=가")
        body["storedSource"]["playCount"] = 3
        accepted_at = EPOCH + trio.current_time()
        response = await h.call(body)
        assert response.status_code == 200, response.text
        sid = response.json()["data"]["sid"]
        assert (await h.history(sid))["state"] in ("QUEUED", "WAITANSWER")
        while (await h.history(sid))["state"] != "WAITANSWER":
            await trio.sleep(0.001)
        hold.set()
        data = await _delivered(h, sid, 2)

    assert [t["state"] for t in data["transitions"]] == ["QUEUED", "WAITANSWER", "ANSWERED", "ENDED"]
    times = [t["at"] for t in data["transitions"]]
    assert times == sorted(times)
    assert data["result"] == "SUCCESS" and data["failReason"] is None
    assert (data["terminate"], data["relCode"], data["relCodeStr"]) == (16, 2, "NORMAL")
    assert data["duration"] == 2 and data["packetsSent"] == 250
    assert data["request"]["storedSource"] == {
        "storedAudioSources": [{"contentId": cid1}, {"contentId": cid2}],
        "playCount": 3,
        "playWaitTime": 1000,
    }
    assert (data["toServiceId"], data["toUserId"]) == (SERVICE, CALLEE)
    assert [cb["kind"] for cb in data["callbacks"]] == ["status", "event"]
    assert all(cb["state"] == "delivered" and len(cb["attempts"]) == 1 for cb in data["callbacks"])
    assert data["callbacks"][0]["attempts"][0]["httpStatus"] == 200

    status = h.receiver.params("/status")
    assert status == [
        {
            "app": "1",
            "sid": sid,
            "agent_type": "AUDIO_CALLER",
            "media_source_type": "STORED_SOURCE",
            "result": "SUCCESS",
            "fail_reason": "None",
        }
    ]
    (event,) = h.receiver.params("/event")
    assert list(event) == EVENT_KEYS
    start = int(event["start_time"])
    assert event["sid"] == sid and event["type"] == "A"
    assert (event["from_service_id"], event["from_user_id"]) == (SERVICE, "app-user-1")
    assert (event["to_service_id"], event["to_user_id"]) == (SERVICE, CALLEE)
    assert int(accepted_at) <= int(event["setup_time"]) <= start <= int(event["end_time"])
    assert (event["duration"], event["billing_sec"]) == (
        "2",
        "3",
    )  # 2.5 s: duration floors, billing rounds up
    assert (event["terminate"], event["rel_code"], event["rel_code_str"]) == ("16", "2", "NORMAL")
    assert (event["srcip"], event["dstip"], event["user_rel_code"]) == ("", "", "")
    assert event["app_svr_data"] == "order=42&x=가"
    placed = h.placer.calls[0]
    assert (placed.play_count, placed.play_wait_s, len(placed.sources)) == (3, 1.0, 2)


# kind, ring, answer, code | result, fail_reason, terminate, rel_code, rel_code_str, talked
OUTCOMES = [
    ("completed", EndKind.COMPLETED, True, True, None, "SUCCESS", None, 16, 2, "NORMAL", True),
    ("peer hung up", EndKind.PEER_HANGUP, True, True, 5, "SUCCESS", None, 16, 5, "PEER_RELEASE", True),
    (
        "peer hung up, no code",
        EndKind.PEER_HANGUP,
        True,
        True,
        None,
        "SUCCESS",
        None,
        16,
        16,
        "PEER_RELEASE",
        True,
    ),
    (
        "declined while ringing",
        EndKind.PEER_HANGUP,
        True,
        False,
        3,
        "SUCCESS",
        None,
        21,
        3,
        "REJECTED",
        False,
    ),
    ("no answer", EndKind.NO_ANSWER, True, False, None, "SUCCESS", None, 19, 19, "NO_ANSWER", False),
    (
        "relay refused",
        EndKind.REFUSED,
        False,
        False,
        7,
        "FAIL",
        "Call refused (code 7)",
        21,
        7,
        "REJECTED",
        False,
    ),
    ("route refused", EndKind.REFUSED, False, False, None, "FAIL", "Call refused", 21, 21, "REJECTED", False),
    (
        "route error",
        EndKind.ROUTE_ERROR,
        False,
        False,
        None,
        "FAIL",
        "Call route unavailable",
        41,
        41,
        "NETWORK_ERROR",
        False,
    ),
    (
        "setup timeout",
        EndKind.NETWORK_ERROR,
        False,
        False,
        None,
        "FAIL",
        "Network error",
        41,
        41,
        "NETWORK_ERROR",
        False,
    ),
    (
        "transport died mid-call",
        EndKind.NETWORK_ERROR,
        True,
        True,
        None,
        "SUCCESS",
        None,
        41,
        41,
        "NETWORK_ERROR",
        True,
    ),
    ("daemon stopping", EndKind.CANCELLED, True, True, None, "SUCCESS", None, 41, 41, "DAEMON_RESTART", True),
    (
        "stopped before ringing",
        EndKind.CANCELLED,
        False,
        False,
        None,
        "FAIL",
        "Daemon restarted",
        41,
        41,
        "DAEMON_RESTART",
        False,
    ),
]


@pytest.mark.parametrize(
    (
        "case",
        "kind",
        "ring",
        "answer",
        "code",
        "result",
        "fail_reason",
        "terminate",
        "rel_code",
        "rel_str",
        "talked",
    ),
    OUTCOMES,
    ids=[o[0] for o in OUTCOMES],
)
async def test_outcome_table(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    case: str,
    kind: EndKind,
    ring: bool,
    answer: bool,
    code: int | None,
    result: str,
    fail_reason: str | None,
    terminate: int,
    rel_code: int,
    rel_str: str,
    talked: bool,
) -> None:
    async with harness(tmp_path) as h:
        cid = await h.upload()
        h.placer.scripts.append(Script(kind=kind, ring=ring, answer=answer, code=code, talk_s=4.2))
        sid = (await h.call(call_body([cid]))).json()["data"]["sid"]
        data = await _delivered(h, sid, 2)
    assert (data["result"], data["failReason"]) == (result, fail_reason)
    assert (data["terminate"], data["relCode"], data["relCodeStr"]) == (terminate, rel_code, rel_str)
    states = [t["state"] for t in data["transitions"]]
    assert states == ["QUEUED", *(["WAITANSWER"] if ring else []), *(["ANSWERED"] if answer else []), "ENDED"]
    (status,) = h.receiver.params("/status")
    assert (status["result"], status["fail_reason"]) == (result, fail_reason or "None")
    (event,) = h.receiver.params("/event")
    assert (event["terminate"], event["rel_code"], event["rel_code_str"]) == (
        str(terminate),
        str(rel_code),
        rel_str,
    )
    assert (event["duration"], event["billing_sec"]) == (("4", "5") if talked else ("0", "0"))
    if not talked:
        assert event["start_time"] == event["end_time"]


class _Raising:
    calls = 0

    async def place_call(self, *_args: Any, **_kwargs: Any) -> CallOutcome:
        self.calls += 1
        raise RuntimeError("worker bug")


class _SilentRinger:
    """Answers without ever calling on_ringing: the status callback still says SUCCESS."""

    async def place_call(
        self,
        callee_mid: str,
        sources: Any,
        play_count: int,
        play_wait_s: float,
        on_ringing: RingingHook | None,
    ) -> CallOutcome:
        now = EPOCH + trio.current_time()
        return CallOutcome(EndKind.COMPLETED, ended_at=now + 1, setup_at=now, answered_at=now)


async def test_placer_failure_is_a_network_error_and_frees_the_slot(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness(tmp_path, placer=_Raising()) as h:  # type: ignore[arg-type]
        cid = await h.upload()
        sid = (await h.call(call_body([cid]))).json()["data"]["sid"]
        data = await _delivered(h, sid, 2)
        assert (data["result"], data["relCodeStr"]) == ("FAIL", "NETWORK_ERROR")
        assert h.gate.live_count == 0
        assert (await h.call(call_body([cid]))).status_code == 200


async def test_answer_without_ringing_hook_still_reports_success(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness(tmp_path, placer=_SilentRinger()) as h:  # type: ignore[arg-type]
        cid = await h.upload()
        sid = (await h.call(call_body([cid]))).json()["data"]["sid"]
        data = await _delivered(h, sid, 2)
        assert data["result"] == "SUCCESS" and data["relCodeStr"] == "NORMAL"
        assert [t["state"] for t in data["transitions"]] == ["QUEUED", "WAITANSWER", "ANSWERED", "ENDED"]


async def test_capacity_and_busy_callee_are_503_and_count_chat_calls(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    gate = CallGate(max_concurrent=2, rate_per_minute=1, allowed_mids=frozenset({"u-someone-else"}))
    async with harness(tmp_path, gate=gate) as h:
        cid = await h.upload()
        hold = trio.Event()
        h.placer.scripts.append(Script(hold=hold))
        first = await h.call(call_body([cid]))
        assert first.status_code == 200

        busy = await h.call(call_body([cid]))
        assert busy.status_code == 503 and busy.json()["code"] == "CALLEE_BUSY"
        await h.placer.started.wait()

        chat = gate.try_acquire("c" + "1" * 32, sender="u-someone-else", trigger="chat")  # a group !call
        full = await h.call(call_body([cid]), callee=OTHER_CALLEE)
        assert full.status_code == 503 and full.json()["code"] == "CALL_CAPACITY"
        assert "LINE_CALL_MAX_CONCURRENT" in full.json()["message"]
        assert len(h.placer.calls) == 1

        assert isinstance(chat, Slot)
        gate.release(chat)
        hold.set()
        await h.until_ended(first.json()["data"]["sid"])
        assert gate.live_count == 0

        gate.rate_per_minute = 0
        chat = gate.try_acquire(CALLEE, sender="u-someone-else", trigger="chat")  # the callee's own 1:1 !call
        assert isinstance(chat, Slot)
        busy = await h.call(call_body([cid]))
        assert busy.status_code == 503 and busy.json()["code"] == "CALLEE_BUSY"
        gate.release(chat)
        # The chat allowlist and per-sender rate do not apply to the API: several calls in a row pass.
        for _ in range(3):
            response = await h.call(call_body([cid]))
            assert response.status_code == 200
            await h.until_ended(response.json()["data"]["sid"])


async def test_per_request_callback_urls_override_and_none_configured(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness(tmp_path) as h:
        cid = await h.upload()
        body = call_body([cid], linecallCallbacks={"statusUrl": "http://mine.example/s?k=v"})
        sid = (await h.call(body)).json()["data"]["sid"]
        await _delivered(h, sid, 2)
        hosts = sorted((r.url.host, r.url.path) for r in h.receiver.seen)
        assert hosts == [("app.example", "/event"), ("mine.example", "/s")]
        assert h.receiver.params("/s")[0]["k"] == "v"
    async with harness(tmp_path, status_url=None, event_url=None) as h:
        cid = await h.upload()
        sid = (await h.call(call_body([cid]))).json()["data"]["sid"]
        data = await h.until_ended(sid)
        assert data["callbacks"] == [] and data["result"] == "SUCCESS"
        assert h.receiver.seen == []


async def test_calls_to_two_callees_run_concurrently(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    placer_holds = [trio.Event(), trio.Event()]
    async with harness(tmp_path) as h:
        cid = await h.upload()
        h.placer.scripts.extend(Script(hold=e) for e in placer_holds)
        a = (await h.call(call_body([cid]))).json()["data"]["sid"]
        b = (await h.call(call_body([cid]), callee=OTHER_CALLEE)).json()["data"]["sid"]
        while len(h.placer.calls) < 2:
            await trio.sleep(0.01)
        assert h.gate.live_count == 2
        for e in placer_holds:
            e.set()
        assert (await h.until_ended(a))["relCodeStr"] == (await h.until_ended(b))["relCodeStr"] == "NORMAL"
        assert sorted(p.callee for p in h.placer.calls) == sorted([CALLEE, OTHER_CALLEE])
        assert isinstance(h.placer, FakePlacer)
