"""linecall's one typed settings object.

Every variable of the linejs command example (seed 000) keeps its name, so a ``.env`` written for that example
works here unchanged. Values come, highest priority first, from keyword arguments, the process environment, a
``.env`` file in the working directory, and a ``/run/secrets``-style directory (one file per variable). Empty
values count as unset, so ``.env.example`` copied to ``.env`` as it is starts cleanly.

Validation problems are collected into one :class:`SettingsError` whose lines each name the variable, what is
wrong with its value and how to fix it; the CLI prints them and exits 2 instead of showing a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The device presets of talk-map §1.3 a call daemon can log in as.
Device = Literal["ANDROID", "ANDROIDSECONDARY", "DESKTOPWIN", "DESKTOPMAC", "IOS", "IOSIPAD"]
#: The 13 PlanetMediaKeyMode names of planet-map §5.4 (``protocol.planet.media_keys`` holds the derivations).
MediaKeyMode = Literal[
    "current",
    "reverse-stage",
    "sender-material",
    "sender-material-reverse-stage",
    "audio-current",
    "audio-reverse-stage",
    "audio-sender-material",
    "audio-sender-material-reverse-stage",
    "secret-receiver",
    "secret-sender",
    "audio-secret-receiver",
    "audio-secret-sender",
    "auto",
]
MEDIA_KEY_MODES: tuple[str, ...] = get_args(MediaKeyMode)
OpusBandwidth = Literal["narrowband", "mediumband", "wideband", "superwideband", "fullband"]
OpusSignal = Literal["auto", "voice", "music"]
LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

#: LINE app version sent in x-line-application (talk-map §1.3; ANDROID and ANDROIDSECONDARY share it).
DEFAULT_LINE_VERSION = "26.6.2"
DEFAULT_ENDPOINT = "https://legy.line-apps.com"
DEFAULT_GATEWAY_URL = "https://gf.line.naver.jp/enc"
DEFAULT_1TO1_MEDIA_KEY_MODE: MediaKeyMode = "audio-reverse-stage"
DEFAULT_GROUP_MEDIA_KEY_MODE: MediaKeyMode = "audio-secret-sender"
FRAME_SIZES_MS = (10, 20, 40, 60)
DEFAULT_SECRETS_DIR = Path("/run/secrets")


class SettingsError(Exception):
    """Settings that cannot work; ``problems`` holds one actionable line per bad variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """Everything linecall reads from its environment; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    # --- account and storage -------------------------------------------------------------------------------
    line_auth_token: SecretStr | None = Field(None, description="LINE auth token (primary Android token).")
    line_auth_token_file: Path | None = Field(None, description="File holding the auth token.")
    line_storage_file: Path | None = Field(
        None, description="SQLite file for revision, tokens, keys and history; unset = in memory."
    )
    line_device: Device | None = Field(
        None, description="Login device; ANDROID with a token, ANDROIDSECONDARY otherwise."
    )
    line_version: str = Field(DEFAULT_LINE_VERSION, description="LINE app version in x-line-application.")
    line_endpoint: str = Field(DEFAULT_ENDPOINT, description="Plain legy base URL.")
    line_gateway_url: str = Field(DEFAULT_GATEWAY_URL, description="Encrypted legy gateway URL.")

    # --- call route and PLANET ---------------------------------------------------------------------------
    line_call_devname: str | None = Field(None, description="fromEnvInfo.devname; unset = Android.")
    line_call_from_env_info: str | None = Field(
        None, description="JSON object of strings sent as fromEnvInfo as is (DEVNAME is then ignored)."
    )
    line_call_device_info: str | None = Field(
        None,
        description="PLANET user-agent app_release_info; unset = ANDROID<TAB>version<TAB>Android OS<TAB>16.",
    )
    line_call_media_key_mode: MediaKeyMode | None = Field(
        None, description="SRTP key mode; unset = audio-reverse-stage (1:1), audio-secret-sender (group)."
    )
    line_call_timeout_ms: int = Field(10000, gt=0, description="Timeout for initial PLANET replies.")
    line_call_answer_timeout_ms: int = Field(60000, gt=0, description="How long to wait for the answer.")

    # --- command and audio ---------------------------------------------------------------------------------
    line_call_command: str = Field("!call", min_length=1, description="Chat command that starts a call.")
    line_call_wav: Path | None = Field(None, description="WAV to play; unset = the bundled clip.")
    line_call_frame_ms: int = Field(20, description="Opus frame size for 1:1 calls (10, 20, 40 or 60).")
    line_call_payload_prefix_hex: str = Field("00", description="Native payload prefix for 1:1 calls, hex.")
    line_call_gain: float = Field(1.0, description="PCM gain before encoding (> 0).")
    line_call_repeat_count: int = Field(1, ge=1, description="How many times the clip plays.")
    line_call_hold_ms: int = Field(1000, ge=0, description="Hold after the audio before hanging up.")
    line_call_opus_bitrate: int | None = Field(None, ge=500, le=512000, description="Opus bitrate, bit/s.")
    line_call_opus_bandwidth: OpusBandwidth | None = Field(None, description="Opus bandwidth.")
    line_call_opus_signal: OpusSignal = Field("music", description="Opus signal hint.")
    line_call_opus_vbr: bool = Field(False, description="Opus VBR.")

    # --- daemon: which commands are dialled, who may call, how many at once ----------------------------------
    line_call_max_command_age_s: int = Field(
        120, ge=1, description="A command older than this (by its createdTime) is not dialled."
    )
    line_call_max_concurrent: int = Field(16, ge=1, description="Calls live at once, across triggers.")
    line_call_rate_per_minute: int = Field(3, ge=0, description="!call per sender per minute; 0 = no limit.")
    line_call_allowed_mids: str | None = Field(
        None, description="Comma-separated user MIDs allowed to use !call; unset = everyone."
    )

    # --- HTTP endpoint and Audio Caller API -----------------------------------------------------------------
    line_http_listen: str = Field(
        "127.0.0.1:8080", description="host:port of /healthz, /metrics and the Audio Caller API."
    )
    line_api_key: SecretStr | None = Field(None, description="Audio Caller API key (Basic user name).")
    line_api_key_file: Path | None = Field(None, description="File holding the API key.")
    line_api_secret: SecretStr | None = Field(None, description="Audio Caller API secret (Basic password).")
    line_api_secret_file: Path | None = Field(None, description="File holding the API secret.")
    line_api_service_id: str = Field(
        "linecall", min_length=1, max_length=128, description="The one service id requests must name."
    )
    line_api_status_callback_url: str | None = Field(None, description="Agent Call Status callback URL.")
    line_api_event_callback_url: str | None = Field(None, description="1-to-1 Call Event callback URL.")
    line_api_source_max_bytes: int = Field(
        26_214_400, gt=0, description="Largest stored-source upload (bytes of WAV)."
    )

    # --- logging -------------------------------------------------------------------------------------------
    log_level: LogLevel = Field("INFO", description="Log level.")
    log_format: LogFormat = Field("auto", description="auto (JSON unless on a TTY), json or console.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("line_device", mode="before")
    @classmethod
    def _upper_device(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("line_call_frame_ms")
    @classmethod
    def _frame_ms(cls, value: int) -> int:
        if value not in FRAME_SIZES_MS:
            raise ValueError(
                f"{value} is not an Opus frame size LINE plays; use 10, 20, 40 or 60 (20 is safest)"
            )
        return value

    @field_validator("line_call_gain")
    @classmethod
    def _gain(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"{value} must be greater than 0 (1 keeps the clip's level)")
        return value

    @field_validator("line_call_payload_prefix_hex")
    @classmethod
    def _prefix(cls, value: str) -> str:
        text = value.strip()
        try:
            bytes.fromhex(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not whole bytes of hex; use an even number of hex digits such as 00"
            ) from None
        return text

    @field_validator("line_call_from_env_info")
    @classmethod
    def _env_info(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f'is not JSON ({exc.msg}); write an object such as {{"devname": "Pixel 8"}}'
            ) from None
        if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
        ):
            raise ValueError('must be a JSON object of strings, such as {"devname": "Pixel 8"}')
        return value

    @field_validator("line_call_allowed_mids")
    @classmethod
    def _allowed_mids(cls, value: str | None) -> str | None:
        if value is None:
            return None
        bad = [item for item in _split_mids(value) if not _USER_MID.fullmatch(item)]
        if bad:
            raise ValueError(
                f"{bad[0][:12]!r} is not a LINE user MID (u followed by 32 hex digits); "
                "list user MIDs separated by commas, or leave it empty to let everyone call"
            )
        if not _split_mids(value):
            return None
        return value

    @field_validator("line_auth_token_file")
    @classmethod
    def _token_file(cls, path: Path | None) -> Path | None:
        return _check_secret_file(path, holds="the token", put="the auth token")

    @field_validator("line_api_key_file", "line_api_secret_file")
    @classmethod
    def _api_secret_file(cls, path: Path | None) -> Path | None:
        return _check_secret_file(path, holds="the value", put="the API key or secret")

    @field_validator("line_http_listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host.strip("[]") or not port.isdigit() or int(port) > 65535:
            raise ValueError("write host:port, such as 127.0.0.1:8080 or [::1]:8080")
        return value.strip()

    @field_validator("line_api_status_callback_url", "line_api_event_callback_url")
    @classmethod
    def _callback_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("write an http:// or https:// URL, such as http://127.0.0.1:9000/status")
        return value.strip()

    @model_validator(mode="after")
    def _api_credentials(self) -> Settings:
        """API key and secret come together, each from the variable or its _FILE variant, not both."""
        problems = [
            f"{name.upper()} and {name.upper()}_FILE are both set; keep only one of them"
            for name in ("line_api_key", "line_api_secret")
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None
        ]
        has_key = self.line_api_key is not None or self.line_api_key_file is not None
        has_secret = self.line_api_secret is not None or self.line_api_secret_file is not None
        if has_key != has_secret:
            problems.append(
                "LINE_API_KEY and LINE_API_SECRET (or their _FILE variants) must be set together; "
                "set both to enable the Audio Caller API, or neither"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _one_token_source(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        """Report "both token sources set" beside the field errors, so one run lists every problem."""
        both = (
            isinstance(data, dict)
            and bool(data.get("line_auth_token"))
            and bool(data.get("line_auth_token_file"))
        )
        problem = InitErrorDetails(
            type=PydanticCustomError(
                "token_sources",
                "LINE_AUTH_TOKEN and LINE_AUTH_TOKEN_FILE are both set; keep only one of them",
            ),
            loc=(),
            input="",
        )
        try:
            settings = handler(data)
        except ValidationError as exc:
            if not both:
                raise
            details = [_as_details(err) for err in exc.errors(include_url=False)]
            raise ValidationError.from_exception_data(exc.title, [*details, problem]) from None
        if both:
            raise ValidationError.from_exception_data(cls.__name__, [problem])
        return settings

    # --- derived values ------------------------------------------------------------------------------------
    def auth_token(self) -> SecretStr | None:
        """The configured token, from LINE_AUTH_TOKEN or the file LINE_AUTH_TOKEN_FILE names."""
        if self.line_auth_token is not None:
            return SecretStr(self.line_auth_token.get_secret_value().strip())
        if self.line_auth_token_file is not None:
            return SecretStr(self.line_auth_token_file.read_text(encoding="utf-8").strip())
        return None

    def api_key(self) -> SecretStr | None:
        """LINE_API_KEY, or the contents of LINE_API_KEY_FILE."""
        return _secret(self.line_api_key, self.line_api_key_file)

    def api_secret(self) -> SecretStr | None:
        """LINE_API_SECRET, or the contents of LINE_API_SECRET_FILE."""
        return _secret(self.line_api_secret, self.line_api_secret_file)

    @property
    def auth_token_source(self) -> str:
        """The variable a person must fix when the token is refused."""
        return "LINE_AUTH_TOKEN_FILE" if self.line_auth_token_file is not None else "LINE_AUTH_TOKEN"

    @property
    def device(self) -> Device:
        """LINE_DEVICE, else ANDROID with a token and ANDROIDSECONDARY (QR login) without one."""
        if self.line_device is not None:
            return self.line_device
        has_token = self.line_auth_token is not None or self.line_auth_token_file is not None
        return "ANDROID" if has_token else "ANDROIDSECONDARY"

    @property
    def from_env_info(self) -> dict[str, str]:
        """fromEnvInfo for acquireCallRoute: LINE_CALL_FROM_ENV_INFO as is, else ``{"devname": DEVNAME}``."""
        if self.line_call_from_env_info is not None:
            parsed: dict[str, str] = json.loads(self.line_call_from_env_info)
            return parsed
        return {"devname": self.line_call_devname or "Android"}

    @property
    def device_info(self) -> str:
        """PLANET user-agent app_release_info (planet-map §4.7)."""
        if self.line_call_device_info is not None:
            return self.line_call_device_info
        return f"ANDROID\t{self.line_version}\tAndroid OS\t16"

    @property
    def payload_prefix(self) -> bytes:
        return bytes.fromhex(self.line_call_payload_prefix_hex)

    @property
    def media_key_mode_1to1(self) -> MediaKeyMode:
        return self.line_call_media_key_mode or DEFAULT_1TO1_MEDIA_KEY_MODE

    @property
    def media_key_mode_group(self) -> MediaKeyMode:
        return self.line_call_media_key_mode or DEFAULT_GROUP_MEDIA_KEY_MODE

    @property
    def allowed_mids(self) -> frozenset[str]:
        """LINE_CALL_ALLOWED_MIDS as a set; empty means everyone may use the chat command."""
        return frozenset(_split_mids(self.line_call_allowed_mids or ""))


_USER_MID = re.compile(r"u[0-9a-f]{32}")


def _split_mids(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _check_secret_file(path: Path | None, *, holds: str, put: str) -> Path | None:
    """A *_FILE variable must name a readable file with something in it, checked at startup (not at first use)."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(
            f"cannot read it ({exc.strerror or exc}); point it at a readable file that holds {holds}"
        ) from None
    if not text:
        raise ValueError(f"the file is empty; put {put} in it")
    return path


def _secret(value: SecretStr | None, path: Path | None) -> SecretStr | None:
    if value is not None:
        return SecretStr(value.get_secret_value().strip())
    if path is not None:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    return None


def _as_details(error: Any) -> InitErrorDetails:
    """Rebuild an error for ``ValidationError.from_exception_data`` (custom messages kept as they were)."""
    if error.get("type") == "value_error":
        return {
            "type": PydanticCustomError("value_error", str(error["msg"])),
            "loc": error["loc"],
            "input": error.get("input"),
        }
    details = InitErrorDetails(type=error["type"], loc=error["loc"], input=error.get("input"))
    if "ctx" in error:
        details["ctx"] = error["ctx"]
    return details


def _env_name(loc: tuple[int | str, ...]) -> str:
    return str(loc[0]).upper() if loc else "settings"


def _describe(error: Any) -> str:
    """Turn one pydantic error into 'VARIABLE=value: problem'."""
    name = _env_name(error.get("loc", ()))
    message = str(error.get("msg", "is invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if not error.get("loc"):
        return message  # model-level checks name their variables themselves
    value = error.get("input")
    shown = (
        ""
        if name in {"LINE_AUTH_TOKEN", "LINE_API_KEY", "LINE_API_SECRET"} or isinstance(value, dict)
        else f"={value}"
    )
    kind = error.get("type", "")
    if kind == "literal_error":
        message = f"{message.replace('Input should be', 'must be')}"
    elif kind == "bool_parsing":
        message = "must be true or false"
    elif kind in {"int_parsing", "int_from_float"}:
        message = "must be a whole number"
    elif kind == "float_parsing":
        message = "must be a number"
    elif kind in {"greater_than", "greater_than_equal", "less_than_equal"}:
        message = message.replace("Input should be", "must be")
    return f"{name}{shown}: {message}"


def load_settings(secrets_dir: Path | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` or raise :class:`SettingsError` with one actionable line per problem."""
    directory = secrets_dir if secrets_dir is not None else DEFAULT_SECRETS_DIR
    kwargs: dict[str, Any] = dict(overrides)
    if directory.is_dir():
        kwargs["_secrets_dir"] = str(directory)
    try:
        return Settings(**kwargs)
    except ValidationError as exc:
        raise SettingsError([_describe(err) for err in exc.errors()]) from None


def env_example_names() -> list[str]:
    """Every variable Settings reads, in declaration order (README and .env.example list them all)."""
    return [name.upper() for name in Settings.model_fields]


__all__ = [
    "DEFAULT_1TO1_MEDIA_KEY_MODE",
    "DEFAULT_GROUP_MEDIA_KEY_MODE",
    "MEDIA_KEY_MODES",
    "Settings",
    "SettingsError",
    "env_example_names",
    "load_settings",
]
