"""What kind of LINE token we were given, and what goes on the wire for it (talk-map §3.2, §1.6).

The kind decides the transport: every "modern" kind (a V3 JWT, an exported ``<mid>:<JWT>``, a primary
access token, a primary auth key) travels inside the encrypted gateway of :mod:`.gateway`, where the
inner ``x-lt`` header carries :meth:`AccessToken.gateway_token`; anything else is a legacy opaque token
sent raw in ``x-line-access`` over plain legy.

The recognisers mirror linejs's on purpose, including its lenient base64 (Node's decoder skips
characters outside the alphabet and stops at ``=``): a token LINE accepts from linejs must be classified
the same way here, or it would be routed to the wrong transport.

Nothing in this module logs; token values are kept out of ``repr`` so that a dataclass printed in a
traceback or a log line never leaks one.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AccessToken",
    "RenewalSource",
    "StoredToken",
    "TokenCredential",
    "TokenError",
    "TokenInputError",
    "TokenKind",
    "TokenRenewal",
    "classify_token",
    "effective_token",
    "gateway_token",
    "is_jwt",
    "mint_primary_access_token",
    "parse_token_input",
    "renewal_from_headers",
    "renewal_from_refresh",
    "token_hash",
]

#: Response header by which LINE hands out the token to use from now on (talk-map §1.6).
NEXT_ACCESS_HEADER = "x-line-next-access"

_MID_RE = re.compile(r"[A-Za-z][0-9A-Fa-f]{32}")
_JWT_CLAIMS = ("ver", "scp", "exp", "iat", "sub", "iss", "aud")
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Node's decoder maps both the standard and the URL-safe alphabet onto the same 6-bit values.
_B64_VALUES: dict[str, int] = {ch: i for i, ch in enumerate(_B64_ALPHABET)} | {"-": 62, "_": 63}
_FORBIDDEN_IN_TOKEN = re.compile(r"[\x00-\x20\x7f]")


class TokenError(ValueError):
    """Base of the errors about tokens (bad input, unusable renewal)."""


class TokenInputError(TokenError):
    """The configured token text has no usable shape; the message says what is wrong, never the token."""


class TokenKind(enum.Enum):
    """The token shapes of talk-map §3.2."""

    V3 = "v3"
    """A JWT ``header.payload.signature`` (LINE "V3" access token)."""
    EXPORTED_V3 = "exported-v3"
    """``<mid>:<JWT>``, as exported by some tools; the JWT alone is sent."""
    PRIMARY_ACCESS_TOKEN = "primary-access-token"
    """``<mid>:<b64 "iat: n\\n">..<b64 HMAC-SHA1>``, sent unchanged."""
    PRIMARY_AUTH_KEY = "primary-auth-key"
    """``<mid>:<b64 secret>`` of a primary install; a fresh primary access token is minted per request."""
    LEGACY = "legacy"
    """Anything else, e.g. an opaque v1 ``authToken``; sent raw over plain legy."""

    @property
    def uses_gateway(self) -> bool:
        """True for the modern kinds that the encrypted gateway carries in ``auto`` mode (talk-map §1.7)."""
        return self is not TokenKind.LEGACY

    @property
    def replaceable_by_next_access(self) -> bool:
        """Whether an ``x-line-next-access`` token should replace this one.

        An auth key is a long-lived secret from which access tokens are minted; swapping it for one
        derived token would lose the ability to mint the next. Every other kind is simply superseded.
        """
        return self is not TokenKind.PRIMARY_AUTH_KEY


def _node_b64decode(text: str) -> bytes:
    """Decode base64 the way Node's ``Buffer.from(text, "base64")`` does: never fails.

    Characters outside both alphabets are skipped, ``=`` ends the input, and a trailing group of 2 or 3
    symbols yields 1 or 2 bytes (a lone symbol yields nothing).
    """
    values: list[int] = []
    for ch in text:
        if ch == "=":
            break
        value = _B64_VALUES.get(ch)
        if value is not None:
            values.append(value)
    out = bytearray()
    for start in range(0, len(values), 4):
        group = values[start : start + 4]
        acc = 0
        for value in group:
            acc = (acc << 6) | value
        acc <<= 6 * (4 - len(group))
        out += acc.to_bytes(3, "big")[: max(0, len(group) - 1)]
    return bytes(out)


def _json_object(segment: str) -> dict[str, Any] | None:
    """A base64url JWT segment decoded as a JSON object, or None."""
    try:
        decoded = json.loads(_node_b64decode(segment).decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


def is_jwt(value: str) -> bool:
    """A three-part JWT whose header names an ``alg`` and whose payload has a registered claim."""
    parts = value.split(".")
    if len(parts) != 3:
        return False
    header = _json_object(parts[0])
    if header is None or not isinstance(header.get("alg"), str):
        return False
    payload = _json_object(parts[1])
    return payload is not None and any(claim in payload for claim in _JWT_CLAIMS)


def _split_prefixed(value: str) -> tuple[str, str] | None:
    head, sep, tail = value.partition(":")
    return (head, tail) if sep else None


def _is_primary_access_token(value: str) -> bool:
    split = _split_prefixed(value)
    if split is None:
        return False
    first = split[1].split(".")[0]
    return _node_b64decode(first).startswith(b"iat:")


def _is_auth_key(value: str) -> bool:
    split = _split_prefixed(value)
    if split is None:
        return False
    mid, secret = split
    return _MID_RE.fullmatch(mid) is not None and len(_node_b64decode(secret)) > 0


def classify_token(token: str) -> TokenKind:
    """The kind of an access token (talk-map §3.2), tested in linejs's order: JWT, ``mid:JWT``,
    primary access token, primary auth key, else legacy."""
    value = token.strip()
    split = _split_prefixed(value)
    if split is None:
        return TokenKind.V3 if is_jwt(value) else TokenKind.LEGACY
    if is_jwt(split[1]):
        return TokenKind.EXPORTED_V3
    if _is_primary_access_token(value):
        return TokenKind.PRIMARY_ACCESS_TOKEN
    if _is_auth_key(value):
        return TokenKind.PRIMARY_AUTH_KEY
    return TokenKind.LEGACY


def mint_primary_access_token(auth_key: str, *, now: float) -> str:
    """A primary access token for ``<mid>:<b64 secret>`` at ``now`` (Unix seconds), talk-map §3.2 / §9.

    ``iat`` is whole seconds multiplied by 60, exactly as LINE's Android client and linejs write it; the
    HMAC-SHA1 input is the base64 ``iat`` part *including* its trailing dot, hence the double dot.
    """
    split = _split_prefixed(auth_key.strip())
    if split is None:
        raise TokenError("an auth key has the shape <mid>:<base64 secret>")
    mid, secret = split
    iat = base64.b64encode(f"iat: {math.floor(now) * 60}\n".encode()).decode("ascii") + "."
    digest = hmac.new(_node_b64decode(secret), iat.encode("ascii"), hashlib.sha1).digest()
    return f"{mid}:{iat}.{base64.b64encode(digest).decode('ascii')}"


def gateway_token(token: str, *, now: float) -> str:
    """The inner ``x-lt`` value of a gateway request for ``token`` (linejs's resolveLineAccessToken)."""
    value = token.strip()
    kind = classify_token(value)
    if kind is TokenKind.EXPORTED_V3:
        return value.partition(":")[2]
    if kind is TokenKind.PRIMARY_AUTH_KEY:
        return mint_primary_access_token(value, now=now)
    return value


def token_hash(token: str) -> str:
    """SHA-256 hex of a token: lets storage recognise the configured token without holding it twice."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An access token with its kind resolved once; the value never appears in ``repr``."""

    value: str = field(repr=False)
    kind: TokenKind

    @classmethod
    def parse(cls, value: str) -> AccessToken:
        return cls(value.strip(), classify_token(value))

    def gateway_token(self, *, now: float) -> str:
        """``x-lt`` for this token at ``now``; a fresh value per call for an auth key."""
        return gateway_token(self.value, now=now)


@dataclass(frozen=True, slots=True)
class TokenCredential:
    """What a configured token text yields: the access token, and for V3 logins the refresh token and
    the expiry (Unix seconds) when the input carried them."""

    access: AccessToken
    refresh_token: str | None = field(default=None, repr=False)
    expire: float | None = None


def _string_field(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _check_header_safe(token: str, what: str) -> str:
    if _FORBIDDEN_IN_TOKEN.search(token):
        raise TokenInputError(f"the {what} contains whitespace or control characters")
    if not token.isascii():
        raise TokenInputError(f"the {what} contains non-ASCII characters")
    return token


def parse_token_input(text: str) -> TokenCredential:
    """Read LINE_AUTH_TOKEN / LINE_AUTH_TOKEN_FILE content in every shape talk-map §3.2 lists.

    * a bare token (any kind of :class:`TokenKind`);
    * two lines that are both JWTs: access token, then refresh token;
    * JSON with ``accessToken`` | ``authToken`` | ``tokenV3IssueResult.accessToken``, optional
      ``refreshToken`` (also inside ``tokenV3IssueResult``) and optional numeric ``expire``.

    Unlike linejs, an empty value, or one that would put whitespace into an HTTP header (say two lines
    that are not both JWTs), is refused here rather than failing later at the server.
    """
    value = text.strip()
    if not value:
        raise TokenInputError("the token is empty")
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if len(lines) >= 2 and is_jwt(lines[0]) and is_jwt(lines[1]):
        return TokenCredential(AccessToken.parse(lines[0]), refresh_token=lines[1])
    if value.startswith("{"):
        return _parse_json_credential(value)
    return TokenCredential(AccessToken.parse(_check_header_safe(value, "token")))


def _parse_json_credential(value: str) -> TokenCredential:
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        raise TokenInputError("the token looks like JSON but does not parse as JSON") from None
    if not isinstance(parsed, dict):
        raise TokenInputError("token JSON must be an object")
    nested = parsed.get("tokenV3IssueResult")
    nested = nested if isinstance(nested, dict) else {}
    access = (
        _string_field(parsed.get("accessToken"))
        or _string_field(parsed.get("authToken"))
        or _string_field(nested.get("accessToken"))
    )
    if access is None:
        raise TokenInputError("token JSON must contain accessToken (or authToken)")
    refresh = _string_field(parsed.get("refreshToken")) or _string_field(nested.get("refreshToken"))
    expire_raw = parsed.get("expire")
    expire = (
        float(expire_raw)
        if isinstance(expire_raw, int | float)
        and not isinstance(expire_raw, bool)
        and math.isfinite(expire_raw)
        else None
    )
    return TokenCredential(
        AccessToken.parse(_check_header_safe(access, "accessToken")),
        refresh_token=_check_header_safe(refresh, "refreshToken") if refresh else None,
        expire=expire,
    )


# --- renewal (talk-map §1.6) -----------------------------------------------------------------------------


class RenewalSource(enum.Enum):
    """How a new token reached us."""

    NEXT_ACCESS_HEADER = "x-line-next-access"
    """A response (plain, or inside the gateway envelope) carried ``x-line-next-access``."""
    V3_REFRESH = "v3-refresh"
    """We called ``refresh`` on ``/EXT/auth/tokenrefresh/v1`` after TalkException 119
    (MUST_REFRESH_V3_TOKEN), sending the old token plain in ``x-line-access``."""


@dataclass(frozen=True, slots=True)
class TokenRenewal:
    """A token LINE told us to use from now on.

    Deliberately unlike linejs, which only emits an event: the renewed token is adopted in-process and
    persisted (with :func:`token_hash` of the *configured* token, see :class:`StoredToken`), a rotated
    refresh token is kept rather than dropped, and ``expire`` is recorded for a future proactive refresh.
    """

    access_token: str = field(repr=False)
    source: RenewalSource
    refresh_token: str | None = field(default=None, repr=False)
    expire: float | None = None


def renewal_from_headers(headers: Mapping[str, str]) -> TokenRenewal | None:
    """The ``x-line-next-access`` renewal in a response's headers (keys compared case-insensitively)."""
    for key, value in headers.items():
        if key.lower() == NEXT_ACCESS_HEADER and value.strip():
            return TokenRenewal(value.strip(), RenewalSource.NEXT_ACCESS_HEADER)
    return None


def renewal_from_refresh(
    access_token: str,
    *,
    duration_until_refresh_s: int | None = None,
    issue_time_s: int | None = None,
    refresh_token: str | None = None,
) -> TokenRenewal:
    """From a ``RefreshAccessTokenResponse`` (fields 1, 2, 4, 5): expiry = issue time + duration."""
    expire = (
        float(issue_time_s + duration_until_refresh_s)
        if issue_time_s is not None and duration_until_refresh_s is not None
        else None
    )
    return TokenRenewal(access_token.strip(), RenewalSource.V3_REFRESH, refresh_token, expire)


@dataclass(frozen=True, slots=True)
class StoredToken:
    """The persisted token state: the latest token in use, and which configured token it descends from.

    ``configured_hash`` is :func:`token_hash` of the token the operator configured when the chain of
    renewals started. At start, a stored token is used only while the configured token is unchanged;
    a newly configured token always wins over a stale renewal.
    """

    access_token: str = field(repr=False)
    configured_hash: str
    refresh_token: str | None = field(default=None, repr=False)
    expire: float | None = None

    def renewed(self, renewal: TokenRenewal) -> StoredToken:
        """This record after ``renewal``; the refresh token carries over unless the renewal rotated it."""
        return StoredToken(
            renewal.access_token,
            self.configured_hash,
            renewal.refresh_token or self.refresh_token,
            renewal.expire if renewal.expire is not None else self.expire,
        )

    @classmethod
    def first(cls, configured: TokenCredential, renewal: TokenRenewal) -> StoredToken:
        """The record written by the first renewal of a configured credential."""
        base = cls(configured.access.value, token_hash(configured.access.value), configured.refresh_token)
        return base.renewed(renewal)


def effective_token(configured: TokenCredential, stored: StoredToken | None) -> TokenCredential:
    """The credential to log in with: the stored renewal if it descends from the configured token."""
    if stored is None or stored.configured_hash != token_hash(configured.access.value):
        return configured
    if not configured.access.kind.replaceable_by_next_access:
        return configured
    return TokenCredential(
        AccessToken.parse(stored.access_token),
        refresh_token=stored.refresh_token or configured.refresh_token,
        expire=stored.expire if stored.expire is not None else configured.expire,
    )
