"""The fixed shapes of LINE group-call media, as linejs sends them (pure builders, no state).

A group call's audio does not look like 1:1 audio: every audio packet carries a two-word 0x0240
header extension that follows a fixed nine-step sequence, the third packet sets the marker bit, the
first timestamp is half a step, ten "data channel" RTP packets (PT 101, their own SSRC and key)
follow audio packets k = 5..14, and one RTCP transport-feedback packet goes out in the clear after
k = 7. None of these bytes is documented; they are what native clients send and what LINE's relay is
known to accept, so they are reproduced byte for byte rather than "improved". The stateful part
(which packet goes when) lives in :mod:`.sender`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Self

from .rtp import LINE_EXTENSION_PROFILE, RtpError, RtpExtension, RtpHeader, RtpPacket

__all__ = [
    "GROUP_AUDIO_EXTENSIONS",
    "GROUP_AUDIO_FIRST_TIMESTAMP",
    "GROUP_AUDIO_MARKER_INDEX",
    "GROUP_AUDIO_TIMESTAMP_STEP",
    "GROUP_DATA_FIRST_AUDIO_INDEX",
    "GROUP_DATA_FIRST_SEQ",
    "GROUP_DATA_PAYLOADS",
    "GROUP_DATA_PAYLOAD_TYPE",
    "GROUP_DATA_SSRC_FALLBACK_OFFSET",
    "GROUP_DATA_TIMESTAMP_MAX",
    "GROUP_DATA_TIMESTAMP_MIN",
    "GROUP_DATA_TIMESTAMP_STEPS",
    "GROUP_RTCP_AFTER_AUDIO_INDEX",
    "GROUP_RTCP_SENDER_SSRC",
    "GroupSsrcPlan",
    "build_group_rtcp_feedback",
    "group_audio_extension",
    "group_audio_marker",
    "group_data_packet",
    "group_data_packets",
    "group_data_timestamp_start",
    "group_data_timestamps",
]

#: Extension data of group audio packet k is ``GROUP_AUDIO_EXTENSIONS[min(k, 8)]``.
GROUP_AUDIO_EXTENSIONS: Final[tuple[bytes, ...]] = (
    bytes.fromhex("0102c0407f000000"),
    bytes.fromhex("0102c04053000000"),
    bytes.fromhex("0102c05439000000"),
    bytes.fromhex("0102c05447000000"),
    bytes.fromhex("0102c05049000000"),
    bytes.fromhex("0102c04050000000"),
    bytes.fromhex("0102c0404f000000"),
    bytes.fromhex("0102c04050000000"),
    bytes.fromhex("0102c04052000000"),
)
#: Only group audio packet k = 2 (the third) has the marker bit set.
GROUP_AUDIO_MARKER_INDEX: Final = 2
#: 40 ms of 48 kHz audio per group payload.
GROUP_AUDIO_TIMESTAMP_STEP: Final = 1920
#: With the 1920 step, the first group audio packet is stamped 960 (half a step), then +1920 each.
GROUP_AUDIO_FIRST_TIMESTAMP: Final = 960

GROUP_DATA_PAYLOAD_TYPE: Final = 101
GROUP_DATA_FIRST_SEQ: Final = 2
#: The data packets follow audio packets k = 5, 6, ... 14, one each.
GROUP_DATA_FIRST_AUDIO_INDEX: Final = 5
#: Without a data session (no SSRC plan) the data SSRC is the audio SSRC plus this.
GROUP_DATA_SSRC_FALLBACK_OFFSET: Final = 0x30
GROUP_DATA_TIMESTAMP_MIN: Final = 0x7000
GROUP_DATA_TIMESTAMP_MAX: Final = 0x8000
GROUP_DATA_PAYLOADS: Final[tuple[bytes, ...]] = (
    bytes.fromhex("8000004000050205000000"),
    bytes.fromhex("8000004000050205000000"),
    bytes.fromhex("80000040000402031b00"),
    bytes.fromhex("80000040000402031b00"),
    bytes.fromhex("80000040000402033900"),
    bytes.fromhex("80000040000402033900"),
    bytes.fromhex("8000004000050203405700"),
    bytes.fromhex("8000004000050203405700"),
    bytes.fromhex("8000004000050203407500"),
    bytes.fromhex("80000003000240c80101"),
)
#: Data packet i's timestamp is the previous one (or the random start) plus ``STEPS[i]``.
GROUP_DATA_TIMESTAMP_STEPS: Final[tuple[int, ...]] = (0, 8, 20, 10, 20, 10, 20, 10, 20, 10)

#: The RTCP feedback goes out once, right after audio packet k = 7 (and that packet's data packet).
GROUP_RTCP_AFTER_AUDIO_INDEX: Final = 7
GROUP_RTCP_SENDER_SSRC: Final = 0x1A92

_U32: Final = 0xFFFF_FFFF


def group_audio_extension(k: int) -> RtpExtension:
    """The 0x0240 header extension of group audio packet k (0-based)."""
    if k < 0:
        raise ValueError(f"packet index must be >= 0, got {k}")
    return RtpExtension(
        LINE_EXTENSION_PROFILE, GROUP_AUDIO_EXTENSIONS[min(k, len(GROUP_AUDIO_EXTENSIONS) - 1)]
    )


def group_audio_marker(k: int) -> bool:
    """Whether group audio packet k carries the RTP marker bit."""
    return k == GROUP_AUDIO_MARKER_INDEX


@dataclass(frozen=True, slots=True)
class GroupSsrcPlan:
    """The six SSRCs a group member announces in its data-session StrmSpec, all from one base.

    ``base`` has its low byte clear; the SSRCs are fixed offsets from it (rx = what the mixer sends
    us, tx = what we send).
    """

    base: int

    def __post_init__(self) -> None:
        if not 0 < self.base <= _U32 or self.base & 0xFF:
            raise ValueError(f"SSRC base must be a non-zero uint32 with a clear low byte: {self.base:#x}")

    @classmethod
    def from_u32(cls, value: int) -> Self:
        """The plan linejs derives from one random uint32: low byte cleared, 0 replaced by 0x100."""
        base = value & 0xFFFF_FF00
        return cls(base or 0x100)

    @classmethod
    def draw(cls, random: Callable[[int], bytes]) -> Self:
        """Draw a fresh plan from an injected randomness source (4 bytes, big-endian)."""
        return cls.from_u32(int.from_bytes(random(4), "big"))

    def _at(self, offset: int) -> int:
        return (self.base + offset) & _U32

    @property
    def rx_audio(self) -> int:
        return self._at(0x79)

    @property
    def tx_audio(self) -> int:
        return self._at(0x7D)

    @property
    def rx_data(self) -> int:
        return self._at(0xA9)

    @property
    def tx_data(self) -> int:
        return self._at(0xAD)

    @property
    def rx_video(self) -> int:
        return self._at(0xD9)

    @property
    def tx_video(self) -> int:
        return self._at(0xDD)


def group_data_timestamp_start(value: int) -> int:
    """The data channel's random starting timestamp from one uint32, in [0x7000, 0x8000] inclusive."""
    span = GROUP_DATA_TIMESTAMP_MAX - GROUP_DATA_TIMESTAMP_MIN + 1
    return GROUP_DATA_TIMESTAMP_MIN + (value & _U32) % span


def group_data_timestamps(start: int) -> tuple[int, ...]:
    """The ten data-packet timestamps: each step is added before use, the first step being 0."""
    stamps: list[int] = []
    ts = start
    for step in GROUP_DATA_TIMESTAMP_STEPS:
        ts = (ts + step) & _U32
        stamps.append(ts)
    return tuple(stamps)


def group_data_packet(index: int, *, ssrc: int, seq: int, timestamp: int) -> RtpPacket:
    """Plaintext data-channel packet ``index`` (0..9): PT 101, marker, empty 0x0240 extension."""
    if not 0 <= index < len(GROUP_DATA_PAYLOADS):
        raise ValueError(f"group data packet index must be 0..{len(GROUP_DATA_PAYLOADS) - 1}")
    header = RtpHeader(
        payload_type=GROUP_DATA_PAYLOAD_TYPE,
        seq=seq,
        timestamp=timestamp,
        ssrc=ssrc,
        marker=True,
        extension=RtpExtension(LINE_EXTENSION_PROFILE, b""),
    )
    return RtpPacket(header, GROUP_DATA_PAYLOADS[index])


def group_data_packets(
    *, ssrc: int, timestamp_start: int, first_seq: int = GROUP_DATA_FIRST_SEQ
) -> tuple[RtpPacket, ...]:
    """All ten plaintext data-channel packets, in sending order."""
    return tuple(
        group_data_packet(i, ssrc=ssrc, seq=(first_seq + i) & 0xFFFF, timestamp=ts)
        for i, ts in enumerate(group_data_timestamps(timestamp_start))
    )


def build_group_rtcp_feedback(
    *, rx_audio_ssrc: int, rx_data_ssrc: int, sender_ssrc: int = GROUP_RTCP_SENDER_SSRC
) -> bytes:
    """The 48-byte RTCP RTPFB (PT 205, FMT 11) packet linejs sends once, unencrypted.

    Its sender and media SSRC are a constant, and it names our receive data and audio SSRCs; the
    bytes between them are opaque constants taken from native traffic.
    """
    for name, value in (("rx audio", rx_audio_ssrc), ("rx data", rx_data_ssrc), ("sender", sender_ssrc)):
        if not 0 <= value <= _U32:
            raise RtpError(f"RTCP {name} SSRC out of range: {value}")
    return b"".join(
        (
            bytes.fromhex("8bcd000b"),
            sender_ssrc.to_bytes(4, "big"),
            sender_ssrc.to_bytes(4, "big"),
            bytes.fromhex("00000166000100c8"),
            rx_data_ssrc.to_bytes(4, "big"),
            bytes.fromhex("0001000202730000"),
            rx_audio_ssrc.to_bytes(4, "big"),
            bytes(4),
            rx_audio_ssrc.to_bytes(4, "big"),
            bytes(4),
        )
    )
