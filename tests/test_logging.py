"""The masking processor: nothing secret reaches a log line, whatever shape it arrives in."""

from __future__ import annotations

import io
import json
from pathlib import Path

import structlog
from pydantic import SecretStr

from linecall.config.logging import configure_logging, mask_mid, mask_text
from linecall.config.settings import load_settings

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MTIzIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
OPAQUE = "FQ2x9bK8aZl0mVq3W4rT6yU1iO7pE5sD2fG8hJ0kL3zX"
MID = "u0123456789abcdef0123456789abcdef"
KEY = bytes(range(30))


def capture(level: str = "DEBUG") -> io.StringIO:
    out = io.StringIO()
    configure_logging(level=level, fmt="json", stream=out)
    return out


def test_settings_and_route_logged_at_debug_leak_nothing(tmp_path: Path) -> None:
    out = capture()
    token_file = tmp_path / "t"
    token_file.write_text(OPAQUE)
    settings = load_settings(secrets_dir=Path("/none"), line_auth_token_file=str(token_file))
    route = {
        "fromToken": "ZnJvbS10b2tlbi1leGFtcGxlLWxvbmctZW5vdWdoLXRvLW1hc2s=",
        "commParam": "mpkey=A2C86F860D03D633CF9AE04877E52AA1B2C3D4E5F60718293A4B5C6D7E8F9012",
        "voipAddress": "192.0.2.10",
        "callee": MID,
    }
    log = structlog.get_logger("test")
    log.debug("settings_loaded", settings=settings, token=SecretStr(OPAQUE), auth_token=OPAQUE)
    log.debug("route_acquired", route=route, to=MID, master_key=KEY, srtp=KEY.hex(), detail=f"token {TOKEN}")
    log.info(f"calling {MID} with {OPAQUE}")
    text = out.getvalue()
    for secret in (OPAQUE, TOKEN, MID, KEY.hex(), route["fromToken"], "A2C86F860D03D633"):
        assert secret not in text, secret
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[1]["to"] == "u01234567…"
    assert lines[0]["settings"]["line_call_command"] == "!call"  # harmless settings stay readable


def test_level_honoured() -> None:
    out = capture("WARNING")
    structlog.get_logger().info("quiet")
    structlog.get_logger().warning("loud")
    assert "quiet" not in out.getvalue() and "loud" in out.getvalue()


def test_mask_helpers() -> None:
    assert mask_mid(MID) == "u01234567…"
    assert mask_mid("nonsense") == "***"
    assert "0123456789abcdef0123" not in mask_text(f"group c{'ab' * 16} and {MID}")
    assert mask_text("plain words stay") == "plain words stay"
