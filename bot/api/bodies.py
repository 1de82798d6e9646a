"""Request bodies: read with a size cap, and multipart/form-data split without extra dependencies.

Bodies are read chunk by chunk and refused (413) as soon as they pass the cap, so a client cannot make the
daemon buffer more than the cap. Starlette's form parser needs python-multipart, which linecall does not
ship; uploads are one file, so a small strict splitter (RFC 7578) is enough. It raises
:class:`MultipartError` for anything malformed, never an IndexError or a UnicodeDecodeError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from starlette.requests import Request

from linecall.bot.api.errors import ApiError

__all__ = ["MultipartError", "Part", "parse_multipart", "read_capped"]

MAX_PARTS: Final = 16
_PARAM = re.compile(r';\s*([A-Za-z0-9_.*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


class MultipartError(ValueError):
    """A multipart/form-data body that cannot be split; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Part:
    name: str | None
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)


async def read_capped(request: Request, limit: int, what: str) -> bytes:
    """The whole body, or 413 naming ``what`` and the limit once more than ``limit`` bytes arrive."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"{what} is larger than {limit} bytes", field="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"{what} is larger than {limit} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """``form-data; name="file"; filename="a.wav"`` → ("form-data", {"name": "file", ...})."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        quoted, bare = match.group(2), match.group(3)
        text = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params[match.group(1).lower()] = text
    return main.strip().lower(), params


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """Split a multipart/form-data ``body`` whose Content-Type header is ``content_type``."""
    kind, params = header_params(content_type)
    if kind != "multipart/form-data":
        raise MultipartError(f"expected multipart/form-data, got {kind or 'no type'}")
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= 70 or not boundary.isascii():
        raise MultipartError("the Content-Type has no usable boundary parameter")
    delimiter = b"--" + boundary.encode("ascii")
    start = body.find(delimiter)
    if start < 0:
        raise MultipartError("the body does not contain its boundary")
    pos = start + len(delimiter)
    parts: list[Part] = []
    while True:
        if body[pos : pos + 2] == b"--":
            return parts
        if body[pos : pos + 2] != b"\r\n":
            raise MultipartError("a boundary line is not followed by CRLF")
        head_end = body.find(b"\r\n\r\n", pos + 2)
        if head_end < 0:
            raise MultipartError("a part's headers never end")
        headers = _headers(body[pos + 2 : head_end])
        data_start = head_end + 4
        data_end = body.find(b"\r\n" + delimiter, data_start)
        if data_end < 0:
            raise MultipartError("the last part is not closed by its boundary")
        if len(parts) >= MAX_PARTS:
            raise MultipartError(f"more than {MAX_PARTS} parts")
        _, disposition = header_params(headers.get("content-disposition", ""))
        parts.append(
            Part(
                name=disposition.get("name"),
                filename=disposition.get("filename"),
                content_type=headers.get("content-type"),
                data=body[data_start:data_end],
            )
        )
        pos = data_end + 2 + len(delimiter)


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    if not block:
        return headers
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        raise MultipartError("a part's headers are not UTF-8") from None
    for line in text.split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise MultipartError("a part has a malformed header line")
        headers[name.strip().lower()] = value.strip()
    return headers
