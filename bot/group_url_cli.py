"""``linecall group-url …`` and ``linecall join-url``: hand out and manage join links for group calls.

These wrap CallService's group-call URL methods (talk-map §5.1, seed 000's ``client.call.*``):

    linecall group-url create TITLE        createGroupCallUrl  -> prints the new URL id
    linecall group-url list                getGroupCallUrls
    linecall group-url get URL_ID          getGroupCallUrlInfo (title, creation time)
    linecall group-url update URL_ID TITLE updateGroupCallUrl
    linecall group-url delete URL_ID       deleteGroupCallUrl
    linecall join-url URL_ID               joinChatByCallUrl   -> prints the chat joined

The URL methods take no chat MID on the wire (a group-call URL is the account's own, not a chat's), so the
subcommands take URL ids. Each one logs in with the configured token (the stored renewal when there is
one, and it persists renewals like the daemon), makes one call and exits: 0 done, 1 LINE refused or could
not be reached, 2 the settings need fixing (the message says which variable).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any, Final, TextIO

import trio

from linecall.config.settings import Settings
from linecall.protocol.talk.client import (
    InvalidCallState,
    ReloginRequired,
    TalkClient,
    TalkClientError,
)
from linecall.protocol.talk.gateway import LegyGateway
from linecall.protocol.talk.login import LoginError, TokenLogin, login_with_token
from linecall.protocol.talk.storage import TalkStorage
from linecall.protocol.talk.structs import GroupCallUrl
from linecall.protocol.thrift.errors import TalkException, TApplicationError

__all__ = ["add_group_url_commands", "run_group_url_command"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2

Action = Callable[[TalkClient, argparse.Namespace], Any]


def add_group_url_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``group-url create|list|get|update|delete`` and ``join-url`` on ``linecall``'s subparsers.

    Each parser's ``handler`` default is ``(args, settings) -> exit code``, like the other subcommands.
    """
    group = subparsers.add_parser(
        "group-url",
        help="create, list, show, rename or delete group-call join URLs",
        description="Manage the account's group-call URLs (LINE's CallService; needs a primary token).",
    )
    group.add_argument("--json", action="store_true", help="print JSON instead of text")
    actions = group.add_subparsers(dest="group_url_action", metavar="ACTION")
    actions.required = True

    create = actions.add_parser("create", help="create a group-call URL; prints its id")
    create.add_argument("title", help="title shown to people who open the URL")
    create.set_defaults(handler=_handler, action=_create)

    listing = actions.add_parser("list", help="list this account's group-call URLs")
    listing.set_defaults(handler=_handler, action=_list)

    get = actions.add_parser("get", help="show a group-call URL's title and creation time")
    get.add_argument("url_id", metavar="URL_ID")
    get.set_defaults(handler=_handler, action=_get)

    update = actions.add_parser("update", help="change a group-call URL's title")
    update.add_argument("url_id", metavar="URL_ID")
    update.add_argument("title")
    update.set_defaults(handler=_handler, action=_update)

    delete = actions.add_parser("delete", help="delete a group-call URL")
    delete.add_argument("url_id", metavar="URL_ID")
    delete.set_defaults(handler=_handler, action=_delete)

    join = subparsers.add_parser(
        "join-url", help="join the chat behind a group-call URL (its id, the 'ticket')"
    )
    join.add_argument("url_id", metavar="TICKET", help="the group-call URL id")
    join.add_argument("--json", action="store_true", help="print JSON instead of text")
    join.set_defaults(handler=_handler, action=_join)


def _handler(args: argparse.Namespace, settings: Settings) -> int:
    return trio.run(run_group_url_command, args, settings)


async def run_group_url_command(
    args: argparse.Namespace,
    settings: Settings,
    *,
    storage: TalkStorage | None = None,
    gateway: LegyGateway | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Log in, run ``args.action``, print its result; returns the exit code. ``storage`` defaults to the
    product store (LINE_STORAGE_FILE, or memory); ``gateway`` is for tests that hold their own RSA key."""
    stdout = out if out is not None else sys.stdout
    stderr = err if err is not None else sys.stderr
    opened = None
    if storage is None:
        from linecall.bot.store import Store, StoreError

        try:
            opened = Store.open(settings.line_storage_file)
        except StoreError as exc:
            print(f"linecall: {exc}", file=stderr)
            return EXIT_CONFIG
        storage = opened
    try:
        session = await login_with_token(TokenLogin.from_settings(settings), storage, gateway=gateway)
        async with session:
            result = await args.action(session.client, args)
    except LoginError as exc:
        print(f"linecall: {exc}", file=stderr)
        return EXIT_CONFIG if exc.variable is not None and not exc.retryable else EXIT_FAILED
    except ReloginRequired as exc:
        print(f"linecall: {exc}", file=stderr)
        return EXIT_CONFIG
    except InvalidCallState as exc:
        print(f"linecall: {exc}", file=stderr)
        return EXIT_FAILED
    except TalkException as exc:
        print(f"linecall: LINE refused: {exc.code_name} {exc.reason or ''}".rstrip(), file=stderr)
        return EXIT_FAILED
    except (TalkClientError, TApplicationError) as exc:
        print(f"linecall: {exc}", file=stderr)
        return EXIT_FAILED
    finally:
        if opened is not None:
            opened.close()
    _print(result, as_json=bool(getattr(args, "json", False)), out=stdout)
    return EXIT_OK


# --- actions: each returns something printable (a dict, a list of dicts, or a sentence) -------------------


async def _create(client: TalkClient, args: argparse.Namespace) -> dict[str, Any]:
    return _url_dict(await client.create_group_call_url(args.title))


async def _list(client: TalkClient, args: argparse.Namespace) -> list[dict[str, Any]]:
    return [_url_dict(url) for url in await client.list_group_call_urls()]


async def _get(client: TalkClient, args: argparse.Namespace) -> dict[str, Any]:
    info = await client.get_group_call_url_info(args.url_id)
    return {"url_id": args.url_id, "title": info.title, "created": _when(info.created_time_millis)}


async def _update(client: TalkClient, args: argparse.Namespace) -> dict[str, Any]:
    await client.update_group_call_url(args.url_id, args.title)
    return {"url_id": args.url_id, "title": args.title, "updated": True}


async def _delete(client: TalkClient, args: argparse.Namespace) -> dict[str, Any]:
    await client.delete_group_call_url(args.url_id)
    return {"url_id": args.url_id, "deleted": True}


async def _join(client: TalkClient, args: argparse.Namespace) -> dict[str, Any]:
    chat = await client.join_chat_by_call_url(args.url_id)
    if chat is None:
        return {"url_id": args.url_id, "joined": True}
    return {"url_id": args.url_id, "joined": True, "chat_mid": chat.chat_mid, "chat_name": chat.chat_name}


def _url_dict(url: GroupCallUrl) -> dict[str, Any]:
    return {"url_id": url.url_id, "title": url.title, "created": _when(url.created_time_millis)}


def _when(millis: int | None) -> str | None:
    if millis is None:
        return None
    try:
        return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return str(millis)


def _print(result: Any, *, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2), file=out)
        return
    rows = result if isinstance(result, list) else [result]
    if not rows:
        print("(no group-call URLs)", file=out)
    for row in rows:
        print("  ".join(f"{key}={value}" for key, value in row.items() if value is not None), file=out)
