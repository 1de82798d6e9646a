"""The Audio Caller API end to end: the real daemon (its HTTP listener, CallGate and 1:1 call worker) against
the product's LINE simulator, with a real local HTTP server receiving the callbacks.

POST → sid → Agent Call Status SUCCESS → the simulated phone decodes two distinct sources in order,
``playCount`` times (each segment matched to its source, audio_match ≥ 0.9), the first audio no earlier than
``playWaitTime`` after the answer (measured on the peer's decoded audio laid on its arrival timeline) →
1-to-1 Call Event with duration and rel_code → the history shows it. Then the failures of the outcome table:
no answer, the peer hanging up mid-playback, the route refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from linecall.bot.http import serve_http
from linecall.bot.simulator.legy import RaiseTalk
from linecall.bot.simulator.line import ALICE_MID, running_line_simulator
from linecall.bot.simulator.planet_records import KIND_SRTP_AUDIO
from linecall.bot.simulator.planet_relay import PeerScript
from linecall.protocol.thrift.errors import ErrorCode
from tests.api_support import basic, call_body, wav_bytes
from tests.audio_match import audio_match, band_noise
from tests.daemon_support import clean_env, daemon_settings, noise_wav, running_daemon

__all__ = ["clean_env"]

pytestmark = pytest.mark.realtime

RATE = 48_000
FRAME = 960  # 20 ms at 48 kHz


class CallbackServer:
    """The app server: records every callback GET's query parameters by path."""

    def __init__(self) -> None:
        self.got: dict[str, list[dict[str, str]]] = {"/status": [], "/event": []}
        self.changed = trio.Event()
        self.url = ""

    async def _record(self, request: Request) -> PlainTextResponse:
        self.got.setdefault(request.url.path, []).append(dict(request.query_params))
        self.changed.set()
        self.changed = trio.Event()
        return PlainTextResponse("ok")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/status", self._record), Route("/event", self._record)])

    async def wait(self, path: str, count: int = 1) -> list[dict[str, str]]:
        while len(self.got[path]) < count:
            await self.changed.wait()
        return self.got[path]


def _api_settings(sim: Any, tmp: Path, callbacks: CallbackServer, **overrides: Any) -> Any:
    wav, _pcm = noise_wav(tmp, 0.2, seed=3)
    return daemon_settings(
        sim,
        wav,
        line_storage_file=tmp / "linecall.sqlite3",
        line_api_key="e2e-key",
        line_api_secret="e2e-secret",
        line_api_status_callback_url=f"{callbacks.url}/status",
        line_api_event_callback_url=f"{callbacks.url}/event",
        **overrides,
    )


AUTH = basic("e2e-key", "e2e-secret")


async def _upload(http: httpx.AsyncClient, base: str, pcm: np.ndarray[Any, Any], name: str) -> str:
    response = await http.post(
        f"{base}/v1/sources",
        content=wav_bytes(pcm),
        params={"name": name},
        headers={**AUTH, "Content-Type": "audio/wav"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["contentId"])


async def _place(http: httpx.AsyncClient, base: str, body: dict[str, Any]) -> str:
    response = await http.post(
        f"{base}/tas/v2/agt_call/audio_caller/linecall/{ALICE_MID}",
        json=body,
        headers={**AUTH, "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "success"
    return str(response.json()["data"]["sid"])


async def _history(http: httpx.AsyncClient, base: str, sid: str) -> dict[str, Any]:
    while True:
        data: dict[str, Any] = (await http.get(f"{base}/tas/v2/agt_call/{sid}", headers=AUTH)).json()["data"]
        if (
            data["state"] == "ENDED"
            and data["callbacks"]
            and all(cb["state"] == "delivered" for cb in data["callbacks"])
        ):
            return data
        await trio.sleep(0.05)


async def test_api_call_plays_sources_in_order_with_callbacks_and_history(clean_env: Path) -> None:
    first_pcm = band_noise(0.6, seed=21)
    second_pcm = band_noise(0.4, seed=22)
    callbacks = CallbackServer()
    with trio.fail_after(30):
        async with running_line_simulator() as sim, trio.open_nursery() as nursery:
            urls = await nursery.start(serve_http, callbacks.app(), "127.0.0.1:0")
            callbacks.url = urls[0]
            sim.peer_script = PeerScript(ring_delay_s=0.2)
            settings = _api_settings(sim, clean_env, callbacks)
            async with running_daemon(settings) as daemon, httpx.AsyncClient() as http:
                base = daemon.http_urls[0]
                ids = [
                    await _upload(http, base, first_pcm, "one.wav"),
                    await _upload(http, base, second_pcm, "two.wav"),
                ]
                body = call_body(ids, appSvrData="ticket=7")
                body["storedSource"].update(playCount=2, playWaitTime=1000)
                sid = await _place(http, base, body)
                (status,) = await callbacks.wait("/status")
                call = await sim.wait_call()
                await call.wait_for("cc/rel_req")
                (event,) = await callbacks.wait("/event")
                history = await _history(http, base, sid)
            nursery.cancel_scope.cancel()

    assert status == {
        "sid": sid,
        "agent_type": "AUDIO_CALLER",
        "media_source_type": "STORED_SOURCE",
        "result": "SUCCESS",
        "fail_reason": "None",
    }
    # The phone heard A, B, A, B: each segment of its decoded audio matches its source and not the other.
    heard = call.heard_pcm()
    segments = [first_pcm, second_pcm, first_pcm, second_pcm]
    lengths = [-(-len(pcm) // FRAME) * FRAME for pcm in segments]
    expected_frames = sum(lengths) // FRAME
    stats = call.core.stats()
    assert stats.media_packets == expected_frames and stats.media_lost == 0
    start = 0
    scores = []
    for index, (pcm, length) in enumerate(zip(segments, lengths, strict=True)):
        window = heard[start : start + length + 4 * FRAME]
        scores.append(audio_match(pcm, window))
        other = segments[index + 1] if index % 2 == 0 else segments[index - 1]
        assert audio_match(other, window) < 0.3, index  # the segment is this source, not the other one
        start += length
    assert min(scores) >= 0.9, scores  # order and content, the segments after each join included
    # The first audio: laid on the peer's arrival timeline, nothing audible before playWaitTime after the answer.
    answered_at = next(s.at for s in call.core.sent if s.kind == "cc/conn_req")
    arrivals = [r.at for r in call.core.received if r.kind == KIND_SRTP_AUDIO]
    frames = heard[: len(arrivals) * FRAME].reshape(-1, FRAME)
    first_audible = next(i for i, frame in enumerate(frames) if np.max(np.abs(frame.astype(np.int32))) > 1000)
    assert arrivals[first_audible] - answered_at >= 1.0 - 0.005  # within one wake-up of the deadline
    assert arrivals[0] - answered_at >= 1.0 - 0.005
    assert arrivals[0] - answered_at < 1.5
    # Call Event and history.
    assert event["sid"] == sid and event["to_user_id"] == ALICE_MID and event["from_user_id"] == "app-user-1"
    assert (event["terminate"], event["rel_code"], event["rel_code_str"]) == ("16", "2", "NORMAL")
    talk_s = 1.0 + sum(lengths) / RATE + 0.1  # wait + audio + LINE_CALL_HOLD_MS
    assert int(event["duration"]) in (int(talk_s), int(talk_s) + 1)
    assert int(event["billing_sec"]) >= int(event["duration"])
    assert event["app_svr_data"] == "ticket=7"
    assert history["state"] == "ENDED" and history["result"] == "SUCCESS"
    assert [t["state"] for t in history["transitions"]] == ["QUEUED", "WAITANSWER", "ANSWERED", "ENDED"]
    assert (history["terminate"], history["relCode"], history["relCodeStr"]) == (16, 2, "NORMAL")
    assert history["packetsSent"] == expected_frames
    assert history["request"]["storedSource"]["storedAudioSources"] == [{"contentId": i} for i in ids]
    assert [cb["kind"] for cb in history["callbacks"]] == ["status", "event"]
    assert all(cb["attempts"][0]["httpStatus"] == 200 for cb in history["callbacks"])


@pytest.mark.parametrize(
    ("script", "fault", "result", "fail_reason", "terminate", "rel_code", "rel_code_str", "states"),
    [
        (
            PeerScript(answer=False),
            None,
            "SUCCESS",
            "None",
            "19",
            "19",
            "NO_ANSWER",
            ["QUEUED", "WAITANSWER", "ENDED"],
        ),
        (
            PeerScript.minimal(hangup_after_s=1.4, hangup_code=3),
            None,
            "SUCCESS",
            "None",
            "16",
            "3",
            "PEER_RELEASE",
            ["QUEUED", "WAITANSWER", "ANSWERED", "ENDED"],
        ),
        (
            PeerScript(),
            RaiseTalk(ErrorCode.INVALID_STATE, "nope"),
            "FAIL",
            f"Call refused (code {int(ErrorCode.INVALID_STATE)})",
            "21",
            str(int(ErrorCode.INVALID_STATE)),
            "REJECTED",
            ["QUEUED", "ENDED"],
        ),
    ],
    ids=["no-answer", "peer-hangs-up-mid-playback", "route-refused"],
)
async def test_failures_give_the_outcome_tables_callbacks_and_history(
    clean_env: Path,
    script: PeerScript,
    fault: RaiseTalk | None,
    result: str,
    fail_reason: str,
    terminate: str,
    rel_code: str,
    rel_code_str: str,
    states: list[str],
) -> None:
    callbacks = CallbackServer()
    with trio.fail_after(30):
        async with running_line_simulator() as sim, trio.open_nursery() as nursery:
            callbacks.url = (await nursery.start(serve_http, callbacks.app(), "127.0.0.1:0"))[0]
            sim.peer_script = script
            if fault is not None:
                sim.inject("acquireCallRoute", fault)
            settings = _api_settings(sim, clean_env, callbacks, line_call_answer_timeout_ms=600)
            async with running_daemon(settings) as daemon, httpx.AsyncClient() as http:
                base = daemon.http_urls[0]
                cid = await _upload(http, base, band_noise(1.0, seed=31), "long.wav")
                sid = await _place(http, base, call_body([cid]))
                (event,) = await callbacks.wait("/event")
                (status,) = await callbacks.wait("/status")
                history = await _history(http, base, sid)
                assert daemon.gate.live_count == 0
            nursery.cancel_scope.cancel()
    assert (status["sid"], status["result"], status["fail_reason"]) == (sid, result, fail_reason)
    assert (event["terminate"], event["rel_code"], event["rel_code_str"]) == (
        terminate,
        rel_code,
        rel_code_str,
    )
    assert [t["state"] for t in history["transitions"]] == states
    assert (history["result"], history["relCodeStr"]) == (result, rel_code_str)
    if rel_code_str == "PEER_RELEASE":
        assert int(event["duration"]) >= 1 and 0 < history["packetsSent"] < 2 * 50 + 50
    else:
        assert event["duration"] == "0" and event["start_time"] == event["end_time"]
