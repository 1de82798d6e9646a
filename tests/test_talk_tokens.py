"""Token kinds of talk-map §3.2 (every input shape), the primary-access-token vector of §9, and the
renewal bookkeeping of §1.6."""

from __future__ import annotations

import base64
import json

import pytest

from linecall.protocol.talk.tokens import (
    AccessToken,
    RenewalSource,
    StoredToken,
    TokenCredential,
    TokenError,
    TokenInputError,
    TokenKind,
    TokenRenewal,
    classify_token,
    effective_token,
    gateway_token,
    is_jwt,
    mint_primary_access_token,
    parse_token_input,
    renewal_from_headers,
    renewal_from_refresh,
    token_hash,
)

MID = "u" + "0" * 32
AUTH_KEY = f"{MID}:{base64.b64encode(b'secret').decode()}"
NOW = 1_700_000_000.0  # 1 700 000 000 000 ms
# talk-map §9
PRIMARY_TOKEN = "u00000000000000000000000000000000:aWF0OiAxMDIwMDAwMDAwMDAK..C3/hGRF2woF8p0UDsI3g6dfFQCg="


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt(payload: dict[str, object], header: dict[str, object] | None = None) -> str:
    head = header if header is not None else {"alg": "HS256", "typ": "JWT"}
    return ".".join([b64url(json.dumps(head).encode()), b64url(json.dumps(payload).encode()), "sig"])


ACCESS_JWT = jwt({"ver": "3.1", "scp": "LINE_AUTH"})
REFRESH_JWT = jwt({"ver": "3.1", "scp": "LINE_AUTH_REFRESH"})


def test_primary_access_token_vector() -> None:
    assert mint_primary_access_token(AUTH_KEY, now=NOW) == PRIMARY_TOKEN
    assert base64.b64decode("aWF0OiAxMDIwMDAwMDAwMDAK") == b"iat: 102000000000\n"


def test_minting_uses_whole_seconds() -> None:
    assert mint_primary_access_token(AUTH_KEY, now=NOW + 0.999) == PRIMARY_TOKEN
    assert mint_primary_access_token(AUTH_KEY, now=NOW + 1) != PRIMARY_TOKEN


def test_minting_decodes_the_secret_as_leniently_as_node() -> None:
    # Node skips characters outside the alphabet and needs no padding; so must we, or HMAC keys differ.
    assert mint_primary_access_token(f"{MID}:c2Vj!cmV0", now=NOW) == PRIMARY_TOKEN


def test_minting_needs_a_prefixed_key() -> None:
    with pytest.raises(TokenError):
        mint_primary_access_token("no-colon", now=NOW)


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        pytest.param(ACCESS_JWT, TokenKind.V3, id="v3-jwt"),
        pytest.param(jwt({"exp": 1}, {"alg": "none"}), TokenKind.V3, id="v3-jwt-exp-only"),
        pytest.param(f"uc84fake:{ACCESS_JWT}", TokenKind.EXPORTED_V3, id="exported-v3"),
        pytest.param(PRIMARY_TOKEN, TokenKind.PRIMARY_ACCESS_TOKEN, id="primary-access-token"),
        pytest.param(
            f"xyz:{PRIMARY_TOKEN.split(':')[1]}", TokenKind.PRIMARY_ACCESS_TOKEN, id="primary-any-prefix"
        ),
        pytest.param(AUTH_KEY, TokenKind.PRIMARY_AUTH_KEY, id="auth-key"),
        pytest.param("U" + "ABCDEF01" * 4 + ":c2VjcmV0", TokenKind.PRIMARY_AUTH_KEY, id="auth-key-upper"),
        pytest.param("FAKE.legacy-opaque-auth-token", TokenKind.LEGACY, id="opaque"),
        pytest.param("u123:c2VjcmV0", TokenKind.LEGACY, id="short-mid"),
        pytest.param(f"{MID}:!!!!", TokenKind.LEGACY, id="auth-key-empty-secret"),
        pytest.param(jwt({"foo": 1}), TokenKind.LEGACY, id="jwt-without-claims"),
        pytest.param(jwt({"ver": "3"}, {"typ": "JWT"}), TokenKind.LEGACY, id="jwt-without-alg"),
        pytest.param("a.b", TokenKind.LEGACY, id="two-parts"),
        pytest.param("not.json.here", TokenKind.LEGACY, id="three-parts-not-json"),
        pytest.param(f"{b64url(b'[1]')}.{b64url(b'{}')}.s", TokenKind.LEGACY, id="jwt-header-not-object"),
    ],
)
def test_classify(token: str, kind: TokenKind) -> None:
    assert classify_token(token) is kind
    assert classify_token(f"  {token}\n") is kind
    assert kind.uses_gateway is (kind is not TokenKind.LEGACY)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        pytest.param(ACCESS_JWT, ACCESS_JWT, id="v3"),
        pytest.param(f"uc84fake:{ACCESS_JWT}", ACCESS_JWT, id="exported-v3-strips-prefix"),
        pytest.param(PRIMARY_TOKEN, PRIMARY_TOKEN, id="primary-unchanged"),
        pytest.param(AUTH_KEY, PRIMARY_TOKEN, id="auth-key-minted"),
        pytest.param("opaque", "opaque", id="legacy-unchanged"),
    ],
)
def test_gateway_token(token: str, expected: str) -> None:
    assert gateway_token(token, now=NOW) == expected
    assert AccessToken.parse(token).gateway_token(now=NOW) == expected


def test_minted_token_is_itself_a_primary_access_token() -> None:
    assert classify_token(gateway_token(AUTH_KEY, now=NOW)) is TokenKind.PRIMARY_ACCESS_TOKEN


def test_is_jwt() -> None:
    assert is_jwt(ACCESS_JWT)
    assert not is_jwt(ACCESS_JWT + ".x")


# --- input shapes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "access", "refresh", "expire"),
    [
        pytest.param(f"  {ACCESS_JWT}\n", ACCESS_JWT, None, None, id="bare-jwt"),
        pytest.param(AUTH_KEY, AUTH_KEY, None, None, id="bare-auth-key"),
        pytest.param("opaque-token", "opaque-token", None, None, id="bare-opaque"),
        pytest.param(f"{ACCESS_JWT}\r\n\n{REFRESH_JWT}\n", ACCESS_JWT, REFRESH_JWT, None, id="two-jwt-lines"),
        pytest.param(
            json.dumps({"accessToken": ACCESS_JWT, "refreshToken": REFRESH_JWT, "expire": 123}),
            ACCESS_JWT,
            REFRESH_JWT,
            123.0,
            id="json-v3",
        ),
        pytest.param(json.dumps({"authToken": " tok "}), "tok", None, None, id="json-authToken"),
        pytest.param(
            json.dumps({"tokenV3IssueResult": {"accessToken": ACCESS_JWT, "refreshToken": REFRESH_JWT}}),
            ACCESS_JWT,
            REFRESH_JWT,
            None,
            id="json-tokenV3IssueResult",
        ),
        pytest.param(
            json.dumps({"accessToken": "a", "expire": True}), "a", None, None, id="json-bool-expire"
        ),
        pytest.param(
            json.dumps({"accessToken": "a", "expire": "9"}), "a", None, None, id="json-string-expire"
        ),
    ],
)
def test_parse_token_input(text: str, access: str, refresh: str | None, expire: float | None) -> None:
    credential = parse_token_input(text)
    assert credential.access.value == access
    assert credential.access.kind is classify_token(access)
    assert credential.refresh_token == refresh
    assert credential.expire == expire


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("  \n ", id="blank"),
        pytest.param("{not json", id="bad-json"),
        pytest.param('{"refreshToken": "r"}', id="json-without-access"),
        pytest.param('{"accessToken": "  "}', id="json-blank-access"),
        pytest.param("line one\nline two", id="two-lines-not-jwts"),
        pytest.param("has space", id="inner-space"),
        pytest.param("tökén", id="non-ascii"),
        pytest.param('{"accessToken": "a b"}', id="json-access-with-space"),
    ],
)
def test_parse_token_input_refuses(text: str) -> None:
    with pytest.raises(TokenInputError) as info:
        parse_token_input(text)
    assert "a b" not in str(info.value)


def test_tokens_never_appear_in_repr() -> None:
    credential = parse_token_input(f"{ACCESS_JWT}\n{REFRESH_JWT}")
    renewal = TokenRenewal("NEWTOKEN", RenewalSource.NEXT_ACCESS_HEADER, "NEWREFRESH")
    stored = StoredToken.first(credential, renewal)
    for obj in (credential, credential.access, renewal, stored):
        text = repr(obj)
        for secret in (ACCESS_JWT, REFRESH_JWT, "NEWTOKEN", "NEWREFRESH"):
            assert secret not in text


# --- renewal ----------------------------------------------------------------------------------------------


def test_renewal_from_headers_is_case_insensitive() -> None:
    renewal = renewal_from_headers({"X-Line-Next-Access": " next "})
    assert renewal == TokenRenewal("next", RenewalSource.NEXT_ACCESS_HEADER)
    assert renewal_from_headers({"x-line-next-access": ""}) is None
    assert renewal_from_headers({"content-type": "application/x-thrift"}) is None


def test_renewal_from_refresh_keeps_a_rotated_refresh_token() -> None:
    renewal = renewal_from_refresh(
        "A2", duration_until_refresh_s=3600, issue_time_s=1_700_000_000, refresh_token="R2"
    )
    assert renewal == TokenRenewal("A2", RenewalSource.V3_REFRESH, "R2", 1_700_003_600.0)
    assert renewal_from_refresh("A3").expire is None


def test_stored_token_chain_keeps_the_configured_hash() -> None:
    configured = parse_token_input(json.dumps({"accessToken": ACCESS_JWT, "refreshToken": REFRESH_JWT}))
    first = StoredToken.first(configured, TokenRenewal("A2", RenewalSource.NEXT_ACCESS_HEADER))
    assert first.configured_hash == token_hash(ACCESS_JWT)
    assert first.access_token == "A2"
    assert first.refresh_token == REFRESH_JWT  # carried over
    second = first.renewed(
        renewal_from_refresh("A3", refresh_token="R3", issue_time_s=10, duration_until_refresh_s=5)
    )
    assert (second.access_token, second.refresh_token, second.expire) == ("A3", "R3", 15.0)
    assert second.configured_hash == first.configured_hash


def test_effective_token_prefers_a_renewal_of_the_same_configured_token() -> None:
    configured = parse_token_input(ACCESS_JWT)
    stored = StoredToken.first(configured, TokenRenewal(REFRESH_JWT, RenewalSource.NEXT_ACCESS_HEADER))
    assert effective_token(configured, stored).access.value == REFRESH_JWT
    assert effective_token(configured, None) is configured
    # The operator configured a different token since: it wins over the stale renewal.
    other = parse_token_input(jwt({"ver": "3.1", "sub": "other"}))
    assert effective_token(other, stored) is other


def test_an_auth_key_is_never_replaced_by_a_renewal() -> None:
    configured = TokenCredential(AccessToken.parse(AUTH_KEY))
    assert not TokenKind.PRIMARY_AUTH_KEY.replaceable_by_next_access
    stored = StoredToken.first(configured, TokenRenewal(PRIMARY_TOKEN, RenewalSource.NEXT_ACCESS_HEADER))
    assert effective_token(configured, stored) is configured


def test_token_hash_ignores_surrounding_whitespace() -> None:
    assert token_hash(" abc\n") == token_hash("abc") != token_hash("abd")
