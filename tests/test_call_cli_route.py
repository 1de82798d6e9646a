"""``linecall call --route FILE --local-mid MID`` (a saved route, no login) against the loopback relays.

The group form joins the loopback group relay, streams the WAV on the call worker's pacer and leaves; the
1:1 form rings the loopback 1:1 relay. Everything on MockClock (autojump) over loopback UDP. Bad input
(missing --local-mid, unreadable or non-JSON files, a route of the wrong kind) exits 2 with one line that
says what to fix.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import trio
import trio.testing

from linecall.bot.call_cli import run_call_with_route
from linecall.bot.cli import build_parser
from linecall.config.settings import Settings, load_settings
from tests.audio_match import audio_match
from tests.daemon_support import clean_env, noise_wav
from tests.planet_sim_support import CALLEE, CALLER, seeded
from tests.sim.planet_group_relay import GroupScript, GroupState, run_group_relay
from tests.sim.planet_relay import PeerScript, run_planet_relay

__all__ = ["clean_env"]

ROOM = "c00112233445566778899aabbccddeeff"


def _settings(wav: Path) -> Settings:
    return load_settings(
        secrets_dir=Path("/nonexistent-secrets"),
        line_call_wav=wav,
        line_call_hold_ms=200,
        line_call_timeout_ms=3000,
        line_call_answer_timeout_ms=5000,
        line_call_opus_bitrate=32000,
    )


def test_parser_takes_a_saved_route() -> None:
    args = build_parser().parse_args(
        ["call", "--group", ROOM, "--route", "route.json", "--local-mid", CALLER, "--wav", "x.wav"]
    )
    assert (args.group, args.route, args.local_mid, args.wav) == (
        ROOM,
        Path("route.json"),
        CALLER,
        Path("x.wav"),
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["call", "--group", ROOM, "--to", CALLEE])


async def test_group_call_with_a_saved_route(
    autojump_clock: trio.testing.MockClock, clean_env: Path, tmp_path: Path
) -> None:
    wav, pcm = noise_wav(tmp_path, seconds=2.0, seed=3)
    out = io.StringIO()
    async with run_group_relay(GroupScript(), random=seeded(31)) as relay:
        route_file = tmp_path / "group-route.json"
        route_file.write_text(json.dumps(relay.route_json))
        status = await run_call_with_route(_settings(wav), None, ROOM, route_file, CALLER, None, out)
        await relay.wait_for("cc/rel_req")
    assert status == 0, out.getvalue()
    stats = relay.core.mixer_stats
    assert stats.audio_packets == 50 and stats.timestamp_steps == [1920] * 49
    assert stats.prefixes[:3] == [b"\x00", b"\x00", b"\x10"]
    assert audio_match(pcm, relay.core.heard_pcm()) >= 0.9
    assert relay.core.state is GroupState.LEFT
    (line,) = out.getvalue().splitlines()
    assert re.fullmatch(r"linecall: joined c00112233…; 50 packets sent in \d+\.\d s", line)


async def test_one_to_one_call_with_a_saved_route(
    autojump_clock: trio.testing.MockClock, clean_env: Path, tmp_path: Path
) -> None:
    wav, _pcm = noise_wav(tmp_path, seconds=0.5, seed=4)
    out = io.StringIO()
    async with run_planet_relay(PeerScript.minimal(), random=seeded(32)) as relay:
        route_file = tmp_path / "route.json"
        route_file.write_text(json.dumps(relay.route_json))
        status = await run_call_with_route(_settings(wav), CALLEE, None, route_file, CALLER, None, out)
        await relay.wait_for("cc/rel_req")
    assert status == 0, out.getvalue()
    assert relay.stats().media_packets == 25
    assert out.getvalue().startswith("linecall: answered ufedcba98")


async def test_refused_group_call_exits_1_with_the_reason(
    autojump_clock: trio.testing.MockClock, clean_env: Path, tmp_path: Path
) -> None:
    from tests.sim.planet_script import Refusal

    wav, _pcm = noise_wav(tmp_path, seconds=0.2)
    out = io.StringIO()
    async with run_group_relay(GroupScript(refuse=Refusal(result=403, rel_code=219))) as relay:
        route_file = tmp_path / "group-route.json"
        route_file.write_text(json.dumps(relay.route_json))
        status = await run_call_with_route(_settings(wav), None, ROOM, route_file, CALLER, None, out)
    assert status == 1
    assert out.getvalue().startswith("linecall: not joined") and "refused" in out.getvalue()


@pytest.mark.parametrize(
    ("content", "group", "local_mid", "problem"),
    [
        ('{"token": "t"}', True, None, "--local-mid"),
        (None, True, CALLER, "cannot read"),
        ("not json", True, CALLER, "not JSON"),
        ("[1]", True, CALLER, "JSON object"),
        ('{"token": "t", "voipAddress": "192.0.2.1", "voipUdpPort": 1}', True, CALLER, "mpkey"),
        ("ONE_TO_ONE", True, CALLER, "--group needs a GroupCallRoute"),
        ("GROUP", False, CALLER, "use it with --group"),
    ],
)
async def test_bad_saved_routes_exit_2(
    clean_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    group: bool,
    local_mid: str | None,
    problem: str,
) -> None:
    mpkey = "ArB1ESXivyLUFhJ6T1aVjJVrsjsfUWU3Hk/bK/nqtKtI"
    base = {"voipAddress": "192.0.2.1", "voipUdpPort": 1, "commParam": json.dumps({"mpkey": mpkey})}
    if content == "ONE_TO_ONE":
        content = json.dumps({**base, "fromToken": "t", "toMid": CALLEE})
    elif content == "GROUP":
        content = json.dumps({**base, "token": "t"})
    route_file = tmp_path / "route.json"
    if content is not None:
        route_file.write_text(content)
    wav, _pcm = noise_wav(tmp_path, seconds=0.1)
    status = await run_call_with_route(
        _settings(wav),
        None if group else CALLEE,
        ROOM if group else None,
        route_file,
        local_mid,
        None,
        io.StringIO(),
    )
    assert status == 2
    assert problem in capsys.readouterr().err
