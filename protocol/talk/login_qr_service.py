"""Sans-I/O calls of the QR "ForSecure" login (talk-map §3.4): request bodies out, typed results in.

Every method is compact Thrift on ``/acct/lgn/sq/v1``, except the two long polls (``checkQrCodeVerified``,
``checkPinCodeVerified``) on ``/acct/lp/lgn/sq/v1``, which must carry ``x-lst: <hold ms>`` and
``x-line-access: <authSessionId>`` and a client timeout of hold + 5 s (:func:`long_poll_headers`,
:func:`~linecall.protocol.talk.legy.qr_long_poll_timeout`). Arguments are request-wrapped (a single field-1
struct), and the bodies are byte-identical to linejs's (LI:687-897): ``createSession`` with empty args,
``verifyCertificate`` without field 2 when no certificate is stored.

The reply structs are missing from linejs's type file; their field ids come from linejs's reads and its
smali-derived notes (LI:241-311), so the parsers are tolerant: a count may come as i32 or i64, and the
E2EE info is looked for in result field 10 (a map) and in ``metaData["e2eeInfo"]`` (a JSON object), as
linejs does. Refusals on these paths are ``SecondaryQrCodeException {1 code, 2 alertMessage}`` (TT:3207),
raised here as :class:`QrLoginRefused` with the code named from that enum, not from TalkException's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, TypeVar

from linecall.protocol.talk.legy import QR_LOGIN, QR_LONG_POLL
from linecall.protocol.talk.service import TalkCall, read_result, talk_call
from linecall.protocol.thrift import values as tv
from linecall.protocol.thrift.errors import TalkException, ThriftDecodeError, ThriftError, enum_name
from linecall.protocol.thrift.values import I32, I64, Protocol, Struct, TMap, TType

__all__ = [
    "PATH_QR_LOGIN",
    "PATH_QR_LONG_POLL",
    "QrCodeForSecure",
    "QrLoginRefused",
    "QrLoginResult",
    "SecondaryQrCodeErrorCode",
    "TokenV3IssueResult",
    "check_pin_code_verified",
    "check_qr_code_verified",
    "create_pin_code",
    "create_qr_code_for_secure",
    "create_session",
    "long_poll_headers",
    "qr_code_login_v2_for_secure",
    "verify_certificate",
]

T = TypeVar("T")

PATH_QR_LOGIN: Final = QR_LOGIN
PATH_QR_LONG_POLL: Final = QR_LONG_POLL

#: linejs's fallbacks when createQrCodeForSecure omits its long-poll limits (LI:247-250).
DEFAULT_LONG_POLLING_MAX_COUNT: Final = 12
DEFAULT_LONG_POLLING_INTERVAL_SEC: Final = 30


class SecondaryQrCodeErrorCode(IntEnum):
    """``q80_EnumC33651c``: the code of a SecondaryQrCodeException (TT:3207-3218)."""

    INTERNAL_ERROR = 0
    ILLEGAL_ARGUMENT = 1
    VERIFICATION_FAILED = 2
    NOT_ALLOWED_QR_CODE_LOGIN = 3
    VERIFICATION_NOTICE_FAILED = 4
    RETRY_LATER = 5
    INVALID_CONTEXT = 100
    APP_UPGRADE_REQUIRED = 101


class QrLoginRefused(ThriftError):
    """The login server refused a step (SecondaryQrCodeException). The alert message is meant for the
    user (LINE writes it for display); ``code`` is the raw integer."""

    def __init__(self, method: str, code: int | None, alert_message: str | None) -> None:
        self.method = method
        self.code = code
        self.alert_message = alert_message
        super().__init__(f"{method}: {self.code_name}" + (f" ({alert_message})" if alert_message else ""))

    @property
    def code_name(self) -> str:
        return enum_name(SecondaryQrCodeErrorCode, self.code)


# --- results ----------------------------------------------------------------------------------------------


def _opt_int(s: Struct, fid: int) -> int | None:
    value = s.get(fid)
    if value is None:
        return None
    if isinstance(value, I32 | I64):
        return value.value
    raise ThriftDecodeError(f"field {fid}: expected an integer, got {value.ttype.name}")


@dataclass(frozen=True, slots=True)
class QrCodeForSecure:
    """createQrCodeForSecure: the URL to put into the QR code (before our secret query), the long-poll
    limits, and the nonce qrCodeLoginV2ForSecure must echo."""

    callback_url: str
    long_polling_max_count: int = DEFAULT_LONG_POLLING_MAX_COUNT
    long_polling_interval_sec: int = DEFAULT_LONG_POLLING_INTERVAL_SEC
    nonce: str = field(default="", repr=False)

    def to_thrift(self) -> Struct:
        return tv.struct(
            (1, tv.text(self.callback_url)),
            (2, tv.i32(self.long_polling_max_count)),
            (3, tv.i32(self.long_polling_interval_sec)),
            (4, tv.text(self.nonce)),
        )

    @classmethod
    def from_thrift(cls, s: Struct) -> QrCodeForSecure:
        url = s.opt_text(1)
        if not url:
            raise ThriftDecodeError("createQrCodeForSecure: no callback URL")
        count, interval = _opt_int(s, 2), _opt_int(s, 3)
        return cls(
            url,
            count if count is not None and count > 0 else DEFAULT_LONG_POLLING_MAX_COUNT,
            interval if interval is not None and interval > 0 else DEFAULT_LONG_POLLING_INTERVAL_SEC,
            s.opt_text(4) or "",
        )


@dataclass(frozen=True, slots=True)
class TokenV3IssueResult:
    """TT TokenV3IssueResult: the V3 access/refresh token pair a QR login yields (talk-map §3.4)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    duration_until_refresh_s: int | None = None
    login_session_id: str | None = field(default=None, repr=False)
    token_issue_time_s: int | None = None

    @property
    def expire(self) -> float | None:
        """Unix seconds when the access token wants refreshing (issue time + duration), if both known."""
        if self.duration_until_refresh_s is None or self.token_issue_time_s is None:
            return None
        return float(self.token_issue_time_s + self.duration_until_refresh_s)

    def to_thrift(self) -> Struct:
        return tv.struct(
            (1, tv.text(self.access_token)),
            (2, tv.text(self.refresh_token)),
            (3, tv.i64(self.duration_until_refresh_s)),
            (5, tv.text(self.login_session_id)),
            (6, tv.i64(self.token_issue_time_s)),
        )

    @classmethod
    def from_thrift(cls, s: Struct) -> TokenV3IssueResult:
        access = s.opt_text(1)
        if not access:
            raise ThriftDecodeError("tokenV3IssueResult without an access token")
        return cls(access, s.opt_text(2), _opt_int(s, 3), s.opt_text(5), _opt_int(s, 6))


@dataclass(frozen=True, slots=True)
class QrLoginResult:
    """qrCodeLoginV2ForSecure: certificate (presented next time to skip the PIN), the V3 tokens, our MID,
    metadata, and the phone's E2EE info (``e2ee_info``: the members of e2ee-map §2.4 step 2, or None)."""

    certificate: str | None = field(repr=False)
    token: TokenV3IssueResult | None
    mid: str | None
    metadata: Mapping[str, str] = field(default_factory=dict, repr=False)
    e2ee_info: Mapping[str, object] | None = field(default=None, repr=False)
    last_bind_timestamp: int | None = None

    def to_thrift(self) -> Struct:
        """The reply struct (E2EE info in field 10 as a string map, where linejs looks first)."""
        info = self.e2ee_info
        return tv.struct(
            (1, tv.text(self.certificate)),
            (3, None if self.token is None else self.token.to_thrift()),
            (4, tv.text(self.mid)),
            (5, tv.i64(self.last_bind_timestamp)),
            (6, tv.text_map(dict(self.metadata)) if self.metadata else None),
            (10, None if info is None else tv.text_map({k: str(v) for k, v in info.items()})),
        )

    @classmethod
    def from_thrift(cls, s: Struct) -> QrLoginResult:
        token = s.opt_struct(3)
        metadata = s.opt_text_map(6) or {}
        return cls(
            certificate=s.opt_text(1),
            token=None if token is None else TokenV3IssueResult.from_thrift(token),
            mid=s.opt_text(4),
            metadata=metadata,
            e2ee_info=_e2ee_info(s.get(10), metadata.get("e2eeInfo")),
            last_bind_timestamp=_opt_int(s, 5),
        )


def _e2ee_info(field10: tv.Value | None, in_metadata: str | None) -> Mapping[str, object] | None:
    """Field 10 as a map<string,string>, else ``metaData["e2eeInfo"]`` as a JSON object, else None."""
    if (
        isinstance(field10, TMap)
        and field10.items
        and field10.ktype == TType.STRING
        and field10.vtype == TType.STRING
    ):
        return tv.Struct({10: field10}).opt_text_map(10)
    if in_metadata:
        try:
            parsed = json.loads(in_metadata)
        except (ValueError, RecursionError):
            return None
        if isinstance(parsed, dict):
            return {str(k): v for k, v in parsed.items()}
    return None


# --- calls ------------------------------------------------------------------------------------------------


def _read(body: bytes, protocol: Protocol, method: str) -> Struct:
    try:
        return read_result(body, protocol, method)
    except TalkException as exc:  # the declared exception here is SecondaryQrCodeException
        raise QrLoginRefused(method, exc.code, exc.reason) from None


def _success(body: bytes, protocol: Protocol, method: str) -> Struct:
    success = _read(body, protocol, method).opt_struct(0)
    if success is None:
        raise ThriftDecodeError(f"{method}: the result carries no success value")
    return success


def _call(method: str, path: str, args: Struct, parser: Callable[[bytes, Protocol], T]) -> TalkCall[T]:
    return talk_call(method, path, Protocol.COMPACT, args, parser)


def _session_args(auth_session_id: str, *extra: tuple[int, tv.Value | None]) -> Struct:
    return tv.struct((1, tv.struct((1, tv.text(auth_session_id)), *extra)))


def _void(method: str) -> Callable[[bytes, Protocol], None]:
    def parse(body: bytes, protocol: Protocol = Protocol.COMPACT) -> None:
        _read(body, protocol, method)

    return parse


def create_session() -> TalkCall[str]:
    """``createSession()`` (empty args, as linejs sends it): the authSessionId (result f1)."""
    return _call("createSession", PATH_QR_LOGIN, tv.struct(), parse_create_session)


def parse_create_session(body: bytes, protocol: Protocol = Protocol.COMPACT) -> str:
    session = _success(body, protocol, "createSession").opt_text(1)
    if not session:
        raise ThriftDecodeError("createSession: no authSessionId")
    return session


def create_qr_code_for_secure(auth_session_id: str) -> TalkCall[QrCodeForSecure]:
    """``createQrCodeForSecure({1: authSessionId})``."""
    return _call(
        "createQrCodeForSecure",
        PATH_QR_LOGIN,
        _session_args(auth_session_id),
        lambda body, protocol: QrCodeForSecure.from_thrift(_success(body, protocol, "createQrCodeForSecure")),
    )


def check_qr_code_verified(auth_session_id: str) -> TalkCall[None]:
    """Long poll until the phone has scanned the QR code (no exception = verified)."""
    return _call(
        "checkQrCodeVerified",
        PATH_QR_LONG_POLL,
        _session_args(auth_session_id),
        _void("checkQrCodeVerified"),
    )


def verify_certificate(auth_session_id: str, certificate: str | None) -> TalkCall[None]:
    """``verifyCertificate({1: authSessionId, 2: certificate})``; refused when the PIN step is needed."""
    return _call(
        "verifyCertificate",
        PATH_QR_LOGIN,
        _session_args(auth_session_id, (2, tv.text(certificate))),
        _void("verifyCertificate"),
    )


def create_pin_code(auth_session_id: str) -> TalkCall[str]:
    """``createPinCode({1: authSessionId})``: the PIN (result f1) the user types on the phone."""
    return _call("createPinCode", PATH_QR_LOGIN, _session_args(auth_session_id), parse_create_pin_code)


def parse_create_pin_code(body: bytes, protocol: Protocol = Protocol.COMPACT) -> str:
    pin = _success(body, protocol, "createPinCode").opt_text(1)
    if not pin:
        raise ThriftDecodeError("createPinCode: no PIN")
    return pin


def check_pin_code_verified(auth_session_id: str) -> TalkCall[None]:
    """Long poll until the PIN was entered on the phone."""
    return _call(
        "checkPinCodeVerified",
        PATH_QR_LONG_POLL,
        _session_args(auth_session_id),
        _void("checkPinCodeVerified"),
    )


def qr_code_login_v2_for_secure(
    auth_session_id: str,
    nonce: str,
    *,
    system_name: str,
    model_name: str,
    auto_login_is_required: bool = True,
) -> TalkCall[QrLoginResult]:
    """``qrCodeLoginV2ForSecure({1 authSessionId, 2 systemName, 3 modelName, 4 autoLoginIsRequired,
    5 nonce})``: the tokens, our MID and the E2EE info."""
    args = _session_args(
        auth_session_id,
        (2, tv.text(system_name)),
        (3, tv.text(model_name)),
        (4, tv.boolean(auto_login_is_required)),
        (5, tv.text(nonce)),
    )
    return _call(
        "qrCodeLoginV2ForSecure",
        PATH_QR_LOGIN,
        args,
        lambda body, protocol: QrLoginResult.from_thrift(_success(body, protocol, "qrCodeLoginV2ForSecure")),
    )


def long_poll_headers(auth_session_id: str, hold_ms: int) -> dict[str, str]:
    """The per-call headers of a QR long poll: the hold in ms, and the session id as the access token."""
    return {"x-lst": str(hold_ms), "x-line-access": auth_session_id}
