"""The LEGY encrypted gateway (``POST https://gf.line.naver.jp/enc``), talk-map §1.7, sans-I/O.

Modern tokens (V3, primary) are only honoured inside this envelope: the real path and the token ride in
an inner header block, the whole request is AES-128-CBC encrypted under a per-process key, and that key
reaches LINE RSA-OAEP wrapped in the ``x-lcs`` header. The wire format is fixed by LINE's servers, so the
constants below (IV, public key, flag values) are protocol facts, not choices.

Request plaintext::

    0x07 | u16be(block_len) u16be(count) {u16be(len) key u16be(len) value}* | thrift body

sent as ``AES-CBC(key, IV, PKCS#7) || mac`` where ``mac = xxh32(opad || xxh32(ipad || ct))`` (seed 0,
each digest big-endian, ``ipad``/``opad`` = key XOR 0x36/0x5c).

Responses are opened by decrypting the whole 16-byte blocks (a trailing partial block, the server's MAC
if it sends one, is ignored exactly as linejs ignores it: its construction on the response side is not
known, so verifying it could only reject good replies). What can be checked is checked: PKCS#7 padding,
and an inner header block whose lengths add up and whose text decodes. Anything else raises
:class:`GatewayError`, never an IndexError or UnicodeDecodeError.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import xxhash
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import load_pem_public_key

__all__ = [
    "GATEWAY_IV",
    "GATEWAY_URL",
    "LINE_PUBLIC_KEY_PEM",
    "GatewayError",
    "GatewayReply",
    "LegyGateway",
    "decode_header_block",
    "encode_header_block",
    "legy_mac",
    "xxh32",
]

GATEWAY_URL = "https://gf.line.naver.jp/enc"
#: Fixed CBC IV of the gateway (LG:18-37).
GATEWAY_IV = bytes.fromhex("4e09483e38f5ff7280127b9efb5c2d33")
#: ``x-le``: bit 4 = a flag byte leads the plaintext, bit 2 = a MAC trails the ciphertext.
LE_FLAGS = 7
#: ``x-lap`` and the ``x-lcs`` prefix: constants whose meaning linejs does not reveal.
LAP = "5"
LCS_PREFIX = "0008"
AES_KEY_SIZE = 16
MAC_SIZE = 4
_BLOCK = 16
_U16_MAX = 0xFFFF

#: LINE's 2048-bit RSA key that wraps our AES key (a protocol constant, LG:39-47).
LINE_PUBLIC_KEY_PEM = b"""-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsMC6HAYeMq4R59e2yRw6
W1OWT2t9aepiAp4fbSCXzRj7A29BOAFAvKlzAub4oxN13Nt8dbcB+ICAufyDnN5N
d3+vXgDxEXZ/sx2/wuFbC3B3evSNKR4hKcs80suRs8aL6EeWi+bAU2oYIc78Bbqh
Nzx0WCzZSJbMBFw1VlsU/HQ/XdiUufopl5QSa0S246XXmwJmmXRO0v7bNvrxaNV0
cbviGkOvTlBt1+RerIFHMTw3SwLDnCOolTz3CuE5V2OrPZCmC0nlmPRzwUfxoxxs
/6qFdpZNoORH/s5mQenSyqPkmH8TBOlHJWPH3eN1k6aZIlK5S54mcUb/oNRRq9wD
1wIDAQAB
-----END PUBLIC KEY-----
"""


class GatewayError(ValueError):
    """A gateway envelope that cannot be built or opened (malformed, truncated or tampered bytes)."""


def xxh32(data: bytes) -> int:
    """xxHash32 with seed 0 (the maintained ``xxhash`` package)."""
    return int(xxhash.xxh32_intdigest(data, 0))


def legy_mac(key: bytes, data: bytes) -> bytes:
    """The 4-byte HMAC-shaped xxh32 tag appended to a request ciphertext (LG:268-282)."""
    if len(key) != AES_KEY_SIZE:
        raise GatewayError("the gateway key is 16 bytes")
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    inner = xxh32(ipad + data).to_bytes(4, "big")
    return xxh32(opad + inner).to_bytes(4, "big")


def encode_header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    """``u16be(len) u16be(count) {u16be(len) key u16be(len) value}*``; keys ASCII, values UTF-8, in order."""
    parts: list[bytes] = []
    count = 0
    for key, value in headers:
        try:
            raw_key = key.encode("ascii")
        except UnicodeEncodeError:
            raise GatewayError("gateway header names are ASCII") from None
        raw_value = value.encode("utf-8")
        if len(raw_key) > _U16_MAX or len(raw_value) > _U16_MAX:
            raise GatewayError("gateway header too long")
        parts += (struct.pack(">H", len(raw_key)), raw_key, struct.pack(">H", len(raw_value)), raw_value)
        count += 1
    if count > _U16_MAX:
        raise GatewayError("too many gateway headers")
    body = struct.pack(">H", count) + b"".join(parts)
    if len(body) > _U16_MAX:
        raise GatewayError("gateway header block too long")
    return struct.pack(">H", len(body)) + body


def decode_header_block(data: bytes) -> tuple[dict[str, str], bytes]:
    """Split ``data`` into (headers, rest). Header names come back lower-cased (they are HTTP headers).

    Strict where linejs is lenient: the entries must fill the declared block length exactly, names must
    be ASCII and values UTF-8.
    """
    view = memoryview(data)
    if len(view) < 4:
        raise GatewayError("gateway reply shorter than its header block")
    block_len, count = struct.unpack_from(">HH", view, 0)
    end = 2 + block_len
    if end > len(view) or block_len < 2:
        raise GatewayError("gateway header block overruns the reply")
    offset = 4
    headers: dict[str, str] = {}

    def take() -> bytes:
        nonlocal offset
        if offset + 2 > end:
            raise GatewayError("gateway header entry truncated")
        (length,) = struct.unpack_from(">H", view, offset)
        offset += 2
        if offset + length > end:
            raise GatewayError("gateway header entry overruns its block")
        chunk = bytes(view[offset : offset + length])
        offset += length
        return chunk

    for _ in range(count):
        raw_key, raw_value = take(), take()
        try:
            key = raw_key.decode("ascii").lower()
            value = raw_value.decode("utf-8")
        except UnicodeDecodeError:
            raise GatewayError("gateway header is not text") from None
        headers[key] = value
    if offset != end:
        raise GatewayError("gateway header block length disagrees with its entries")
    return headers, bytes(view[end:])


@dataclass(frozen=True, slots=True)
class GatewayReply:
    """An opened gateway response: the inner headers (to merge over the outer ones) and the Thrift reply.

    ``status`` is the inner ``x-lc`` status when present, which stands for the real HTTP status of the
    Talk endpoint behind the gateway; :meth:`effective_status` applies linejs's rule.
    """

    headers: dict[str, str]
    body: bytes
    status: int | None = None

    def effective_status(self, outer_status: int) -> int:
        """``x-lc`` replaces the outer status unless it is absent or 200."""
        return self.status if self.status is not None and self.status != 200 else outer_status


def _parse_status(headers: Mapping[str, str]) -> int | None:
    raw = headers.get("x-lc")
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3):
        raise GatewayError("gateway x-lc is not an HTTP status")
    return int(text)


@dataclass(slots=True)
class LegyGateway:
    """One gateway session: a random AES key for the life of the client and its ``x-lcs``.

    Build with :meth:`generate` and an injected random source; tests construct it with a known key.
    ``public_key_pem`` is replaceable only so that tests can unwrap ``x-lcs`` with their own key pair.
    """

    aes_key: bytes = field(repr=False)
    public_key_pem: bytes = field(default=LINE_PUBLIC_KEY_PEM, repr=False)
    _x_lcs: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.aes_key) != AES_KEY_SIZE:
            raise GatewayError("the gateway key is 16 bytes")

    @classmethod
    def generate(cls, random: Callable[[int], bytes]) -> LegyGateway:
        """A gateway with a fresh key drawn from ``random`` (e.g. ``os.urandom``)."""
        return cls(random(AES_KEY_SIZE))

    @property
    def x_lcs(self) -> str:
        """``"0008" + base64(RSA-OAEP-SHA1(LINE key, aes_key))``, computed once and reused like linejs.

        OAEP draws its own randomness inside ``cryptography``, so this value is not reproducible; the
        server only needs it to unwrap to our key.
        """
        if self._x_lcs is None:
            key = load_pem_public_key(self.public_key_pem)
            if not isinstance(key, RSAPublicKey):
                raise GatewayError("the gateway public key is not RSA")
            oaep = asym_padding.OAEP(
                mgf=asym_padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None
            )
            wrapped = key.encrypt(self.aes_key, oaep)
            self._x_lcs = LCS_PREFIX + base64.b64encode(wrapped).decode("ascii")
        return self._x_lcs

    def plaintext(self, path_and_query: str, body: bytes, access_token: str | None) -> bytes:
        """The request plaintext before encryption: flag byte, inner headers, Thrift body."""
        inner = [("x-lpqs", path_and_query)]
        if access_token:
            inner.append(("x-lt", access_token))
        return bytes([LE_FLAGS]) + encode_header_block(inner) + body

    def seal(self, path_and_query: str, body: bytes, access_token: str | None) -> bytes:
        """The POST body for ``/enc``: ciphertext of :meth:`plaintext` followed by its 4-byte MAC.

        ``access_token`` is the ``x-lt`` value (see ``tokens.gateway_token``), already resolved.
        """
        padder = padding.PKCS7(128).padder()
        padded = padder.update(self.plaintext(path_and_query, body, access_token)) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self.aes_key), modes.CBC(GATEWAY_IV)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        return ciphertext + legy_mac(self.aes_key, ciphertext)

    def open(self, body: bytes) -> GatewayReply:
        """Decrypt and split a gateway response body; an empty body passes through as an empty reply."""
        if not body:
            return GatewayReply({}, b"")
        usable = len(body) // _BLOCK * _BLOCK
        if usable == 0:
            raise GatewayError("gateway reply shorter than one cipher block")
        decryptor = Cipher(algorithms.AES(self.aes_key), modes.CBC(GATEWAY_IV)).decryptor()
        padded = decryptor.update(body[:usable]) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= _BLOCK or padded[-pad:] != bytes([pad]) * pad:
            raise GatewayError("gateway reply has bad padding (wrong key or tampered)")
        plaintext = padded[:-pad]
        if not plaintext:
            raise GatewayError("gateway reply lacks its flag byte")
        headers, thrift = decode_header_block(plaintext[1:])
        return GatewayReply(headers, thrift, _parse_status(headers))

    def outer_headers(
        self,
        *,
        application: str,
        user_agent: str,
        lpv: str = "1",
        lal: str = "ja_JP",
        lhm: str = "POST",
        content_type: str = "application/x-thrift",
        accept: str = "application/x-thrift",
    ) -> dict[str, str]:
        """Headers of the outer ``/enc`` POST in linejs's order (LG:121-142).

        No ``x-line-access`` (the token is inside) and no ``host`` (the HTTP client derives it from the
        gateway URL). linejs also sends ``connection: keep-alive``; it is left out because HTTP/2 forbids
        connection-specific headers and HTTP/1.1 keeps connections alive by default.
        """
        return {
            "x-line-application": application,
            "x-le": str(LE_FLAGS),
            "x-lap": LAP,
            "x-lpv": lpv,
            "x-lcs": self.x_lcs,
            "user-agent": user_agent,
            "content-type": content_type,
            "x-lal": lal,
            "x-lhm": lhm,
            "accept": accept,
            "accept-encoding": "gzip, deflate",
        }
