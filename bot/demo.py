"""``linecall demo``: the whole product against the built-in LINE simulator, no account and no network.

    linecall demo [--group] [--wav FILE] [--out heard.wav]   one scripted !call, then exit 0 if it worked
    linecall demo --serve                                   simulator and daemon stay up for the HTTP API

The simulator (``bot/simulator/line.py``) plays LINE on loopback: Talk through the encrypted gateway, a
PLANET relay per call and an answering phone (or a group mixer) that decodes what it hears. The real
daemon (``bot/daemon.py``) logs in to it. Alice then sends ``!call`` (in her 1:1 chat, or in the group with
``--group``), and the demo prints the conversation and the call as LINE's side sees it: ringing, answered,
streaming with a progress bar, hung up. What the peer heard is written to a WAV, and its
:func:`~linecall.media.compare.audio_match` score against the source is printed; exit 0 needs a completed
call and a score of at least 0.9.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

import numpy as np
import numpy.typing as npt
import structlog
import trio

from linecall.bot.calls import CallEnd, CallOutcome
from linecall.bot.clips import ClipLoadError, clip_path
from linecall.bot.daemon import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, Daemon, DaemonOptions, run_daemon
from linecall.bot.simulator.line import (
    ALICE_MID,
    GROUP_MID,
    LineSimulator,
    SimCall,
    running_line_simulator,
)
from linecall.bot.simulator.planet_relay import PeerScript
from linecall.config.logging import configure_logging, mask_mid
from linecall.config.settings import Settings, SettingsError, load_settings
from linecall.media.compare import audio_match, write_wav_mono16
from linecall.media.condition import condition
from linecall.media.errors import MediaError
from linecall.media.wav import read_wav

__all__ = ["PASS_SCORE", "DemoResult", "add_demo_command", "run_demo"]

log = structlog.get_logger(__name__)

PASS_SCORE: Final = 0.9
_BAR_WIDTH: Final = 30
_TICK_S: Final = 0.05

Int16Array = npt.NDArray[np.int16]


def add_demo_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the daemon against the built-in LINE simulator and place one call (no account)"
    )
    demo.add_argument("--group", action="store_true", help="!call in a group chat (a group call)")
    demo.add_argument("--wav", type=Path, help="WAV to play (default: LINE_CALL_WAV or the bundled clip)")
    demo.add_argument(
        "--out", type=Path, default=Path("heard.wav"), help="where to write what the peer heard"
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="no scripted !call: keep simulator and daemon up (HTTP API on LINE_HTTP_LISTEN) until Ctrl-C",
    )
    demo.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    # The conversation goes to stdout; the daemon's own log only says something when it goes wrong.
    level = settings.log_level if settings.log_level != "INFO" else "ERROR"
    configure_logging(level, settings.log_format, stream=sys.stderr)
    return trio.run(run_demo, settings, args.group, args.wav, args.out, args.serve, sys.stdout, True)


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the scripted call came to (for tests that run the demo in-process)."""

    outcome: CallOutcome | None
    score: float | None
    heard_samples: int


def _demo_settings(
    base: Settings, sim: LineSimulator, *, serve: bool, storage: Path | None = None
) -> Settings:
    """The user's settings (clip, Opus, repeats, hold ...) aimed at the simulator: token, endpoints,
    device, no allowlist, and a free HTTP port unless serving. Storage: in memory for the scripted demo;
    with ``--serve``, LINE_STORAGE_FILE when set (point it at a file of its own: the simulated account
    writes its revision there), else a throw-away file, so the Audio Caller API can keep uploaded sources."""
    overrides: dict[str, Any] = {
        **sim.daemon_settings(gateway=True),
        "line_storage_file": storage,
        "line_call_allowed_mids": None,
        "line_http_listen": base.line_http_listen if serve else "127.0.0.1:0",
        "line_call_wav": base.line_call_wav,
        "log_level": base.log_level,
        "log_format": base.log_format,
    }
    return load_settings(**overrides)


def _source_pcm(settings: Settings, wav: Path | None) -> Int16Array:
    """The clip as the peer should hear it: conditioned to 48 kHz mono, LINE_CALL_REPEAT_COUNT times."""
    audio = read_wav(clip_path(settings, wav))
    pcm = condition(audio, settings.line_call_gain)
    return np.tile(pcm, max(1, settings.line_call_repeat_count))


class _Started:
    """A task status that hands the started daemon to a callback (so the caller learns if it never started)."""

    def __init__(self, report: Callable[[Daemon], None]) -> None:
        self._report = report

    def started(self, value: Daemon | None = None) -> None:
        if value is not None:
            self._report(value)


class _Screen:
    """Prints the conversation and the call's progress (a bar redrawn in place on a terminal)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._bar_shown = False
        self._last_decile = -1

    def line(self, text: str) -> None:
        if self._bar_shown and self.tty:
            self.out.write("\n")
        self._bar_shown = False
        self.out.write(text + "\n")
        self.out.flush()

    def bar(self, done: int, total: int, seconds: float) -> None:
        fraction = min(1.0, done / total) if total else 1.0
        filled = round(fraction * _BAR_WIDTH)
        text = f"  streaming [{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {fraction:4.0%}  {seconds:4.1f} s"
        if self.tty:
            self.out.write("\r" + text)
            self.out.flush()
            self._bar_shown = True
            return
        decile = int(fraction * 4)  # off a terminal: one line per quarter
        if decile != self._last_decile:
            self._last_decile = decile
            self.out.write(text + "\n")
            self.out.flush()


def _name(mid: str, sim: LineSimulator) -> str:
    names = {sim.account_mid: "linecall", ALICE_MID: "alice", GROUP_MID: "the group"}
    return names.get(mid, mask_mid(mid))


class _Conversation:
    """Prints every message the account sends, in order, as soon as anyone asks (or the ticker runs)."""

    def __init__(self, sim: LineSimulator, screen: _Screen) -> None:
        self.sim = sim
        self.screen = screen
        self._shown = 0

    def flush(self) -> None:
        for sent in self.sim.sent_messages[self._shown :]:
            self.screen.line(f"  linecall → {_name(sent.message.to or '', self.sim)}: {sent.message.text}")
        self._shown = len(self.sim.sent_messages)

    async def run(self) -> None:
        while True:
            self.flush()
            await trio.sleep(_TICK_S / 5)


async def _watch_call(
    call: SimCall, expected_packets: int, frame_s: float, screen: _Screen, talk: _Conversation
) -> None:
    """Print the call's stages as the relay sees them, and the streaming progress bar."""
    talk.flush()
    label = "the group call" if call.is_group else "alice's phone"
    screen.line(f"  [call] {'joining' if call.is_group else 'ringing'} {label} …")
    answered = False
    while not call.finished:
        if not answered and call.answered:
            answered = True
            talk.flush()
            screen.line("  [call] joined the group call" if call.is_group else "  [call] answered")
        if answered:
            packets = call.media_packets
            screen.bar(packets, expected_packets, packets * frame_s)
        await call.relay.wait_changed()
    if answered:
        screen.bar(call.media_packets, expected_packets, call.media_packets * frame_s)
    talk.flush()
    if call.released_by_client:
        screen.line(
            "  [call] hung up: linecall sent rel_req" if not call.is_group else "  [call] linecall left"
        )
    else:
        screen.line(f"  [call] ended ({call.stage})")


async def _wait_outcome(daemon: Daemon, count: int = 1) -> CallOutcome:
    while daemon.dispatcher is None or len(daemon.dispatcher.outcomes) < count:
        await trio.sleep(_TICK_S)
    return daemon.dispatcher.outcomes[count - 1]


async def run_demo(
    base: Settings,
    group: bool,
    wav: Path | None,
    out_path: Path,
    serve: bool,
    out: TextIO,
    handle_signals: bool = False,
    *,
    on_result: Callable[[DemoResult], None] | None = None,
) -> int:
    """Run the demo; returns the exit status (0: completed call, score at least :data:`PASS_SCORE`)."""
    screen = _Screen(out)
    try:
        source = None if serve else _source_pcm(base, wav)
    except (MediaError, OSError, ClipLoadError) as exc:
        print(f"linecall: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    with contextlib.ExitStack() as scratch:
        storage = None
        if serve:
            storage = (
                Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="linecall-demo-")))
                / "demo.sqlite3"
            )
        return await _run_demo_with(
            base, group, wav, out_path, serve, out, handle_signals, screen, source, storage, on_result
        )


async def _run_demo_with(
    base: Settings,
    group: bool,
    wav: Path | None,
    out_path: Path,
    serve: bool,
    out: TextIO,
    handle_signals: bool,
    screen: _Screen,
    source: Int16Array | None,
    storage: Path | None,
    on_result: Callable[[DemoResult], None] | None,
) -> int:
    async with running_line_simulator() as sim:
        try:
            settings = _demo_settings(base, sim, serve=serve, storage=storage)
        except SettingsError as exc:
            for problem in exc.problems:
                print(f"linecall: {problem}", file=sys.stderr)
            return EXIT_CONFIG
        options = DaemonOptions(
            wav=wav, gateway=sim.client_gateway(), handle_signals=handle_signals and serve, interactive=False
        )
        status: list[int] = []
        finished = trio.Event()
        async with trio.open_nursery() as nursery:

            async def daemon_task(
                task_status: trio.TaskStatus[Daemon | None] = trio.TASK_STATUS_IGNORED,
            ) -> None:
                started = False

                def report(daemon: Daemon) -> None:
                    nonlocal started
                    started = True
                    task_status.started(daemon)

                status.append(await run_daemon(settings, options, task_status=_Started(report)))
                if not started:  # the daemon refused to start and already said why
                    task_status.started(None)
                finished.set()

            screen.line("linecall demo: a simulated LINE on loopback (no account, no network)")
            sim.peer_script = PeerScript(ring_delay_s=0.5)  # a moment of ringing, like a phone
            talk = _Conversation(sim, screen)
            started: Daemon | None = await nursery.start(daemon_task)
            if started is None:
                return status[0]
            daemon = started
            screen.line(
                f"  daemon logged in as {mask_mid(daemon.mid)} through the encrypted gateway; "
                f"HTTP on {', '.join(daemon.http_urls)}"
            )
            if serve:
                _serve(sim, daemon, screen, talk, nursery)
                await finished.wait()  # Ctrl-C / SIGTERM stop the daemon (its signal handling)
                nursery.cancel_scope.cancel()
                return status[0] if status else EXIT_OK
            nursery.start_soon(talk.run)
            result = await _scripted_call(sim, daemon, screen, talk, group, settings, source, out_path)
            daemon.stop()
            nursery.cancel_scope.cancel()
    if on_result is not None:
        on_result(result)
    if result.outcome is None or result.outcome.end is not CallEnd.COMPLETED:
        return EXIT_FAILED
    return EXIT_OK if result.score is not None and result.score >= PASS_SCORE else EXIT_FAILED


async def _scripted_call(
    sim: LineSimulator,
    daemon: Daemon,
    screen: _Screen,
    talk: _Conversation,
    group: bool,
    settings: Settings,
    source: Int16Array | None,
    out_path: Path,
) -> DemoResult:
    clip = daemon.clip
    repeat = settings.line_call_repeat_count
    if group:
        expected, frame_s = clip.group_payloads * repeat, clip.group_frame_s
    else:
        expected, frame_s = clip.one_to_one_frames * repeat, clip.frame_s
    budget = clip.duration_s * repeat + settings.line_call_hold_ms / 1000 + 30.0
    chat = GROUP_MID if group else None
    where = "the group" if group else "linecall"
    screen.line(f"  alice → {where}: {settings.line_call_command}")
    with trio.move_on_after(budget) as scope:
        sim.say(settings.line_call_command, chat=chat)
        call = await sim.wait_call()
        await _watch_call(call, expected, frame_s, screen, talk)
        outcome = await _wait_outcome(daemon)
    if scope.cancelled_caught:
        screen.line(f"  the call did not finish within {budget:.0f} s")
        return DemoResult(None, None, 0)
    await trio.sleep(2 * _TICK_S)  # let the last reply, if any, be printed
    if not outcome.ok:
        screen.line(f"call {outcome.end.value}: {outcome.detail}")
        return DemoResult(outcome, None, 0)
    heard = call.heard_pcm()
    write_wav_mono16(out_path, heard)
    score = audio_match(source, heard) if source is not None else 0.0
    verdict = "pass" if score >= PASS_SCORE else "FAIL"
    screen.line(
        f"call completed: {outcome.packets_sent} packets; the peer heard {len(heard) / 48000:.2f} s, "
        f"written to {out_path}"
    )
    screen.line(f"audio_match against the source: {score:.3f} ({verdict}, {PASS_SCORE} needed)")
    return DemoResult(outcome, score, len(heard))


def _serve(
    sim: LineSimulator, daemon: Daemon, screen: _Screen, talk: _Conversation, nursery: trio.Nursery
) -> None:
    """Print who can be called and where the API is; mirror the conversation and the calls."""
    url = daemon.http_urls[0] if daemon.http_urls else "(no HTTP listener)"
    screen.line("  serving until Ctrl-C")
    screen.line(f"  callee MID (answers every call): {ALICE_MID}")
    screen.line(f"  group chat MID: {GROUP_MID}")
    screen.line(f"  HTTP: {url}/healthz, {url}/metrics")
    screen.line(
        f"  Audio Caller API: POST {url}/tas/v2/agt_call/audio_caller/"
        f"{daemon.settings.line_api_service_id}/{ALICE_MID}"
    )
    nursery.start_soon(talk.run)
    nursery.start_soon(_mirror_calls, sim, daemon, screen, talk)
    if sys.stdin.isatty():
        screen.line("  type a line to send it as alice (e.g. !call); Ctrl-D stops typing")
        nursery.start_soon(_read_stdin, sim, screen)


async def _mirror_calls(sim: LineSimulator, daemon: Daemon, screen: _Screen, talk: _Conversation) -> None:
    index = 0
    while True:
        call = await sim.wait_call(index)
        clip = daemon.clip
        expected = clip.group_payloads if call.is_group else clip.one_to_one_frames
        frame_s = clip.group_frame_s if call.is_group else clip.frame_s
        expected *= daemon.settings.line_call_repeat_count
        await _watch_call(call, expected, frame_s, screen, talk)
        index += 1


async def _read_stdin(sim: LineSimulator, screen: _Screen) -> None:
    while True:
        line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        if not line:
            return
        text = line.strip()
        if text:
            sim.say(text)
            screen.line(f"  alice → linecall: {text}")
