"""Helpers shared by the Talk client, login and listener tests: token shapes and clients aimed at the
loopback legy server (tests/sim/legy.py)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from linecall.protocol.talk.client import ClientTimeouts, TalkClient
from linecall.protocol.talk.legy import LegyRequestBuilder, device_preset
from linecall.protocol.talk.storage import MemoryTalkStorage, TalkStorage
from linecall.protocol.talk.tokens import mint_primary_access_token, parse_token_input
from tests.sim.legy import LegyServer, Transport

OWN_MID = "u" + "1" * 32
PEER_MID = "u" + "2" * 32
GROUP_MID = "c" + "3" * 32
#: Fast timeouts: loopback answers in milliseconds; keep real-clock waits tiny.
FAST = ClientTimeouts(connect=1.0, rpc=2.0, sync=3.0)


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def jwt(scope: str = "LINE_AUTH", n: int = 0) -> str:
    """A syntactically valid V3-style JWT (never verified by anyone)."""
    return f"{_b64url({'alg': 'HS256', 'typ': 'JWT'})}.{_b64url({'ver': '3.1', 'scp': scope, 'n': n})}.c2lnbmF0dXJl"


AUTH_KEY = f"{OWN_MID}:{base64.b64encode(b'primary-secret').decode()}"


@dataclass(frozen=True)
class TokenShape:
    """One way an operator may write the token (talk-map §3.2) and how it must reach the server."""

    name: str
    text: str  # LINE_AUTH_TOKEN / file content
    wire: str | None  # what arrives (x-line-access or x-lt); None for an auth key (minted per request)
    via: Transport
    refresh: str | None = None


V3 = jwt()
V3_REFRESH = jwt("LINE_AUTH_REFRESH")
PRIMARY_ACCESS = mint_primary_access_token(AUTH_KEY, now=1_700_000_000)

TOKEN_SHAPES = [
    TokenShape("legacy", "opaque-legacy-token", "opaque-legacy-token", "plain"),
    TokenShape("v3-jwt", V3, V3, "gateway"),
    TokenShape("exported-v3", f"{OWN_MID}:{V3}", V3, "gateway"),
    TokenShape("primary-access-token", PRIMARY_ACCESS, PRIMARY_ACCESS, "gateway"),
    TokenShape("primary-auth-key", AUTH_KEY, None, "gateway"),
    TokenShape("jwt-pair-two-lines", f"{V3}\n{V3_REFRESH}\n", V3, "gateway", V3_REFRESH),
    TokenShape(
        "json-access-refresh",
        json.dumps({"accessToken": V3, "refreshToken": V3_REFRESH}),
        V3,
        "gateway",
        V3_REFRESH,
    ),
    TokenShape(
        "json-auth-token", json.dumps({"authToken": "opaque-legacy-token"}), "opaque-legacy-token", "plain"
    ),
    TokenShape(
        "json-token-v3-issue-result",
        json.dumps({"tokenV3IssueResult": {"accessToken": V3, "refreshToken": V3_REFRESH}}),
        V3,
        "gateway",
        V3_REFRESH,
    ),
]
#: One token per transport, for tests that run over both.
TRANSPORT_TOKENS = {"plain": TOKEN_SHAPES[0], "gateway": TOKEN_SHAPES[1]}


def register(server: LegyServer, shape: TokenShape) -> None:
    if shape.wire is None:
        server.accept_auth_key(shape.text)
    else:
        server.accept(shape.wire, via=shape.via)


def make_client(
    server: LegyServer,
    token_text: str,
    storage: TalkStorage | None = None,
    *,
    device: str = "ANDROID",
    timeouts: ClientTimeouts = FAST,
    token_variable: str = "LINE_AUTH_TOKEN",
) -> TalkClient:
    builder = LegyRequestBuilder(
        device_preset(device),
        gateway=server.client_gateway(),
        base_url=server.base_url,
        gateway_url=server.gateway_url,
    )
    return TalkClient(
        builder,
        parse_token_input(token_text),
        storage if storage is not None else MemoryTalkStorage(),
        token_variable=token_variable,
        timeouts=timeouts,
    )
