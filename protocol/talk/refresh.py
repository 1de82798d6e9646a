"""The V3 token refresh RPC, sans-I/O (talk-map §1.6).

When a call fails with TalkException MUST_REFRESH_V3_TOKEN (119) and a refresh token is known, the client
calls ``refresh`` on ``/EXT/auth/tokenrefresh/v1`` (compact, plain legy, the old token in
``x-line-access``) and replays the failed call once. ``service.py`` holds the Talk/Call methods; this one
lives apart because only the driver's renewal path uses it.

Wire shape (TT ``refresh_args`` / ``RefreshAccessTokenResponse``)::

    args   {1: RefreshAccessTokenRequest{1: refreshToken}}
    result {0: {1 accessToken, 2 durationUntilRefreshInSec i64, 3 retryPolicy, 4 tokenIssueTimeEpochSec i64,
                5 refreshToken}}

Unlike linejs, a rotated refresh token (field 5) is kept, not dropped.
"""

from __future__ import annotations

from typing import Final

from linecall.protocol.talk.service import TalkCall, read_result, talk_call
from linecall.protocol.talk.tokens import TokenRenewal, renewal_from_refresh
from linecall.protocol.thrift import values as tv
from linecall.protocol.thrift.errors import ThriftDecodeError
from linecall.protocol.thrift.values import Protocol, Struct

__all__ = ["PATH_TOKEN_REFRESH", "encode_refresh_response", "parse_refresh", "refresh_access_token"]

PATH_TOKEN_REFRESH: Final = "/EXT/auth/tokenrefresh/v1"
_METHOD: Final = "refresh"


def refresh_access_token(refresh_token: str) -> TalkCall[TokenRenewal]:
    """``refresh({1: {1: refreshToken}})``; the reply parses into a :class:`TokenRenewal`."""
    args = tv.struct((1, tv.struct((1, tv.text(refresh_token)))))
    return talk_call(_METHOD, PATH_TOKEN_REFRESH, Protocol.COMPACT, args, parse_refresh)


def parse_refresh(body: bytes, protocol: Protocol = Protocol.COMPACT) -> TokenRenewal:
    """The renewal in a ``refresh`` reply; a reply without an access token is a decode error."""
    result = read_result(body, protocol, _METHOD)
    response = result.opt_struct(0)
    if response is None:
        raise ThriftDecodeError("refresh: the result carries no response")
    access = response.opt_text(1)
    if not access or not access.strip():
        raise ThriftDecodeError("refresh: the response carries no access token")
    rotated = response.opt_text(5)
    return renewal_from_refresh(
        access,
        duration_until_refresh_s=response.opt_i64(2),
        issue_time_s=response.opt_i64(4),
        refresh_token=rotated.strip() if rotated and rotated.strip() else None,
    )


def encode_refresh_response(
    access_token: str,
    *,
    duration_until_refresh_s: int | None = None,
    issue_time_s: int | None = None,
    refresh_token: str | None = None,
) -> Struct:
    """The ``RefreshAccessTokenResponse`` struct (for the loopback simulator's replies)."""
    return tv.struct(
        (1, tv.text(access_token)),
        (2, tv.i64(duration_until_refresh_s)),
        (4, tv.i64(issue_time_s)),
        (5, tv.text(refresh_token)),
    )
