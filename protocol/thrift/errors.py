"""Typed errors of the Thrift layer: malformed bytes, unencodable values, and the two ways a server says no.

Everything here derives from :class:`ThriftError` so a transport driver can catch the whole family in one
place. Decoders of untrusted bytes raise only :class:`ThriftDecodeError` (a ``ValueError``), never
``IndexError``/``struct.error``/``UnicodeDecodeError``, so one bad reply can be logged and skipped.

:class:`TalkException` is LINE's declared exception (result field 1 of every TalkService/CallService method:
``{1: code, 2: reason, 3: parameterMap}``); :class:`TApplicationError` is a Thrift-level EXCEPTION message
(``{1: message, 2: type}``), which LINE sends e.g. for an unknown method name.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType


class ThriftError(Exception):
    """Base of every error raised by linecall's Thrift layer and the Talk services built on it."""


class ThriftDecodeError(ThriftError, ValueError):
    """Bytes that are not a well-formed Thrift message, or a message whose shape does not fit its schema."""


class ThriftEncodeError(ThriftError, ValueError):
    """A value that cannot be written (out-of-range integer, element of the wrong type, over-long name)."""


class ErrorCode(IntEnum):
    """LINE's ``ErrorCode`` enum (TalkException field 1), as named in linejs's packages/types/thrift.ts.

    Kept complete so logs can name any code the server sends; linecall acts on a handful of them
    (see :attr:`TalkException.needs_relogin` and friends).
    """

    ILLEGAL_ARGUMENT = 0
    AUTHENTICATION_FAILED = 1
    DB_FAILED = 2
    INVALID_STATE = 3
    EXCESSIVE_ACCESS = 4
    NOT_FOUND = 5
    INVALID_LENGTH = 6
    NOT_AVAILABLE_USER = 7
    NOT_AUTHORIZED_DEVICE = 8
    INVALID_MID = 9
    NOT_A_MEMBER = 10
    INCOMPATIBLE_APP_VERSION = 11
    NOT_READY = 12
    NOT_AVAILABLE_SESSION = 13
    NOT_AUTHORIZED_SESSION = 14
    SYSTEM_ERROR = 15
    NO_AVAILABLE_VERIFICATION_METHOD = 16
    NOT_AUTHENTICATED = 17
    INVALID_IDENTITY_CREDENTIAL = 18
    NOT_AVAILABLE_IDENTITY_IDENTIFIER = 19
    INTERNAL_ERROR = 20
    NO_SUCH_IDENTITY_IDENFIER = 21
    DEACTIVATED_ACCOUNT_BOUND_TO_THIS_IDENTITY = 22
    ILLEGAL_IDENTITY_CREDENTIAL = 23
    UNKNOWN_CHANNEL = 24
    NO_SUCH_MESSAGE_BOX = 25
    NOT_AVAILABLE_MESSAGE_BOX = 26
    CHANNEL_DOES_NOT_MATCH = 27
    NOT_YOUR_MESSAGE = 28
    MESSAGE_DEFINED_ERROR = 29
    USER_CANNOT_ACCEPT_PRESENTS = 30
    USER_NOT_STICKER_OWNER = 32
    MAINTENANCE_ERROR = 33
    ACCOUNT_NOT_MATCHED = 34
    ABUSE_BLOCK = 35
    NOT_FRIEND = 36
    NOT_ALLOWED_CALL = 37
    BLOCK_FRIEND = 38
    INCOMPATIBLE_VOIP_VERSION = 39
    INVALID_SNS_ACCESS_TOKEN = 40
    EXTERNAL_SERVICE_NOT_AVAILABLE = 41
    NOT_ALLOWED_ADD_CONTACT = 42
    NOT_CERTIFICATED = 43
    NOT_ALLOWED_SECONDARY_DEVICE = 44
    INVALID_PIN_CODE = 45
    EXCEED_FILE_MAX_SIZE = 47
    EXCEED_DAILY_QUOTA = 48
    NOT_SUPPORT_SEND_FILE = 49
    MUST_UPGRADE = 50
    NOT_AVAILABLE_PIN_CODE_SESSION = 51
    EXPIRED_REVISION = 52
    NOT_YET_PHONE_NUMBER = 54
    BAD_CALL_NUMBER = 55
    UNAVAILABLE_CALL_NUMBER = 56
    NOT_SUPPORT_CALL_SERVICE = 57
    CONGESTION_CONTROL = 58
    NO_BALANCE = 59
    NOT_PERMITTED_CALLER_ID = 60
    NO_CALLER_ID_LIMIT_EXCEEDED = 61
    CALLER_ID_VERIFICATION_REQUIRED = 62
    NO_CALLER_ID_LIMIT_EXCEEDED_AND_VERIFICATION_REQUIRED = 63
    MESSAGE_NOT_FOUND = 64
    INVALID_ACCOUNT_MIGRATION_PINCODE_FORMAT = 65
    ACCOUNT_MIGRATION_PINCODE_NOT_MATCHED = 66
    ACCOUNT_MIGRATION_PINCODE_BLOCKED = 67
    INVALID_PASSWORD_FORMAT = 69
    FEATURE_RESTRICTED = 70
    MESSAGE_NOT_DESTRUCTIBLE = 71
    PAID_CALL_REDEEM_FAILED = 72
    PREVENTED_JOIN_BY_TICKET = 73
    SEND_MESSAGE_NOT_PERMITTED_FROM_LINE_AT = 75
    SEND_MESSAGE_NOT_PERMITTED_WHILE_AUTO_REPLY = 76
    SECURITY_CENTER_NOT_VERIFIED = 77
    SECURITY_CENTER_BLOCKED_BY_SETTING = 78
    SECURITY_CENTER_BLOCKED = 79
    TALK_PROXY_EXCEPTION = 80
    E2EE_INVALID_PROTOCOL = 81
    E2EE_RETRY_ENCRYPT = 82
    E2EE_UPDATE_SENDER_KEY = 83
    E2EE_UPDATE_RECEIVER_KEY = 84
    E2EE_INVALID_ARGUMENT = 85
    E2EE_INVALID_VERSION = 86
    E2EE_SENDER_DISABLED = 87
    E2EE_RECEIVER_DISABLED = 88
    E2EE_SENDER_NOT_ALLOWED = 89
    E2EE_RECEIVER_NOT_ALLOWED = 90
    E2EE_RESEND_FAIL = 91
    E2EE_RESEND_OK = 92
    HITOKOTO_BACKUP_NO_AVAILABLE_DATA = 93
    E2EE_UPDATE_PRIMARY_DEVICE = 94
    SUCCESS = 95
    CANCEL = 96
    E2EE_PRIMARY_NOT_SUPPORT = 97
    E2EE_RETRY_PLAIN = 98
    E2EE_RECREATE_GROUP_KEY = 99
    E2EE_GROUP_TOO_MANY_MEMBERS = 100
    SERVER_BUSY = 101
    NOT_ALLOWED_ADD_FOLLOW = 102
    INCOMING_FRIEND_REQUEST_LIMIT = 103
    OUTGOING_FRIEND_REQUEST_LIMIT = 104
    OUTGOING_FRIEND_REQUEST_QUOTA = 105
    DUPLICATED = 106
    BANNED = 107
    NOT_AN_INVITEE = 108
    NOT_AN_OUTSIDER = 109
    EMPTY_GROUP = 111
    EXCEED_FOLLOW_LIMIT = 112
    UNSUPPORTED_ACCOUNT_TYPE = 113
    AGREEMENT_REQUIRED = 114
    SHOULD_RETRY = 115
    OVER_MAX_CHATS_PER_USER = 116
    NOT_AVAILABLE_API = 117
    INVALID_OTP = 118
    MUST_REFRESH_V3_TOKEN = 119
    ALREADY_EXPIRED = 120
    USER_NOT_STICON_OWNER = 121
    REFRESH_MEDIA_FLOW = 122
    EXCEED_FOLLOWER_LIMIT = 123
    INCOMPATIBLE_APP_TYPE = 124
    NOT_PREMIUM = 125
    BITMAX_ACCOUNT_EXIST = 126
    MESSAGE_NOT_EDITABLE = 127
    MESSAGE_NOT_EDITABLE_TIMELIMIT = 128


# Codes after which retrying with the same token is pointless (talk-map §1.5: linejs cannot tell a revoked
# token from a malformed one, so both codes mean "log in again").
_RELOGIN_CODES = frozenset({ErrorCode.AUTHENTICATION_FAILED, ErrorCode.NOT_AUTHORIZED_DEVICE})


def enum_name(enum: type[IntEnum], code: int | None) -> str:
    """The name of ``code`` in ``enum``, or ``"UNKNOWN(<n>)"`` / ``"ABSENT"`` when there is none."""
    if code is None:
        return "ABSENT"
    try:
        return enum(code).name
    except ValueError:
        return f"UNKNOWN({code})"


def error_code_name(code: int | None) -> str:
    """The ErrorCode name of ``code``, or ``"UNKNOWN(<n>)"`` / ``"ABSENT"`` when there is none."""
    return enum_name(ErrorCode, code)


class TalkException(ThriftError):
    """LINE's declared ``TalkException``: the server understood the call and refused it.

    ``code`` is the raw ErrorCode integer (``None`` if the server left field 1 out); compare it with
    :class:`ErrorCode` members. ``parameter_map`` is read-only. The string form names the code but leaves
    the parameter map out, since it may carry identifiers that must not reach logs.
    """

    code: int | None
    reason: str | None
    parameter_map: Mapping[str, str]

    def __init__(self, code: int | None, reason: str | None, parameter_map: Mapping[str, str] | None = None):
        self.code = code
        self.reason = reason
        self.parameter_map = MappingProxyType(dict(parameter_map or {}))
        super().__init__(f"TalkException {self.code_name}: {reason or ''}".rstrip(": "))

    @property
    def code_name(self) -> str:
        """``"INVALID_STATE"`` and so on; ``"UNKNOWN(<n>)"`` for codes missing from :class:`ErrorCode`."""
        return error_code_name(self.code)

    @property
    def needs_relogin(self) -> bool:
        """True for AUTHENTICATION_FAILED and NOT_AUTHORIZED_DEVICE: the token is revoked or invalid."""
        return self.code in _RELOGIN_CODES

    @property
    def must_refresh_token(self) -> bool:
        """True for MUST_REFRESH_V3_TOKEN: an expired V3 access token that a refresh token can renew."""
        return self.code == ErrorCode.MUST_REFRESH_V3_TOKEN

    @property
    def expired_revision(self) -> bool:
        """True for EXPIRED_REVISION: ``sync`` must restart from revision 0."""
        return self.code == ErrorCode.EXPIRED_REVISION

    def __repr__(self) -> str:
        return f"TalkException(code={self.code!r}, reason={self.reason!r})"


class TApplicationExceptionType(IntEnum):
    """The standard ``TApplicationException.type`` values of the Apache Thrift runtimes."""

    UNKNOWN = 0
    UNKNOWN_METHOD = 1
    INVALID_MESSAGE_TYPE = 2
    WRONG_METHOD_NAME = 3
    BAD_SEQUENCE_ID = 4
    MISSING_RESULT = 5
    INTERNAL_ERROR = 6
    PROTOCOL_ERROR = 7
    INVALID_TRANSFORM = 8
    INVALID_PROTOCOL = 9
    UNSUPPORTED_CLIENT_TYPE = 10


class TApplicationError(ThriftError):
    """A Thrift EXCEPTION message: the server's Thrift runtime (not LINE's service code) rejected the call."""

    type: int
    message: str

    def __init__(self, type: int, message: str):
        self.type = type
        self.message = message
        super().__init__(f"TApplicationException {self.type_name}: {message}".rstrip(": "))

    @property
    def type_name(self) -> str:
        return enum_name(TApplicationExceptionType, self.type)

    def __repr__(self) -> str:
        return f"TApplicationError(type={self.type!r}, message={self.message!r})"
