"""Settings of the daemon's admission rules: defaults, parsing of the allowlist, actionable errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from linecall.config.settings import Settings, SettingsError, load_settings

ALICE = "u" + "a" * 32
BOB = "u" + "b" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("LINE_", "LOG_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def load(**env: str) -> Settings:
    return load_settings(secrets_dir=Path("/nonexistent-secrets"), **{k.lower(): v for k, v in env.items()})


def problems(**env: str) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load(**env)
    return info.value.problems


def test_defaults() -> None:
    s = load()
    assert s.line_call_max_command_age_s == 120
    assert s.line_call_max_concurrent == 16
    assert s.line_call_rate_per_minute == 3
    assert s.allowed_mids == frozenset()
    assert s.line_http_listen == "127.0.0.1:8080"


def test_allowlist_is_split_on_commas_and_trimmed() -> None:
    s = load(LINE_CALL_ALLOWED_MIDS=f" {ALICE} ,{BOB},, ")
    assert s.allowed_mids == {ALICE, BOB}
    assert load(LINE_CALL_ALLOWED_MIDS=" , ").allowed_mids == frozenset()


def test_rate_zero_turns_the_limit_off() -> None:
    assert load(LINE_CALL_RATE_PER_MINUTE="0").line_call_rate_per_minute == 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LINE_CALL_ALLOWED_MIDS": f"{ALICE},bob"}, "LINE_CALL_ALLOWED_MIDS="),
        ({"LINE_CALL_ALLOWED_MIDS": "c" + "1" * 32}, "not a LINE user MID"),
        ({"LINE_CALL_MAX_CONCURRENT": "0"}, "LINE_CALL_MAX_CONCURRENT=0: must be greater than or equal to 1"),
        ({"LINE_CALL_RATE_PER_MINUTE": "-1"}, "LINE_CALL_RATE_PER_MINUTE=-1"),
        ({"LINE_CALL_MAX_COMMAND_AGE_S": "soon"}, "LINE_CALL_MAX_COMMAND_AGE_S=soon: must be a whole number"),
    ],
)
def test_bad_values_name_the_variable_and_the_fix(env: dict[str, str], expected: str) -> None:
    found = problems(**env)
    assert len(found) == 1 and expected in found[0], found
