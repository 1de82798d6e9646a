"""Shared pieces of the Audio Caller API tests: a fake call placer, a callback receiver, WAV bytes, a harness.

The harness builds the API exactly as the daemon would (store, gate, placer, ``build_app`` with
``api.routes()``), runs it in a nursery and talks to it through httpx's ASGI transport: no sockets.
"""

from __future__ import annotations

import base64
import io
import json
import wave
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import trio
from pydantic import SecretStr

from linecall.bot.admission import CallGate
from linecall.bot.api import ApiConfig, AudioCallerApi, CallOutcome, EndKind
from linecall.bot.api.callbacks import RetryPolicy
from linecall.bot.api.placer import RingingHook
from linecall.bot.health import Health
from linecall.bot.http import build_app
from linecall.bot.metrics import Metrics
from linecall.bot.store import Store
from linecall.media.clip import Clip
from tests.audio_match import band_noise

KEY = "app-key"
SECRET = "app-secret"
SERVICE = "linecall"
CALLEE = "u" + "0123456789abcdef" * 2
OTHER_CALLEE = "u" + "fedcba9876543210" * 2
EPOCH = 1_750_000_000.0


def wav_bytes(pcm: np.ndarray[Any, Any], rate: int = 48_000, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return buffer.getvalue()


def noise_wav(seconds: float = 0.2, seed: int = 1) -> bytes:
    return wav_bytes(band_noise(seconds, seed=seed))


def basic(key: str = KEY, secret: str = SECRET) -> dict[str, str]:
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def call_body(content_ids: Sequence[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "requestContext": {"userId": "app-user-1", "serviceId": SERVICE},
        "mediaSourceType": "STORED_SOURCE",
        "storedSource": {"storedAudioSources": [{"contentId": cid} for cid in content_ids]},
    }
    body.update(overrides)
    return body


@dataclass
class Placed:
    callee: str
    sources: tuple[Clip, ...]
    play_count: int
    play_wait_s: float


@dataclass
class Script:
    """What the fake placer does with the next call."""

    kind: EndKind = EndKind.COMPLETED
    ring: bool = True
    answer: bool = True
    code: int | None = None
    packets: int = 250
    talk_s: float = 0.05
    hold: trio.Event | None = None  # wait for this (after ringing) before ending; None = end at once


@dataclass
class FakePlacer:
    """A CallPlacer that follows scripts (the default script completes); records every call it got."""

    wall: Callable[[], float]
    scripts: list[Script] = field(default_factory=list)
    by_callee: dict[str, Script] = field(default_factory=dict)
    default: Script = field(default_factory=Script)
    calls: list[Placed] = field(default_factory=list)
    started: trio.Event = field(default_factory=trio.Event)

    async def place_call(
        self,
        callee_mid: str,
        sources: Sequence[Clip],
        play_count: int,
        play_wait_s: float,
        on_ringing: RingingHook | None,
    ) -> CallOutcome:
        script = self.by_callee.pop(callee_mid, None) or (
            self.scripts.pop(0) if self.scripts else self.default
        )
        self.calls.append(Placed(callee_mid, tuple(sources), play_count, play_wait_s))
        self.started.set()
        setup = self.wall()
        await trio.sleep(0.01)
        if script.ring and on_ringing is not None:
            await on_ringing()
        if script.hold is not None:
            await script.hold.wait()
        answered = self.wall() if script.answer else None
        if script.answer:
            await trio.sleep(script.talk_s)
        return CallOutcome(
            script.kind,
            ended_at=self.wall(),
            setup_at=setup,
            answered_at=answered,
            packets_sent=script.packets if script.answer else 0,
            code=script.code,
        )


@dataclass
class Receiver:
    """The app server's callback endpoint, as an httpx MockTransport; ``status`` decides each answer."""

    status: Callable[[httpx.Request], int] = lambda _request: 200
    down: bool = False
    delay_s: float = 0.0
    seen: list[httpx.Request] = field(default_factory=list)
    arrived: trio.Event = field(default_factory=trio.Event)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        self.arrived.set()
        self.arrived = trio.Event()
        if self.delay_s:
            await trio.sleep(self.delay_s)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(self.status(request))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))

    def params(self, path: str) -> list[dict[str, str]]:
        """Query parameters of every GET received on ``path`` (one value each)."""
        out = []
        for request in self.seen:
            if request.url.path == path:
                out.append(
                    {
                        k: v[0]
                        for k, v in parse_qs(urlsplit(str(request.url)).query, keep_blank_values=True).items()
                    }
                )
        return out


@dataclass
class Harness:
    api: AudioCallerApi
    client: httpx.AsyncClient
    placer: FakePlacer
    receiver: Receiver
    gate: CallGate
    store: Store
    now: list[float]

    async def upload(self, data: bytes | None = None, *, seed: int = 1, name: str = "clip.wav") -> str:
        response = await self.client.post(
            "/v1/sources",
            content=data if data is not None else noise_wav(seed=seed),
            params={"name": name},
            headers={**basic(), "Content-Type": "audio/wav"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["contentId"])

    async def call(
        self, body: dict[str, Any], callee: str = CALLEE, service: str = SERVICE, **kw: Any
    ) -> httpx.Response:
        headers = {**basic(), "Content-Type": "application/json", "Accept": "application/json"}
        headers.update(kw.pop("headers", {}))
        if "content" not in kw:
            kw["content"] = json.dumps(body).encode()  # ASCII escapes, so lone surrogates can be sent too
        return await self.client.post(
            f"/tas/v2/agt_call/audio_caller/{service}/{callee}", headers=headers, **kw
        )

    async def history(self, sid: str) -> dict[str, Any]:
        response = await self.client.get(f"/tas/v2/agt_call/{sid}", headers=basic())
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    async def until_ended(self, sid: str) -> dict[str, Any]:
        while True:
            data = await self.history(sid)
            if data["state"] == "ENDED":
                return data
            await trio.sleep(0.05)


@asynccontextmanager
async def harness(
    tmp_path: Path | None,
    *,
    credentials: bool = True,
    loopback: bool = True,
    status_url: str | None = "http://app.example/status?app=1",
    event_url: str | None = "http://app.example/event",
    max_concurrent: int = 4,
    retry: RetryPolicy | None = None,
    store: Store | None = None,
    placer: FakePlacer | None = None,
    receiver: Receiver | None = None,
    gate: CallGate | None = None,
    source_max_bytes: int = 2_000_000,
    frozen_rate_clock: bool = False,
) -> AsyncIterator[Harness]:
    """A running API; sources under ``tmp_path`` (no sources dir, so uploads are off, when it is None)."""
    now = [0.0]
    own_store = store is None
    if store is None:
        store = Store.open(None)  # tests that restart pass a file-backed store themselves

    def wall() -> float:
        return EPOCH + trio.current_time()

    placer = placer or FakePlacer(wall)
    receiver = receiver or Receiver()
    gate = gate or CallGate(max_concurrent=max_concurrent)
    config = ApiConfig(
        service_id=SERVICE,
        api_key=SecretStr(KEY) if credentials else None,
        api_secret=SecretStr(SECRET) if credentials else None,
        loopback=loopback,
        status_callback_url=status_url,
        event_callback_url=event_url,
        sources_dir=tmp_path / "sources" if tmp_path is not None else None,
        source_max_bytes=source_max_bytes,
    )
    api = AudioCallerApi(
        config,
        store=store,
        gate=gate,
        placer=placer,
        http_client=receiver.client(),
        retry=retry or RetryPolicy(max_attempts=3, first_delay_s=0.05, max_delay_s=0.2, timeout_s=1.0),
        clock=(lambda: now[0]) if frozen_rate_clock else (lambda: now[0] + trio.current_time()),
        wall_clock=wall,
    )
    app = build_app(Health(), Metrics(), routes=api.routes())
    try:
        async with (
            trio.open_nursery() as nursery,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://linecall") as client,
        ):
            await api.run(nursery)
            yield Harness(api, client, placer, receiver, gate, store, now)
            nursery.cancel_scope.cancel()
    finally:
        if own_store:
            store.close()
