"""Token login against the loopback legy server: every token shape of talk-map §3.2 (plain legy or the
encrypted gateway as each needs), device presets and LINE_VERSION, the stored renewal rule, and a typed
LoginError that names the variable to fix for every way login can fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from linecall.config.settings import Settings
from linecall.protocol.talk.client import ClientTimeouts
from linecall.protocol.talk.login import LoginError, Session, TokenLogin, login_with_token
from linecall.protocol.talk.storage import MemoryTalkStorage
from linecall.protocol.talk.tokens import (
    RenewalSource,
    StoredToken,
    TokenCredential,
    TokenRenewal,
    parse_token_input,
)
from linecall.protocol.thrift.errors import ErrorCode
from tests.sim.legy import HttpError, LegyServer, RaiseTalk, running_legy_server
from tests.talk_sim_support import AUTH_KEY, FAST, OWN_MID, TOKEN_SHAPES, V3, TokenShape, register


def params(server: LegyServer, token: str, **overrides: object) -> TokenLogin:
    values: dict[str, object] = {
        "token_text": token,
        "endpoint": server.base_url,
        "gateway_url": server.gateway_url,
    }
    values.update(overrides)
    return TokenLogin(**values)  # type: ignore[arg-type]


async def login(
    server: LegyServer, token: str, storage: MemoryTalkStorage | None = None, **kw: object
) -> Session:
    return await login_with_token(
        params(server, token, **kw),
        storage if storage is not None else MemoryTalkStorage(),
        gateway=server.client_gateway(),
        timeouts=FAST,
    )


@pytest.mark.parametrize("shape", TOKEN_SHAPES, ids=[s.name for s in TOKEN_SHAPES])
async def test_login_with_every_token_shape(shape: TokenShape) -> None:
    async with running_legy_server() as server:
        register(server, shape)
        async with await login(server, shape.text) as session:
            assert (session.mid, session.profile.mid, session.profile.display_name) == (
                OWN_MID,
                OWN_MID,
                "linecall",
            )
            assert session.client.credential.refresh_token == shape.refresh
            await session.client.get_profile()
        (first, second) = server.requests
    assert first.method == "getProfile" and first.path == "/S4"
    assert first.transport == shape.via
    if shape.wire is not None:
        assert first.token == shape.wire
    else:  # an auth key mints a fresh primary access token per request, never sent raw
        assert first.token != shape.text and first.token and first.token.startswith(OWN_MID + ":")
        assert second.token and ".." in second.token
    if shape.via == "plain":
        assert first.headers["x-line-access"] == shape.wire
    else:
        assert "x-line-access" not in first.headers  # the token rides inside the envelope only


async def test_device_preset_and_line_version_reach_the_wire() -> None:
    async with running_legy_server() as server:
        server.accept("tok", via="plain")
        async with await login(server, "tok", device="androidsecondary", line_version="27.1.0"):
            pass
        async with await login(server, "tok"):
            pass
    secondary, primary = (r.headers for r in server.requests)
    assert secondary["x-line-application"] == "ANDROIDSECONDARY\t27.1.0\tAndroid OS\t16"
    assert secondary["user-agent"] == "Line/27.1.0"
    assert primary["x-line-application"] == "ANDROID\t26.6.2\tAndroid OS\t16"


@pytest.mark.parametrize("variable", ["LINE_AUTH_TOKEN", "LINE_AUTH_TOKEN_FILE"])
@pytest.mark.parametrize(
    "failure",
    [RaiseTalk(ErrorCode.AUTHENTICATION_FAILED), RaiseTalk(ErrorCode.NOT_AUTHORIZED_DEVICE), HttpError(401)],
    ids=["authentication-failed", "not-authorized-device", "http-401"],
)
async def test_bad_token_names_the_variable_to_fix(variable: str, failure: object) -> None:
    async with running_legy_server(auth_failure=failure) as server:
        with pytest.raises(LoginError) as caught:
            await login(server, "not-a-token-LINE-knows", token_variable=variable)
    assert caught.value.variable == variable and not caught.value.retryable
    assert variable in str(caught.value)
    assert "not-a-token-LINE-knows" not in str(caught.value)  # never echo the token


async def test_expired_v3_token_without_refresh_is_a_login_error() -> None:
    async with running_legy_server() as server:
        server.accept(V3, via="gateway")
        server.expire_access(V3)
        with pytest.raises(LoginError) as caught:
            await login(server, V3, token_variable="LINE_AUTH_TOKEN_FILE")
    assert "LINE_AUTH_TOKEN_FILE" in str(caught.value) and "MUST_REFRESH_V3_TOKEN" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("   ", "empty"),
        ("two words", "whitespace"),
        ('{"refreshToken": "x"}', "accessToken"),
        ("{nope", "JSON"),
    ],
    ids=["empty", "whitespace", "json-without-access", "broken-json"],
)
async def test_unusable_token_text(text: str, needle: str) -> None:
    async with running_legy_server() as server:
        with pytest.raises(LoginError) as caught:
            await login(server, text, token_variable="LINE_AUTH_TOKEN_FILE")
        assert server.requests == []  # refused before anything was sent
    assert caught.value.variable == "LINE_AUTH_TOKEN_FILE" and needle in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"device": "NOKIA"}, "LINE_DEVICE"),
        ({"line_version": "26.6.2\tX"}, "LINE_VERSION"),
        ({"endpoint": "ftp://legy.example/path"}, "LINE_ENDPOINT"),
    ],
    ids=["device", "version", "endpoint"],
)
async def test_bad_identity_settings(overrides: dict[str, object], variable: str) -> None:
    async with running_legy_server() as server:
        server.accept("tok", via="plain")
        with pytest.raises(LoginError) as caught:
            await login(server, "tok", **overrides)
    assert caught.value.variable == variable and variable in str(caught.value)


async def test_unreachable_line_is_retryable_and_names_the_endpoint() -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    login_params = TokenLogin("tok", endpoint=f"http://127.0.0.1:{port}")
    with pytest.raises(LoginError) as caught:
        await login_with_token(login_params, MemoryTalkStorage(), timeouts=ClientTimeouts(0.5, 0.5, 0.5))
    assert caught.value.retryable and caught.value.variable is None
    assert "LINE_ENDPOINT" in str(caught.value)


async def test_stored_renewal_is_used_only_while_the_configured_token_is_unchanged() -> None:
    async with running_legy_server() as server:
        server.accept("configured", via="plain")
        server.accept("renewed", via="plain")
        server.accept("reconfigured", via="plain")
        storage = MemoryTalkStorage()
        configured = parse_token_input("configured")
        storage.save_token(
            StoredToken.first(configured, TokenRenewal("renewed", RenewalSource.NEXT_ACCESS_HEADER))
        )
        async with await login(server, "configured", storage) as session:
            assert session.client.credential.access.value == "renewed"
        async with await login(server, "reconfigured", storage) as session:
            assert session.client.credential.access.value == "reconfigured"
    assert [r.token for r in server.requests] == ["renewed", "reconfigured"]


async def test_a_renewal_during_login_is_persisted_for_the_next_start() -> None:
    async with running_legy_server() as server:
        server.accept("configured", via="plain")
        server.renew("configured", "next")
        storage = MemoryTalkStorage()
        async with await login(server, "configured", storage):
            pass
        server.revoke("configured")
        async with await login(server, "configured", storage) as session:  # same configured token
            assert session.client.credential.access.value == "next"


async def test_auth_key_login_ignores_stored_renewals() -> None:
    async with running_legy_server() as server:
        server.accept_auth_key(AUTH_KEY)
        storage = MemoryTalkStorage()
        configured: TokenCredential = parse_token_input(AUTH_KEY)
        storage.save_token(
            StoredToken.first(configured, TokenRenewal("derived", RenewalSource.NEXT_ACCESS_HEADER))
        )
        async with await login(server, AUTH_KEY, storage) as session:
            assert session.client.credential.access.value == AUTH_KEY


def settings_for(server: LegyServer, tmp_path: Path, **values: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        line_endpoint=server.base_url,
        line_gateway_url=server.gateway_url,
        **values,
    )


async def test_from_settings_token_variable_and_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text("from-file\n")
    async with running_legy_server() as server:
        server.accept("from-file", via="plain")
        from_file = TokenLogin.from_settings(settings_for(server, tmp_path, line_auth_token_file=token_file))
        from_env = TokenLogin.from_settings(settings_for(server, tmp_path, line_auth_token="inline"))
        async with await login_with_token(from_file, MemoryTalkStorage(), timeouts=FAST) as session:
            assert session.mid == OWN_MID
        with pytest.raises(LoginError) as caught:
            await login_with_token(from_env, MemoryTalkStorage(), timeouts=FAST)
    assert (from_file.token_variable, from_file.device, from_file.token_text) == (
        "LINE_AUTH_TOKEN_FILE",
        "ANDROID",
        "from-file",
    )
    assert from_env.token_variable == "LINE_AUTH_TOKEN"
    assert caught.value.variable == "LINE_AUTH_TOKEN"


def test_no_token_configured(tmp_path: Path) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(LoginError) as caught:
        TokenLogin.from_settings(settings)
    assert "LINE_AUTH_TOKEN" in str(caught.value) and "LINE_AUTH_TOKEN_FILE" in str(caught.value)


def test_token_login_repr_hides_the_token() -> None:
    assert "secret-token" not in repr(TokenLogin("secret-token"))
