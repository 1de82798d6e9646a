"""Token login (talk-map §3.2-3.3): configured token in, a ready :class:`Session` (profile, MID, client) out.

The daemon starts here, so every way this can go wrong ends in one :class:`LoginError` whose message says
which variable to fix (``LINE_AUTH_TOKEN`` or ``LINE_AUTH_TOKEN_FILE`` for a bad or expired token,
``LINE_DEVICE`` / ``LINE_VERSION`` / ``LINE_ENDPOINT`` / ``LINE_GATEWAY_URL`` for the others): a person reads a
sentence, never a traceback.

Sequence: parse the token text in any shape of §3.2 (bare token of any kind, a JWT access/refresh pair on
two lines, JSON); prefer the stored renewed token while the configured one is unchanged
(``tokens.effective_token``); pick the device preset (LINE_DEVICE, LINE_VERSION overriding the app
version); call ``getProfile``, whose ``mid`` is our own MID from then on. The encrypted gateway is set up
for every login (its per-process AES key is drawn from ``random``); the builder uses it only for the token
kinds that need it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Protocol

import httpx
import structlog

from linecall.config.logging import mask_mid
from linecall.protocol.talk.client import (
    ClientTimeouts,
    ReloginRequired,
    TalkClient,
    TalkClientError,
    TalkTransportError,
)
from linecall.protocol.talk.gateway import GATEWAY_URL, LegyGateway
from linecall.protocol.talk.legy import (
    DEFAULT_BASE_URL,
    DEVICE_PRESETS,
    LegyConfigError,
    LegyRequestBuilder,
    UnknownDeviceError,
    device_preset,
)
from linecall.protocol.talk.storage import TalkStorage
from linecall.protocol.talk.structs import Profile
from linecall.protocol.talk.tokens import TokenInputError, effective_token, parse_token_input
from linecall.protocol.thrift.errors import TalkException, ThriftError, error_code_name

__all__ = ["LoginError", "Session", "TalkSettings", "TokenLogin", "login_with_token"]

log = structlog.get_logger(__name__)

_SECONDARY: Final = "ANDROIDSECONDARY"


class LoginError(Exception):
    """Login failed; ``variable`` names the setting to fix (None when nothing in the settings is wrong,
    e.g. LINE is unreachable). ``retryable`` is True when the same settings may work later."""

    def __init__(self, message: str, *, variable: str | None, retryable: bool = False) -> None:
        super().__init__(message)
        self.variable = variable
        self.retryable = retryable


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class TalkSettings(Protocol):
    """The part of ``config.settings.Settings`` a token login reads (kept structural so that the protocol
    layer does not depend on the product's settings class)."""

    @property
    def auth_token_source(self) -> str: ...

    @property
    def device(self) -> str: ...

    @property
    def line_version(self) -> str: ...

    @property
    def line_endpoint(self) -> str: ...

    @property
    def line_gateway_url(self) -> str: ...

    def auth_token(self) -> _Secret | None: ...


@dataclass(frozen=True, slots=True)
class TokenLogin:
    """What a token login needs: the token text as configured and where it came from, and the identity
    to present (device preset name, app version) at which endpoints."""

    token_text: str = field(repr=False)
    token_variable: str = "LINE_AUTH_TOKEN"
    device: str = "ANDROID"
    line_version: str | None = None
    endpoint: str = DEFAULT_BASE_URL
    gateway_url: str = GATEWAY_URL

    @classmethod
    def from_settings(cls, settings: TalkSettings) -> TokenLogin:
        """From the product settings; no token configured is a :class:`LoginError` naming both variables."""
        secret = settings.auth_token()
        if secret is None or not secret.get_secret_value().strip():
            raise LoginError(
                "no LINE token configured: set LINE_AUTH_TOKEN, or LINE_AUTH_TOKEN_FILE to a file holding "
                "the token (calls need a primary Android token)",
                variable="LINE_AUTH_TOKEN",
            )
        return cls(
            token_text=secret.get_secret_value(),
            token_variable=settings.auth_token_source,
            device=settings.device,
            line_version=settings.line_version,
            endpoint=settings.line_endpoint,
            gateway_url=settings.line_gateway_url,
        )


@dataclass(slots=True)
class Session:
    """A logged-in account: its profile, its own MID and the client to talk with.

    Owns the client: close it with :meth:`aclose` or ``async with session:``.
    """

    profile: Profile
    mid: str
    client: TalkClient

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def login_with_token(
    params: TokenLogin,
    storage: TalkStorage,
    *,
    gateway: LegyGateway | None = None,
    http: httpx.AsyncClient | None = None,
    timeouts: ClientTimeouts | None = None,
    wall_clock: Callable[[], float] = time.time,
    random: Callable[[int], bytes] = os.urandom,
) -> Session:
    """Log in with the configured token and return the ready :class:`Session`.

    ``gateway`` replaces the per-process gateway drawn from ``random`` (tests inject one whose RSA key
    they hold); ``http`` shares an ``httpx.AsyncClient`` (the session then does not close it).
    Raises :class:`LoginError` only.
    """
    variable = params.token_variable
    try:
        configured = parse_token_input(params.token_text)
    except TokenInputError as exc:
        raise LoginError(f"{variable}: {exc}; put the LINE auth token there", variable=variable) from None
    try:
        preset = device_preset(params.device, params.line_version)
    except UnknownDeviceError as exc:
        which = "LINE_VERSION" if params.device.strip().upper() in DEVICE_PRESETS else "LINE_DEVICE"
        raise LoginError(f"{which}: {exc}", variable=which) from None
    try:
        builder = LegyRequestBuilder(
            preset,
            gateway=gateway if gateway is not None else LegyGateway.generate(random),
            base_url=params.endpoint,
            gateway_url=params.gateway_url,
        )
    except LegyConfigError as exc:
        raise LoginError(f"LINE_ENDPOINT={params.endpoint}: {exc}", variable="LINE_ENDPOINT") from None

    stored = storage.load_token()
    credential = effective_token(configured, stored)
    renewed = credential is not configured
    client = TalkClient(
        builder,
        credential,
        storage,
        configured=configured,
        token_variable=variable,
        http=http,
        timeouts=timeouts,
        wall_clock=wall_clock,
    )
    try:
        profile, mid = await _probe(client, params, variable, renewed=renewed)
    except BaseException:
        await client.aclose()
        raise
    if preset.device == _SECONDARY:
        log.warning(
            "talk.login_secondary_device",
            note="ANDROIDSECONDARY can message but LINE refuses call routes (HTTP 403 on /V4); "
            "calls need LINE_DEVICE=ANDROID with a primary token",
        )
    log.info(
        "talk.logged_in",
        mid=mask_mid(mid),
        device=preset.device,
        token_kind=client.token_kind.value,
        gateway=client.uses_gateway("/S4"),
        stored_token=renewed,
    )
    return Session(profile, mid, client)


async def _probe(
    client: TalkClient, params: TokenLogin, variable: str, *, renewed: bool
) -> tuple[Profile, str]:
    """``getProfile``, with every failure turned into a :class:`LoginError` naming what to fix."""
    where = "the stored renewal of the token in " if renewed else ""
    try:
        profile = await client.get_profile()
    except ReloginRequired as exc:
        raise LoginError(
            f"LINE refused {where}{variable} at login ({_refusal(exc)}): the token is invalid, revoked or "
            f"expired; put a current LINE auth token in {variable}",
            variable=variable,
        ) from None
    except TalkTransportError as exc:
        target = "LINE_GATEWAY_URL" if client.uses_gateway("/S4") else "LINE_ENDPOINT"
        url = params.gateway_url if target == "LINE_GATEWAY_URL" else params.endpoint
        raise LoginError(
            f"cannot log in: {exc}; check the network, or {target}={url}",
            variable=None,
            retryable=True,
        ) from None
    except (TalkException, ThriftError, TalkClientError) as exc:
        raise LoginError(
            f"LINE rejected getProfile at login ({exc}); check {variable} and LINE_DEVICE",
            variable=variable,
            retryable=isinstance(exc, TalkException) and not exc.needs_relogin,
        ) from None
    if not profile.mid:
        raise LoginError(
            f"LINE returned a profile without a MID for {variable}; check the token", variable=variable
        )
    return profile, profile.mid


def _refusal(exc: ReloginRequired) -> str:
    if exc.code is not None:
        return error_code_name(exc.code)
    return f"HTTP {exc.status}" if exc.status is not None else "refused"
