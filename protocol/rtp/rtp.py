"""RTP packets (RFC 3550) as LINE's PLANET media path uses them.

linejs builds every audio and data packet with V=2, X=1, CC=0, no padding and a header extension
whose profile is 0x0240 (zero words for 1:1 audio, two words for group audio). Building here produces
exactly those bytes. Parsing is stricter than linejs's: the version must be 2, every length (CSRC list,
extension, padding) is checked against the datagram, and any problem raises :class:`RtpError`, never
an ``IndexError`` or ``struct.error``, because the bytes come straight off an untrusted UDP socket.

Header fields are validated when a :class:`RtpHeader` is made, instead of being silently masked the
way linejs masks them: a payload type of 224 is a bug upstream, not something to send as 96.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "LINE_EXTENSION_PROFILE",
    "RTP_FIXED_HEADER_LEN",
    "RTP_VERSION",
    "RtpError",
    "RtpExtension",
    "RtpHeader",
    "RtpPacket",
    "build_rtp",
    "parse_rtp",
    "parse_rtp_header",
]

RTP_VERSION = 2
RTP_FIXED_HEADER_LEN = 12
#: The "defined by profile" value of the header extension on every packet linejs sends.
LINE_EXTENSION_PROFILE = 0x0240

_FIXED = struct.Struct(">BBHII")
_EXT_HEADER = struct.Struct(">HH")


class RtpError(ValueError):
    """An RTP packet or header field is malformed, truncated or out of range."""


def _check_uint(name: str, value: int, bits: int) -> None:
    if not 0 <= value < (1 << bits):
        raise RtpError(f"RTP {name} out of range for {bits} bits: {value}")


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """An RFC 3550 §5.3.1 header extension: a 16-bit profile word and whole 32-bit words of data."""

    profile: int = LINE_EXTENSION_PROFILE
    data: bytes = b""

    def __post_init__(self) -> None:
        _check_uint("extension profile", self.profile, 16)
        if len(self.data) % 4:
            raise RtpError("RTP extension data length must be a multiple of 4 bytes")
        _check_uint("extension length in words", len(self.data) // 4, 16)

    @property
    def size(self) -> int:
        """Bytes this extension takes on the wire (4-byte extension header included)."""
        return 4 + len(self.data)


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """The RTP header fields linecall sends and reads; all integers are range-checked on creation."""

    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool = False
    extension: RtpExtension | None = None
    csrcs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_uint("payload type", self.payload_type, 7)
        _check_uint("sequence number", self.seq, 16)
        _check_uint("timestamp", self.timestamp, 32)
        _check_uint("SSRC", self.ssrc, 32)
        if len(self.csrcs) > 15:
            raise RtpError(f"RTP CSRC list too long: {len(self.csrcs)} > 15")
        for csrc in self.csrcs:
            _check_uint("CSRC", csrc, 32)

    @property
    def size(self) -> int:
        """Header length on the wire: fixed part, CSRCs and the extension."""
        ext = self.extension.size if self.extension is not None else 0
        return RTP_FIXED_HEADER_LEN + 4 * len(self.csrcs) + ext

    def to_bytes(self) -> bytes:
        """Serialize the header alone (the payload follows it directly; no padding is ever written)."""
        byte0 = (RTP_VERSION << 6) | len(self.csrcs)
        if self.extension is not None:
            byte0 |= 0x10
        byte1 = (0x80 if self.marker else 0) | self.payload_type
        parts = [_FIXED.pack(byte0, byte1, self.seq, self.timestamp, self.ssrc)]
        parts.extend(csrc.to_bytes(4, "big") for csrc in self.csrcs)
        if self.extension is not None:
            parts.append(_EXT_HEADER.pack(self.extension.profile, len(self.extension.data) // 4))
            parts.append(self.extension.data)
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """A parsed or to-be-built RTP packet: header plus payload (padding already removed)."""

    header: RtpHeader
    payload: bytes

    def to_bytes(self) -> bytes:
        return self.header.to_bytes() + self.payload


def build_rtp(header: RtpHeader, payload: bytes) -> bytes:
    """Header bytes followed by the payload, as linejs's packet builder lays them out."""
    return header.to_bytes() + bytes(payload)


def _parse_header(data: bytes) -> tuple[RtpHeader, int, bool]:
    """Return (header, header length, padding flag) or raise RtpError."""
    if len(data) < RTP_FIXED_HEADER_LEN:
        raise RtpError("RTP too short")
    byte0, byte1, seq, timestamp, ssrc = _FIXED.unpack_from(data, 0)
    version = byte0 >> 6
    if version != RTP_VERSION:
        raise RtpError(f"RTP version {version}, expected {RTP_VERSION}")
    csrc_count = byte0 & 0x0F
    offset = RTP_FIXED_HEADER_LEN + 4 * csrc_count
    if len(data) < offset:
        raise RtpError("RTP CSRC header truncated")
    csrcs = tuple(int.from_bytes(data[i : i + 4], "big") for i in range(RTP_FIXED_HEADER_LEN, offset, 4))
    extension: RtpExtension | None = None
    if byte0 & 0x10:
        if len(data) < offset + 4:
            raise RtpError("RTP extension header truncated")
        profile, words = _EXT_HEADER.unpack_from(data, offset)
        ext_end = offset + 4 + 4 * words
        if len(data) < ext_end:
            raise RtpError("RTP extension data truncated")
        extension = RtpExtension(profile, bytes(data[offset + 4 : ext_end]))
        offset = ext_end
    header = RtpHeader(
        payload_type=byte1 & 0x7F,
        seq=seq,
        timestamp=timestamp,
        ssrc=ssrc,
        marker=bool(byte1 & 0x80),
        extension=extension,
        csrcs=csrcs,
    )
    return header, offset, bool(byte0 & 0x20)


def parse_rtp_header(data: bytes) -> tuple[RtpHeader, int]:
    """Parse and validate the header alone; return it with its length (where the payload starts).

    Padding is not looked at: in SRTP the padding count sits in the encrypted payload, so this is the
    check to run on a protected packet before handing it to libsrtp.
    """
    header, offset, _padded = _parse_header(data)
    return header, offset


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse a plaintext RTP packet strictly; raise :class:`RtpError` on anything malformed.

    linejs ignores the padding flag; here padding (RFC 3550 §5.1: the last octet counts the padding
    octets, itself included) is checked and stripped from the payload.
    """
    header, offset, padded = _parse_header(data)
    end = len(data)
    if padded:
        if end == offset:
            raise RtpError("RTP padding flag set but no padding octets")
        padding = data[-1]
        if padding == 0 or padding > end - offset:
            raise RtpError(f"RTP padding length {padding} invalid")
        end -= padding
    return RtpPacket(header, bytes(data[offset:end]))
