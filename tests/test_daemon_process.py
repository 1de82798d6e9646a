"""The daemon as a process and its neighbours: ``linecall run`` and SIGTERM, credentials and exit statuses,
``linecall call``, and ``linecall demo`` (1:1 and group) exiting 0.

``linecall run`` and ``linecall demo`` run as real subprocesses (signals and exit statuses are the point);
``linecall call`` and the credential checks run in-process against the simulator (faster, same code).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from linecall.bot.call_cli import run_call
from linecall.bot.daemon import NO_CREDENTIALS, run_daemon
from linecall.bot.dispatch import REPLY_CALLING
from linecall.bot.keystore import LoginSession, save_login_session
from linecall.bot.simulator.line import (
    ACCOUNT_MID,
    ALICE_MID,
    GROUP_MID,
    PLAIN_TOKEN,
    running_line_simulator,
)
from linecall.bot.simulator.planet_records import CallState
from linecall.bot.simulator.planet_relay import PeerScript
from linecall.bot.store import Store
from linecall.config.settings import load_settings
from tests.conftest import REPO_ROOT
from tests.daemon_support import clean_env, daemon_options, daemon_settings, noise_wav, running_daemon

__all__ = ["clean_env"]


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a linecall subprocess: no LINE_* of the machine, JSON logs, the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "LOG_"))}
    env.update({"LOG_FORMAT": "json", "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)})
    env.update(extra)
    return env


def linecall(*args: str) -> list[str]:
    return [sys.executable, "-m", "linecall.bot.cli", *args]


@pytest.mark.realtime
async def test_sigterm_mid_call_sends_rel_req_and_exits_0_within_2_s(clean_env: Path) -> None:
    wav, _pcm = noise_wav(clean_env, seconds=2.0)
    log_path = clean_env / "daemon.log"
    with trio.fail_after(30):
        async with running_line_simulator() as sim:
            env = child_env(
                clean_env,
                LINE_AUTH_TOKEN=PLAIN_TOKEN,
                LINE_ENDPOINT=sim.base_url,
                LINE_GATEWAY_URL=sim.gateway_url,
                LINE_HTTP_LISTEN="127.0.0.1:0",
                LINE_STORAGE_FILE=str(clean_env / "linecall.sqlite3"),
                LINE_CALL_HOLD_MS="100",
            )
            with log_path.open("wb") as log_file:
                process = await trio.lowlevel.open_process(
                    linecall("run", str(wav)), env=env, cwd=clean_env, stdout=log_file, stderr=log_file
                )
                try:
                    sim.say("!call")
                    call = await sim.wait_call()
                    while call.media_packets < 10:
                        await call.relay.wait_changed()
                    signalled = trio.current_time()
                    process.send_signal(signal.SIGTERM)
                    await call.wait_for("cc/rel_req")
                    with trio.fail_after(2.0):
                        status = await process.wait()
                    took = trio.current_time() - signalled
                finally:
                    if process.returncode is None:
                        process.kill()
                        await process.wait()
    log = log_path.read_text()
    assert status == 0, log
    assert took < 2.0
    assert call.core.state is CallState.RELEASED_BY_CLIENT and call.media_packets < 100
    assert sim.replies(ALICE_MID) == [REPLY_CALLING]
    assert '"daemon.stopping"' in log and '"daemon.storage_in_memory"' not in log


async def test_without_credentials_run_exits_2_saying_what_to_set(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, _pcm = noise_wav(clean_env)
    settings = load_settings(secrets_dir=Path("/nonexistent"), line_call_wav=wav)
    status = await run_daemon(settings, daemon_options(interactive=False))
    assert status == 2
    assert NO_CREDENTIALS in capsys.readouterr().err
    assert "set LINE_AUTH_TOKEN(_FILE) or run `linecall login`" in NO_CREDENTIALS


async def test_refused_token_at_login_exits_3_naming_the_variable(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, _pcm = noise_wav(clean_env)
    with trio.fail_after(10):
        async with running_line_simulator() as sim:
            sim.revoke_token()
            status = await run_daemon(daemon_settings(sim, wav), daemon_options())
    assert status == 3
    assert "LINE_AUTH_TOKEN" in capsys.readouterr().err


async def test_the_session_stored_by_linecall_login_is_used_without_a_token(clean_env: Path) -> None:
    wav, _pcm = noise_wav(clean_env)
    path = clean_env / "linecall.sqlite3"
    store = Store.open(path)
    save_login_session(store, LoginSession(mid=ACCOUNT_MID, access_token=PLAIN_TOKEN))
    store.close()
    with trio.fail_after(10):
        async with running_line_simulator() as sim:
            settings = daemon_settings(
                sim, wav, line_auth_token=None, line_device=None, line_storage_file=path
            )
            async with running_daemon(settings) as daemon:
                assert daemon.session.client.preset.device == "ANDROIDSECONDARY"
                sim.say("!call")  # LINE refuses call routes to a secondary device: the reply says so
                await sim.wait_reply(
                    "LINE refused the call route: HTTP 403 — calls need a primary token (LINE_DEVICE=ANDROID)",
                    chat=ALICE_MID,
                )


@pytest.mark.realtime
@pytest.mark.parametrize("group", [False, True], ids=["one-to-one", "group"])
async def test_linecall_call_places_one_call_and_exits_0(clean_env: Path, group: bool) -> None:
    wav, _pcm = noise_wav(clean_env)
    out = io.StringIO()
    with trio.fail_after(15):
        async with running_line_simulator() as sim:
            settings = daemon_settings(sim, wav)
            status = await run_call(
                settings,
                None if group else ALICE_MID,
                GROUP_MID if group else None,
                None,
                daemon_options(),
                out,
            )
            call = sim.calls[0]
            while not call.released_by_client:  # the relay may not have read our rel_req yet
                await call.relay.wait_changed()
    text = out.getvalue()
    assert status == 0, text
    assert ("starting group call" in text) if group else ("ringing" in text and "answered" in text)
    assert call.released_by_client and call.media_packets == (25 if group else 50)


async def test_linecall_call_exits_1_when_nobody_answers(clean_env: Path) -> None:
    wav, _pcm = noise_wav(clean_env)
    out = io.StringIO()
    with trio.fail_after(15):
        async with running_line_simulator() as sim:
            sim.peer_script = PeerScript(answer=False)
            settings = daemon_settings(sim, wav, line_call_answer_timeout_ms=300)
            status = await run_call(settings, ALICE_MID, None, None, daemon_options(), out)
    assert status == 1 and "no_answer: no answer" in out.getvalue()


@pytest.mark.realtime
@pytest.mark.parametrize("group", [False, True], ids=["one-to-one", "group"])
def test_linecall_demo_exits_0(clean_env: Path, group: bool) -> None:
    wav, _pcm = noise_wav(clean_env, seconds=1.0)
    heard = clean_env / "heard.wav"
    args = ["demo", "--wav", str(wav), "--out", str(heard), *(["--group"] if group else [])]
    result = subprocess.run(
        linecall(*args),
        env=child_env(clean_env, LINE_CALL_HOLD_MS="100"),
        cwd=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "alice → " in out and ("starting group call" in out if group else "calling" in out)
    assert "streaming [" in out and "100%" in out
    assert "audio_match against the source" in out and "(pass" in out
    assert heard.stat().st_size > 48_000  # about a second of 16-bit audio


def test_linecall_demo_serve_prints_the_callee_and_url_and_stops_on_ctrl_c(clean_env: Path) -> None:
    import re
    import time
    import urllib.request

    process = subprocess.Popen(
        linecall("demo", "--serve"),
        env=child_env(clean_env, LINE_HTTP_LISTEN="127.0.0.1:0"),
        cwd=clean_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        assert process.stdout is not None
        while not any("Audio Caller API" in line for line in lines):
            line = process.stdout.readline()
            assert line, "".join(lines) + (process.stderr.read() if process.stderr else "")
            lines.append(line)
        text = "".join(lines)
        assert ALICE_MID in text and "Audio Caller API: POST http://127.0.0.1:" in text
        match = re.search(r"HTTP: (http://127\.0\.0\.1:\d+)/healthz", text)
        assert match is not None
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"{match.group(1)}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the demo's daemon never turned healthy"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
