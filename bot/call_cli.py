"""``linecall call``: one real call from the shell, then exit.

    linecall call --to MID [--wav FILE]          ring a friend, play the clip, hang up
    linecall call --group CHAT_MID [--wav FILE]  start or join the chat's group call, play, leave

It logs in exactly like ``linecall run`` (LINE_AUTH_TOKEN, LINE_AUTH_TOKEN_FILE, the stored ``linecall login``
session), acquires a fresh route, and runs the daemon's own call worker (``bot/calls.py``) with the same
settings: the configured clip LINE_CALL_REPEAT_COUNT times, LINE_CALL_HOLD_MS of hold. It prints each stage
and exits 0 only when the call was answered (or joined) and the whole clip streamed; 1 when the call failed
(the line says why), 2 for settings or files to fix, 3 when LINE refused the token.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import trio

from linecall.bot.calls import (
    CallHooks,
    CallOptions,
    CallOutcome,
    clip_steps,
    place_group_call,
    place_one_to_one_call,
)
from linecall.bot.clips import ClipLoadError, load_configured_clip_async
from linecall.bot.daemon import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    DaemonOptions,
    StartupError,
    open_session,
    open_store,
    report_startup_error,
)
from linecall.config.logging import mask_mid
from linecall.config.settings import Settings

__all__ = ["add_call_command", "run_call"]


def add_call_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    call = subparsers.add_parser(
        "call", help="place one call now (1:1 or group) with the configured clip, then exit"
    )
    target = call.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="MID", help="user MID to ring (a friend of the account)")
    target.add_argument("--group", metavar="CHAT_MID", help="group or room MID whose call to start or join")
    call.add_argument("--wav", type=Path, help="WAV to play (overrides LINE_CALL_WAV)")
    call.set_defaults(handler=_cmd_call)


def _cmd_call(args: argparse.Namespace, settings: Settings) -> int:
    return trio.run(run_call, settings, args.to, args.group, args.wav, DaemonOptions(), sys.stdout)


async def run_call(
    settings: Settings,
    to: str | None,
    group: str | None,
    wav: Path | None,
    options: DaemonOptions,
    out: TextIO,
) -> int:
    """Log in, place one call to ``to`` (1:1) or in ``group``, print how it went; returns the exit status."""
    target = to or group or ""
    if not target:
        print("linecall: say whom to call: --to MID or --group CHAT_MID", file=sys.stderr)
        return EXIT_CONFIG
    try:
        store = open_store(settings)
    except StartupError as exc:
        return report_startup_error(exc)
    try:
        clip = await load_configured_clip_async(settings, wav)
        session = await open_session(settings, store, options)
    except ClipLoadError as exc:
        store.close()
        return report_startup_error(StartupError(str(exc), EXIT_CONFIG))
    except StartupError as exc:
        store.close()
        return report_startup_error(exc)

    def say(text: str) -> None:
        print(f"linecall: {text}", file=out, flush=True)

    async def ringing() -> None:
        say("ringing")

    async def answered() -> None:
        say("joined; streaming" if group else "answered; streaming")

    async def group_mode(existing: bool) -> None:
        say("joining group call" if existing else "starting group call")

    steps = clip_steps(clip, settings.line_call_repeat_count)
    call_options = CallOptions.from_settings(settings)
    hooks = CallHooks(on_ringing=ringing, on_answered=answered, on_group_mode=group_mode)
    say(f"calling {mask_mid(target)} ({clip.duration_s:.1f} s clip × {settings.line_call_repeat_count})")
    try:
        outcome: CallOutcome
        if group:
            outcome = await place_group_call(
                session.client, session.mid, group, steps, call_options, hooks=hooks, trigger="cli"
            )
        else:
            outcome = await place_one_to_one_call(
                session.client, session.mid, target, steps, call_options, hooks=hooks, trigger="cli"
            )
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(0.5):
            await session.aclose()
        store.close()
    if outcome.ok:
        length = outcome.ended_at - (outcome.answered_at or outcome.ended_at)
        say(f"done: {outcome.packets_sent} packets streamed, hung up after {length:.1f} s")
        return EXIT_OK
    say(f"{outcome.end.value}: {outcome.detail}")
    return EXIT_FAILED
