"""The ``linecall`` command line: one entry point, a subcommand per job.

Every subcommand loads the settings first; bad settings print one line per problem and exit 2, so a person
never has to read a traceback to learn which variable to fix.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from linecall import __version__
from linecall.bot.call_cli import add_call_command
from linecall.bot.demo import add_demo_command
from linecall.bot.group_url_cli import add_group_url_commands
from linecall.bot.login_cli import add_login_commands
from linecall.config.logging import configure_logging
from linecall.config.settings import Settings, SettingsError, load_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

Handler = Callable[[argparse.Namespace, Settings], int]


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from linecall.bot.daemon import main_run

    return main_run(settings, args.wav)


def _cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from linecall.bot.clips import ClipLoadError, describe_clip

    try:
        report = describe_clip(settings, args.wav)
    except ClipLoadError as exc:
        print(f"linecall: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(report)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linecall",
        description="Place LINE voice calls that play a WAV: `!call` in a chat, or the Audio Caller API.",
        epilog="Settings come from the environment and .env (see README.md, Configuration).",
    )
    parser.add_argument("--version", action="version", version=f"linecall {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="run the daemon (listen for !call, serve the HTTP API)")
    run.add_argument("wav", nargs="?", type=Path, help="WAV to play (overrides LINE_CALL_WAV)")
    run.set_defaults(handler=_cmd_run)

    check = sub.add_parser(
        "check", help="load settings and the WAV; show what a call would play (no LINE contact)"
    )
    check.add_argument("wav", nargs="?", type=Path, help="WAV to check (overrides LINE_CALL_WAV)")
    check.set_defaults(handler=_cmd_check)
    add_group_url_commands(sub)
    add_call_command(sub)
    add_demo_command(sub)
    add_login_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"linecall: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    handler: Handler = args.handler
    return handler(args, settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
