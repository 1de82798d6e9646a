"""The Make Agent 1-to-1 Call body (seed 003) as pydantic models carrying every limit of the seed.

Planet states its string limits in UTF-8 bytes ("UTF-8 4095 bytes"), so lengths are counted on the encoded
text, not in characters: 2000 Hangul syllables are 6000 bytes and too long for ``appSvrData``. Integers and
booleans are strict (``"2"``, ``2.0`` and ``true`` are not a play count); ``null`` for an optional field means
"use the default". Unknown fields are ignored (Planet adds fields over time), except that the one extension
of ours, ``linecallCallbacks``, is checked like the rest. Messages say what is allowed, because the 400 that
carries them names the field and is read by the person integrating.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

__all__ = [
    "DEFAULT_PLAY_COUNT",
    "DEFAULT_PLAY_WAIT_MS",
    "LINE_USER_MID",
    "MEDIA_SOURCE_TYPES",
    "CallRequest",
    "LinecallCallbacks",
    "RequestContext",
    "StoredAudioSource",
    "StoredSourceInfo",
]

DEFAULT_PLAY_COUNT: Final = 2
DEFAULT_PLAY_WAIT_MS: Final = 1000
PLAY_COUNT_RANGE: Final = (1, 3)
PLAY_WAIT_RANGE_MS: Final = (1000, 4000)
MAX_SOURCES: Final = 5
MEDIA_SOURCE_TYPE_MAX_BYTES: Final = 48
APP_SVR_DATA_MAX_BYTES: Final = 4095
CALL_START_MESSAGE_MAX_BYTES: Final = 199
#: Not limited by the seed; ours, so a request cannot make history rows arbitrarily large.
ID_MAX_BYTES: Final = 128
CALLBACK_URL_MAX_BYTES: Final = 2048
#: The media source types Planet defines that linecall plays (the seed names only this one).
MEDIA_SOURCE_TYPES: Final = ("STORED_SOURCE",)
#: A LINE user MID (audio-caller.md §4: the callee ``to-userId`` is one).
LINE_USER_MID: Final = re.compile(r"u[0-9a-f]{32}")
_CONTENT_ID = re.compile(r"[0-9a-fA-F]{12}")


def _utf8_size(value: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("is not valid UTF-8 text (it holds a lone surrogate)") from None


def utf8_bytes(low: int, high: int) -> AfterValidator:
    """A string of ``low``..``high`` bytes once encoded as UTF-8."""

    def check(value: str) -> str:
        size = _utf8_size(value)
        if size > high:
            raise ValueError(f"must be at most {high} bytes of UTF-8 (got {size})")
        if size < low:
            raise ValueError("must not be empty")
        return value

    return AfterValidator(check)


def whole_number(low: int, high: int, default: int) -> BeforeValidator:
    """A JSON integer in ``low``..``high`` (``null`` = ``default``); booleans and floats are refused."""

    def check(value: Any) -> Any:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number from {low} to {high}")
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high} (got {value})")
        return value

    return BeforeValidator(check)


def boolean(value: Any) -> Any:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _content_id(value: str) -> str:
    if not _CONTENT_ID.fullmatch(value):
        raise ValueError("must be 12 hex characters, as returned by POST /v1/sources")
    return value.lower()


def _media_source_type(value: str) -> str:
    if value not in MEDIA_SOURCE_TYPES:
        raise ValueError(f"unknown media source type; use {' or '.join(MEDIA_SOURCE_TYPES)}")
    return value


def _source_list(value: Any) -> Any:
    if not isinstance(value, list):
        raise ValueError(f'must be a list of 1 to {MAX_SOURCES} objects like {{"contentId": "5498f04048fa"}}')
    if not 1 <= len(value) <= MAX_SOURCES:
        raise ValueError(f"must hold 1 to {MAX_SOURCES} sources (got {len(value)})")
    return value


def _callback_url(value: str) -> str:
    if _utf8_size(value) > CALLBACK_URL_MAX_BYTES:
        raise ValueError(f"must be at most {CALLBACK_URL_MAX_BYTES} bytes")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value


def _bytes(limit: int) -> dict[str, Any]:
    """Schema note for a UTF-8 byte limit (JSON Schema's maxLength counts characters)."""
    return {"x-maxUtf8Bytes": limit}


def _range(low: int, high: int) -> dict[str, Any]:
    return {"minimum": low, "maximum": high}


Identifier = Annotated[StrictStr, utf8_bytes(1, ID_MAX_BYTES)]
ContentId = Annotated[StrictStr, AfterValidator(_content_id)]
CallbackUrl = Annotated[StrictStr, AfterValidator(_callback_url)]
Flag = Annotated[bool, BeforeValidator(boolean)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class RequestContext(_Model):
    """Who asks: the caller's user id and service id (both required)."""

    user_id: Identifier = Field(alias="userId", json_schema_extra=_bytes(ID_MAX_BYTES))
    service_id: Identifier = Field(alias="serviceId", json_schema_extra=_bytes(ID_MAX_BYTES))


class StoredAudioSource(_Model):
    content_id: ContentId = Field(alias="contentId", json_schema_extra={"pattern": "^[0-9a-fA-F]{12}$"})


class StoredSourceInfo(_Model):
    """What to play: 1 to 5 sources in order, the whole sequence ``play_count`` times."""

    stored_audio_sources: Annotated[list[StoredAudioSource], BeforeValidator(_source_list)] = Field(
        alias="storedAudioSources", json_schema_extra={"minItems": 1, "maxItems": MAX_SOURCES}
    )
    play_count: Annotated[int, whole_number(*PLAY_COUNT_RANGE, DEFAULT_PLAY_COUNT)] = Field(
        DEFAULT_PLAY_COUNT, alias="playCount", json_schema_extra=_range(*PLAY_COUNT_RANGE)
    )
    play_wait_time: Annotated[int, whole_number(*PLAY_WAIT_RANGE_MS, DEFAULT_PLAY_WAIT_MS)] = Field(
        DEFAULT_PLAY_WAIT_MS, alias="playWaitTime", json_schema_extra=_range(*PLAY_WAIT_RANGE_MS)
    )


class LinecallCallbacks(_Model):
    """linecall's extension: per-request callback URLs overriding LINE_API_*_CALLBACK_URL."""

    status_url: CallbackUrl | None = Field(None, alias="statusUrl")
    event_url: CallbackUrl | None = Field(None, alias="eventUrl")


class CallRequest(_Model):
    """The body of ``POST /tas/v2/agt_call/audio_caller/{to-serviceId}/{to-userId}``."""

    request_context: RequestContext = Field(alias="requestContext")
    media_source_type: Annotated[
        StrictStr, utf8_bytes(1, MEDIA_SOURCE_TYPE_MAX_BYTES), AfterValidator(_media_source_type)
    ] = Field(
        alias="mediaSourceType",
        json_schema_extra={"enum": list(MEDIA_SOURCE_TYPES), **_bytes(MEDIA_SOURCE_TYPE_MAX_BYTES)},
    )
    stored_source: StoredSourceInfo = Field(alias="storedSource")
    app_svr_data: Annotated[StrictStr, utf8_bytes(0, APP_SVR_DATA_MAX_BYTES)] | None = Field(
        None, alias="appSvrData", json_schema_extra=_bytes(APP_SVR_DATA_MAX_BYTES)
    )
    call_start_message: Annotated[StrictStr, utf8_bytes(0, CALL_START_MESSAGE_MAX_BYTES)] | None = Field(
        None, alias="callStartMessage", json_schema_extra=_bytes(CALL_START_MESSAGE_MAX_BYTES)
    )
    record_on_cloud: Flag = Field(False, alias="recordOnCloud")
    use_responder_preparation: Flag = Field(False, alias="useResponderPreparation")
    linecall_callbacks: LinecallCallbacks | None = Field(None, alias="linecallCallbacks")

    @property
    def content_ids(self) -> list[str]:
        return [source.content_id for source in self.stored_source.stored_audio_sources]

    def as_stored(self) -> dict[str, Any]:
        """The request with defaults filled in, by its JSON names (what history shows)."""
        return self.model_dump(mode="json", by_alias=True)
