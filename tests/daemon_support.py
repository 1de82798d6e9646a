"""Running the real daemon (``bot/daemon.py``) in-process against the product's LINE simulator.

``running_daemon(sim, tmp_path, ...)`` starts ``run_daemon`` in a nursery with settings that point at
``sim`` (plus any overrides), waits until it listens, yields the :class:`Daemon`, and on exit stops it the
way SIGTERM does and checks it returned 0. Clips are short seeded noise (1 s by default) written as WAVs,
so every call is real time but brief.
"""

from __future__ import annotations

import os
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio

from linecall.bot.daemon import Daemon, DaemonOptions, run_daemon
from linecall.bot.simulator.line import LineSimulator
from linecall.config.settings import Settings, load_settings
from linecall.protocol.talk.client import ClientTimeouts
from linecall.protocol.talk.sync import BackoffPolicy
from tests.audio_match import band_noise

FAST_TIMEOUTS = ClientTimeouts(connect=1.0, rpc=2.0, sync=3.0)
FAST_BACKOFF = BackoffPolicy(initial=0.05, factor=2.0, cap=0.2, jitter=0.5)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No LINE_* variables from the machine, no .env in the working directory."""
    for name in list(os.environ):
        if name.startswith(("LINE_", "LOG_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_wav(path: Path, pcm: np.ndarray[Any, np.dtype[np.int16]], rate: int = 48_000) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.astype("<i2").tobytes())
    return path


def noise_wav(tmp_path: Path, seconds: float = 1.0, seed: int = 7) -> tuple[Path, np.ndarray[Any, Any]]:
    pcm = band_noise(seconds, seed=seed)
    return write_wav(tmp_path / f"noise-{seed}.wav", pcm), pcm


def daemon_settings(sim: LineSimulator, wav: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        **sim.daemon_settings(),
        "line_call_wav": wav,
        "line_call_hold_ms": 100,
        "line_http_listen": "127.0.0.1:0",
        "line_call_answer_timeout_ms": 5000,
        "line_call_timeout_ms": 3000,
        "line_call_opus_bitrate": 32000,
    }
    values.update(overrides)
    return load_settings(secrets_dir=Path("/nonexistent-secrets"), **values)


def daemon_options(**overrides: Any) -> DaemonOptions:
    values: dict[str, Any] = {
        "handle_signals": False,
        "interactive": False,
        "timeouts": FAST_TIMEOUTS,
        "backoff": FAST_BACKOFF,
        "min_poll_interval": 0.05,
        "gateway": LineSimulator.client_gateway(),
    }
    values.update(overrides)
    return DaemonOptions(**values)


@asynccontextmanager
async def running_daemon(
    settings: Settings, options: DaemonOptions | None = None, *, expect_status: int | None = 0
) -> AsyncIterator[Daemon]:
    """The daemon, started and listening; stopped like SIGTERM at the end (exit status checked)."""
    status: list[int] = []

    async def run(task_status: trio.TaskStatus[Daemon] = trio.TASK_STATUS_IGNORED) -> None:
        status.append(await run_daemon(settings, options or daemon_options(), task_status=task_status))

    async with trio.open_nursery() as nursery:
        daemon: Daemon = await nursery.start(run)
        try:
            yield daemon
        finally:
            daemon.stop()
    if expect_status is not None:
        assert status == [expect_status]
