"""The group role of a PlanetConnection: participate_req, participate_rsp, the data session, group media (§7.2).

Same shape as the 1:1 role (:class:`~.handlers.RoleHandler`): ``channel_ids``, ``invite`` (here: join the
room), ``on_message``, ``on_timer``, ``release_body``. The core keeps keys, framing, headers, keepalives,
probes, the mailbox and media I/O.

Flow (linejs's joinGroupDetailed, planet-map §7.2)::

    join:   participate_req (bootstrap frame, msg_id 0x214e): native fields, the group offer (secret only),
            SHA-256(participant::room::token::cid) credential                          -> INVITING
    reply:  provisional participate_rsp (none of result, rel_code, answer, contents): keep waiting
            final, refused (non-zero result or a rel_code)                              -> CLOSED Failed(refused)
            final, accepted: remote channels learned; mc data_req opens the data session once (SSRC plan);
            the answer keys media (audio-secret-sender by default); 16 probes + report; keepalive now and
            every alive_rpt_interval (f102)                                             -> ANSWERED GroupJoined
    leave:  rel_req {1, "participant", 1, data_svcs [0], room_destroy false}

Deliberate departures from linejs (planet-map §10.12), as in the 1:1 role: participate_req is re-sent as
the identical datagram at the configured offsets until any reply authenticates, and the join fails with
``setup_timeout`` after ``timeout_ms``; a refusal ends the call as ``refused`` with its result and rel_code;
the relay's rel_req ends the call; ``auto`` keys group media like the group default (see PlanetConfig).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linecall.config.logging import mask_mid
from linecall.protocol.planet import constants as c
from linecall.protocol.planet.call_state import CallState
from linecall.protocol.planet.errors import PlanetError
from linecall.protocol.planet.events import Failed, FailureReason, GroupJoined
from linecall.protocol.planet.group_media import GroupMediaSession
from linecall.protocol.planet.handlers import BootstrapRequest, decode_offer, key_media, offer_payload_type
from linecall.protocol.planet.mailbox import InboundMessage
from linecall.protocol.planet.media_keys import (
    DEFAULT_GROUP_MODE,
    LocalMediaMaterial,
    MediaKeyMode,
    group_data_send_master,
)
from linecall.protocol.planet.media_session import choose_ssrc
from linecall.protocol.planet.messages import (
    BridgeInfo,
    ChanHdr,
    McDataRsp,
    MediaOffer,
    ParticipateRsp,
    PlanetAddr,
    RelReq,
    build_group_offer,
    group_data_session_req,
    group_leave_rel_req,
    native_participate_req,
)
from linecall.protocol.planet.replies import answer_common
from linecall.protocol.planet.route import GroupCallRoute
from linecall.protocol.planet.timers import TimerName
from linecall.protocol.rtp.group import GroupSsrcPlan, group_data_timestamp_start
from linecall.protocol.rtp.sender import draw_first_seq

if TYPE_CHECKING:
    from linecall.protocol.planet.connection import PlanetConnection
    from linecall.protocol.planet.messages_base import CcBody


def _u32_le(conn: PlanetConnection) -> int:
    """One uint32 the way linejs draws them (``getRandomValues(Uint32Array)``: little-endian bytes)."""
    return int.from_bytes(conn.random(4), "little")


def _decode_bridge(raw: bytes | None) -> PlanetAddr | None:
    if raw is None:
        return None
    try:
        return BridgeInfo.decode(raw).addr
    except PlanetError:
        return None


class GroupHandler:
    """Participant side of a group call. Holds what the role adds to the core: the room, our media
    material, the participate datagram for retransmission, the SSRC plan, what the mixer told us."""

    def __init__(self, conn: PlanetConnection) -> None:
        self._conn = conn
        self.room_id: str | None = None
        self._local_media: LocalMediaMaterial | None = None
        self._participate = BootstrapRequest(conn, "participate_retransmit")
        self.plan: GroupSsrcPlan | None = None
        self.data_session_sent = False
        self.provisional_replies = 0
        self.participate_rsp: ParticipateRsp | None = None
        self.bridge: PlanetAddr | None = None
        self.answer: MediaOffer | None = None

    @property
    def local_media(self) -> LocalMediaMaterial | None:
        return self._local_media

    def channel_ids(self) -> tuple[int, int]:
        """Group: a 28-bit cc channel id and a separate 31-bit media channel id (§4.5)."""
        conn = self._conn
        o = conn.overrides
        cc = (
            o.src_chan_id
            if o.src_chan_id is not None
            else c.draw_id_with_bits(conn.random, *c.GROUP_CC_CHAN_ID_BITS)
        )
        media = (
            o.media_chan_id
            if o.media_chan_id is not None
            else c.draw_id_with_bits(conn.random, *c.GROUP_MEDIA_CHAN_ID_BITS)
        )
        return cc, media

    # ── join ──────────────────────────────────────────────────────────────────────────────────────

    def invite(self, to: str, now: float) -> None:
        """Join room ``to`` (the chat MID): send participate_req, arm the timers, enter INVITING."""
        conn = self._conn
        route = conn.route
        if not isinstance(route, GroupCallRoute):  # the core picks the role from the route: cannot happen
            raise PlanetError("the group role needs a GroupCallRoute")
        self.room_id = to
        local = conn.overrides.local_media or LocalMediaMaterial.generate(conn.random)
        self._local_media = local
        participate = native_participate_req(
            participant=conn.local_mid,
            room_id=to,
            p_zone=route.from_zone,
            x_zone=route.polaris_zone,
            orion_ip=route.orion_address,
            mix_ip=route.polaris_address,
            mix_port=route.polaris_udp_port,
            dev_id=conn.new_dev_id(),
            offer=build_group_offer(local.secret),
            credential=route.credential(participant=conn.local_mid, room_id=to, cid=conn.cid),
            m_chan_id=conn.media_chan_id,
            ua=conn.user_agent,
        )
        conn.log.info("join_group", room=mask_mid(to), key_mode=self._mode().value)
        self._participate.send(participate, now)

    def _mode(self) -> MediaKeyMode:
        mode = self._conn.config.group_media_key_mode
        return DEFAULT_GROUP_MODE if mode is MediaKeyMode.AUTO else mode

    # ── timers ────────────────────────────────────────────────────────────────────────────────────

    def on_timer(self, name: TimerName, now: float) -> None:
        conn = self._conn
        if name is TimerName.SETUP_RETRANSMIT:
            self._participate.retransmit(now)
        elif name is TimerName.SETUP_TIMEOUT:
            waited = "a final participate_rsp" if self.provisional_replies else "any participate_rsp"
            conn.fail(
                FailureReason.SETUP_TIMEOUT,
                f"no {waited} from the relay within {conn.config.timeout_ms} ms; check the UDP path, "
                "the route's address family and commParam.mpkey, or acquire a fresh group route",
                now,
            )

    # ── inbound ───────────────────────────────────────────────────────────────────────────────────

    def on_message(self, item: InboundMessage, now: float) -> None:
        conn = self._conn
        body = item.message.body
        if isinstance(body, ParticipateRsp):
            self._on_participate_rsp(item, body, now)
        elif isinstance(body, RelReq):
            conn.release_by_peer(body)
        elif answer_common(conn, item):
            pass
        else:
            if isinstance(body, McDataRsp):
                conn.log.info(
                    "group_data_session_rsp",
                    result=body.result,
                    rel_code=body.rel_code,
                    dispatch=body.dispatch_id,
                )
            conn.mailbox.put(item)

    def _on_participate_rsp(self, item: InboundMessage, rsp: ParticipateRsp, now: float) -> None:
        conn = self._conn
        if conn.state is not CallState.INVITING:
            conn.log.debug("participate_rsp_ignored", state=conn.state.value)
            return
        chan = item.message.chan or ChanHdr()
        if chan.src_chan_id:
            conn.remote_cc_chan = chan.src_chan_id
        if not rsp.is_final:
            self.provisional_replies += 1
            conn.log.info("participate_rsp_provisional", count=self.provisional_replies)
            if conn.config.group_data_session_after_provisional and chan.src_chan_id:
                self._open_data_session(chan.src_chan_id)
            return
        self._participate.answered()
        self.participate_rsp = rsp
        if rsp.refused:
            phrase = f", {rsp.rel_phrase!r}" if rsp.rel_phrase else ""
            detail = (
                f"LINE refused to join the group call (result {rsp.result}, rel_code {rsp.rel_code}{phrase})"
            )
            failed = Failed(FailureReason.REFUSED, rsp.result or rsp.rel_code, detail, rel_code=rsp.rel_code)
            conn.terminate(failed, send_release=False)
            return
        conn.remote_media_chan = rsp.m_chan_id or 0
        dst = conn.remote_media_chan or conn.remote_cc_chan
        if dst:
            self._open_data_session(dst)
        self.answer = decode_offer(rsp.answer)
        self.bridge = _decode_bridge(rsp.bridge_info)
        if self.bridge is not None:
            endpoint = self.bridge.endpoint()
            family = None if endpoint is None else ("ipv6" if ":" in endpoint[0] else "ipv4")
            conn.log.info("group_bridge", family=family, port=None if endpoint is None else endpoint[1])
        media_ready = self._configure_media()
        conn.enter(CallState.ANSWERED)
        conn.emit(
            GroupJoined(
                media_ready=media_ready,
                media_key_mode=conn.media.active_mode.value if conn.media is not None else None,
                keepalive_interval=float(rsp.alive_rpt_interval) if rsp.alive_rpt_interval else None,
                role=rsp.role,
                join_ts=rsp.join_ts,
                max_call_time=None if rsp.max_call_time_sec is None else float(rsp.max_call_time_sec),
            )
        )
        conn.send_pinhole_probes()
        conn.start_keepalive(rsp.alive_rpt_interval, now)

    def _open_data_session(self, dst: int) -> None:
        """mc data_req announcing our SSRC plan; at most once per call."""
        conn = self._conn
        if self.data_session_sent:
            return
        base = conn.overrides.group_ssrc_base
        self.plan = GroupSsrcPlan(base) if base is not None else GroupSsrcPlan.from_u32(_u32_le(conn))
        chan = ChanHdr(cid=conn.cid, src_chan_id=conn.media_chan_id, dst_chan_id=dst)
        conn.send_message(group_data_session_req(self.plan), chan)
        self.data_session_sent = True

    # ── media ─────────────────────────────────────────────────────────────────────────────────────

    def _configure_media(self) -> bool:
        """Keys from the mixer's answer (its secret), payload type from its audio record, the SSRC plan."""
        conn = self._conn
        local, offer, mode = self._local_media, self.answer, self._mode()
        if local is None or offer is None:
            conn.log.info("media_not_ready", reason="no decodable mixer answer")
            return False
        keys = key_media(conn, mode, local, offer, peer_name="mixer", with_candidates=False)
        if keys is None:
            return False
        keying, _ = keys
        audio = offer.audio()
        payload_type = offer_payload_type(audio)
        o = conn.overrides
        first_seq = o.rtp_first_seq if o.rtp_first_seq is not None else draw_first_seq(conn.random)
        data_start = (
            o.group_data_timestamp_start
            if o.group_data_timestamp_start is not None
            else group_data_timestamp_start(_u32_le(conn))
        )
        fallback_ssrc = o.rtp_ssrc
        if fallback_ssrc is None and self.plan is None:  # linejs: the plan's tx audio SSRC, else this
            fallback_ssrc = choose_ssrc(
                peer_rtcp_id=None if audio is None else audio.rtcp_id,
                peer_rtp_port=None if audio is None else audio.rtp_port,
                draw_u32=lambda: _u32_le(conn),
                use_peer=True,
            )
        media = GroupMediaSession(
            requested_mode=mode,
            keying=keying,
            destination=conn.relay,
            payload_type=payload_type,
            first_seq=first_seq,
            plan=self.plan,
            audio_ssrc=fallback_ssrc or 0,
            data_master=group_data_send_master(local),
            data_timestamp_start=data_start,
        )
        conn.install_media(media, source="route")
        return True

    # ── release ───────────────────────────────────────────────────────────────────────────────────

    def release_body(self) -> CcBody:
        """Leaving: ``{rel_code 1, releaser "participant", comm_media_flags 1, data_svcs [0], room_destroy false}``."""
        return group_leave_rel_req()
