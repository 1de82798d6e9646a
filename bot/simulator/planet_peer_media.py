"""The answering peer's media plane: decrypt the client's SRTP as the peer would, decode it, talk back.

The peer keys its media with the same mode name as the client, applied from its own side: its "local"
material is the peer's, its "peer" material is what the client put in its setup offer. Every mode is
self-consistent that way (what one end sends under audio-reverse-stage is what the other end expects
to receive under audio-reverse-stage), so a client whose keying is wrong fails to authenticate here
exactly as it would against a native peer.

What the peer hears is kept as 48 kHz int16 PCM (payload prefix stripped, Opus decoded in arrival
order, as a receiver without a jitter buffer would play it) plus the per-packet facts a test asserts
on: sequence numbers, timestamps, SSRCs, payload types, prefixes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

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
)
from linecall.protocol.planet.media_offer import MediaOffer
from linecall.protocol.rtp.rtp import RtpError
from linecall.protocol.rtp.sender import ReceivedMedia, RtpReceiver, RtpSender
from linecall.protocol.rtp.srtp import SrtpError, SrtpReceiveSession, SrtpSendSession

__all__ = [
    "DEFAULT_PAYLOAD_TYPE",
    "MediaStats",
    "PeerMedia",
    "client_material_from_offer",
    "joined_pcm",
    "timestamp_steps",
]

Int16Array = npt.NDArray[np.int16]

#: Payload type the peer uses when the client's offer names none (linejs's fallback too).
DEFAULT_PAYLOAD_TYPE = 96


def timestamp_steps(timestamps: Sequence[int]) -> list[int]:
    """Differences between consecutive RTP timestamps, modulo 2**32 (the 1:1 peer's and the mixer's)."""
    return [(b - a) & 0xFFFFFFFF for a, b in pairwise(timestamps)]


def joined_pcm(chunks: Sequence[Int16Array]) -> Int16Array:
    """Decoded packets concatenated in arrival order (48 kHz mono int16; empty before any)."""
    if not chunks:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate(chunks).astype(np.int16, copy=False)


@dataclass(slots=True)
class MediaStats:
    """Per-packet facts about the client's media, in arrival order (authenticated packets only)."""

    packets: int = 0
    rejected: int = 0
    decode_errors: int = 0
    seqs: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    ssrcs: list[int] = field(default_factory=list)
    payload_types: list[int] = field(default_factory=list)
    markers: list[bool] = field(default_factory=list)
    prefixes: list[bytes] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    sources: list[tuple[str, int]] = field(default_factory=list)
    sent: int = 0

    @property
    def lost(self) -> int:
        """Packets missing from forward sequence gaps (0 on a loss-free loopback)."""
        missing = 0
        for prev, cur in zip(self.seqs, self.seqs[1:], strict=False):
            gap = (cur - prev) & 0xFFFF
            if 1 < gap < 0x8000:
                missing += gap - 1
        return missing

    @property
    def timestamp_steps(self) -> list[int]:
        """Differences between consecutive RTP timestamps (960 for 20 ms 1:1 payloads)."""
        return timestamp_steps(self.timestamps)


def client_material_from_offer(offer: MediaOffer) -> PeerMediaMaterial:
    """The client's media material as the peer sees it (its "peer" side)."""
    return PeerMediaMaterial(
        public_key=offer.media_pub_key,
        key_id=offer.media_key_id,
        nonce=offer.media_nonce,
        secret=offer.media_secret,
    )


class PeerMedia:
    """One call's peer-side SRTP: a receive session for the client's audio, a sender for the reply.

    ``receive`` never raises on bad input: a datagram that does not authenticate (or is not SRTP) is
    counted in ``stats.rejected`` and dropped without changing any state.
    """

    def __init__(
        self,
        *,
        peer: LocalMediaMaterial,
        client_offer: MediaOffer,
        mode: MediaKeyMode,
        reply_ssrc: int,
        reply_first_seq: int,
        prefix_len: int = 1,
        decoder_factory: Callable[[], OpusDecoder] = OpusDecoder,
    ) -> None:
        self.keying: MediaKeying = select_keying(mode, peer, client_material_from_offer(client_offer))
        audio = client_offer.audio()
        payload_type = (
            audio.rtp_id if audio is not None and audio.rtp_id is not None else DEFAULT_PAYLOAD_TYPE
        )
        self._receiver = RtpReceiver(SrtpReceiveSession(self.keying.recv_master))
        self._sender = RtpSender(
            SrtpSendSession(self.keying.send_master),
            ssrc=reply_ssrc,
            payload_type=payload_type,
            first_seq=reply_first_seq,
        )
        self._prefix_len = prefix_len
        self._decoder = decoder_factory()
        self._pcm: list[Int16Array] = []
        self.stats = MediaStats()

    def __repr__(self) -> str:
        return f"PeerMedia(mode={self.keying.mode.value!r}, packets={self.stats.packets})"

    def receive(self, datagram: bytes, source: tuple[str, int]) -> ReceivedMedia | None:
        """Authenticate, decrypt and decode one datagram; ``None`` when it is dropped."""
        try:
            media = self._receiver.receive(datagram)
        except (SrtpError, RtpError):
            self.stats.rejected += 1
            return None
        header, payload = media.header, media.payload
        stats = self.stats
        stats.packets += 1
        stats.seqs.append(header.seq)
        stats.timestamps.append(header.timestamp)
        stats.ssrcs.append(header.ssrc)
        stats.payload_types.append(header.payload_type)
        stats.markers.append(header.marker)
        stats.prefixes.append(payload[: self._prefix_len])
        stats.payloads.append(payload)
        stats.sources.append(source)
        try:
            self._pcm.append(self._decoder.decode(payload[self._prefix_len :]))
        except MediaError:
            stats.decode_errors += 1
        return media

    def send(self, payload: bytes) -> bytes:
        """The next SRTP packet of the peer's own audio stream (1:1 shape, 20 ms steps)."""
        wire = self._sender.send(payload).wire
        self.stats.sent += 1
        return wire

    def heard_pcm(self) -> Int16Array:
        """Everything decoded so far, concatenated (48 kHz mono int16)."""
        return joined_pcm(self._pcm)
