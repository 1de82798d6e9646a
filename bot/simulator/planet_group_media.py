"""The loopback group relay's media plane: the mixer decrypts what a participant sends and talks back.

The mixer keys its media with the same mode name as the participant, applied from its own side (its "local"
material is the mixer's, its "peer" material is what the participate_req offer carried: a secret only), so
under ``audio-secret-sender`` it receives with ``STREAM("AUDIO", participant secret)`` and sends with
``STREAM("AUDIO", mixer secret)``, exactly what the participant expects. The participant's data channel is
keyed ``STREAM("DATA", participant secret)``; the RTCP feedback comes in the clear.

Nothing is mixed: what the mixer hears is decoded (prefix byte stripped, the 40 ms code-3 pair decoded to
48 kHz PCM) and kept, with every per-packet fact a test asserts on (sequence numbers, timestamps, markers,
header extensions, SSRCs, prefixes), and the data-channel and RTCP packets are kept as they came.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from linecall.media.errors import MediaError
from linecall.media.opus import OpusDecoder
from linecall.protocol.planet.media_keys import (
    LocalMediaMaterial,
    MediaKeying,
    MediaKeyMode,
    PeerMediaMaterial,
    select_keying,
    stream_keying,
)
from linecall.protocol.rtp.rtp import RtpError, RtpHeader
from linecall.protocol.rtp.sender import GROUP_AUDIO, ReceivedMedia, RtpReceiver, RtpSender
from linecall.protocol.rtp.srtp import SrtpError, SrtpReceiveSession, SrtpSendSession

from .planet_peer_media import joined_pcm, timestamp_steps

__all__ = ["MixerMedia", "MixerStats", "is_rtcp"]

Int16Array = npt.NDArray[np.int16]

#: Payload type the mixer stamps on its audio (the transcript's mixer answer names rtp id 96).
MIXER_PAYLOAD_TYPE = 96


def is_rtcp(datagram: bytes) -> bool:
    """RTCP packet types 192..223 in the second byte (RFC 5761 demultiplexing); RTP audio/data never are."""
    return len(datagram) >= 8 and (datagram[0] & 0xC0) == 0x80 and 192 <= datagram[1] <= 223


@dataclass(slots=True)
class MixerStats:
    """What the mixer got from the participant, in arrival order (authenticated packets only)."""

    audio_packets: int = 0
    rejected: int = 0
    decode_errors: int = 0
    seqs: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    markers: list[bool] = field(default_factory=list)
    extensions: list[bytes] = field(default_factory=list)
    ssrcs: list[int] = field(default_factory=list)
    payload_types: list[int] = field(default_factory=list)
    prefixes: list[bytes] = field(default_factory=list)
    data_headers: list[RtpHeader] = field(default_factory=list)
    data_payloads: list[bytes] = field(default_factory=list)
    rtcp: list[bytes] = field(default_factory=list)
    sent: int = 0

    @property
    def timestamp_steps(self) -> list[int]:
        return timestamp_steps(self.timestamps)


class MixerMedia:
    """One participant's media as the mixer sees it; ``receive`` never raises on bad input."""

    def __init__(
        self,
        *,
        mixer: LocalMediaMaterial,
        participant_secret: bytes,
        mode: MediaKeyMode,
        reply_ssrc: int,
        reply_first_seq: int,
        decoder_factory: Callable[[], OpusDecoder] = OpusDecoder,
    ) -> None:
        self.keying: MediaKeying = select_keying(mode, mixer, PeerMediaMaterial(secret=participant_secret))
        self._audio = RtpReceiver(SrtpReceiveSession(self.keying.recv_master))
        self._data = RtpReceiver(SrtpReceiveSession(stream_keying(participant_secret, "DATA")))
        self._sender = RtpSender(
            SrtpSendSession(self.keying.send_master),
            ssrc=reply_ssrc,
            payload_type=MIXER_PAYLOAD_TYPE,
            first_seq=reply_first_seq,
            flavour=GROUP_AUDIO,
            default_step=1920,
        )
        self._decoder = decoder_factory()
        self._pcm: list[Int16Array] = []
        self.stats = MixerStats()

    def __repr__(self) -> str:
        return f"MixerMedia(mode={self.keying.mode.value!r}, packets={self.stats.audio_packets})"

    def receive(self, datagram: bytes) -> tuple[str, ReceivedMedia | None]:
        """Classify and take one RTP-looking datagram: ``("rtcp"|"audio"|"data"|"rejected", media)``."""
        stats = self.stats
        if is_rtcp(datagram):
            stats.rtcp.append(bytes(datagram))
            return "rtcp", None
        for name, receiver in (("audio", self._audio), ("data", self._data)):
            try:
                media = receiver.receive(datagram)
            except (SrtpError, RtpError):
                continue  # a failed trial leaves that session untouched
            if name == "audio":
                self._take_audio(media)
            else:
                stats.data_headers.append(media.header)
                stats.data_payloads.append(media.payload)
            return name, media
        stats.rejected += 1
        return "rejected", None

    def _take_audio(self, media: ReceivedMedia) -> None:
        header, payload, stats = media.header, media.payload, self.stats
        stats.audio_packets += 1
        stats.seqs.append(header.seq)
        stats.timestamps.append(header.timestamp)
        stats.markers.append(header.marker)
        stats.extensions.append(header.extension.data if header.extension is not None else b"")
        stats.ssrcs.append(header.ssrc)
        stats.payload_types.append(header.payload_type)
        stats.prefixes.append(payload[:1])
        try:
            self._pcm.append(self._decoder.decode_payload(payload))  # prefix byte, then the code-3 pair
        except MediaError:
            stats.decode_errors += 1

    def send(self, payload: bytes) -> bytes:
        """The next SRTP packet of the mixer's audio (group shape: extension sequence, step 1920)."""
        wire = self._sender.send(payload).wire
        self.stats.sent += 1
        return wire

    def heard_pcm(self) -> Int16Array:
        """Everything decoded so far, concatenated (48 kHz mono int16)."""
        return joined_pcm(self._pcm)
