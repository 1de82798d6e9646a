"""structlog set up once for the whole process, with secrets masked before anything is rendered.

linecall logs a lot of protocol detail at DEBUG, and those events travel next to tokens, PLANET keys, route
tokens and MIDs. Rather than trusting every call site, one processor walks each event dict and masks:

* values under keys that name secrets (token, secret, key, password, credential, route, cert, ...);
* :class:`pydantic.SecretStr` and raw ``bytes`` anywhere (keys and packets are bytes);
* LINE MIDs inside any string, kept to a short prefix (``u0123456…``) so logs stay correlatable;
* long hex or base64 runs inside any string (key material, tokens pasted into messages).

It runs last before the renderer, so processors and libraries that add fields are covered too.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from pydantic import SecretStr

MASK = "***"
_SECRET_KEY = re.compile(
    r"(token|secret|passw|credential|cert|cookie|authorization|auth_key|authkey|private|"
    r"(^|_)key($|_)|keys$|master|salt|seed|mpkey|route|access|session_id|sessionid|plaintext|pin$)",
    re.IGNORECASE,
)
#: Keys whose value is harmless even though the name looks secret (key *modes*, counts, ids of keys).
_SAFE_KEY = re.compile(r"(key_mode|mode$|_count$|key_id$|keyid$|_len$|length$)", re.IGNORECASE)
_MID = re.compile(r"\b([ucrsp])([0-9a-f]{32})\b")
_LONG_HEX = re.compile(r"\b[0-9a-fA-F]{24,}\b")
_LONG_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def mask_mid(mid: str) -> str:
    """A MID cut to its kind letter and 8 hex digits: enough to tell calls apart, not to reach anyone."""
    match = _MID.fullmatch(mid)
    if match is None:
        return MASK
    return f"{match.group(1)}{match.group(2)[:8]}…"


def mask_text(text: str) -> str:
    """Mask MIDs, JWTs and long hex/base64 runs inside free text."""
    text = _JWT.sub(MASK, text)
    text = _MID.sub(lambda m: f"{m.group(1)}{m.group(2)[:8]}…", text)
    text = _LONG_HEX.sub(MASK, text)
    return _LONG_B64.sub(lambda m: m.group(0) if "…" in m.group(0) else MASK, text)


def mask_value(value: Any, *, key: str | None = None, depth: int = 0) -> Any:
    """Mask one value; containers are walked (bounded depth), secret-named keys hide their whole value."""
    if key is not None and _SECRET_KEY.search(key) and not _SAFE_KEY.search(key):
        if value is None or isinstance(value, bool):
            return value
        return MASK
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return mask_text(value)
    if depth >= 6:
        return MASK if isinstance(value, Mapping | list | tuple | set) else value
    if isinstance(value, Mapping):
        return {k: mask_value(v, key=str(k), depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(v, depth=depth + 1) for v in value]
    if hasattr(value, "model_dump") and callable(value.model_dump):  # pydantic models (Settings)
        return mask_value(value.model_dump(), depth=depth + 1)
    if isinstance(value, int | float | type(None)):
        return value
    return mask_text(repr(value))


def mask_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask every value of the event dict (see the module docstring)."""
    for key in list(event_dict):
        if key in {"level", "timestamp", "logger"}:
            continue
        event_dict[key] = mask_value(event_dict[key], key=None if key == "event" else key)
    return event_dict


class _CurrentStdoutFactory:
    """Print to whatever ``sys.stdout`` is when a logger is made, not to the one seen at configure time.

    Test runners and daemons that redirect stdout replace the object; holding on to the old one would
    write into a closed file.
    """

    def __call__(self, *_args: Any) -> structlog.PrintLogger:
        return structlog.PrintLogger(file=sys.stdout)


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog (and stdlib logging underneath) once: JSON lines off a TTY, console on one."""
    out = stream if stream is not None else sys.stdout
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out)
        if stream is not None
        else _CurrentStdoutFactory(),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=out, force=True)
