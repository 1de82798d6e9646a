"""QR ("ForSecure") login: how a secondary device obtains a session and the account's Letter Sealing key.

talk-map §3.4 gives the RPC sequence and e2ee-map §2.4 the key handover:

1. ``createSession`` -> authSessionId; ``createQrCodeForSecure`` -> callback URL, long-poll limits, nonce;
2. a one-time X25519 pair; the QR code shows ``callbackUrl + ?secret=<pub>&e2eeVersion=1``;
3. ``checkQrCodeVerified`` long polls (``x-lst`` hold, the session id as ``x-line-access``, timeout
   hold + 5 s), up to the server's count; a timeout or HTTP 408/410 just means "not scanned yet";
4. ``verifyCertificate`` with the certificate of an earlier login; if refused, ``createPinCode``, show the
   PIN, and long poll ``checkPinCodeVerified`` the same way;
5. ``qrCodeLoginV2ForSecure`` -> V3 tokens, MID, and the phone's e2eeInfo, which is unwrapped with the
   one-time private key and checked twice (derivation, and the key the server lists for that id) before
   anything is stored.

The steps are pure (:func:`new_qr_secret`, :func:`qr_url`, :class:`LongPollPlan`, :func:`finish_login`);
:func:`run_qr_login` strings them together over any :class:`QrCaller` (``call(talk_call, *, extra_headers,
timeout)``) and a :class:`LoginUI`. The product's TalkClient cannot send per-call headers or timeouts and
needs a token, so :class:`LegyHttpCaller` is the minimal httpx adapter over the sans-I/O
:class:`~.legy.LegyRequestBuilder` that the login uses (with no token for the QR steps, and with the new
token for the server-side key check).

Unlike linejs, a failed key handover never registers a fresh key pair on its own: that would split the
account's Letter Sealing. The outcome says why no key came (:attr:`QrLoginOutcome.key_problem`) and the
caller decides.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, TextIO, TypeVar

import httpx
import structlog
import trio

from linecall.protocol.talk import login_qr_service as svc
from linecall.protocol.talk.e2ee.errors import E2EEError, KeyChainMismatch
from linecall.protocol.talk.e2ee.keys import Random, generate_key_pair
from linecall.protocol.talk.e2ee.qr import (
    UnwrappedKeyChain,
    parse_e2ee_info,
    qr_secret_query,
    unwrap_key_chain,
)
from linecall.protocol.talk.gateway import GatewayError
from linecall.protocol.talk.legy import CONNECT_TIMEOUT, LegyRequestBuilder, qr_long_poll_timeout
from linecall.protocol.talk.service import TalkCall
from linecall.protocol.talk.tokens import AccessToken
from linecall.protocol.thrift.errors import TalkException, TApplicationError, ThriftDecodeError

__all__ = [
    "LegyHttpCaller",
    "LoginTransportError",
    "LoginUI",
    "LongPollPlan",
    "QrCaller",
    "QrLoginError",
    "QrLoginOutcome",
    "QrLoginTimeout",
    "QrSecret",
    "TerminalLoginUI",
    "finish_login",
    "new_qr_secret",
    "qr_url",
    "run_qr_login",
]

T = TypeVar("T")
log = structlog.get_logger(__name__)

#: What this device calls itself in the account's device list (qrCodeLoginV2ForSecure f2/f3).
DEFAULT_SYSTEM_NAME: Final = "linecall"
DEFAULT_MODEL_NAME: Final = "linecall"
#: Bounds on the server-given long-poll limits, so a bad answer cannot make us poll forever.
MAX_POLL_COUNT: Final = 60
MAX_POLL_INTERVAL_SEC: Final = 300
#: HTTP statuses of a long poll that ran out without news (linejs retries on these and on timeouts).
_POLL_AGAIN_STATUSES: Final = frozenset({408, 410})


# --- errors -----------------------------------------------------------------------------------------------


class QrLoginError(Exception):
    """The QR login could not be completed; the message is meant for the person at the terminal."""


class QrLoginTimeout(QrLoginError):
    """The phone did not scan the code (or confirm the PIN) within the server's long-poll budget."""


class LoginTransportError(QrLoginError):
    """A request got no Thrift reply: network failure, timeout (``timed_out``), or HTTP ``status``."""

    def __init__(self, message: str, *, status: int | None = None, timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out

    @property
    def poll_again(self) -> bool:
        """True when a long poll just ran out without news and may be repeated."""
        return self.timed_out or self.status in _POLL_AGAIN_STATUSES


# --- the pure steps ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QrSecret:
    """The one-time X25519 pair whose public half goes into the QR URL; lives only in memory."""

    private_key: bytes = field(repr=False)
    public_key: bytes

    @property
    def query(self) -> str:
        return qr_secret_query(self.public_key)


def new_qr_secret(random: Random) -> QrSecret:
    pair = generate_key_pair(random)
    return QrSecret(pair.private_key, pair.public_key)


def qr_url(callback_url: str, secret: QrSecret) -> str:
    """The URL the QR code encodes: the server's callback URL with our secret query appended."""
    return callback_url + secret.query


@dataclass(frozen=True, slots=True)
class LongPollPlan:
    """How to long poll: ``max_count`` polls held ``hold_ms`` each by the server, ``timeout`` s per poll."""

    max_count: int
    hold_ms: int

    @classmethod
    def of(cls, qr: svc.QrCodeForSecure) -> LongPollPlan:
        count = min(max(1, qr.long_polling_max_count), MAX_POLL_COUNT)
        interval = min(max(1, qr.long_polling_interval_sec), MAX_POLL_INTERVAL_SEC)
        return cls(count, interval * 1000)

    @property
    def timeout(self) -> float:
        return qr_long_poll_timeout(self.hold_ms)

    def headers(self, auth_session_id: str) -> dict[str, str]:
        return svc.long_poll_headers(auth_session_id, self.hold_ms)


@dataclass(frozen=True, slots=True)
class QrLoginOutcome:
    """A completed login: the account, its V3 tokens, the certificate for the next login, and the key.

    ``keys`` is None when no usable key came with the login; ``key_problem`` then says why
    (``no_e2ee_info``, ``key_chain_malformed``, ``key_chain_mismatch``).
    """

    mid: str
    token: svc.TokenV3IssueResult
    certificate: str | None = field(repr=False)
    keys: UnwrappedKeyChain | None
    key_problem: str | None = None


def finish_login(
    result: svc.QrLoginResult, secret: QrSecret, registered_keys: Mapping[int, bytes] | None
) -> QrLoginOutcome:
    """Turn the login reply into an outcome: unwrap and check the key chain (e2ee-map §2.4 steps 3-4).

    ``registered_keys`` is the account's getE2EEPublicKeys answer ({key id: public key}) or None when it
    could not be fetched (then only the derivation check runs, as in linejs).
    """
    if result.token is None or not result.mid:
        raise QrLoginError("LINE completed the QR login without a V3 token or a MID; try again")
    keys: UnwrappedKeyChain | None = None
    problem: str | None = None
    if result.e2ee_info is None:
        problem = "no_e2ee_info"
    else:
        try:
            keys = unwrap_key_chain(secret.private_key, parse_e2ee_info(result.e2ee_info), registered_keys)
        except KeyChainMismatch:
            problem = "key_chain_mismatch"
        except E2EEError:
            problem = "key_chain_malformed"
    if problem is not None:
        log.warning("login.qr_no_key", reason=problem)
    return QrLoginOutcome(result.mid, result.token, result.certificate, keys, problem)


# --- the caller and the UI --------------------------------------------------------------------------------


class QrCaller(Protocol):
    """Sends one RPC with optional per-call headers and timeout (seconds) and returns its result."""

    async def call(
        self,
        call: TalkCall[T],
        /,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> T: ...


class LoginUI(Protocol):
    """Where the login talks to the person holding the phone."""

    def show_qr(self, url: str) -> None: ...

    def show_pin(self, pin: str) -> None: ...

    def status(self, message: str) -> None: ...


class TerminalLoginUI:
    """Prints the URL and draws the QR code with the ``qrcode`` package (text blocks, no image)."""

    def __init__(self, out: TextIO, *, invert: bool = False) -> None:
        self._out = out
        self._invert = invert

    def show_qr(self, url: str) -> None:
        import qrcode

        self._out.write("Scan this QR code with the LINE app on your phone (or open the URL there):\n")
        code = qrcode.QRCode(border=2)
        code.add_data(url)
        code.make(fit=True)
        code.print_ascii(out=self._out, invert=self._invert)
        self._out.write(f"{url}\n")
        self._out.flush()

    def show_pin(self, pin: str) -> None:
        self._out.write(f"Enter this PIN on your phone: {pin}\n")
        self._out.flush()

    def status(self, message: str) -> None:
        self._out.write(f"{message}\n")
        self._out.flush()


# --- the runner -------------------------------------------------------------------------------------------


async def _long_poll(
    caller: QrCaller, call: TalkCall[None], plan: LongPollPlan, session_id: str, what: str
) -> None:
    for attempt in range(1, plan.max_count + 1):
        try:
            await caller.call(call, extra_headers=plan.headers(session_id), timeout=plan.timeout)
            return
        except LoginTransportError as exc:
            if not exc.poll_again:
                raise
            log.info("login.qr_poll_again", method=call.method, attempt=attempt, of=plan.max_count)
    raise QrLoginTimeout(f"the {what} did not happen in time; run the login again for a new code")


async def run_qr_login(
    caller: QrCaller,
    ui: LoginUI,
    *,
    random: Random = os.urandom,
    certificate: str | None = None,
    registered_keys: Callable[[svc.QrLoginResult], Awaitable[Mapping[int, bytes] | None]] | None = None,
    system_name: str = DEFAULT_SYSTEM_NAME,
    model_name: str = DEFAULT_MODEL_NAME,
) -> QrLoginOutcome:
    """Run the ForSecure login to the end; the caller stores the outcome.

    ``certificate``: the one from an earlier login (skips the PIN if LINE still accepts it).
    ``registered_keys``: fetches the account's registered public keys with the new token (for the
    server-side key check); it should return None when that fails.
    Raises :class:`QrLoginError` subclasses, :class:`~.login_qr_service.QrLoginRefused`, or Thrift errors.
    """
    session_id = await caller.call(svc.create_session())
    qr = await caller.call(svc.create_qr_code_for_secure(session_id))
    secret = new_qr_secret(random)
    plan = LongPollPlan.of(qr)
    ui.show_qr(qr_url(qr.callback_url, secret))
    log.info("login.qr_shown", max_polls=plan.max_count, hold_ms=plan.hold_ms)
    await _long_poll(caller, svc.check_qr_code_verified(session_id), plan, session_id, "QR code scan")
    try:
        await caller.call(svc.verify_certificate(session_id, certificate))
        log.info("login.qr_certificate_accepted")
    except (svc.QrLoginRefused, TalkException, TApplicationError):
        pin = await caller.call(svc.create_pin_code(session_id))
        ui.show_pin(pin)
        await _long_poll(
            caller, svc.check_pin_code_verified(session_id), plan, session_id, "PIN confirmation"
        )
    result = await caller.call(
        svc.qr_code_login_v2_for_secure(session_id, qr.nonce, system_name=system_name, model_name=model_name)
    )
    registered = None
    if registered_keys is not None and result.e2ee_info is not None and result.token is not None:
        registered = await registered_keys(result)
    outcome = finish_login(result, secret, registered)
    log.info("login.qr_done", has_key=outcome.keys is not None)
    return outcome


# --- the HTTP adapter -------------------------------------------------------------------------------------


class LegyHttpCaller:
    """:class:`QrCaller` over httpx: builds each request with :class:`LegyRequestBuilder` (plain legy, or
    the gateway for a modern ``token``), sends it, and parses the reply. Failures without a Thrift reply
    become :class:`LoginTransportError`; server refusals pass through from the parser."""

    def __init__(
        self,
        builder: LegyRequestBuilder,
        http: httpx.AsyncClient,
        *,
        token: AccessToken | None = None,
        wall_clock: Callable[[], float] = time.time,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self._builder = builder
        self._http = http
        self._token = token
        self._wall_clock = wall_clock
        self._connect_timeout = connect_timeout

    async def call(
        self,
        call: TalkCall[T],
        /,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> T:
        request = self._builder.build(
            call.path,
            call.body,
            token=self._token,
            now=self._wall_clock(),
            timeout=timeout,
            extra_headers=extra_headers,
        )
        try:
            with trio.fail_after(self._connect_timeout + request.timeout):
                reply = await self._http.post(
                    request.url,
                    content=request.body,
                    headers=dict(request.headers),
                    timeout=httpx.Timeout(request.timeout, connect=self._connect_timeout),
                )
        except (httpx.TimeoutException, trio.TooSlowError):
            raise LoginTransportError(
                f"{call.method}: no reply within {request.timeout:g} s", timed_out=True
            ) from None
        except httpx.HTTPError as exc:
            raise LoginTransportError(f"{call.method}: cannot reach LINE ({type(exc).__name__})") from None
        try:
            response = self._builder.read(
                request, status=reply.status_code, headers=reply.headers, body=reply.content
            )
        except GatewayError:
            raise LoginTransportError(
                f"{call.method}: the gateway reply could not be opened", status=reply.status_code
            ) from None
        try:
            return call.parse(response.body)
        except ThriftDecodeError:
            raise LoginTransportError(
                f"{call.method}: HTTP {response.status} without a Thrift reply", status=response.status
            ) from None
