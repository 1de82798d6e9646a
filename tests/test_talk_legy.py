"""The legy request layer: device presets and headers (talk-map §1.3, asserted against every request of
call_thrift.json), the path table (§1.2), timeouts (§1.4), and the plain/gateway routing of §1.7."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from linecall.protocol.talk.gateway import (
    GATEWAY_IV,
    GATEWAY_URL,
    GatewayError,
    LegyGateway,
    encode_header_block,
)
from linecall.protocol.talk.legy import (
    ANDROID,
    ANDROIDSECONDARY,
    DEVICE_PRESETS,
    PATHS,
    RPC_TIMEOUT,
    SYNC_TIMEOUT,
    DevicePreset,
    EncryptionMode,
    LegyConfigError,
    LegyRequestBuilder,
    LegyResponse,
    UnknownDeviceError,
    WireProtocol,
    device_preset,
    path_spec,
    plain_headers,
    qr_long_poll_timeout,
    timeout_for,
)
from linecall.protocol.talk.tokens import AccessToken
from tests.conftest import load_vectors

KEY = bytes(range(16))
NOOP = bytes.fromhex("822100046e6f6f7000")
FAKE_TOKEN = "FAKE.legacy-opaque-auth-token"
AUTH_KEY = "u" + "0" * 32 + ":" + base64.b64encode(b"secret").decode()
PRIMARY_TOKEN = "u00000000000000000000000000000000:aWF0OiAxMDIwMDAwMDAwMDAK..C3/hGRF2woF8p0UDsI3g6dfFQCg="
NOW = 1_700_000_000.0


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


V3_JWT = ".".join([_b64url(b'{"alg":"HS256"}'), _b64url(b'{"ver":"3.1","scp":"LINE_AUTH"}'), "sig"])


def _cases() -> list[Any]:
    return [pytest.param(case, id=f"{i}-{case['thrift_method']}") for i, case in enumerate(_thrift_cases())]


def _thrift_cases() -> list[dict[str, Any]]:
    try:
        data = load_vectors("call_thrift.json")
    except pytest.skip.Exception:
        return []
    cases: list[dict[str, Any]] = data["cases"]
    return cases


# --- presets ----------------------------------------------------------------------------------------------

PRESET_TABLE = [
    ("DESKTOPWIN", "9.7.0.3556", "WINDOWS", "10.0.0-NT-x64"),
    ("DESKTOPMAC", "26.2.0", "MAC", "13.0.0"),
    ("ANDROID", "26.6.2", "Android OS", "16"),
    ("ANDROIDSECONDARY", "26.6.2", "Android OS", "16"),
    ("IOS", "26.7.2", "iOS", "18.0"),
    ("IOSIPAD", "26.7.2", "iOS", "18.0"),
    ("WATCHOS", "26.7.2", "Watch OS", "11.0"),
    ("WEAROS", "13.4.1", "Wear OS", "3.0"),
]


@pytest.mark.parametrize("row", PRESET_TABLE, ids=[row[0] for row in PRESET_TABLE])
def test_device_presets(row: tuple[str, str, str, str]) -> None:
    device, version, system, system_version = row
    preset = DEVICE_PRESETS[device]
    assert preset == DevicePreset(device, version, system, system_version)
    assert preset.x_line_application == f"{device}\t{version}\t{system}\t{system_version}"
    assert preset.user_agent == f"Line/{version}"


def test_android_presets_exactly() -> None:
    assert ANDROID.x_line_application == "ANDROID\t26.6.2\tAndroid OS\t16"
    assert ANDROIDSECONDARY.x_line_application == "ANDROIDSECONDARY\t26.6.2\tAndroid OS\t16"
    assert ANDROID.user_agent == ANDROIDSECONDARY.user_agent == "Line/26.6.2"


def test_line_version_overrides_only_the_app_version() -> None:
    preset = device_preset("androidsecondary", "27.0.0")
    assert preset.x_line_application == "ANDROIDSECONDARY\t27.0.0\tAndroid OS\t16"
    assert preset.user_agent == "Line/27.0.0"
    assert device_preset("ANDROID", None) is ANDROID
    assert device_preset(" android ", "") is ANDROID


def test_unknown_device_and_bad_version() -> None:
    with pytest.raises(UnknownDeviceError, match="ANDROID"):
        device_preset("CHROMEOS")
    with pytest.raises(UnknownDeviceError):
        device_preset("ANDROID", "1\t2")


# --- headers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases())
def test_plain_headers_match_linejs_vectors(case: dict[str, Any]) -> None:
    request = case["request"]
    headers = plain_headers(ANDROID, host=request["host"], token=FAKE_TOKEN)
    assert headers == request["headers"]


@pytest.mark.parametrize("case", _cases())
def test_builder_reproduces_linejs_plain_requests(case: dict[str, Any]) -> None:
    request = case["request"]
    builder = LegyRequestBuilder(ANDROID, gateway=LegyGateway(KEY))
    body = bytes.fromhex(request["body"])
    built = builder.build(request["path"], body, token=AccessToken.parse(FAKE_TOKEN), now=NOW)
    assert not built.encrypted
    assert built.url == f"https://{request['host']}{request['path']}"
    assert built.method == request["http_method"]
    assert dict(built.headers) == request["headers"]
    assert built.body == body
    assert built.timeout == (SYNC_TIMEOUT if request["path"] == "/SYNC4" else RPC_TIMEOUT)


def test_plain_headers_order_and_no_token() -> None:
    headers = plain_headers(ANDROID)
    assert list(headers) == [
        "host",
        "accept",
        "user-agent",
        "x-line-application",
        "content-type",
        "x-lal",
        "x-lpv",
        "x-lhm",
        "accept-encoding",
    ]
    assert headers["host"] == "legy.line-apps.com"


# --- paths and timeouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "protocol", "gateway", "timeout"),
    [
        ("/S4", WireProtocol.COMPACT, True, RPC_TIMEOUT),
        ("/SYNC4", WireProtocol.COMPACT, True, SYNC_TIMEOUT),
        ("/V4", WireProtocol.COMPACT, True, RPC_TIMEOUT),
        ("/S3", WireProtocol.BINARY, True, RPC_TIMEOUT),
        ("/SYNC3", WireProtocol.BINARY, True, SYNC_TIMEOUT),
        ("/EXT/auth/tokenrefresh/v1", WireProtocol.COMPACT, False, RPC_TIMEOUT),
        ("/acct/lgn/sq/v1", WireProtocol.COMPACT, False, RPC_TIMEOUT),
        ("/acct/lp/lgn/sq/v1", WireProtocol.COMPACT, False, 35.0),
        ("/api/v3/TalkService.do", WireProtocol.BINARY, False, RPC_TIMEOUT),
        ("/api/v4p/rs", WireProtocol.BINARY, False, RPC_TIMEOUT),
        ("/RS4", WireProtocol.COMPACT, False, RPC_TIMEOUT),
        ("/C5", WireProtocol.COMPACT, True, RPC_TIMEOUT),
        ("/RE4", WireProtocol.COMPACT, False, RPC_TIMEOUT),
        ("/S4?x=1", WireProtocol.COMPACT, True, RPC_TIMEOUT),
    ],
)
def test_path_table(path: str, protocol: WireProtocol, gateway: bool, timeout: float) -> None:
    spec = path_spec(path)
    assert (spec.protocol, spec.gateway, spec.timeout) == (protocol, gateway, timeout)
    assert timeout_for(path) == timeout


def test_gateway_allow_list_is_linejs_list() -> None:
    allowed = {path for path, spec in PATHS.items() if spec.gateway}
    assert allowed == {"/S3", "/S4", "/V4", "/SYNC3", "/SYNC4", "/P4", "/P5", "/NP4", "/NP5", "/C5"}


def test_timeouts() -> None:
    assert (RPC_TIMEOUT, SYNC_TIMEOUT) == (30.0, 180.0)
    assert qr_long_poll_timeout() == 35.0
    assert qr_long_poll_timeout(10_000) == 15.0


# --- routing ----------------------------------------------------------------------------------------------


def _inner(request_body: bytes) -> tuple[dict[str, str], bytes]:
    reply = LegyGateway(KEY).open(request_body)
    return reply.headers, reply.body


@pytest.mark.parametrize(
    ("token", "x_lt"),
    [
        pytest.param(V3_JWT, V3_JWT, id="v3"),
        pytest.param(f"uabc:{V3_JWT}", V3_JWT, id="exported-v3"),
        pytest.param(PRIMARY_TOKEN, PRIMARY_TOKEN, id="primary-access-token"),
        pytest.param(AUTH_KEY, PRIMARY_TOKEN, id="auth-key"),
    ],
)
@pytest.mark.parametrize("path", ["/S4", "/SYNC4", "/V4"])
def test_modern_tokens_go_through_the_gateway(token: str, x_lt: str, path: str) -> None:
    gateway = LegyGateway(KEY)
    builder = LegyRequestBuilder(ANDROID, gateway=gateway)
    built = builder.build(path, NOOP, token=AccessToken.parse(token), now=NOW)
    assert built.encrypted
    assert built.url == GATEWAY_URL
    assert built.path == path
    assert built.timeout == timeout_for(path)
    assert dict(built.headers) == gateway.outer_headers(
        application=ANDROID.x_line_application, user_agent=ANDROID.user_agent
    )
    assert _inner(built.body) == ({"x-lpqs": path, "x-lt": x_lt}, NOOP)


def test_auth_key_mints_a_fresh_token_per_request() -> None:
    builder = LegyRequestBuilder(ANDROID, gateway=LegyGateway(KEY))
    token = AccessToken.parse(AUTH_KEY)
    first = _inner(builder.build("/S4", NOOP, token=token, now=NOW).body)[0]["x-lt"]
    later = _inner(builder.build("/S4", NOOP, token=token, now=NOW + 60).body)[0]["x-lt"]
    assert first == PRIMARY_TOKEN
    assert later != first


def test_section9_request_through_the_builder() -> None:
    # §9's vector uses the legacy-shaped token "TOKEN", which only the "always" mode encrypts.
    builder = LegyRequestBuilder(ANDROID, gateway=LegyGateway(KEY), mode=EncryptionMode.ALWAYS)
    built = builder.build("/S4", NOOP, token=AccessToken.parse("TOKEN"), now=NOW)
    assert built.body == bytes.fromhex(
        "94db440a019483595ecbed168cc21fd967851c92b7d164592d2b701848328cdc"
        "5e56bcb512bc1deb4996837a93901b1eccbcd2f1"
    )


def test_modern_token_on_a_plain_path_goes_plain_with_the_raw_token() -> None:
    builder = LegyRequestBuilder(ANDROID, gateway=LegyGateway(KEY))
    built = builder.build("/EXT/auth/tokenrefresh/v1", b"x", token=AccessToken.parse(V3_JWT), now=NOW)
    assert not built.encrypted
    assert built.url == "https://legy.line-apps.com/EXT/auth/tokenrefresh/v1"
    assert built.headers["x-line-access"] == V3_JWT


def test_never_mode_and_no_token_stay_plain() -> None:
    never = LegyRequestBuilder(ANDROID, gateway=LegyGateway(KEY), mode=EncryptionMode.NEVER)
    assert not never.build("/S4", NOOP, token=AccessToken.parse(V3_JWT), now=NOW).encrypted
    auto = LegyRequestBuilder(ANDROID, gateway=LegyGateway(KEY))
    built = auto.build("/acct/lgn/sq/v1", NOOP, token=None, now=NOW)
    assert not built.encrypted
    assert "x-line-access" not in built.headers


def test_extra_headers_are_merged() -> None:
    builder = LegyRequestBuilder(ANDROIDSECONDARY)
    built = builder.build(
        "/acct/lp/lgn/sq/v1",
        b"",
        token=None,
        now=NOW,
        timeout=35.0,
        extra_headers={"X-Lst": "30000", "x-line-access": "session"},
    )
    assert built.headers["x-lst"] == "30000"
    assert built.headers["x-line-access"] == "session"
    assert built.headers["x-line-application"] == ANDROIDSECONDARY.x_line_application
    assert built.timeout == 35.0


def test_gateway_needed_but_missing() -> None:
    with pytest.raises(LegyConfigError):
        LegyRequestBuilder(ANDROID).build("/S4", NOOP, token=AccessToken.parse(V3_JWT), now=NOW)


@pytest.mark.parametrize(
    ("base_url", "origin"),
    [
        ("https://legy.line-apps.com", "https://legy.line-apps.com"),
        ("https://legy.line-apps.com/", "https://legy.line-apps.com"),
        ("legy-backup.line-apps.com", "https://legy-backup.line-apps.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_base_url(base_url: str, origin: str) -> None:
    builder = LegyRequestBuilder(ANDROID, base_url=base_url)
    built = builder.build("/S4", NOOP, token=AccessToken.parse(FAKE_TOKEN), now=NOW)
    assert built.url == origin + "/S4"
    assert built.headers["host"] == origin.split("://")[1]


@pytest.mark.parametrize("base_url", ["ftp://x", "https://legy.line-apps.com/S4", "https://"])
def test_bad_base_url(base_url: str) -> None:
    with pytest.raises(LegyConfigError):
        LegyRequestBuilder(ANDROID, base_url=base_url)


def test_path_must_be_absolute() -> None:
    with pytest.raises(LegyConfigError):
        LegyRequestBuilder(ANDROID).build("S4", NOOP, token=None, now=NOW)


# --- reading replies --------------------------------------------------------------------------------------


def _server_reply(headers: list[tuple[str, str]], body: bytes) -> bytes:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(128).padder()
    padded = padder.update(b"\x07" + encode_header_block(headers) + body) + padder.finalize()
    enc = Cipher(algorithms.AES(KEY), modes.CBC(GATEWAY_IV)).encryptor()
    return enc.update(padded) + enc.finalize() + b"\x00\x00\x00\x00"


def test_read_plain_reply() -> None:
    builder = LegyRequestBuilder(ANDROID, gateway=LegyGateway(KEY))
    request = builder.build("/S4", NOOP, token=AccessToken.parse(FAKE_TOKEN), now=NOW)
    response = builder.read(request, status=200, headers={"X-Line-Next-Access": "NEXT"}, body=b"\x82")
    assert response == LegyResponse(200, {"x-line-next-access": "NEXT"}, b"\x82")
    assert response.next_access_token == "NEXT"


def test_read_gateway_reply() -> None:
    builder = LegyRequestBuilder(ANDROID, gateway=LegyGateway(KEY))
    request = builder.build("/S4", NOOP, token=AccessToken.parse(V3_JWT), now=NOW)
    body = _server_reply([("x-lc", "200"), ("x-line-next-access", "INNER")], b"thrift")
    response = builder.read(
        request, status=200, headers={"Content-Type": "application/octet-stream"}, body=body
    )
    assert response.status == 200
    assert response.body == b"thrift"
    assert response.next_access_token == "INNER"
    assert response.headers["content-type"] == "application/x-thrift"


def test_read_gateway_reply_status_and_empty_body() -> None:
    builder = LegyRequestBuilder(ANDROID, gateway=LegyGateway(KEY))
    request = builder.build("/SYNC4", NOOP, token=AccessToken.parse(V3_JWT), now=NOW)
    refused = builder.read(request, status=200, headers={}, body=_server_reply([("x-lc", "401")], b""))
    assert refused.status == 401
    empty = builder.read(request, status=403, headers={}, body=b"")
    assert (empty.status, empty.body) == (403, b"")
    with pytest.raises(GatewayError):
        builder.read(request, status=200, headers={}, body=b"\x00" * 7)


def test_request_repr_hides_headers_and_body() -> None:
    builder = LegyRequestBuilder(ANDROID, gateway=LegyGateway(KEY))
    request = builder.build("/S4", NOOP, token=AccessToken.parse(FAKE_TOKEN), now=NOW)
    assert FAKE_TOKEN not in repr(request)
    assert json.dumps(dict(request.headers))  # plain str -> str mapping, ready for any HTTP client
