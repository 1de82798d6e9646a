"""Opus packet bytes: RFC 6716 parsing, the LINE group pair packet, and payload prefixes.

Pure functions over bytes (no codec, no clock), so they are tested against linejs's vectors directly.

LINE group calls carry 40 ms of audio per RTP packet: two 20 ms Opus frames in one code-3 packet
(RFC 6716 section 3.2.5, M = 2), behind a one-byte prefix that is 0x00 for the first two payloads of a
call and 0x10 afterwards. linejs writes the VBR frame length of a left frame of 252 bytes or more in a
form that RFC 6716 decoders misread; we write the RFC form (see :func:`frame_length_bytes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from linecall.media.errors import OpusPacketError

__all__ = [
    "GROUP_PREFIX_FIRST",
    "GROUP_PREFIX_FIRST_COUNT",
    "GROUP_PREFIX_LATER",
    "MAX_FRAME_BYTES",
    "Bandwidth",
    "GroupPrefixer",
    "OpusMode",
    "OpusPacket",
    "TocInfo",
    "frame_length_bytes",
    "group_prefix",
    "join_group_pair",
    "linejs_group_payloads",
    "pack_code3_pair",
    "packet_duration_ms",
    "parse_packet",
    "parse_toc",
]

Bandwidth = Literal["narrowband", "mediumband", "wideband", "superwideband", "fullband"]
OpusMode = Literal["silk", "hybrid", "celt"]

#: RFC 6716 R2: no frame is longer than 1275 bytes.
MAX_FRAME_BYTES = 1275
#: RFC 6716 R5: a packet holds at most 120 ms of audio (5760 samples at 48 kHz).
_MAX_PACKET_SAMPLES = 5760

GROUP_PREFIX_FIRST = b"\x00"
GROUP_PREFIX_LATER = b"\x10"
#: How many payloads at the start of a call carry :data:`GROUP_PREFIX_FIRST` (native clients do this).
GROUP_PREFIX_FIRST_COUNT = 2

_SILK_SAMPLES = (480, 960, 1920, 2880)
_HYBRID_SAMPLES = (480, 960)
_CELT_SAMPLES = (120, 240, 480, 960)
_SILK_BW: tuple[Bandwidth, ...] = ("narrowband", "mediumband", "wideband")
_HYBRID_BW: tuple[Bandwidth, ...] = ("superwideband", "fullband")
_CELT_BW: tuple[Bandwidth, ...] = ("narrowband", "wideband", "superwideband", "fullband")


@dataclass(frozen=True, slots=True)
class TocInfo:
    """What a TOC byte says (RFC 6716 section 3.1); ``frame_samples`` is per frame at 48 kHz."""

    config: int
    mode: OpusMode
    bandwidth: Bandwidth
    frame_samples: int
    stereo: bool
    code: int


def parse_toc(toc: int) -> TocInfo:
    """Decode a TOC byte (every value 0..255 is a valid TOC)."""
    if not 0 <= toc <= 255:
        raise OpusPacketError(f"a TOC is one byte, got {toc}")
    config = toc >> 3
    mode: OpusMode
    if config < 12:
        mode, bandwidth, samples = "silk", _SILK_BW[config // 4], _SILK_SAMPLES[config % 4]
    elif config < 16:
        mode, bandwidth, samples = "hybrid", _HYBRID_BW[(config - 12) // 2], _HYBRID_SAMPLES[config % 2]
    else:
        mode, bandwidth, samples = "celt", _CELT_BW[(config - 16) // 4], _CELT_SAMPLES[config % 4]
    return TocInfo(config, mode, bandwidth, samples, bool(toc & 0x04), toc & 0x03)


@dataclass(frozen=True, slots=True)
class OpusPacket:
    """A parsed Opus packet: its TOC byte, the compressed frames, and how many padding bytes it had."""

    toc: int
    frames: tuple[bytes, ...]
    padding: int = 0

    @property
    def info(self) -> TocInfo:
        return parse_toc(self.toc)

    @property
    def samples(self) -> int:
        """Audio duration in samples at 48 kHz."""
        return self.info.frame_samples * len(self.frames)


def frame_length_bytes(length: int) -> bytes:
    """RFC 6716 section 3.2.1 frame length: one byte below 252, else two (first + 4 * second)."""
    if not 0 <= length <= MAX_FRAME_BYTES:
        raise OpusPacketError(f"an Opus frame holds 0..{MAX_FRAME_BYTES} bytes, got {length}")
    if length < 252:
        return bytes((length,))
    first = 252 + (length & 3)
    return bytes((first, (length - first) >> 2))


def _read_length(packet: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(packet):
        raise OpusPacketError("packet ends inside a frame length")
    first = packet[pos]
    if first < 252:
        return first, pos + 1
    if pos + 1 >= len(packet):
        raise OpusPacketError("packet ends inside a two-byte frame length")
    return first + 4 * packet[pos + 1], pos + 2


def _check_frames(frames: Sequence[bytes]) -> None:
    for frame in frames:
        if len(frame) > MAX_FRAME_BYTES:
            raise OpusPacketError(f"a frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")


def parse_packet(packet: bytes) -> OpusPacket:
    """Split an Opus packet into frames, enforcing RFC 6716 section 3.4 (R1-R7)."""
    if not packet:
        raise OpusPacketError("an Opus packet has at least one byte (R1)")
    toc = packet[0]
    code = toc & 0x03
    body = packet[1:]
    frames: tuple[bytes, ...]
    padding = 0
    if code == 0:
        frames = (body,)
    elif code == 1:
        if len(body) % 2:
            raise OpusPacketError("code-1 packet with an odd payload length (R3)")
        half = len(body) // 2
        frames = (body[:half], body[half:])
    elif code == 2:
        first_len, pos = _read_length(packet, 1)
        if pos + first_len > len(packet):
            raise OpusPacketError("code-2 first frame runs past the packet end (R4)")
        frames = (packet[pos : pos + first_len], packet[pos + first_len :])
    else:
        frames, padding = _parse_code3(packet, parse_toc(toc).frame_samples)
    _check_frames(frames)
    return OpusPacket(toc=toc, frames=frames, padding=padding)


def _parse_code3(packet: bytes, frame_samples: int) -> tuple[tuple[bytes, ...], int]:
    if len(packet) < 2:
        raise OpusPacketError("code-3 packet without its frame-count byte (R6)")
    fc = packet[1]
    vbr, has_padding, count = bool(fc & 0x80), bool(fc & 0x40), fc & 0x3F
    if count == 0:
        raise OpusPacketError("code-3 packet with a frame count of 0 (R5)")
    if count * frame_samples > _MAX_PACKET_SAMPLES:
        raise OpusPacketError(f"code-3 packet of {count} frames exceeds 120 ms (R5)")
    pos = 2
    padding = 0
    if has_padding:
        while True:
            if pos >= len(packet):
                raise OpusPacketError("packet ends inside the padding length (R6/R7)")
            step = packet[pos]
            pos += 1
            padding += 254 if step == 255 else step
            if step != 255:
                break
    end = len(packet) - padding
    if end < pos:
        raise OpusPacketError("padding longer than the packet (R6/R7)")
    if not vbr:
        room = end - pos
        if room % count:
            raise OpusPacketError(f"CBR code-3 packet: {room} bytes do not split into {count} frames (R6)")
        size = room // count
        frames = tuple(packet[pos + i * size : pos + (i + 1) * size] for i in range(count))
        return frames, padding
    sizes = []
    for _ in range(count - 1):
        size, pos = _read_length(packet, pos)
        sizes.append(size)
    if pos > end or sum(sizes) > end - pos:
        raise OpusPacketError("VBR code-3 frame lengths run past the packet end (R7)")
    out = []
    for size in sizes:
        out.append(packet[pos : pos + size])
        pos += size
    out.append(packet[pos:end])
    return tuple(out), padding


def pack_code3_pair(toc: int, left: bytes, right: bytes) -> bytes:
    """Two frames of the same configuration as one code-3 packet (M = 2), CBR when they are equal.

    ``toc`` keeps its configuration and stereo bits; its code bits become 3. No padding is added.
    """
    head = (toc & 0xFC) | 0x03
    if len(left) == len(right):
        return bytes((head, 0x02)) + left + right
    return bytes((head, 0x82)) + frame_length_bytes(len(left)) + left + right


def join_group_pair(left: bytes, right: bytes) -> bytes:
    """Join two single-frame Opus packets into the 40 ms code-3 packet a LINE group payload carries.

    Unlike linejs (which copies everything after the TOC), both inputs are parsed, so a padded code-3
    packet from a CBR encoder is unwrapped correctly; frames of different configurations cannot share
    a packet (RFC 6716 section 3.2) and raise :class:`OpusPacketError`.
    """
    lp, rp = parse_packet(left), parse_packet(right)
    if len(lp.frames) != 1 or len(rp.frames) != 1:
        raise OpusPacketError(
            f"group pairs join single-frame packets, got {len(lp.frames)} and {len(rp.frames)} frames"
        )
    if (lp.toc ^ rp.toc) & 0xFC:
        raise OpusPacketError(
            f"group pair with different configurations (TOC 0x{lp.toc:02x} vs 0x{rp.toc:02x})"
        )
    return pack_code3_pair(lp.toc, lp.frames[0], rp.frames[0])


def linejs_group_payloads(packets: Sequence[bytes], input_prefix_bytes: int = 1) -> list[bytes]:
    """Pair prefixed 20 ms packets into prefixed group payloads the way linejs's example does.

    Kept for conformance with linejs's vectors and for callers holding already-prefixed packets: each
    input drops its first ``input_prefix_bytes`` bytes; a pair in which either packet has no byte past
    the prefix is skipped (and does not count toward the 0x00/0x10 rule); a trailing odd packet is
    dropped; the bytes after each TOC are copied as they are. The one deliberate difference: VBR frame
    lengths of 252 bytes or more are written in RFC 6716 form. Our own clip path uses
    :func:`join_group_pair` and :class:`GroupPrefixer` instead.
    """
    p = input_prefix_bytes
    if isinstance(p, bool) or not isinstance(p, int) or p < 0:
        raise ValueError(f"input_prefix_bytes must be a non-negative integer, got {p!r}")
    out: list[bytes] = []
    for i in range(0, len(packets) - 1, 2):
        left, right = packets[i], packets[i + 1]
        if len(left) <= p or len(right) <= p:
            continue
        body = pack_code3_pair(left[p], left[p + 1 :], right[p + 1 :])
        out.append(group_prefix(len(out)) + body)
    return out


def group_prefix(index: int) -> bytes:
    """The prefix of the ``index``-th group payload a call sends (0-based, counted across repeats)."""
    return GROUP_PREFIX_FIRST if index < GROUP_PREFIX_FIRST_COUNT else GROUP_PREFIX_LATER


class GroupPrefixer:
    """Per-call state for group payload prefixes: 0x00 for the call's first two payloads, then 0x10.

    Clips cache unprefixed group packets (shared by every call); each call owns one prefixer, so a
    repeat or the next clip of a sequence continues with 0x10.
    """

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0

    def wrap(self, packet: bytes) -> bytes:
        payload = group_prefix(self.sent) + packet
        self.sent += 1
        return payload

    def wrap_all(self, packets: Iterable[bytes]) -> Iterable[bytes]:
        """Lazily wrap a stream of packets (e.g. every repeat of a clip)."""
        for packet in packets:
            yield self.wrap(packet)


def packet_duration_ms(packet: bytes) -> float:
    """Duration of an Opus packet in milliseconds (parses the whole packet)."""
    return parse_packet(packet).samples / 48.0
