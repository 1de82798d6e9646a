"""The LEGY encrypted gateway: talk-map §9's independently derived vectors byte for byte, reply opening,
and Hypothesis over the decryptor (random, truncated, bit-flipped bytes raise GatewayError only)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.talk.gateway import (
    GATEWAY_IV,
    GatewayError,
    GatewayReply,
    LegyGateway,
    decode_header_block,
    encode_header_block,
    legy_mac,
    xxh32,
)

# talk-map §9: key 00..0f, path /S4, token TOKEN, body = the noop call.
KEY = bytes(range(16))
NOOP = bytes.fromhex("822100046e6f6f7000")
HEADER_BLOCK = bytes.fromhex("001c00020006782d6c70717300032f53340004782d6c740005544f4b454e")
CIPHERTEXT = bytes.fromhex(
    "94db440a019483595ecbed168cc21fd967851c92b7d164592d2b701848328cdc5e56bcb512bc1deb4996837a93901b1e"
)
INNER_XXH = 0x6656CD1E
MAC = bytes.fromhex("ccbcd2f1")


def server_reply(
    headers: list[tuple[str, str]], body: bytes, *, key: bytes = KEY, flag: int = 7, trailer: bytes = b""
) -> bytes:
    """What the gateway would send back: the request's envelope layout, encrypted under our key."""
    padder = padding.PKCS7(128).padder()
    plain = bytes([flag]) + encode_header_block(headers) + body
    padded = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(GATEWAY_IV)).encryptor()
    return enc.update(padded) + enc.finalize() + trailer


@pytest.mark.parametrize(("data", "digest"), [(b"", 0x02CC5D05), (b"abc", 0x32D153FF)], ids=["empty", "abc"])
def test_xxh32_vectors(data: bytes, digest: int) -> None:
    assert xxh32(data) == digest


def test_request_header_block_vector() -> None:
    assert encode_header_block([("x-lpqs", "/S4"), ("x-lt", "TOKEN")]) == HEADER_BLOCK


def test_request_plaintext_vector() -> None:
    plain = LegyGateway(KEY).plaintext("/S4", NOOP, "TOKEN")
    assert plain == b"\x07" + HEADER_BLOCK + NOOP
    # §9 says "41 bytes"; the bytes it lists add up to 1 + 30 + 9 = 40, and the ciphertext agrees with 40.
    assert len(plain) == 40


def test_request_ciphertext_and_mac_vector() -> None:
    sealed = LegyGateway(KEY).seal("/S4", NOOP, "TOKEN")
    assert sealed == CIPHERTEXT + MAC
    ipad = bytes(b ^ 0x36 for b in KEY)
    assert xxh32(ipad + CIPHERTEXT) == INNER_XXH
    assert legy_mac(KEY, CIPHERTEXT) == MAC


def test_request_without_token_has_only_the_path() -> None:
    plain = LegyGateway(KEY).plaintext("/S4?x=1", b"", None)
    assert decode_header_block(plain[1:]) == ({"x-lpqs": "/S4?x=1"}, b"")


def test_generate_draws_the_key_from_the_injected_source() -> None:
    calls: list[int] = []

    def source(n: int) -> bytes:
        calls.append(n)
        return KEY[:n]

    gateway = LegyGateway.generate(source)
    assert calls == [16]
    assert gateway.seal("/S4", NOOP, "TOKEN") == CIPHERTEXT + MAC


def test_key_must_be_16_bytes() -> None:
    with pytest.raises(GatewayError):
        LegyGateway(b"short")


def test_x_lcs_wraps_the_key_with_rsa_oaep_sha1_and_is_cached() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    gateway = LegyGateway(KEY, public_key_pem=pem)
    lcs = gateway.x_lcs
    assert lcs.startswith("0008")
    oaep = asym_padding.OAEP(mgf=asym_padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    assert private.decrypt(base64.b64decode(lcs[4:]), oaep) == KEY
    assert gateway.x_lcs == lcs


def test_x_lcs_with_lines_key_is_a_2048_bit_block() -> None:
    lcs = LegyGateway(KEY).x_lcs
    assert lcs.startswith("0008")
    assert len(base64.b64decode(lcs[4:], validate=True)) == 256


def test_outer_headers_match_linejs_and_carry_no_access_token() -> None:
    gateway = LegyGateway(KEY)
    headers = gateway.outer_headers(application="ANDROID\t26.6.2\tAndroid OS\t16", user_agent="Line/26.6.2")
    assert headers == {
        "x-line-application": "ANDROID\t26.6.2\tAndroid OS\t16",
        "x-le": "7",
        "x-lap": "5",
        "x-lpv": "1",
        "x-lcs": gateway.x_lcs,
        "user-agent": "Line/26.6.2",
        "content-type": "application/x-thrift",
        "x-lal": "ja_JP",
        "x-lhm": "POST",
        "accept": "application/x-thrift",
        "accept-encoding": "gzip, deflate",
    }
    assert "x-line-access" not in headers


# --- opening replies --------------------------------------------------------------------------------------


def test_open_reply_with_status_and_headers() -> None:
    thrift = bytes.fromhex("8241000467657450726f66696c650c00000000")
    body = server_reply([("x-lc", "200"), ("X-Line-Next-Access", "NEW")], thrift)
    reply = LegyGateway(KEY).open(body)
    assert reply == GatewayReply({"x-lc": "200", "x-line-next-access": "NEW"}, thrift, 200)
    assert reply.effective_status(200) == 200


def test_open_ignores_a_trailing_partial_block_like_linejs() -> None:
    body = server_reply([("x-lc", "200")], b"\x00", trailer=b"\xde\xad\xbe\xef")
    assert LegyGateway(KEY).open(body).body == b"\x00"


@pytest.mark.parametrize(
    ("x_lc", "outer", "expected"), [("401", 200, 401), ("200", 403, 403), (None, 410, 410)]
)
def test_inner_status_replaces_outer_unless_200(x_lc: str | None, outer: int, expected: int) -> None:
    headers = [("x-lc", x_lc)] if x_lc else []
    reply = LegyGateway(KEY).open(server_reply(headers, b""))
    assert reply.effective_status(outer) == expected


def test_empty_reply_passes_through() -> None:
    reply = LegyGateway(KEY).open(b"")
    assert reply == GatewayReply({}, b"", None)
    assert reply.effective_status(403) == 403


def test_a_request_envelope_opens_as_a_reply() -> None:
    reply = LegyGateway(KEY).open(CIPHERTEXT + MAC)
    assert reply.headers == {"x-lpqs": "/S4", "x-lt": "TOKEN"}
    assert reply.body == NOOP


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x01\x02\x03", id="shorter-than-a-block"),
        pytest.param(server_reply([], b"x", key=bytes(16)), id="wrong-key"),
        pytest.param(server_reply([("x-lc", "abc")], b""), id="non-numeric-x-lc"),
        pytest.param(server_reply([("x-lc", "20000")], b""), id="over-long-x-lc"),
        pytest.param(CIPHERTEXT[:32], id="truncated-padding-gone"),
    ],
)
def test_malformed_replies_raise_gateway_error(body: bytes) -> None:
    with pytest.raises(GatewayError):
        LegyGateway(KEY).open(body)


def _encrypt_raw(plain: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(KEY), modes.CBC(GATEWAY_IV)).encryptor()
    return enc.update(padded) + enc.finalize()


@pytest.mark.parametrize(
    "plain",
    [
        pytest.param(b"", id="no-flag-byte"),
        pytest.param(b"\x07\x00", id="block-length-cut"),
        pytest.param(b"\x07\x00\x10\x00\x01", id="block-overruns"),
        pytest.param(b"\x07\x00\x06\x00\x01\x00\x05ab", id="entry-overruns-block"),
        pytest.param(b"\x07\x00\x08\x00\x01\x00\x01a\x00\x00\x00\x00", id="block-longer-than-entries"),
        pytest.param(b"\x07\x00\x09\x00\x01\x00\x01a\x00\x02\xc3\x28", id="value-not-utf8"),
        pytest.param(b"\x07\x00\x08\x00\x01\x00\x01\xff\x00\x00", id="name-not-ascii"),
        pytest.param(b"\x07\x00\x00", id="block-too-small-for-count"),
    ],
)
def test_malformed_inner_header_blocks_raise_gateway_error(plain: bytes) -> None:
    with pytest.raises(GatewayError):
        LegyGateway(KEY).open(_encrypt_raw(plain))


def test_encode_header_block_refuses_non_ascii_names_and_huge_values() -> None:
    with pytest.raises(GatewayError):
        encode_header_block([("x-é", "v")])
    with pytest.raises(GatewayError):
        encode_header_block([("x", "v" * 70_000)])


# --- properties -------------------------------------------------------------------------------------------

# x-lc carries the status and is validated on its own (see the x-lc tests), so free-form values skip it.
_header_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
    lambda n: n != "x-lc"
)
_header_values = st.text(max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    headers=st.dictionaries(_header_names, _header_values, max_size=5),
    body=st.binary(max_size=200),
)
def test_reply_round_trip(headers: dict[str, str], body: bytes) -> None:
    reply = LegyGateway(KEY).open(server_reply(list(headers.items()), body))
    assert reply.headers == headers
    assert reply.body == body


@settings(max_examples=200, deadline=None)
@given(path=st.text(min_size=1, max_size=40), token=st.one_of(st.none(), st.text(min_size=1, max_size=60)))
def test_sealed_requests_carry_path_and_token(path: str, token: str | None) -> None:
    gateway = LegyGateway(KEY)
    sealed = gateway.seal(path, NOOP, token)
    assert sealed[-4:] == legy_mac(KEY, sealed[:-4])
    reply = gateway.open(sealed)
    expected = {"x-lpqs": path} | ({"x-lt": token} if token else {})
    assert (reply.headers, reply.body) == (expected, NOOP)


def _open_or_gateway_error(body: bytes) -> None:
    try:
        reply = LegyGateway(KEY).open(body)
    except GatewayError:
        return
    assert isinstance(reply, GatewayReply)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_gateway_error(data: bytes) -> None:
    _open_or_gateway_error(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8).flatmap(lambda n: st.binary(min_size=16 * n, max_size=16 * n)))
def test_random_whole_blocks_raise_only_gateway_error(data: bytes) -> None:
    # Whole blocks always reach the decryptor and the padding and header checks.
    _open_or_gateway_error(data)


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=120),
    cut=st.integers(min_value=0, max_value=200),
)
def test_truncated_replies_raise_only_gateway_error(body: bytes, cut: int) -> None:
    full = server_reply([("x-lc", "200"), ("x-line-next-access", "T")], body)
    _open_or_gateway_error(full[: min(cut, len(full))])


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=120), data=st.data())
def test_bit_flipped_replies_raise_only_gateway_error(body: bytes, data: st.DataObject) -> None:
    full = bytearray(server_reply([("x-lc", "200")], body))
    index = data.draw(st.integers(0, len(full) - 1))
    full[index] ^= 1 << data.draw(st.integers(0, 7))
    _open_or_gateway_error(bytes(full))
