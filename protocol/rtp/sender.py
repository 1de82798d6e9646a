"""Sans-I/O RTP streams: payloads in, protected datagrams out (and back).

:class:`RtpSender` owns one outgoing audio stream's state (SSRC, next sequence number, last
timestamp, payload type) and a flavour that says how LINE shapes its packets: 1:1 audio carries an
empty 0x0240 extension and stamps its first packet one step in; group audio follows the fixed
extension/marker sequence of :mod:`.group`. :class:`GroupRtpSender` adds what a group member sends
alongside its audio (the data-channel burst and the one RTCP feedback packet), so one ``send`` call
returns every datagram due, in wire order. :class:`RtpReceiver` verifies, decrypts and parses.

Nothing here touches sockets, clocks or randomness: the first sequence number and the data
channel's first timestamp come in as arguments (see :func:`draw_first_seq` for linejs's draw).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from .group import (
    GROUP_AUDIO_FIRST_TIMESTAMP,
    GROUP_AUDIO_TIMESTAMP_STEP,
    GROUP_DATA_FIRST_AUDIO_INDEX,
    GROUP_DATA_FIRST_SEQ,
    GROUP_DATA_SSRC_FALLBACK_OFFSET,
    GROUP_RTCP_AFTER_AUDIO_INDEX,
    GroupSsrcPlan,
    build_group_rtcp_feedback,
    group_audio_extension,
    group_audio_marker,
    group_data_packets,
)
from .rtp import LINE_EXTENSION_PROFILE, RtpError, RtpExtension, RtpHeader, RtpPacket, parse_rtp
from .srtp import SrtpError, SrtpReceiveSession, SrtpSendSession

__all__ = [
    "GROUP_AUDIO",
    "ONE_TO_ONE_AUDIO",
    "ONE_TO_ONE_TIMESTAMP_STEP",
    "AudioFlavour",
    "GroupAudioFlavour",
    "GroupRtpSender",
    "MediaKind",
    "OneToOneAudioFlavour",
    "OutgoingMedia",
    "ReceivedMedia",
    "RtpReceiver",
    "RtpSender",
    "draw_first_seq",
    "first_seq_from_u32",
]

#: 20 ms of 48 kHz audio: linejs's default step for 1:1 payloads.
ONE_TO_ONE_TIMESTAMP_STEP: Final = 960
_U32: Final = 0xFFFF_FFFF

MediaKind = Literal["audio", "data", "rtcp"]


def first_seq_from_u32(value: int) -> int:
    """linejs's initial RTP sequence number from one random uint32 (uniform-ish in 0..65535)."""
    return (value & _U32) % 0x10000


def draw_first_seq(random: Callable[[int], bytes]) -> int:
    """Draw an initial sequence number from an injected randomness source (4 bytes, big-endian)."""
    return first_seq_from_u32(int.from_bytes(random(4), "big"))


class AudioFlavour(Protocol):
    """How packet k (0-based) of an audio stream is shaped beyond SSRC/seq/timestamp/PT."""

    def extension(self, k: int) -> RtpExtension | None: ...

    def marker(self, k: int) -> bool: ...

    def first_timestamp(self, step: int) -> int:
        """Timestamp of packet 0; later packets add their step to the previous timestamp."""
        ...


@dataclass(frozen=True, slots=True)
class OneToOneAudioFlavour:
    """1:1 audio: empty 0x0240 extension (16-byte header), no marker, first timestamp = one step."""

    def extension(self, k: int) -> RtpExtension | None:
        return RtpExtension(LINE_EXTENSION_PROFILE, b"")

    def marker(self, k: int) -> bool:
        return False

    def first_timestamp(self, step: int) -> int:
        return step & _U32


@dataclass(frozen=True, slots=True)
class GroupAudioFlavour:
    """Group audio: the fixed extension sequence, marker on k = 2, first timestamp 960 at step 1920."""

    def extension(self, k: int) -> RtpExtension | None:
        return group_audio_extension(k)

    def marker(self, k: int) -> bool:
        return group_audio_marker(k)

    def first_timestamp(self, step: int) -> int:
        # linejs special-cases exactly the 40 ms step; any other step starts one step in, as in 1:1.
        return GROUP_AUDIO_FIRST_TIMESTAMP if step == GROUP_AUDIO_TIMESTAMP_STEP else step & _U32


ONE_TO_ONE_AUDIO: Final = OneToOneAudioFlavour()
GROUP_AUDIO: Final = GroupAudioFlavour()


@dataclass(frozen=True, slots=True)
class OutgoingMedia:
    """One datagram to send to the media endpoint. ``header`` is None for RTCP (it is not RTP)."""

    kind: MediaKind
    wire: bytes
    header: RtpHeader | None


def _check_step(step: int) -> None:
    if not 0 <= step <= _U32:
        raise RtpError(f"RTP timestamp step out of range: {step}")


class RtpSender:
    """One outgoing SRTP audio stream.

    ``send(payload, timestamp_step)`` stamps the payload with the next sequence number and a
    timestamp advanced by the step *before* use (so a fresh 1:1 stream's first packet carries one
    step), builds the header the flavour asks for and protects it.
    """

    __slots__ = (
        "_default_step",
        "_flavour",
        "_next_seq",
        "_payload_type",
        "_sent",
        "_srtp",
        "_ssrc",
        "_timestamp",
    )

    def __init__(
        self,
        srtp: SrtpSendSession,
        *,
        ssrc: int,
        payload_type: int,
        first_seq: int,
        flavour: AudioFlavour = ONE_TO_ONE_AUDIO,
        default_step: int = ONE_TO_ONE_TIMESTAMP_STEP,
    ) -> None:
        # Validate everything up front by building a header the way send() will.
        RtpHeader(payload_type=payload_type, seq=first_seq, timestamp=0, ssrc=ssrc)
        _check_step(default_step)
        self._srtp = srtp
        self._ssrc = ssrc
        self._payload_type = payload_type
        self._next_seq = first_seq
        self._timestamp = 0
        self._sent = 0
        self._flavour = flavour
        self._default_step = default_step

    @property
    def ssrc(self) -> int:
        return self._ssrc

    @property
    def payload_type(self) -> int:
        return self._payload_type

    @property
    def next_seq(self) -> int:
        """Sequence number the next packet will carry."""
        return self._next_seq

    @property
    def last_timestamp(self) -> int:
        """Timestamp of the last packet sent (0 before the first)."""
        return self._timestamp

    @property
    def packets_sent(self) -> int:
        return self._sent

    def _next_header(self, timestamp_step: int | None) -> RtpHeader:
        step = self._default_step if timestamp_step is None else timestamp_step
        _check_step(step)
        k = self._sent
        # The timestamp advances before use; the flavour decides what "before the first" means.
        timestamp = self._flavour.first_timestamp(step) if k == 0 else (self._timestamp + step) & _U32
        header = RtpHeader(
            payload_type=self._payload_type,
            seq=self._next_seq,
            timestamp=timestamp,
            ssrc=self._ssrc,
            marker=self._flavour.marker(k),
            extension=self._flavour.extension(k),
        )
        return header

    def send(self, payload: bytes, timestamp_step: int | None = None) -> OutgoingMedia:
        """Protect ``payload`` as the next packet of the stream; state advances only on success."""
        header = self._next_header(timestamp_step)
        wire = self._srtp.protect(RtpPacket(header, bytes(payload)).to_bytes())
        self._timestamp = header.timestamp
        self._next_seq = (header.seq + 1) & 0xFFFF
        self._sent += 1
        return OutgoingMedia("audio", wire, header)


class GroupRtpSender:
    """A group member's outgoing media: audio plus the data-channel burst and one RTCP feedback.

    ``send`` returns the datagrams due after one audio payload, in the order linejs puts them on the
    wire: the audio packet; then, for audio packets k = 5..14, one data-channel packet (only when a
    data key is given); then, once, after k = 7, the clear RTCP feedback (only when one is given).
    """

    __slots__ = (
        "_audio",
        "_data_index",
        "_data_packets",
        "_data_srtp",
        "_rtcp",
        "_rtcp_sent",
    )

    def __init__(
        self,
        audio_srtp: SrtpSendSession,
        *,
        audio_ssrc: int,
        payload_type: int,
        first_seq: int,
        data_srtp: SrtpSendSession | None,
        data_ssrc: int,
        data_timestamp_start: int,
        rtcp_feedback: bytes | None,
        data_first_seq: int = GROUP_DATA_FIRST_SEQ,
    ) -> None:
        self._audio = RtpSender(
            audio_srtp,
            ssrc=audio_ssrc,
            payload_type=payload_type,
            first_seq=first_seq,
            flavour=GROUP_AUDIO,
            default_step=GROUP_AUDIO_TIMESTAMP_STEP,
        )
        # group_data_packets wraps seq and timestamp, so refuse out-of-range values here first.
        RtpHeader(payload_type=0, seq=data_first_seq, timestamp=data_timestamp_start, ssrc=data_ssrc)
        self._data_srtp = data_srtp
        self._data_packets = group_data_packets(
            ssrc=data_ssrc, timestamp_start=data_timestamp_start, first_seq=data_first_seq
        )
        self._data_index = 0
        self._rtcp = rtcp_feedback
        self._rtcp_sent = False

    @classmethod
    def for_plan(
        cls,
        plan: GroupSsrcPlan,
        audio_srtp: SrtpSendSession,
        *,
        payload_type: int,
        first_seq: int,
        data_srtp: SrtpSendSession | None,
        data_timestamp_start: int,
    ) -> GroupRtpSender:
        """The usual case: a data session was opened with ``plan``, so SSRCs and RTCP come from it."""
        return cls(
            audio_srtp,
            audio_ssrc=plan.tx_audio,
            payload_type=payload_type,
            first_seq=first_seq,
            data_srtp=data_srtp,
            data_ssrc=plan.tx_data,
            data_timestamp_start=data_timestamp_start,
            rtcp_feedback=build_group_rtcp_feedback(rx_audio_ssrc=plan.rx_audio, rx_data_ssrc=plan.rx_data),
        )

    @classmethod
    def without_plan(
        cls,
        audio_srtp: SrtpSendSession,
        *,
        audio_ssrc: int,
        payload_type: int,
        first_seq: int,
        data_srtp: SrtpSendSession | None,
        data_timestamp_start: int,
    ) -> GroupRtpSender:
        """No data session: data SSRC = audio SSRC + 0x30 and no RTCP feedback (linejs's fallback)."""
        return cls(
            audio_srtp,
            audio_ssrc=audio_ssrc,
            payload_type=payload_type,
            first_seq=first_seq,
            data_srtp=data_srtp,
            data_ssrc=(audio_ssrc + GROUP_DATA_SSRC_FALLBACK_OFFSET) & _U32,
            data_timestamp_start=data_timestamp_start,
            rtcp_feedback=None,
        )

    @property
    def audio(self) -> RtpSender:
        """The audio stream (read its ssrc / next_seq / last_timestamp / packets_sent)."""
        return self._audio

    @property
    def data_packets_sent(self) -> int:
        return self._data_index

    @property
    def rtcp_sent(self) -> bool:
        return self._rtcp_sent

    def send(self, payload: bytes, timestamp_step: int | None = None) -> list[OutgoingMedia]:
        out = [self._audio.send(payload, timestamp_step)]
        k = self._audio.packets_sent - 1
        if (
            self._data_srtp is not None
            and k >= GROUP_DATA_FIRST_AUDIO_INDEX
            and self._data_index < len(self._data_packets)
        ):
            out.append(self._next_data_packet(self._data_srtp))
        if self._rtcp is not None and not self._rtcp_sent and k >= GROUP_RTCP_AFTER_AUDIO_INDEX:
            out.append(OutgoingMedia("rtcp", self._rtcp, None))
            self._rtcp_sent = True
        return out

    def _next_data_packet(self, srtp: SrtpSendSession) -> OutgoingMedia:
        packet = self._data_packets[self._data_index]
        wire = srtp.protect(packet.to_bytes())
        self._data_index += 1
        return OutgoingMedia("data", wire, packet.header)


@dataclass(frozen=True, slots=True)
class ReceivedMedia:
    """An authenticated, decrypted RTP packet. The payload still has LINE's prefix byte(s)."""

    header: RtpHeader
    payload: bytes


class RtpReceiver:
    """Unprotects and parses incoming SRTP media under one receive session."""

    __slots__ = ("_accepted", "_rejected", "_srtp")

    def __init__(self, srtp: SrtpReceiveSession) -> None:
        self._srtp = srtp
        self._accepted = 0
        self._rejected = 0

    @property
    def accepted(self) -> int:
        return self._accepted

    @property
    def rejected(self) -> int:
        return self._rejected

    def receive(self, datagram: bytes) -> ReceivedMedia:
        """Verify, decrypt and parse one datagram.

        Raises :class:`SrtpError` (its subclasses say: malformed, failed authentication, replayed)
        or :class:`RtpError` (bad padding inside an authenticated packet).
        """
        try:
            packet = parse_rtp(self._srtp.unprotect(datagram))
        except (SrtpError, RtpError):
            self._rejected += 1
            raise
        self._accepted += 1
        return ReceivedMedia(packet.header, packet.payload)

    def payloads(self, datagrams: Iterable[bytes]) -> Iterator[bytes]:
        """Yield the payload of every datagram that authenticates; drop (and count) the rest."""
        for datagram in datagrams:
            try:
                yield self.receive(datagram).payload
            except (SrtpError, RtpError):
                continue
