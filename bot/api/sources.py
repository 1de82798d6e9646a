"""Stored sources: WAV files uploaded to linecall, each with a 12-hex contentId, played by API calls.

Planet's Console uploads audio for Planet; here ``POST /v1/sources`` does (a WAV body, or multipart with one
file). An upload is checked by the media WAV reader (a bad file gets its actionable message, with the
ffmpeg line that fixes it), encoded once through the shared clip cache, written under
``<directory of LINE_STORAGE_FILE>/sources/<contentId>.wav`` (0600, written to a temporary name and renamed,
so a crash never leaves half a file under a real id) and described in the store. After a restart every
stored source is encoded again in the background; a call never waits on a source another call is using.
Without LINE_STORAGE_FILE there is nowhere durable to keep them, so uploads answer 503 saying so.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Final

import structlog
import trio
from starlette.requests import Request

from linecall.bot.api.bodies import MultipartError, parse_multipart, read_capped
from linecall.bot.api.errors import ApiError
from linecall.bot.store import Store
from linecall.media.clip import Clip, ClipParams, load_clip_bytes
from linecall.media.errors import MediaError

__all__ = ["SourceLibrary", "StoredSource"]

log = structlog.get_logger(__name__)

NAME_MAX_BYTES: Final = 255
_MULTIPART_OVERHEAD: Final = 64 * 1024
_WAV_TYPES: Final = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "application/octet-stream")


@dataclass(frozen=True, slots=True)
class StoredSource:
    content_id: str
    name: str
    file_name: str
    size: int
    sha256: str
    duration_s: float
    sample_rate: int
    channels: int
    sample_format: str
    created_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "contentId": self.content_id,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "duration": round(self.duration_s, 3),
            "sampleRate": self.sample_rate,
            "channels": self.channels,
            "sampleFormat": self.sample_format,
            "createdAt": round(self.created_at * 1000),
        }


_COLUMNS = (
    "content_id, name, file_name, size, sha256, duration_s, sample_rate, channels, sample_format, created_at"
)


def _source(row: tuple[object, ...]) -> StoredSource:
    cid, name, file_name, size, sha, duration, rate, channels, fmt, created = row
    return StoredSource(
        content_id=str(cid),
        name=str(name),
        file_name=str(file_name),
        size=int(str(size)),
        sha256=str(sha),
        duration_s=float(str(duration)),
        sample_rate=int(str(rate)),
        channels=int(str(channels)),
        sample_format=str(fmt),
        created_at=float(str(created)),
    )


def clean_name(raw: str | None) -> str:
    """A display name from a client-supplied file name: no folders, no control characters, ≤ 255 bytes."""
    if not raw:
        return "upload.wav"
    base = PureWindowsPath(PurePosixPath(raw).name).name
    text = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    encoded = text.encode("utf-8", "ignore")[:NAME_MAX_BYTES]
    return encoded.decode("utf-8", "ignore") or "upload.wav"


class SourceLibrary:
    """The stored sources of this daemon and their encoded clips."""

    def __init__(
        self,
        store: Store,
        directory: Path | None,
        params: ClipParams,
        max_bytes: int,
        *,
        new_id: Callable[[], str] = lambda: secrets.token_hex(6),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.directory = directory
        self.params = params
        self.max_bytes = max_bytes
        self._new_id = new_id
        self._wall = wall_clock
        self._clips: dict[str, Clip] = {}

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def get(self, content_id: str) -> StoredSource | None:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM api_sources WHERE content_id = ?", (content_id,))
        return _source(rows[0]) if rows else None

    def all(self) -> list[StoredSource]:
        return [
            _source(r) for r in self.store.query(f"SELECT {_COLUMNS} FROM api_sources ORDER BY created_at")
        ]

    def _require_directory(self) -> Path:
        if self.directory is None:
            raise ApiError(
                503,
                "stored sources need LINE_STORAGE_FILE: set it so uploads are kept under its folder's sources/",
                code="STORAGE_DISABLED",
            )
        return self.directory

    async def add(self, data: bytes, name: str, field: str) -> StoredSource:
        """Validate, encode and keep one WAV; a file that is not a playable WAV is a 400 naming ``field``."""
        directory = self._require_directory()
        try:
            clip = await trio.to_thread.run_sync(load_clip_bytes, data, name, self.params)
        except MediaError as exc:
            raise ApiError(400, str(exc), field=field) from None
        content_id = self._new_id()
        while self.get(content_id) is not None:
            content_id = self._new_id()
        file_name = f"{content_id}.wav"
        await trio.to_thread.run_sync(_write_private, directory, file_name, data)
        source = StoredSource(
            content_id=content_id,
            name=name,
            file_name=file_name,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            duration_s=clip.duration_s,
            sample_rate=clip.source_rate,
            channels=clip.source_channels,
            sample_format=clip.source_format,
            created_at=self._wall(),
        )
        with self.store.transaction() as db:
            db.execute(
                f"INSERT INTO api_sources({_COLUMNS}) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    source.content_id,
                    source.name,
                    source.file_name,
                    source.size,
                    source.sha256,
                    source.duration_s,
                    source.sample_rate,
                    source.channels,
                    source.sample_format,
                    source.created_at,
                ),
            )
        self._clips[content_id] = clip
        log.info(
            "api.source.stored", content_id=content_id, size=len(data), duration_s=round(clip.duration_s, 3)
        )
        return source

    async def clip(self, content_id: str) -> Clip:
        """The encoded clip of a stored source (encoded once, then shared by every call that plays it)."""
        clip = self._clips.get(content_id)
        if clip is not None:
            return clip
        source = self.get(content_id)
        if source is None or self.directory is None:
            raise KeyError(content_id)
        path = self.directory / source.file_name
        data = await trio.to_thread.run_sync(path.read_bytes)
        clip = await trio.to_thread.run_sync(load_clip_bytes, data, source.name, self.params)
        self._clips[content_id] = clip
        return clip

    def delete(self, content_id: str, in_use: set[str]) -> None:
        """Forget a source (404 when unknown, 409 while a queued or live call will play it)."""
        source = self.get(content_id)
        if source is None:
            raise ApiError(404, f"no stored source {content_id}", field="contentId")
        if content_id in in_use:
            raise ApiError(
                409,
                f"stored source {content_id} is used by a queued or live call; delete it after the call ends",
                code="SOURCE_IN_USE",
                field="contentId",
            )
        with self.store.transaction() as db:
            db.execute("DELETE FROM api_sources WHERE content_id = ?", (content_id,))
        self._clips.pop(content_id, None)
        if self.directory is not None:
            (self.directory / source.file_name).unlink(missing_ok=True)
        log.info("api.source.deleted", content_id=content_id)

    async def preload(self) -> None:
        """Encode every stored source (after a restart), so the first call that plays one does not wait."""
        for source in self.all():
            try:
                await self.clip(source.content_id)
            except (OSError, MediaError, KeyError) as exc:
                log.error("api.source.unreadable", content_id=source.content_id, error=type(exc).__name__)

    # --- HTTP ---------------------------------------------------------------------------------------------
    async def upload(self, request: Request) -> StoredSource:
        """``POST /v1/sources``: a WAV body (name from ``?name=``) or multipart/form-data with one file."""
        self._require_directory()
        content_type = request.headers.get("content-type", "")
        kind = content_type.partition(";")[0].strip().lower()
        if kind == "multipart/form-data":
            body = await read_capped(request, self.max_bytes + _MULTIPART_OVERHEAD, "the upload")
            try:
                parts = parse_multipart(body, content_type)
            except MultipartError as exc:
                raise ApiError(400, f"body: {exc}", field="body") from None
            part = next((p for p in parts if p.name == "file"), None) or next(
                (p for p in parts if p.filename), None
            )
            if part is None:
                raise ApiError(400, "file: send the WAV as the multipart field 'file'", field="file")
            if len(part.data) > self.max_bytes:
                raise ApiError(413, f"the WAV is larger than {self.max_bytes} bytes", field="file")
            return await self.add(part.data, clean_name(part.filename), "file")
        if kind and kind not in _WAV_TYPES:
            raise ApiError(
                400,
                f"Content-Type: send audio/wav (or multipart/form-data with a 'file' field), not {kind}",
                field="Content-Type",
            )
        body = await read_capped(request, self.max_bytes, "the WAV")
        return await self.add(body, clean_name(request.query_params.get("name")), "body")


def _write_private(directory: Path, file_name: str, data: bytes) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = directory / f".{file_name}.part"
    fd = os.open(temporary, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, directory / file_name)
