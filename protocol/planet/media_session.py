"""One call's SRTP media path: keys per mode, the RTP stream we send, what we accept, and where it goes.

Built once the peer's answer is known (:meth:`MediaSession.for_answer`). It wraps :class:`RtpSender` /
:class:`RtpReceiver` (libsrtp underneath, so the receiver estimates the rollover counter and keeps a replay
window: the peer's packets after its sequence wraps are delivered, unlike linejs's, planet-map §10.12).

Two rules differ from linejs on purpose:

* The media destination moves to a packet's source address only AFTER that packet authenticated (linejs
  switches on any RTP-looking datagram, before authentication, §6.6): a spoofed datagram cannot redirect
  our audio. Group calls never learn (their media goes to the relay).
* ``auto`` adopts a candidate key (for both directions, as linejs does) only when a packet authenticated
  under it; failed trial decryptions change nothing (libsrtp leaves a session untouched on auth failure).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from linecall.protocol.planet.media_keys import MediaKeying, MediaKeyMode
from linecall.protocol.rtp.rtp import RtpError, RtpExtension
from linecall.protocol.rtp.sender import ONE_TO_ONE_AUDIO, AudioFlavour, ReceivedMedia, RtpReceiver, RtpSender
from linecall.protocol.rtp.srtp import (
    SrtpAuthError,
    SrtpError,
    SrtpReceiveSession,
    SrtpReplayError,
    SrtpSendSession,
)

Address = tuple[str, int]
_U32 = 0xFFFF_FFFF


class EndpointSource(enum.StrEnum):
    """Where the media destination came from (logged with media_configured)."""

    M_ADDR = "mAddr"
    UE_PUBLIC_ADDR = "uePublicAddr"
    ROUTE = "route"
    LEARNED = "learned"


class RejectReason(enum.StrEnum):
    MALFORMED = "malformed"  # not a well-formed SRTP packet
    UNAUTHENTICATED = "unauthenticated"  # no key (of the candidates) verifies it
    REPLAYED = "replayed"  # already seen, or older than the replay window


@dataclass(frozen=True, slots=True)
class MediaRejected:
    reason: RejectReason


@dataclass(frozen=True, slots=True)
class MediaAccepted:
    """An authenticated packet; ``switched_mode`` / ``learned_endpoint`` say what it changed."""

    media: ReceivedMedia
    switched_mode: MediaKeyMode | None = None
    learned_endpoint: bool = False


InboundMedia = MediaAccepted | MediaRejected


@dataclass(frozen=True, slots=True)
class _ContinuedAudio:
    """The 1:1 flavour, continuing an existing stream's timestamp (used when ``auto`` swaps the send key)."""

    last_timestamp: int

    def extension(self, k: int) -> RtpExtension | None:
        return ONE_TO_ONE_AUDIO.extension(k)

    def marker(self, k: int) -> bool:
        return ONE_TO_ONE_AUDIO.marker(k)

    def first_timestamp(self, step: int) -> int:
        return (self.last_timestamp + step) & _U32


class MediaSession:
    """Send and receive state for one call's audio; see the module docstring for the rules."""

    __slots__ = (
        "_candidates",
        "_default_step",
        "_destination",
        "_endpoint_source",
        "_flavour",
        "_keying",
        "_learn_endpoint",
        "_receivers",
        "_requested_mode",
        "_sender",
    )

    def __init__(
        self,
        *,
        requested_mode: MediaKeyMode,
        keying: MediaKeying,
        candidates: list[MediaKeying],
        destination: Address,
        endpoint_source: EndpointSource,
        payload_type: int,
        ssrc: int,
        first_seq: int,
        default_step: int,
        learn_endpoint: bool,
        flavour: AudioFlavour = ONE_TO_ONE_AUDIO,
    ) -> None:
        self._requested_mode = requested_mode
        self._keying = keying
        # auto: the other candidates, tried in order after the active key fails to authenticate a packet
        self._candidates = (
            [c for c in candidates if c.recv_master != keying.recv_master]
            if requested_mode is MediaKeyMode.AUTO
            else []
        )
        self._destination = destination
        self._endpoint_source = endpoint_source
        self._learn_endpoint = learn_endpoint
        self._default_step = default_step
        self._flavour = flavour
        self._sender = RtpSender(
            SrtpSendSession(keying.send_master),
            ssrc=ssrc,
            payload_type=payload_type,
            first_seq=first_seq,
            flavour=flavour,
            default_step=default_step,
        )
        self._receivers: dict[bytes, RtpReceiver] = {
            keying.recv_master: RtpReceiver(SrtpReceiveSession(keying.recv_master))
        }

    # -- state -------------------------------------------------------------------------------------

    @property
    def destination(self) -> Address:
        return self._destination

    @property
    def endpoint_source(self) -> EndpointSource:
        return self._endpoint_source

    @property
    def requested_mode(self) -> MediaKeyMode:
        return self._requested_mode

    @property
    def active_mode(self) -> MediaKeyMode:
        """The mode whose keys are in use (for ``auto``: ``auto`` until a candidate was adopted)."""
        return self._keying.mode

    @property
    def sender(self) -> RtpSender:
        return self._sender

    # -- send --------------------------------------------------------------------------------------

    def protect(self, payload: bytes, timestamp_step: int | None = None) -> bytes:
        """The SRTP datagram carrying ``payload`` as the stream's next packet (send it to ``destination``)."""
        return self._sender.send(payload, timestamp_step).wire

    # -- receive -----------------------------------------------------------------------------------

    def _receiver(self, keying: MediaKeying) -> RtpReceiver:
        receiver = self._receivers.get(keying.recv_master)
        if receiver is None:
            receiver = RtpReceiver(SrtpReceiveSession(keying.recv_master))
            self._receivers[keying.recv_master] = receiver
        return receiver

    def unprotect(self, datagram: bytes, source: Address | None) -> InboundMedia:
        """Authenticate and decrypt one RTP-looking datagram; learn the endpoint / key only on success."""
        try:
            media = self._receiver(self._keying).receive(datagram)
            switched: MediaKeyMode | None = None
        except SrtpReplayError:
            return MediaRejected(RejectReason.REPLAYED)
        except SrtpAuthError:
            adopted = self._try_candidates(datagram)
            if adopted is None:
                return MediaRejected(RejectReason.UNAUTHENTICATED)
            media, switched = adopted
        except (SrtpError, RtpError):
            return MediaRejected(RejectReason.MALFORMED)
        learned = False
        if self._learn_endpoint and source is not None and source != self._destination:
            self._destination = (source[0], source[1])
            self._endpoint_source = EndpointSource.LEARNED
            learned = True
        return MediaAccepted(media, switched, learned)

    def _try_candidates(self, datagram: bytes) -> tuple[ReceivedMedia, MediaKeyMode] | None:
        for candidate in self._candidates:
            try:
                media = self._receiver(candidate).receive(datagram)
            except (SrtpError, RtpError):
                continue  # a failed trial leaves that session untouched
            self._adopt(candidate)
            return media, candidate.mode
        return None

    def _adopt(self, candidate: MediaKeying) -> None:
        """Use ``candidate`` for both directions from now on, continuing the RTP stream seamlessly."""
        old = self._sender
        flavour: AudioFlavour = _ContinuedAudio(old.last_timestamp) if old.packets_sent else self._flavour
        self._sender = RtpSender(
            SrtpSendSession(candidate.send_master),
            ssrc=old.ssrc,
            payload_type=old.payload_type,
            first_seq=old.next_seq,
            flavour=flavour,
            default_step=self._default_step,
        )
        self._candidates = [c for c in self._candidates if c is not candidate]
        self._candidates.insert(0, self._keying)
        self._keying = candidate


def choose_ssrc(
    *, peer_rtcp_id: int | None, peer_rtp_port: int | None, draw_u32: Callable[[], int], use_peer: bool
) -> int:
    """linejs's 1:1 SSRC: the peer's audio rtcp_id, else its rtp_port, else random (planet-map §6.2)."""
    if use_peer:
        for value in (peer_rtcp_id, peer_rtp_port):
            if value is not None and 0 <= value <= _U32:
                return value
    return draw_u32() & _U32
