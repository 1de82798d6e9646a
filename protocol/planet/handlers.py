"""The 1:1 (caller) role of a PlanetConnection: invite, setup_rsp, the answer, duplicates, timers (§7.1).

Kept apart from the connection core so a group role (participate_req / participate_rsp, §7.2) can sit beside
it with the same shape: ``invite``/``on_message``/``on_timer``/``release_body``. The core owns keys, framing,
headers, keepalives, probes, the mailbox and media I/O; a role decides what each message means. What both
roles do alike lives here too, for the group role to import: :class:`BootstrapRequest` (send, retransmit and
stop the opening request), :func:`key_media`, :func:`offer_payload_type`, :func:`decode_offer`.

Deliberate departures from linejs (planet-map §10.12):

* setup_req is re-sent as the identical datagram at the configured offsets (1, 2, 4 s) until any reply
  authenticates, and the call fails with ``setup_timeout`` after ``timeout_ms``;
* a setup_rsp with a non-zero result or a rel_code ends the call as ``refused``;
* the callee not answering within ``answer_timeout_ms`` fails the call with ``no_answer`` (and rel_req
  cancels the ringing);
* a conn_req that arrives before setup_rsp waits in the mailbox and is answered right after it;
* the peer's rel_req ends the call (nothing more is sent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from linecall.config.logging import mask_mid
from linecall.protocol.planet import constants as c
from linecall.protocol.planet.call_state import CallState
from linecall.protocol.planet.errors import PlanetError
from linecall.protocol.planet.events import Failed, FailureReason, PeerAnswered, PeerRinging, SetupAccepted
from linecall.protocol.planet.mailbox import InboundMessage, MessageKind
from linecall.protocol.planet.media_keys import (
    LocalMediaMaterial,
    MediaKeying,
    MediaKeyMode,
    PeerMediaMaterial,
    candidates,
    mode_available,
    select_keying,
)
from linecall.protocol.planet.media_session import EndpointSource, MediaSession, choose_ssrc
from linecall.protocol.planet.messages import (
    ChanHdr,
    Channel,
    ConnReq,
    InfoRsp,
    MediaOffer,
    MediaRecord,
    OfferMaterial,
    RelReq,
    SetupRsp,
    build_one_to_one_offer,
    conn_rsp_for,
    exchange_app_str_data_req,
    local_hangup_rel_req,
    native_setup_req,
)
from linecall.protocol.planet.options import SsrcPolicy
from linecall.protocol.planet.replies import answer_common, cc_reply_chan
from linecall.protocol.planet.route import CallRoute
from linecall.protocol.planet.timers import TimerName
from linecall.protocol.rtp.sender import draw_first_seq

if TYPE_CHECKING:
    from linecall.protocol.planet.connection import PlanetConnection
    from linecall.protocol.planet.messages_base import CcBody

CONN_REQ_KIND = MessageKind(Channel.CC, c.CcTag.CONN_REQ)


class RoleHandler(Protocol):
    """What a call role gives the connection core (1:1 here; a group role implements the same five)."""

    def channel_ids(self) -> tuple[int, int]:
        """``(cc src_chan_id, media chan id)`` for this call, drawn at connect (or taken from overrides)."""
        ...

    def invite(self, to: str, now: float) -> None:
        """Send the bootstrap request (setup_req / participate_req), arm the setup timers, enter INVITING."""
        ...

    def on_message(self, item: InboundMessage, now: float) -> None:
        """Handle one authenticated, decoded inbound message (auto-replies: :func:`replies.answer_common`)."""
        ...

    def on_timer(self, name: TimerName, now: float) -> None:
        """A role timer fired (everything but KEEPALIVE, which the core runs)."""
        ...

    def release_body(self) -> CcBody:
        """The rel_req body this role hangs up with."""
        ...


DEFAULT_PAYLOAD_TYPE = 96


def offer_material(local: LocalMediaMaterial) -> OfferMaterial:
    """The offer view of our media material (the same four values the key derivations use)."""
    return OfferMaterial(
        media_pub_key=local.public_key,
        media_key_id=local.key_id,
        media_nonce=local.nonce,
        media_secret=local.secret,
    )


def decode_offer(raw: bytes | None) -> MediaOffer | None:
    """A media offer (or answer) from its wire bytes; None when absent or undecodable."""
    if raw is None:
        return None
    try:
        return MediaOffer.decode(raw)
    except PlanetError:
        return None


def _peer_offer(req: ConnReq) -> MediaOffer | None:
    """The peer's media offer: conn_req ``answer``, or ``offer`` when the answer is absent or undecodable."""
    for raw in (req.answer, req.offer):
        offer = decode_offer(raw)
        if offer is not None:
            return offer
    return None


def offer_payload_type(audio: MediaRecord | None) -> int:
    """The RTP payload type the offer's audio record names, else :data:`DEFAULT_PAYLOAD_TYPE` (also when
    it is outside 0..127)."""
    payload_type = audio.rtp_id if audio is not None and audio.rtp_id is not None else DEFAULT_PAYLOAD_TYPE
    return payload_type if 0 <= payload_type <= 127 else DEFAULT_PAYLOAD_TYPE


def key_media(
    conn: PlanetConnection,
    mode: MediaKeyMode,
    local: LocalMediaMaterial,
    offer: MediaOffer,
    *,
    peer_name: str,
    with_candidates: bool,
) -> tuple[MediaKeying, list[MediaKeying]] | None:
    """The SRTP keying ``mode`` gives with the material of ``offer`` (and, if asked, every candidate
    keying); None, logged as ``media_not_ready``, when ``peer_name``'s material cannot key that mode."""
    peer = PeerMediaMaterial(
        public_key=offer.media_pub_key,
        key_id=offer.media_key_id,
        nonce=offer.media_nonce,
        secret=offer.media_secret,
    )
    if not mode_available(mode, local, peer):
        conn.log.info("media_not_ready", reason=f"{peer_name} material missing for mode", mode=mode.value)
        return None
    try:
        keying = select_keying(mode, local, peer)
        cands = candidates(local, peer) if with_candidates else []
    except PlanetError as exc:
        conn.log.info("media_not_ready", reason=type(exc).__name__, mode=mode.value)
        return None
    return keying, cands


class BootstrapRequest:
    """The request that opens a call (setup_req / participate_req): sent once on the bootstrap frame, re-sent
    as the identical datagram (same frame seq, tran_id, tag) at the configured offsets until a reply stops
    it, and failed by the role's SETUP_TIMEOUT after ``timeout_ms``. Both roles retransmit the same way."""

    def __init__(self, conn: PlanetConnection, retransmit_event: str) -> None:
        self._conn = conn
        self._retransmit_event = retransmit_event
        self._datagram: bytes | None = None
        self._sent_at = 0.0
        self._retransmits: list[float] = []

    def send(self, message: CcBody, now: float) -> None:
        """Send ``message`` from our cc channel, arm the timeout and first retransmit, enter INVITING."""
        conn = self._conn
        chan = ChanHdr(cid=conn.cid, src_chan_id=conn.src_chan_id)
        self._datagram = conn.send_message(message, chan, bootstrap=True)
        conn.setup_sent = True
        self._sent_at = now
        timeout = conn.config.timeout_ms / 1000
        self._retransmits = [now + ms / 1000 for ms in conn.config.setup_retransmit_ms if ms / 1000 < timeout]
        conn.timers.arm(TimerName.SETUP_TIMEOUT, now + timeout)
        self._arm_retransmit()
        conn.enter(CallState.INVITING)

    def retransmit(self, now: float) -> None:
        """SETUP_RETRANSMIT fired: queue the identical bytes again and arm the next offset, if any."""
        if self._datagram is None:
            return
        self._conn.queue_datagram(self._datagram)
        self._conn.log.info(self._retransmit_event, after_s=round(now - self._sent_at, 3))
        self._arm_retransmit()

    def answered(self) -> None:
        """A final reply is in: no more retransmits, no setup timeout."""
        self._conn.timers.cancel(TimerName.SETUP_TIMEOUT)
        self._conn.timers.cancel(TimerName.SETUP_RETRANSMIT)

    def _arm_retransmit(self) -> None:
        if self._retransmits:
            self._conn.timers.arm(TimerName.SETUP_RETRANSMIT, self._retransmits.pop(0))


class OneToOneHandler:
    """Caller side of a 1:1 call. Holds only what the role adds to the core: callee, media material,
    the setup datagram for retransmission."""

    def __init__(self, conn: PlanetConnection) -> None:
        self._conn = conn
        self._callee: str | None = None
        self._local_media: LocalMediaMaterial | None = None
        self._setup = BootstrapRequest(conn, "setup_retransmit")

    @property
    def local_media(self) -> LocalMediaMaterial | None:
        return self._local_media

    def channel_ids(self) -> tuple[int, int]:
        """1:1: a 29/30-bit cc channel id, and the media channel id is the same value (§4.5)."""
        conn = self._conn
        src = conn.overrides.src_chan_id
        if src is None:
            src = c.draw_id_with_bits(conn.random, *c.ONE_TO_ONE_CHAN_ID_BITS)
        return src, src

    # ── invite ────────────────────────────────────────────────────────────────────────────────────

    def invite(self, to: str, now: float) -> None:
        conn = self._conn
        route = conn.route
        if not isinstance(route, CallRoute):  # the core picks the role from the route: cannot happen
            raise PlanetError("the 1:1 role needs a CallRoute")
        self._callee = to
        local = conn.overrides.local_media or LocalMediaMaterial.generate(conn.random)
        self._local_media = local
        setup = native_setup_req(
            initiator=conn.local_mid,
            responder=to,
            i_zone=route.from_zone,
            r_zone=route.to_zone,
            stid=route.stid,
            dev_id=conn.new_dev_id(),
            offer=build_one_to_one_offer(offer_material(local)),
            credential=route.credential(initiator=conn.local_mid, responder=to, cid=conn.cid),
            ua=conn.user_agent,
        )
        conn.log.info("invite", to=mask_mid(to), key_mode=conn.config.media_key_mode.value)
        self._setup.send(setup, now)

    # ── timers ────────────────────────────────────────────────────────────────────────────────────

    def on_timer(self, name: TimerName, now: float) -> None:
        conn = self._conn
        if name is TimerName.SETUP_RETRANSMIT:
            self._setup.retransmit(now)
        elif name is TimerName.SETUP_TIMEOUT:
            conn.fail(
                FailureReason.SETUP_TIMEOUT,
                f"no setup_rsp from the relay within {conn.config.timeout_ms} ms; check the UDP path, "
                "the route's address family and commParam.mpkey, or acquire a fresh route",
                now,
            )
        elif name is TimerName.ANSWER_TIMEOUT:
            conn.fail(
                FailureReason.NO_ANSWER,
                f"the callee did not answer within {conn.config.answer_timeout_ms} ms",
                now,
            )

    # ── inbound ───────────────────────────────────────────────────────────────────────────────────

    def on_message(self, item: InboundMessage, now: float) -> None:
        conn = self._conn
        body = item.message.body
        if isinstance(body, SetupRsp):
            self._on_setup_rsp(body, now)
        elif isinstance(body, ConnReq):
            self._on_conn_req(item, body, now)
        elif isinstance(body, RelReq):
            conn.release_by_peer(body)
        elif answer_common(conn, item):
            pass
        else:
            if isinstance(body, InfoRsp) and (body.result or body.rel_code):
                conn.log.info("info_rsp_refused", result=body.result, rel_code=body.rel_code)
            conn.mailbox.put(item)

    def _on_setup_rsp(self, rsp: SetupRsp, now: float) -> None:
        conn = self._conn
        if conn.state is not CallState.INVITING:
            conn.log.debug("setup_rsp_ignored", state=conn.state.value)
            return
        self._setup.answered()
        if rsp.refused:
            code = rsp.result or rsp.rel_code
            detail = f"LINE refused the call (result {rsp.result}, rel_code {rsp.rel_code})"
            conn.terminate(Failed(FailureReason.REFUSED, code, detail), send_release=False)
            return
        conn.enter(CallState.RINGING)
        conn.emit(
            SetupAccepted(
                keepalive_interval=float(rsp.alive_rpt_interval) if rsp.alive_rpt_interval else None,
                no_answer_timeout=None if rsp.no_ans_to_sec is None else float(rsp.no_ans_to_sec),
                max_duration=None if rsp.max_dur_sec is None else float(rsp.max_dur_sec),
            )
        )
        conn.emit(PeerRinging())
        conn.send_pinhole_probes()
        conn.start_keepalive(rsp.alive_rpt_interval, now)
        conn.timers.arm(TimerName.ANSWER_TIMEOUT, now + conn.config.answer_timeout_ms / 1000)
        for early in conn.mailbox.take_all(CONN_REQ_KIND):
            if conn.closed:
                break
            body = early.message.body
            if isinstance(body, ConnReq):
                self._on_conn_req(early, body, now)

    def _on_conn_req(self, item: InboundMessage, req: ConnReq, now: float) -> None:
        conn = self._conn
        if conn.state is CallState.INVITING:
            conn.mailbox.put(item)  # answered once setup_rsp is in
            return
        if conn.state is CallState.ANSWERED:
            if conn.media is None:
                self._configure_media(req)
            conn.send_message(
                conn_rsp_for(req, local_media_chan_id=conn.media_chan_id, ua=conn.user_agent),
                cc_reply_chan(conn, item),
            )
            conn.log.debug("conn_rsp_duplicate")
            return
        conn.timers.cancel(TimerName.ANSWER_TIMEOUT)
        media_ready = self._configure_media(req)
        chan = item.message.chan or ChanHdr()
        conn.remote_cc_chan = chan.src_chan_id
        if req.m_chan_id is not None:
            conn.remote_media_chan = req.m_chan_id
        reply_chan = cc_reply_chan(conn, item)
        conn.send_message(
            conn_rsp_for(req, local_media_chan_id=conn.media_chan_id, ua=conn.user_agent), reply_chan
        )
        if self._callee:
            info = exchange_app_str_data_req(source=conn.local_mid, callee=self._callee, conn_req=req)
            dst = chan.src_chan_id or conn.remote_cc_chan
            conn.send_message(
                info, ChanHdr(cid=reply_chan.cid, src_chan_id=conn.src_chan_id, dst_chan_id=dst)
            )
        conn.enter(CallState.ANSWERED)
        mode = conn.media.active_mode.value if conn.media is not None else None
        conn.emit(PeerAnswered(media_ready=media_ready, media_key_mode=mode))

    # ── media ─────────────────────────────────────────────────────────────────────────────────────

    def _configure_media(self, req: ConnReq) -> bool:
        """SRTP keys, RTP target, payload type and SSRC from the peer's answer; False if it has no usable keys."""
        conn = self._conn
        local = self._local_media
        offer = _peer_offer(req)
        mode = conn.config.media_key_mode
        if local is None or offer is None:
            conn.log.info("media_not_ready", reason="no decodable peer offer")
            return False
        keys = key_media(
            conn, mode, local, offer, peer_name="peer", with_candidates=mode is MediaKeyMode.AUTO
        )
        if keys is None:
            return False
        keying, cands = keys
        audio = offer.audio()
        payload_type = offer_payload_type(audio)
        ssrc = conn.overrides.rtp_ssrc
        if ssrc is None:
            ssrc = choose_ssrc(
                peer_rtcp_id=None if audio is None else audio.rtcp_id,
                peer_rtp_port=None if audio is None else audio.rtp_port,
                draw_u32=lambda: int.from_bytes(conn.random(4), "big"),
                use_peer=conn.config.ssrc_policy is SsrcPolicy.PEER_RTCP_ID,
            )
        first_seq = conn.overrides.rtp_first_seq
        if first_seq is None:
            first_seq = draw_first_seq(conn.random)
        source, destination = EndpointSource.ROUTE, conn.relay
        for name, addr in (
            (EndpointSource.M_ADDR, req.m_addr),
            (EndpointSource.UE_PUBLIC_ADDR, req.ue_public_addr),
        ):
            endpoint = None if addr is None else addr.endpoint()
            if endpoint is not None:
                source, destination = name, endpoint
                break
        media = MediaSession(
            requested_mode=mode,
            keying=keying,
            candidates=cands,
            destination=destination,
            endpoint_source=source,
            payload_type=payload_type,
            ssrc=ssrc,
            first_seq=first_seq,
            default_step=conn.config.rtp_timestamp_step,
            learn_endpoint=True,
        )
        conn.install_media(media, source=source.value)
        return True

    # ── release ───────────────────────────────────────────────────────────────────────────────────

    def release_body(self) -> CcBody:
        """What we send to hang up a 1:1 call: ``{rel_code 2, releaser "initiator", comm_media_flags 1}``."""
        return local_hangup_rel_req()
