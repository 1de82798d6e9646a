"""The legy request layer, sans-I/O: who we claim to be, where each RPC goes, and what a request and a
reply look like on the wire (talk-map §1.1-1.5, §1.7).

:class:`LegyRequestBuilder` turns ``(path, thrift body, token)`` into a :class:`LegyRequest` (URL,
headers, body, timeout) that any HTTP client can send unchanged, and :meth:`LegyRequestBuilder.read`
turns the raw HTTP answer back into a :class:`LegyResponse` carrying the Thrift reply, opening the
encrypted gateway envelope when the request went through it. The HTTP client (httpx, in ``client.py``)
only moves bytes: it must decompress gzip, and never needs to know about the gateway.

The header values imitate LINE's Android app closely because LEGY is known to police them (``/V4``
answers 403 to a secondary device class): they are protocol facts, asserted against linejs's vectors.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from .gateway import GATEWAY_URL, GatewayError, LegyGateway
from .tokens import AccessToken, renewal_from_headers

__all__ = [
    "ANDROID",
    "ANDROIDSECONDARY",
    "CONNECT_TIMEOUT",
    "DEFAULT_BASE_URL",
    "DEFAULT_HOST",
    "DEVICE_PRESETS",
    "PATHS",
    "RPC_TIMEOUT",
    "SYNC_TIMEOUT",
    "DevicePreset",
    "EncryptionMode",
    "LegyConfigError",
    "LegyError",
    "LegyRequest",
    "LegyRequestBuilder",
    "LegyResponse",
    "PathSpec",
    "UnknownDeviceError",
    "WireProtocol",
    "device_preset",
    "path_spec",
    "plain_headers",
    "qr_long_poll_timeout",
    "timeout_for",
]

DEFAULT_HOST: Final = "legy.line-apps.com"
DEFAULT_BASE_URL: Final = f"https://{DEFAULT_HOST}"
THRIFT_CONTENT_TYPE: Final = "application/x-thrift"

# --- timeouts (talk-map §1.4), seconds --------------------------------------------------------------------

#: Every ordinary RPC.
RPC_TIMEOUT: Final = 30.0
#: ``sync`` on /SYNC4 and /SYNC3: the server holds the poll open until something happens.
SYNC_TIMEOUT: Final = 180.0
#: Establishing a connection. linejs sets none (the runtime's default applies); ours is a choice.
CONNECT_TIMEOUT: Final = 10.0
#: Margin past the server-given ``x-lst`` hold of a QR long poll.
QR_POLL_MARGIN: Final = 5.0
#: ``x-lst`` hold when the server gives none, milliseconds.
QR_POLL_DEFAULT_HOLD_MS: Final = 30_000


def qr_long_poll_timeout(hold_ms: int = QR_POLL_DEFAULT_HOLD_MS) -> float:
    """Client timeout of a QR long poll: the hold interval sent as ``x-lst`` plus 5 s."""
    return hold_ms / 1000.0 + QR_POLL_MARGIN


# --- device presets (talk-map §1.3) -----------------------------------------------------------------------


class UnknownDeviceError(ValueError):
    """A device name with no preset."""


@dataclass(frozen=True, slots=True)
class DevicePreset:
    """The client identity sent in ``x-line-application`` and ``user-agent``."""

    device: str
    app_version: str
    system_name: str
    system_version: str

    @property
    def x_line_application(self) -> str:
        """``DEVICE<TAB>appVersion<TAB>systemName<TAB>systemVersion``."""
        return f"{self.device}\t{self.app_version}\t{self.system_name}\t{self.system_version}"

    @property
    def user_agent(self) -> str:
        """``Line/<appVersion>`` for every device type."""
        return f"Line/{self.app_version}"

    def with_version(self, version: str | None) -> DevicePreset:
        """The preset with LINE_VERSION applied; the version overrides only the app version."""
        if not version:
            return self
        if any(ch in version for ch in "\t\r\n"):
            raise UnknownDeviceError("the LINE version must not contain tabs or line breaks")
        return DevicePreset(self.device, version, self.system_name, self.system_version)


ANDROID: Final = DevicePreset("ANDROID", "26.6.2", "Android OS", "16")
ANDROIDSECONDARY: Final = DevicePreset("ANDROIDSECONDARY", "26.6.2", "Android OS", "16")

DEVICE_PRESETS: Final[Mapping[str, DevicePreset]] = MappingProxyType(
    {
        preset.device: preset
        for preset in (
            ANDROID,
            ANDROIDSECONDARY,
            DevicePreset("DESKTOPWIN", "9.7.0.3556", "WINDOWS", "10.0.0-NT-x64"),
            DevicePreset("DESKTOPMAC", "26.2.0", "MAC", "13.0.0"),
            DevicePreset("IOS", "26.7.2", "iOS", "18.0"),
            DevicePreset("IOSIPAD", "26.7.2", "iOS", "18.0"),
            DevicePreset("WATCHOS", "26.7.2", "Watch OS", "11.0"),
            DevicePreset("WEAROS", "13.4.1", "Wear OS", "3.0"),
        )
    }
)

#: Devices whose logins yield V3 (JWT) tokens (DV:18-28).
V3_DEVICES: Final = frozenset({"DESKTOPWIN", "DESKTOPMAC", "IOS", "ANDROID", "ANDROIDSECONDARY"})


def device_preset(device: str, version: str | None = None) -> DevicePreset:
    """The preset for a device name (case-insensitive), with an optional LINE_VERSION override."""
    preset = DEVICE_PRESETS.get(device.strip().upper())
    if preset is None:
        known = ", ".join(DEVICE_PRESETS)
        raise UnknownDeviceError(f"unknown LINE device {device!r}; expected one of {known}")
    return preset.with_version(version)


# --- paths (talk-map §1.2) --------------------------------------------------------------------------------


class WireProtocol(enum.Enum):
    """Thrift protocol a path speaks (linejs's protocol keys: 4 compact, 3 binary)."""

    COMPACT = 4
    BINARY = 3


@dataclass(frozen=True, slots=True)
class PathSpec:
    """One legy path: its Thrift protocol, whether ``auto`` mode sends it through the encrypted
    gateway for a modern token, and its default timeout."""

    path: str
    protocol: WireProtocol
    gateway: bool = False
    timeout: float = RPC_TIMEOUT
    note: str = ""


S4: Final = "/S4"
SYNC4: Final = "/SYNC4"
S3: Final = "/S3"
SYNC3: Final = "/SYNC3"
V4: Final = "/V4"
TOKEN_REFRESH: Final = "/EXT/auth/tokenrefresh/v1"
QR_LOGIN: Final = "/acct/lgn/sq/v1"
QR_LONG_POLL: Final = "/acct/lp/lgn/sq/v1"
LOGOUT: Final = "/RS4"

_C, _B = WireProtocol.COMPACT, WireProtocol.BINARY
PATHS: Final[Mapping[str, PathSpec]] = MappingProxyType(
    {
        spec.path: spec
        for spec in (
            PathSpec(S4, _C, gateway=True, note="TalkService: getProfile, sendMessage, noop, ..."),
            PathSpec(SYNC4, _C, gateway=True, timeout=SYNC_TIMEOUT, note="TalkService.sync"),
            PathSpec(S3, _B, gateway=True, note="TalkService in binary"),
            PathSpec(SYNC3, _B, gateway=True, timeout=SYNC_TIMEOUT, note="sync in binary"),
            PathSpec(V4, _C, gateway=True, note="CallService"),
            PathSpec(TOKEN_REFRESH, _C, note="AuthService.refresh (V3)"),
            PathSpec(QR_LOGIN, _C, note="QR login"),
            PathSpec(QR_LONG_POLL, _C, timeout=QR_POLL_DEFAULT_HOLD_MS / 1000 + QR_POLL_MARGIN),
            PathSpec("/api/v3/TalkService.do", _B, note="getRSAKeyInfo"),
            PathSpec("/api/v3p/rs", _B, note="password login"),
            PathSpec("/api/v4p/rs", _B, note="password login (ANDROID devices)"),
            PathSpec(LOGOUT, _C, note="logoutZ"),
            # On linejs's encryption allow-list without a method of their own.
            PathSpec("/P4", _C, gateway=True),
            PathSpec("/P5", _C, gateway=True),
            PathSpec("/NP4", _C, gateway=True),
            PathSpec("/NP5", _C, gateway=True),
            PathSpec("/C5", _C, gateway=True),
        )
    }
)


def path_spec(path: str) -> PathSpec:
    """The spec of a path (query string ignored); unknown paths are compact, plain, ordinary timeout."""
    bare = path.split("?", 1)[0]
    return PATHS.get(bare) or PathSpec(bare, WireProtocol.COMPACT)


def timeout_for(path: str) -> float:
    return path_spec(path).timeout


# --- headers (talk-map §1.3) ------------------------------------------------------------------------------


def plain_headers(
    preset: DevicePreset, *, host: str = DEFAULT_HOST, token: str | None = None, method: str = "POST"
) -> dict[str, str]:
    """Headers of a plain legy request, in linejs's order; ``x-line-access`` carries the raw token."""
    headers = {
        "host": host,
        "accept": THRIFT_CONTENT_TYPE,
        "user-agent": preset.user_agent,
        "x-line-application": preset.x_line_application,
        "content-type": THRIFT_CONTENT_TYPE,
        "x-lal": "ja_JP",
        "x-lpv": "1",
        "x-lhm": method,
        "accept-encoding": "gzip",
    }
    if token:
        headers["x-line-access"] = token
    return headers


# --- requests and replies ---------------------------------------------------------------------------------


class LegyError(Exception):
    """Base of request-layer errors that are not Thrift-level (the driver adds its transport errors)."""


class LegyConfigError(LegyError, ValueError):
    """A builder that cannot produce the request asked of it (bad URL, no gateway for an encrypted path)."""


class EncryptionMode(enum.Enum):
    """linejs's ``legy.encrypted`` option: ``auto`` (default) encrypts gateway paths for modern tokens."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class LegyRequest:
    """One HTTP request ready to send: ``POST url`` with exactly these headers and body.

    ``path`` is the Talk path the Thrift body is meant for, also when ``url`` is the gateway;
    ``encrypted`` says the reply must go through :meth:`LegyRequestBuilder.read` to be opened.
    """

    url: str
    path: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    timeout: float
    encrypted: bool
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class LegyResponse:
    """An HTTP reply reduced to what the Thrift layer needs.

    ``status`` is the effective status (for the gateway, the inner ``x-lc``); ``headers`` are lower-cased,
    with the gateway's inner headers merged over the outer ones; ``body`` is the Thrift reply (possibly
    empty, or not Thrift at all on a refusal such as 403: linejs never checks the status, callers should).
    """

    status: int
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def next_access_token(self) -> str | None:
        """The ``x-line-next-access`` token LINE wants us to use from now on, if any (talk-map §1.6)."""
        renewal = renewal_from_headers(self.headers)
        return renewal.access_token if renewal else None


def _split_base_url(base_url: str) -> tuple[str, str]:
    """``(origin, host)`` of LINE_ENDPOINT; a bare host name means https."""
    text = base_url.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        valid = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and parts.path in ("", "/")
            and not parts.query
            and not parts.fragment
        )
    except ValueError:
        valid = False
    if not valid:
        raise LegyConfigError("the legy endpoint must be a URL like https://legy.line-apps.com")
    return f"{parts.scheme}://{parts.netloc}", parts.netloc


@dataclass(slots=True)
class LegyRequestBuilder:
    """Builds legy requests for one client identity; pure apart from the gateway's cached ``x-lcs``.

    ``gateway`` (one per process, see :meth:`LegyGateway.generate`) is needed only when a request is to be
    encrypted; the token is passed per request so that a renewal takes effect on the next call.
    """

    preset: DevicePreset
    gateway: LegyGateway | None = None
    base_url: str = DEFAULT_BASE_URL
    gateway_url: str = GATEWAY_URL
    mode: EncryptionMode = EncryptionMode.AUTO
    _origin: str = field(init=False, repr=False)
    _host: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._origin, self._host = _split_base_url(self.base_url)

    @property
    def host(self) -> str:
        return self._host

    def uses_gateway(self, path: str, token: AccessToken | None) -> bool:
        """Whether a request for ``path`` with ``token`` goes through the gateway (talk-map §1.7)."""
        if token is None or not token.value or self.mode is EncryptionMode.NEVER:
            return False
        if self.mode is EncryptionMode.ALWAYS:
            return True
        return path_spec(path).gateway and token.kind.uses_gateway

    def build(
        self,
        path: str,
        body: bytes,
        *,
        token: AccessToken | None,
        now: float,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> LegyRequest:
        """The request for one RPC. ``path`` may carry a query string; ``now`` (Unix seconds) is used only
        to mint a primary access token from an auth key. ``extra_headers`` (e.g. ``x-lst``) are merged
        over the plain headers; on a gateway request only the ``x-lpv``, ``x-lal``, ``x-lhm``,
        ``content-type`` and ``accept`` among them reach the outer request, as in linejs."""
        if not path.startswith("/"):
            raise LegyConfigError("a legy path starts with '/'")
        effective_timeout = timeout if timeout is not None else timeout_for(path)
        headers = plain_headers(self.preset, host=self._host, token=token.value if token else None)
        if extra_headers:
            headers.update({key.lower(): value for key, value in extra_headers.items()})
        if token is None or not self.uses_gateway(path, token):
            return LegyRequest(self._origin + path, path, headers, body, effective_timeout, encrypted=False)
        if self.gateway is None:
            raise LegyConfigError("this token needs the encrypted gateway, but the builder has none")
        sealed = self.gateway.seal(path, body, token.gateway_token(now=now))
        outer = self.gateway.outer_headers(
            application=self.preset.x_line_application,
            user_agent=self.preset.user_agent,
            lpv=headers["x-lpv"],
            lal=headers["x-lal"],
            lhm=headers["x-lhm"],
            content_type=headers["content-type"],
            accept=headers["accept"],
        )
        return LegyRequest(self.gateway_url, path, outer, sealed, effective_timeout, encrypted=True)

    def read(
        self, request: LegyRequest, *, status: int, headers: Mapping[str, str], body: bytes
    ) -> LegyResponse:
        """The reply to ``request`` from the raw (already gunzipped) HTTP status, headers and body.

        Raises :class:`~.gateway.GatewayError` when a gateway reply cannot be opened.
        """
        lowered = {key.lower(): value for key, value in headers.items()}
        if not request.encrypted or not body:
            return LegyResponse(status, lowered, body)
        if self.gateway is None:
            raise GatewayError("an encrypted reply arrived at a builder without a gateway")
        reply = self.gateway.open(body)
        merged = lowered | reply.headers
        merged["content-type"] = THRIFT_CONTENT_TYPE
        return LegyResponse(reply.effective_status(status), merged, reply.body)
