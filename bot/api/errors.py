"""Errors of the Audio Caller API and the envelope they travel in.

Planet's server API tells failures apart by HTTP status (400, 401, 403, 404, 429, 500, 503); the seed shows
only the success body, so error bodies keep its shape (audio-caller.md §4): ``{"status": "error", "code",
"message", "timestamp"}``, plus ``field`` when one request field is to blame, so a client can point at it.
Handlers raise :class:`ApiError`; one wrapper turns it (or anything unexpected, as a 500) into a response.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = structlog.get_logger(__name__)

#: §2's reason for each HTTP status this API answers with (plus two of our own for /v1/sources).
REASONS: Mapping[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    429: "TOO_MANY_REQUEST",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """A request refused with ``status``; ``code`` defaults to §2's reason for the status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or REASONS.get(status, "ERROR")
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def bad_request(field: str, message: str) -> ApiError:
    """A 400 naming the request field (dotted path, list indexes in brackets) and what is wrong with it."""
    return ApiError(400, f"{field}: {message}", field=field)


def short_sid(sid: str) -> str:
    """A sid's first 8 hex digits for logs (the whole UUID would be masked as a long token)."""
    return sid[:8]


def now_ms() -> int:
    return int(time.time() * 1000)


def success(data: Any, *, status: int = 200) -> JSONResponse:
    """The seed's success envelope."""
    return JSONResponse({"status": "success", "data": data, "timestamp": now_ms()}, status_code=status)


def error_response(error: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"status": "error", "code": error.code, "message": error.message}
    if error.field is not None:
        body["field"] = error.field
    body["timestamp"] = now_ms()
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's ``("storedSource", "storedAudioSources", 1, "contentId")`` as
    ``storedSource.storedAudioSources[1].contentId``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def from_validation(exc: ValidationError) -> ApiError:
    """The first problem of a failed model validation, as a 400 naming its field."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    message = _TYPE_MESSAGES.get(error["type"], message)
    return bad_request(field_path(loc), message)


_TYPE_MESSAGES: Mapping[str, str] = {
    "missing": "is required",
    "string_type": "must be a string",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "bool_type": "must be true or false",
}


Handler = Callable[[Request], Awaitable[Response]]


def enveloped(handler: Handler) -> Handler:
    """Run ``handler``; :class:`ApiError` becomes its envelope, any other exception a logged 500."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return error_response(error)
        except Exception as exc:
            log.exception("api.internal_error", path=request.url.path, error=type(exc).__name__)
            return error_response(ApiError(500, "internal error; the daemon's log has the details"))

    return run
