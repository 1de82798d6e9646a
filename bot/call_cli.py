"""``linecall call``: one real call from the shell, then exit.

    linecall call --to MID [--wav FILE]          ring a friend, play the clip, hang up
    linecall call --group CHAT_MID [--wav FILE]  start or join the chat's group call, play, leave
    linecall call --group CHAT_MID --route GROUPROUTE.json --local-mid MID [--wav FILE]
                                                 the same with a saved route: no login, no Talk at all

It logs in exactly like ``linecall run`` (LINE_AUTH_TOKEN, LINE_AUTH_TOKEN_FILE, the stored ``linecall login``
session), acquires a fresh route, and runs the daemon's own call worker (``bot/calls.py``) with the same
settings: the configured clip LINE_CALL_REPEAT_COUNT times, LINE_CALL_HOLD_MS of hold. It prints each stage
and exits 0 only when the call was answered (or joined) and the whole clip streamed; 1 when the call failed
(the line says why), 2 for settings or files to fix, 3 when LINE refused the token.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
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
from linecall.protocol.planet.route import CallRoute, GroupCallRoute, RouteError, parse_route
from linecall.protocol.talk import structs

__all__ = ["add_call_command", "run_call", "run_call_with_route"]


def add_call_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    call = subparsers.add_parser(
        "call", help="place one call now (1:1 or group) with the configured clip, then exit"
    )
    target = call.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="MID", help="user MID to ring (a friend of the account)")
    target.add_argument("--group", metavar="CHAT_MID", help="group or room MID whose call to start or join")
    call.add_argument("--wav", type=Path, help="WAV to play (overrides LINE_CALL_WAV)")
    call.add_argument(
        "--route",
        type=Path,
        metavar="FILE",
        help="a saved route (JSON with Thrift field names: a CallRoute for --to, a GroupCallRoute for "
        "--group); skips the login and the route request",
    )
    call.add_argument("--local-mid", metavar="MID", help="the account's own MID (needed with --route)")
    call.set_defaults(handler=_cmd_call)


def _cmd_call(args: argparse.Namespace, settings: Settings) -> int:
    if args.route is not None or args.local_mid is not None:
        return trio.run(
            run_call_with_route,
            settings,
            args.to,
            args.group,
            args.route,
            args.local_mid,
            args.wav,
            sys.stdout,
        )
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


# --- a saved route: no login, no Talk ------------------------------------------------------------------------


class _SavedRouteOnly:
    """The route source of a call placed with ``--route``: the workers never ask it (the route is given)."""

    async def acquire_call_route(
        self, to: str, from_env_info: Mapping[str, str] | None = None
    ) -> structs.CallRoute:  # pragma: no cover - never called with a route
        raise RuntimeError("linecall call --route uses the saved route only")

    async def get_group_call(self, chat_mid: str) -> structs.GroupCall:  # pragma: no cover
        raise RuntimeError("linecall call --route uses the saved route only")

    async def acquire_group_call_route(
        self, chat_mid: str, *, is_initial_host: bool
    ) -> structs.GroupCallRoute:  # pragma: no cover
        raise RuntimeError("linecall call --route uses the saved route only")


def load_saved_route(path: Path, *, group: bool) -> CallRoute | GroupCallRoute:
    """The route in ``path`` (JSON, Thrift field names), checked to be the kind the call needs.

    Raises :class:`StartupError` (exit 2) with the file and the fix in the message.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StartupError(f"{path}: cannot read the route ({exc.strerror or exc})", EXIT_CONFIG) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise StartupError(f"{path}: the route is not JSON", EXIT_CONFIG) from None
    if not isinstance(data, dict):
        raise StartupError(f"{path}: the route must be a JSON object", EXIT_CONFIG)
    try:
        route = parse_route(data)
    except RouteError as exc:
        raise StartupError(f"{path}: {exc}", EXIT_CONFIG) from None
    if group and not isinstance(route, GroupCallRoute):
        raise StartupError(
            f"{path} is a 1:1 CallRoute; --group needs a GroupCallRoute (a route with token and no toMid)",
            EXIT_CONFIG,
        )
    if not group and isinstance(route, GroupCallRoute):
        raise StartupError(f"{path} is a GroupCallRoute; use it with --group CHAT_MID", EXIT_CONFIG)
    return route


async def run_call_with_route(
    settings: Settings,
    to: str | None,
    group: str | None,
    route_path: Path | None,
    local_mid: str | None,
    wav: Path | None,
    out: TextIO,
) -> int:
    """Place one call through a saved route as ``local_mid``: join ``group`` or ring ``to``, stream the clip
    on the pacer, print a one-line summary (joined/answered, packets sent, seconds); the exit status."""
    target = group or to or ""
    try:
        if not target:
            raise StartupError("say whom to call: --to MID or --group CHAT_MID", EXIT_CONFIG)
        if route_path is None or not local_mid:
            raise StartupError("a saved route needs both --route FILE and --local-mid MID", EXIT_CONFIG)
        route = load_saved_route(route_path, group=group is not None)
        clip = await load_configured_clip_async(settings, wav)
    except ClipLoadError as exc:
        return report_startup_error(StartupError(str(exc), EXIT_CONFIG))
    except StartupError as exc:
        return report_startup_error(exc)
    steps = clip_steps(clip, settings.line_call_repeat_count)
    options = CallOptions.from_settings(settings)
    outcome: CallOutcome
    if isinstance(route, GroupCallRoute):
        outcome = await place_group_call(
            _SavedRouteOnly(), local_mid, target, steps, options, trigger="cli", route=route
        )
    else:
        outcome = await place_one_to_one_call(
            _SavedRouteOnly(), local_mid, target, steps, options, trigger="cli", route=route
        )
    reached = "joined" if group else "answered"
    seconds = outcome.ended_at - (outcome.answered_at or outcome.ended_at)
    state = reached if outcome.answered else f"not {reached}"
    line = f"{state} {mask_mid(target)}; {outcome.packets_sent} packets sent in {seconds:.1f} s"
    print(f"linecall: {line}" + ("" if outcome.ok else f"; {outcome.end.value}: {outcome.detail}"), file=out)
    return EXIT_OK if outcome.ok else EXIT_FAILED
