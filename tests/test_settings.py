"""Settings: defaults of seed 000's table, every invalid case's message, .env.example loading as is."""

from __future__ import annotations

from pathlib import Path

import pytest

from linecall.config.settings import (
    MEDIA_KEY_MODES,
    Settings,
    SettingsError,
    env_example_names,
    load_settings,
)
from tests.conftest import REPO_ROOT

ALL_VARS = env_example_names()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts from no LINE_* variables and a working directory without a .env file."""
    import os

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


def test_defaults_follow_seed_table() -> None:
    s = load()
    assert s.auth_token() is None
    assert s.line_storage_file is None
    assert s.device == "ANDROIDSECONDARY"
    assert s.line_version == "26.6.2"
    assert s.from_env_info == {"devname": "Android"}
    assert s.device_info == "ANDROID\t26.6.2\tAndroid OS\t16"
    assert s.line_call_command == "!call"
    assert s.line_call_wav is None
    assert s.line_call_frame_ms == 20
    assert s.payload_prefix == b"\x00"
    assert s.media_key_mode_1to1 == "audio-reverse-stage"
    assert s.media_key_mode_group == "audio-secret-sender"
    assert s.line_call_gain == 1
    assert s.line_call_repeat_count == 1
    assert s.line_call_hold_ms == 1000
    assert s.line_call_timeout_ms == 10000
    assert s.line_call_answer_timeout_ms == 60000
    assert s.line_call_opus_bitrate is None
    assert s.line_call_opus_bandwidth is None
    assert s.line_call_opus_signal == "music"
    assert s.line_call_opus_vbr is False
    assert s.log_format == "auto"


def test_token_makes_android_default_and_version_flows_into_device_info() -> None:
    s = load(LINE_AUTH_TOKEN="  s3cr3t-value  ", LINE_VERSION="26.9.0")
    assert s.device == "ANDROID"
    token = s.auth_token()
    assert token is not None and token.get_secret_value() == "s3cr3t-value"
    assert s.device_info == "ANDROID\t26.9.0\tAndroid OS\t16"
    assert "s3cr3t" not in repr(s)


def test_from_env_info_sent_as_is_and_devname_ignored() -> None:
    s = load(LINE_CALL_DEVNAME="Pixel 8", LINE_CALL_FROM_ENV_INFO='{"devname": "X", "k": "v"}')
    assert s.from_env_info == {"devname": "X", "k": "v"}
    assert load(LINE_CALL_DEVNAME="Pixel 8").from_env_info == {"devname": "Pixel 8"}


def test_one_media_key_mode_applies_to_both_kinds() -> None:
    s = load(LINE_CALL_MEDIA_KEY_MODE="current")
    assert (s.media_key_mode_1to1, s.media_key_mode_group) == ("current", "current")
    assert len(MEDIA_KEY_MODES) == 13


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LINE_CALL_FRAME_MS": "15"}, "LINE_CALL_FRAME_MS=15: 15 is not an Opus frame size"),
        ({"LINE_CALL_GAIN": "0"}, "LINE_CALL_GAIN=0: 0.0 must be greater than 0"),
        ({"LINE_CALL_GAIN": "-2"}, "LINE_CALL_GAIN=-2: -2.0 must be greater than 0"),
        (
            {"LINE_CALL_PAYLOAD_PREFIX_HEX": "0"},
            "LINE_CALL_PAYLOAD_PREFIX_HEX=0: '0' is not whole bytes of hex",
        ),
        ({"LINE_CALL_PAYLOAD_PREFIX_HEX": "zz"}, "LINE_CALL_PAYLOAD_PREFIX_HEX=zz: 'zz' is not whole bytes"),
        ({"LINE_CALL_FROM_ENV_INFO": "{"}, "LINE_CALL_FROM_ENV_INFO={: is not JSON"),
        ({"LINE_CALL_FROM_ENV_INFO": '{"a": 1}'}, "must be a JSON object of strings"),
        ({"LINE_CALL_FROM_ENV_INFO": "[]"}, "must be a JSON object of strings"),
        ({"LINE_CALL_MEDIA_KEY_MODE": "fast"}, "LINE_CALL_MEDIA_KEY_MODE=fast: must be 'current'"),
        ({"LINE_CALL_OPUS_BANDWIDTH": "huge"}, "LINE_CALL_OPUS_BANDWIDTH=huge: must be 'narrowband'"),
        (
            {"LINE_CALL_OPUS_SIGNAL": "speech"},
            "LINE_CALL_OPUS_SIGNAL=speech: must be 'auto', 'voice' or 'music'",
        ),
        ({"LINE_CALL_OPUS_VBR": "maybe"}, "LINE_CALL_OPUS_VBR=maybe: must be true or false"),
        ({"LINE_CALL_REPEAT_COUNT": "0"}, "LINE_CALL_REPEAT_COUNT=0: must be greater than or equal to 1"),
        ({"LINE_CALL_REPEAT_COUNT": "two"}, "LINE_CALL_REPEAT_COUNT=two: must be a whole number"),
        ({"LINE_CALL_TIMEOUT_MS": "0"}, "LINE_CALL_TIMEOUT_MS=0: must be greater than 0"),
        ({"LINE_CALL_OPUS_BITRATE": "10"}, "LINE_CALL_OPUS_BITRATE=10: must be greater than or equal to 500"),
        ({"LINE_DEVICE": "NOKIA"}, "LINE_DEVICE=NOKIA: must be 'ANDROID'"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT=xml: must be 'auto', 'json' or 'console'"),
        (
            {"LINE_AUTH_TOKEN_FILE": "/nonexistent/token.txt"},
            "LINE_AUTH_TOKEN_FILE=/nonexistent/token.txt: cannot read it",
        ),
    ],
)
def test_invalid_values_name_variable_problem_and_fix(env: dict[str, str], expected: str) -> None:
    found = problems(**env)
    assert len(found) == 1, found
    assert found[0].startswith(expected) or expected in found[0], found


def test_token_and_token_file_not_both(tmp_path: Path) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text("abc\n")
    found = problems(LINE_AUTH_TOKEN="x", LINE_AUTH_TOKEN_FILE=str(token_file))
    assert found == ["LINE_AUTH_TOKEN and LINE_AUTH_TOKEN_FILE are both set; keep only one of them"]


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text("abc\n")
    found = problems(
        LINE_AUTH_TOKEN="x", LINE_AUTH_TOKEN_FILE=str(token_file), LINE_CALL_FRAME_MS="7", LINE_CALL_GAIN="0"
    )
    assert len(found) == 3
    assert not any(p == "x" for p in found)


def test_empty_token_file_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text("\n")
    assert problems(LINE_AUTH_TOKEN_FILE=str(token_file)) == [
        f"LINE_AUTH_TOKEN_FILE={token_file}: the file is empty; put the auth token in it"
    ]


def test_token_file_read_and_named_as_source(tmp_path: Path) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text("secret-token\n")
    s = load(LINE_AUTH_TOKEN_FILE=str(token_file))
    token = s.auth_token()
    assert token is not None and token.get_secret_value() == "secret-token"
    assert s.auth_token_source == "LINE_AUTH_TOKEN_FILE"
    assert s.device == "ANDROID"


def test_empty_values_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINE_CALL_FRAME_MS", "")
    monkeypatch.setenv("LINE_AUTH_TOKEN", "")
    s = load_settings(secrets_dir=Path("/nonexistent-secrets"))
    assert s.line_call_frame_ms == 20
    assert s.auth_token() is None


def test_env_example_loads_as_is_and_lists_every_variable(tmp_path: Path) -> None:
    example = (REPO_ROOT / ".env.example").read_text()
    (tmp_path / ".env").write_text(example)
    s = load_settings(secrets_dir=Path("/nonexistent-secrets"))
    assert s.line_storage_file is not None  # compose and .env.example put storage on the named volume
    listed = {line.split("=", 1)[0].lstrip("# ").strip() for line in example.splitlines() if "=" in line}
    assert set(ALL_VARS) <= listed, set(ALL_VARS) - listed


def test_readme_documents_every_variable() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [name for name in ALL_VARS if f"`{name}`" not in readme]
    assert not missing, missing


def test_secrets_directory(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "line_auth_token").write_text("from-secret\n")
    s = load_settings(secrets_dir=secrets)
    token = s.auth_token()
    assert token is not None and token.get_secret_value() == "from-secret"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LINE_CALL_COMMAND=!ring\nLINE_CALL_HOLD_MS=5\n")
    s = load_settings(secrets_dir=Path("/nonexistent-secrets"))
    assert (s.line_call_command, s.line_call_hold_ms) == ("!ring", 5)
