"""Who may use the Audio Caller API: Basic credentials and the one service id of this account.

Planet authenticates server API calls with the service's API key and secret in Basic auth (audio-caller.md
§2). Both halves are compared with :func:`hmac.compare_digest`, always both, so the time a refusal takes
says nothing about which half or how much of it was right. Without configured credentials the API is off
(every route answers 503 naming the variables to set), except on a loopback listener, where only local
processes can reach it: there it runs open, and says so once in the log.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
from dataclasses import dataclass

import structlog
from pydantic import SecretStr
from starlette.requests import Request

from linecall.bot.api.errors import ApiError

log = structlog.get_logger(__name__)

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="linecall", charset="UTF-8"'}


class AuthMode(enum.Enum):
    REQUIRED = "required"
    OPEN = "open"
    OFF = "off"


@dataclass(frozen=True)
class Authenticator:
    """Checks a request's credentials (Basic) and the service id it names."""

    service_id: str
    key: SecretStr | None = None
    secret: SecretStr | None = None
    loopback: bool = True

    @property
    def mode(self) -> AuthMode:
        if self.key is not None and self.secret is not None:
            return AuthMode.REQUIRED
        return AuthMode.OPEN if self.loopback else AuthMode.OFF

    def announce(self) -> None:
        """Log once, at start, how the API is protected."""
        if self.mode is AuthMode.OPEN:
            log.warning(
                "api.open",
                reason="LINE_API_KEY and LINE_API_SECRET are unset; the API answers anyone on this "
                "loopback listener without credentials",
            )
        elif self.mode is AuthMode.OFF:
            log.warning(
                "api.off",
                reason="LINE_API_KEY and LINE_API_SECRET are unset and LINE_HTTP_LISTEN is not loopback",
            )
        else:
            log.info("api.auth", mode="basic", service_id=self.service_id)

    def check(self, request: Request) -> None:
        """Raise 503 (API off) or 401 (missing or wrong credentials); return when the caller may proceed."""
        if self.key is None or self.secret is None:
            if self.loopback:
                return
            raise ApiError(
                503,
                "the Audio Caller API is off: set LINE_API_KEY and LINE_API_SECRET (or serve it on a "
                "loopback LINE_HTTP_LISTEN)",
                code="API_DISABLED",
            )
        given = _basic_credentials(request.headers.get("authorization"))
        if given is None:
            raise ApiError(401, "send Authorization: Basic base64(apiKey:apiSecret)", headers=_CHALLENGE)
        key, secret = given
        key_ok = hmac.compare_digest(key, self.key.get_secret_value().encode("utf-8"))
        secret_ok = hmac.compare_digest(secret, self.secret.get_secret_value().encode("utf-8"))
        if not (key_ok & secret_ok):
            raise ApiError(401, "wrong API key or secret", headers=_CHALLENGE)

    def check_service(self, service_id: str, field: str) -> None:
        """403 unless ``service_id`` is this account's (LINE_API_SERVICE_ID)."""
        if not hmac.compare_digest(service_id.encode("utf-8"), self.service_id.encode("utf-8")):
            raise ApiError(
                403,
                f"{field}: this linecall serves only its configured service id (LINE_API_SERVICE_ID)",
                field=field,
            )


def _basic_credentials(header: str | None) -> tuple[bytes, bytes] | None:
    """``Basic base64(key:secret)`` → (key, secret) as bytes, or None when absent or malformed."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    key, sep, secret = decoded.partition(b":")
    if not sep:
        return None
    return key, secret
