"""A group call's SRTP media path: what we send to the mixer (audio, data channel, RTCP) and what it sends us.

Group media differs from 1:1 media (:mod:`.media_session`) in ways that make it its own object rather than
a flag on the 1:1 one:

* one audio payload can put up to three datagrams on the wire (the audio packet, a data-channel packet for
  audio packets k = 5..14, and once, after k = 7, the clear RTCP feedback): :meth:`GroupMediaSession.protect_all`
  returns them in wire order, all built by :class:`~linecall.protocol.rtp.sender.GroupRtpSender`;
* the SSRCs come from the data session's :class:`~linecall.protocol.rtp.group.GroupSsrcPlan` (without one:
  linejs's fallbacks), the timestamps step 1920 (40 ms) and the first one is 960;
* the destination is always the relay (route voipAddress:voipUdpPort) and never moves, not even after an
  authenticated packet from elsewhere (group calls do not learn endpoints);
* one fixed key mode (no ``auto`` candidates: a mixer answer carries only a secret).

The mixer's audio is authenticated and decrypted with the mode's receive master; its payloads keep LINE's
prefix byte (0x00/0x10) in front of a 40 ms code-3 Opus packet, so ``OpusDecoder.decode_payload`` turns
them into PCM.
"""

from __future__ import annotations

from linecall.protocol.planet.media_keys import MediaKeying, MediaKeyMode
from linecall.protocol.planet.media_session import (
    Address,
    EndpointSource,
    InboundMedia,
    MediaAccepted,
    MediaRejected,
    RejectReason,
)
from linecall.protocol.rtp.group import GROUP_AUDIO_TIMESTAMP_STEP, GroupSsrcPlan
from linecall.protocol.rtp.rtp import RtpError
from linecall.protocol.rtp.sender import GroupRtpSender, OutgoingMedia, RtpReceiver, RtpSender
from linecall.protocol.rtp.srtp import (
    SrtpAuthError,
    SrtpError,
    SrtpReceiveSession,
    SrtpReplayError,
    SrtpSendSession,
)

__all__ = ["GroupMediaSession"]


class GroupMediaSession:
    """Send and receive state of one group call's media; see the module docstring for the rules."""

    __slots__ = ("_destination", "_keying", "_plan", "_receiver", "_requested_mode", "_sender")

    def __init__(
        self,
        *,
        requested_mode: MediaKeyMode,
        keying: MediaKeying,
        destination: Address,
        payload_type: int,
        first_seq: int,
        plan: GroupSsrcPlan | None,
        audio_ssrc: int,
        data_master: bytes | None,
        data_timestamp_start: int,
    ) -> None:
        """``plan`` is the data session's SSRC plan (``audio_ssrc`` is then unused); without a plan the audio
        SSRC is ``audio_ssrc``, data goes out as audio SSRC + 0x30 and no RTCP feedback is sent (linejs).
        ``data_master`` keys the data channel (``STREAM("DATA", local secret)``); None sends no data packets."""
        self._requested_mode = requested_mode
        self._keying = keying
        self._destination = destination
        self._plan = plan
        audio_srtp = SrtpSendSession(keying.send_master)
        data_srtp = None if data_master is None else SrtpSendSession(data_master)
        if plan is not None:
            self._sender = GroupRtpSender.for_plan(
                plan,
                audio_srtp,
                payload_type=payload_type,
                first_seq=first_seq,
                data_srtp=data_srtp,
                data_timestamp_start=data_timestamp_start,
            )
        else:
            self._sender = GroupRtpSender.without_plan(
                audio_srtp,
                audio_ssrc=audio_ssrc,
                payload_type=payload_type,
                first_seq=first_seq,
                data_srtp=data_srtp,
                data_timestamp_start=data_timestamp_start,
            )
        self._receiver = RtpReceiver(SrtpReceiveSession(keying.recv_master))

    # -- state -------------------------------------------------------------------------------------

    @property
    def destination(self) -> Address:
        return self._destination

    @property
    def endpoint_source(self) -> EndpointSource:
        return EndpointSource.ROUTE

    @property
    def requested_mode(self) -> MediaKeyMode:
        return self._requested_mode

    @property
    def active_mode(self) -> MediaKeyMode:
        return self._keying.mode

    @property
    def plan(self) -> GroupSsrcPlan | None:
        return self._plan

    @property
    def sender(self) -> RtpSender:
        """The audio stream (ssrc, payload type, next_seq, last_timestamp, packets_sent)."""
        return self._sender.audio

    @property
    def group_sender(self) -> GroupRtpSender:
        """Audio plus the data channel and the RTCP feedback (data_packets_sent, rtcp_sent)."""
        return self._sender

    @property
    def default_step(self) -> int:
        return GROUP_AUDIO_TIMESTAMP_STEP

    # -- send --------------------------------------------------------------------------------------

    def protect_all(self, payload: bytes, timestamp_step: int | None = None) -> list[OutgoingMedia]:
        """Every datagram due after ``payload`` (prefix included), in wire order; step default 1920."""
        step = GROUP_AUDIO_TIMESTAMP_STEP if timestamp_step is None else timestamp_step
        return self._sender.send(payload, step)

    # -- receive -----------------------------------------------------------------------------------

    def unprotect(self, datagram: bytes, source: Address | None) -> InboundMedia:
        """Authenticate and decrypt one RTP-looking datagram from the mixer (the source is not used)."""
        try:
            media = self._receiver.receive(datagram)
        except SrtpReplayError:
            return MediaRejected(RejectReason.REPLAYED)
        except SrtpAuthError:
            return MediaRejected(RejectReason.UNAUTHENTICATED)
        except (SrtpError, RtpError):
            return MediaRejected(RejectReason.MALFORMED)
        return MediaAccepted(media)
