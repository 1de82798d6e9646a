"""`linecall group-url …` and `linecall join-url` against the loopback legy server: parsing, output, and
exit codes (0 done, 1 LINE refused or unreachable, 2 settings to fix)."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import AsyncIterator

import pytest

from linecall.bot.group_url_cli import add_group_url_commands, run_group_url_command
from linecall.config.settings import Settings
from linecall.protocol.talk.storage import MemoryTalkStorage
from linecall.protocol.thrift.errors import ErrorCode
from tests.sim.legy import LegyServer, RaiseTalk, running_legy_server

TOKEN = "cli-token"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="linecall")
    sub = root.add_subparsers(dest="command")
    add_group_url_commands(sub)
    return root


@pytest.fixture
async def server() -> AsyncIterator[LegyServer]:
    async with running_legy_server() as srv:
        srv.accept(TOKEN, via="plain")
        yield srv


def settings_for(server: LegyServer, token: str = TOKEN, device: str = "ANDROID") -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        line_auth_token=token,
        line_device=device,
        line_endpoint=server.base_url,
        line_gateway_url=server.gateway_url,
    )


async def run(server: LegyServer, argv: list[str], **settings: str) -> tuple[int, str, str]:
    args = parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = await run_group_url_command(
        args,
        settings_for(server, **settings),
        storage=MemoryTalkStorage(),
        gateway=server.client_gateway(),
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue()


async def test_create_list_get_update_delete_join(server: LegyServer) -> None:
    code, out, _ = await run(server, ["group-url", "--json", "create", "standup"])
    assert code == 0
    created = json.loads(out)
    url_id = created["url_id"]
    assert created["title"] == "standup" and created["created"] == "2023-11-14T22:13:20+00:00"

    code, out, _ = await run(server, ["group-url", "list"])
    assert code == 0 and f"url_id={url_id}" in out and "title=standup" in out

    assert (await run(server, ["group-url", "update", url_id, "retro"]))[0] == 0
    code, out, _ = await run(server, ["group-url", "get", url_id])
    assert code == 0 and "title=retro" in out

    code, out, _ = await run(server, ["join-url", "--json", url_id])
    assert code == 0 and json.loads(out)["chat_mid"] == server.group_call_url_chats[url_id]

    assert (await run(server, ["group-url", "delete", url_id]))[0] == 0
    code, out, _ = await run(server, ["group-url", "list"])
    assert code == 0 and "no group-call URLs" in out
    methods = [r.method for r in server.requests if r.path == "/V4"]
    assert methods == [
        "createGroupCallUrl",
        "getGroupCallUrls",
        "updateGroupCallUrl",
        "getGroupCallUrlInfo",
        "joinChatByCallUrl",
        "deleteGroupCallUrl",
        "getGroupCallUrls",
    ]


async def test_unknown_url_is_a_refusal(server: LegyServer) -> None:
    code, out, err = await run(server, ["group-url", "get", "url-9999"])
    assert (code, out) == (1, "") and "NOT_FOUND" in err


async def test_bad_token_exits_2_naming_the_variable(server: LegyServer) -> None:
    code, _, err = await run(server, ["group-url", "list"], token="unknown")
    assert code == 2 and "LINE_AUTH_TOKEN" in err and "unknown" not in err.replace("LINE", "")


async def test_invalid_state_prints_the_hint(server: LegyServer) -> None:
    server.inject("createGroupCallUrl", RaiseTalk(ErrorCode.INVALID_STATE))
    code, _, err = await run(server, ["group-url", "create", "x"])
    assert code == 1 and "LINE_CALL_DEVNAME" in err


async def test_secondary_device_is_told_to_use_a_primary_token(server: LegyServer) -> None:
    code, _, err = await run(server, ["group-url", "list"], device="ANDROIDSECONDARY")
    assert code == 1 and "primary" in err


def test_subcommands_require_their_arguments() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["group-url", "get"])
    with pytest.raises(SystemExit):
        parser().parse_args(["group-url"])
    args = parser().parse_args(["group-url", "update", "url-1", "new title"])
    assert (args.url_id, args.title) == ("url-1", "new title")
