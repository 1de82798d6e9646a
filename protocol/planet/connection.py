"""The sans-I/O PLANET call connection: bytes and time in; datagrams, timers and events out.

State rules (one call per connection; like h11's ``_state.py``, the rest follows from this table; the
allowed transitions themselves are in :mod:`.call_state`)::

    from        trigger                                          to         events / sent
    IDLE        connect(now)                                     CONNECTED  keys and ids; nothing sent
    CONNECTED   invite(to, now)                                  INVITING   setup_req (bootstrap frame)
    INVITING    setup_rsp, result 0, no rel_code                 RINGING    SetupAccepted, PeerRinging;
                                                                            16 probes + report, keepalive
    INVITING    setup_rsp with a result or rel_code              CLOSED     Failed(refused); no rel_req
    INVITING    timeout_ms (setup_req re-sent at 1, 2, 4 s)      CLOSED     Failed(setup_timeout); rel_req
    RINGING     first conn_req                                   ANSWERED   PeerAnswered(media_ready);
                                                                            conn_rsp, info_req
    RINGING     answer_timeout_ms                                CLOSED     Failed(no_answer); rel_req
    INVITING+   peer rel_req                                     CLOSED     CallReleased(by_peer=True)
    not CLOSED  close(now)                                       CLOSED     CallReleased(by_peer=False); rel_req
    not CLOSED  fail(reason, detail, now)                        CLOSED     Failed(reason); rel_req

    group role (a GroupCallRoute; :mod:`.handlers_group`):
    CONNECTED   join_group(room_id, now)                         INVITING   participate_req (bootstrap frame)
    INVITING    provisional participate_rsp                      INVITING   (data session if configured)
    INVITING    final participate_rsp, result 0, no rel_code     ANSWERED   GroupJoined(media_ready); data_req,
                                                                            16 probes + report, keepalive
    INVITING    final participate_rsp with a result or rel_code  CLOSED     Failed(refused, code, rel_code)

``rel_req`` is sent only if setup_req went out and the peer has not released (or refused). In CLOSED nothing
more is sent or accepted: a peer hang-up discards anything still queued, stops keepalives and media.

Whatever the state (from INVITING on), these run on arrival: info_req → info_rsp; mc data_req → data_rsp
(148-byte payload); mc join_req → join_rsp, BEPI open, check_rpt; mc change_req → change_rsp; every conn_req
after the first → conn_rsp again. A message the current state cannot use waits in a per-kind
:class:`~linecall.protocol.planet.mailbox.Mailbox` (a conn_req that overtakes setup_rsp is answered right after
it) instead of being dropped as linejs drops it.

Inbound datagrams (planet-map §3.5): RTP-looking ones go to the media session (only once media is
configured, and the destination moves only after one authenticates); everything else is opened by the
:class:`FrameCodec`; failures are ignored without any state change. The relay's nonce is fixed by the first
decodable authenticated header, its session id follows every such header that carries one
(:class:`PeerHeaderState`).

The 1:1 flow lives in :mod:`.handlers`, the group flow in :mod:`.handlers_group`; the replies every role gives are in
:mod:`.replies`. Randomness (``random``), the wall clock (keepalive stamps, probe ids) and time (``now``, the
driver's monotonic clock in seconds) are injected, and :class:`PlanetOverrides` replaces named draws, so a
transcript replays byte for byte.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import structlog

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.call_state import LIVE_STATES, CallState, PlanetStateError, check_transition
from linecall.protocol.planet.crypto import P256KeyPair, RandomSource
from linecall.protocol.planet.errors import PlanetError
from linecall.protocol.planet.events import CallReleased, Event, Failed, FailureReason, MediaReceived
from linecall.protocol.planet.framing import (
    FrameCodec,
    FrameKind,
    IgnoredDatagram,
    PeerHeaderState,
    is_rtp_like,
)
from linecall.protocol.planet.group_media import GroupMediaSession
from linecall.protocol.planet.handlers import OneToOneHandler, RoleHandler
from linecall.protocol.planet.handlers_group import GroupHandler
from linecall.protocol.planet.mailbox import InboundMessage, Mailbox, MessageKind
from linecall.protocol.planet.media_session import Address, MediaAccepted, MediaSession
from linecall.protocol.planet.messages import (
    ChanHdr,
    KeepaliveReq,
    PinholeProbe,
    PinholeReport,
    PlanetBody,
    PlanetMessage,
    PlanetMsgHdr,
    RelReq,
    UserAgent,
    decode_planet_message,
    default_user_agent,
    next_probe_id,
)
from linecall.protocol.planet.messages_base import CcBody, McBody, ScBody
from linecall.protocol.planet.options import CallRole, PlanetConfig, PlanetConfigError, PlanetOverrides
from linecall.protocol.planet.proto import FieldSet, read_fields
from linecall.protocol.planet.route import CallRoute, GroupCallRoute

__all__ = ["Address", "CallState", "PlanetConnection", "PlanetStateError"]
from linecall.protocol.planet.timers import TimerName, Timers

_log = structlog.get_logger(__name__)

_MIN_KEEPALIVE_S = 0.010  # linejs never schedules keepalives closer than 10 ms


def _debug_enabled(logger: Any) -> bool:
    check = getattr(logger, "is_enabled_for", None)
    return True if check is None else bool(check(logging.DEBUG))


def _uuid4(random: RandomSource) -> str:
    return str(uuid.UUID(bytes=random(16), version=4))


def _is_cc_release(plaintext: bytes) -> bool:
    """Whether an authenticated but undecodable planet_msg is, at least by its one-of tag, a cc rel_req."""
    try:
        cc = FieldSet.parse(plaintext).blob(c.Envelope.CC)
        body = None if cc is None else FieldSet.parse(cc).blob(2)
        members = [] if body is None else read_fields(body)
    except PlanetError:
        return False
    return bool(members) and members[-1].number == c.CcTag.REL_REQ


def _family(host: str) -> str:
    return "ipv6" if ":" in host else "ipv4"


class PlanetConnection:
    """One PLANET call, sans I/O. See the module docstring for the state rules.

    Driver loop: feed ``receive_datagram``; after every call, send ``datagrams_to_send``, drain
    ``next_event``, and wake at ``get_timer()`` to call ``handle_timer``.
    """

    def __init__(
        self,
        route: CallRoute | GroupCallRoute,
        local_mid: str,
        config: PlanetConfig | None = None,
        *,
        random: RandomSource,
        overrides: PlanetOverrides | None = None,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if not local_mid:
            raise PlanetConfigError("local_mid is required")
        self.route: CallRoute | GroupCallRoute = route
        self.local_mid = local_mid
        self.config = config or PlanetConfig()
        self.overrides = overrides or PlanetOverrides()
        self.random = random
        self.wall_clock_ns = wall_clock_ns
        self.role = CallRole.GROUP if isinstance(route, GroupCallRoute) else CallRole.ONE_TO_ONE
        relay = route.relay_endpoint(self.config.prefer_ipv6)
        self.relay: Address = (relay.host, relay.port)
        self.user_agent: UserAgent = self.config.user_agent or default_user_agent(self.config.device_info)
        self.timers = Timers()
        self.mailbox = Mailbox(self.config.mailbox_limit)
        self.peer_header = PeerHeaderState()
        self.media: MediaSession | GroupMediaSession | None = None
        self.setup_sent = False
        self.released_by_peer = False
        self.outcome: CallReleased | Failed | None = None
        self.remote_cc_chan = 0
        self.remote_media_chan = 0
        # set by connect()
        self.cid = ""
        self.src_chan_id = 0
        self.media_chan_id = 0
        self.loc_nonce = 0
        self._tran_seq = 0
        self._codec: FrameCodec | None = None
        self._state = CallState.IDLE
        self._events: deque[Event] = deque()
        self._outgoing: deque[tuple[bytes, Address]] = deque()
        self._keepalive_interval: float | None = None
        self._last_probe_id = 0
        self.log = _log.bind(role=self.role.value)
        self.debug_enabled = _debug_enabled(self.log)
        self._handler: RoleHandler = (
            GroupHandler(self) if self.role is CallRole.GROUP else OneToOneHandler(self)
        )

    # ── state ─────────────────────────────────────────────────────────────────────────────────────

    @property
    def state(self) -> CallState:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is CallState.CLOSED

    @property
    def codec(self) -> FrameCodec:
        if self._codec is None:
            raise PlanetStateError("connect() first")
        return self._codec

    @property
    def next_tran_seq(self) -> int:
        return self._tran_seq

    @property
    def role_handler(self) -> RoleHandler:
        """The role's own state (a :class:`GroupHandler`: SSRC plan, bridge info, the mixer's answer)."""
        return self._handler

    @property
    def keepalive_interval(self) -> float | None:
        """Seconds between keepalives once the setup was accepted (None: no periodic keepalive)."""
        return self._keepalive_interval

    def enter(self, state: CallState) -> None:
        """Move to ``state``; a transition outside the table is a bug and raises PlanetStateError."""
        check_transition(self._state, state)
        self.log.info("call_state", old=self._state.value, new=state.value)
        self._state = state

    def emit(self, event: Event) -> None:
        self._events.append(event)

    # ── public API ────────────────────────────────────────────────────────────────────────────────

    def connect(self, now: float) -> None:
        """Create this call's transport keys and ids (nothing is sent). Overrides replace draws by name."""
        if self._state is not CallState.IDLE:
            raise PlanetStateError(f"connect() in state {self._state.value}")
        o, rnd = self.overrides, self.random
        keypair = o.transport_keypair or P256KeyPair.generate(rnd)
        seed = o.bootstrap_seed if o.bootstrap_seed is not None else rnd(16)
        label = o.send_label if o.send_label is not None else int.from_bytes(rnd(2), "big")
        first_seq = o.first_frame_seq
        if first_seq is None:
            first_seq = 1 + int.from_bytes(rnd(4), "big") % 1023  # linejs: 1..1023
        self.cid = o.cid or _uuid4(rnd)
        self.src_chan_id, self.media_chan_id = self._handler.channel_ids()
        self.loc_nonce = (
            o.loc_nonce if o.loc_nonce is not None else c.draw_id_with_bits(rnd, *c.LOC_NONCE_BITS)
        )
        self._tran_seq = (
            o.first_tran_seq if o.first_tran_seq is not None else c.draw_id_with_bits(rnd, *c.TRAN_SEQ_BITS)
        )
        self._codec = FrameCodec(
            local=keypair,
            peer_public_key=self.route.mpkey,
            bootstrap_seed=seed,
            send_label=label,
            first_seq=first_seq,
        )
        self.enter(CallState.CONNECTED)

    def invite(self, to: str, now: float) -> None:
        """Ring ``to`` (a MID): send setup_req and arm the setup timers."""
        if self._state is not CallState.CONNECTED:
            raise PlanetStateError(f"invite() in state {self._state.value}")
        if not to:
            raise PlanetConfigError("invite() needs the callee's MID")
        if self.role is not CallRole.ONE_TO_ONE:
            raise PlanetStateError("a group route joins with join_group(room_id, now), not invite()")
        self._handler.invite(to, now)

    def join_group(self, room_id: str, now: float) -> None:
        """Join (or start) the group call of chat ``room_id`` (a group route): send participate_req."""
        if self._state is not CallState.CONNECTED:
            raise PlanetStateError(f"join_group() in state {self._state.value}")
        if not room_id:
            raise PlanetConfigError("join_group() needs the chat's MID")
        if self.role is not CallRole.GROUP:
            raise PlanetStateError("a 1:1 route calls with invite(to, now), not join_group()")
        self._handler.invite(room_id, now)

    def receive_datagram(self, data: bytes, addr: Address | None, now: float) -> None:
        """Feed one datagram from the socket; junk is ignored and leaves the state untouched."""
        if self._state not in LIVE_STATES:
            return
        data = bytes(data)
        rtp = is_rtp_like(data)
        if self.debug_enabled and not rtp:
            self.log.debug("recv", bytes=len(data))
        if rtp:
            self._receive_media(data, addr)
            return
        try:
            result = self.codec.open(data)
        except PlanetError:  # defensive: open() reports failures as IgnoredDatagram
            return
        if isinstance(result, IgnoredDatagram):
            if self.debug_enabled:
                self.log.debug("decrypt_fail", reason=result.reason.value, bytes=len(data))
            return
        if self.debug_enabled:
            self.log.debug("decrypt_ok", plain_bytes=len(result.plaintext), bootstrap=result.bootstrap)
        self.timers.cancel(TimerName.SETUP_RETRANSMIT)  # the relay has our setup: it keyed a reply
        try:
            message = decode_planet_message(result.plaintext)
        except PlanetError as exc:
            if self.debug_enabled:
                self.log.debug("plain_shape", kind="undecodable", error=type(exc).__name__)
            if _is_cc_release(result.plaintext):  # a hang-up in a shape we cannot read still ends the call
                self.release_by_peer(RelReq())
            return
        kind = MessageKind.of(message)
        if self.debug_enabled:
            shape = [f"{f.number}:{f.wire_type.name}" for f in read_fields(result.plaintext)]
            self.log.debug("plain_shape", kind=kind.name, outer=shape, msg_id=message.hdr.msg_id)
        self.peer_header.observe(loc_nonce=message.hdr.loc_nonce, sess_id=message.hdr.sess_id)
        self._handler.on_message(InboundMessage(message, now), now)

    def datagrams_to_send(self, now: float | None = None) -> list[tuple[bytes, Address]]:
        """Everything queued since the last call, in order: ``(datagram, (host, port))``."""
        out = list(self._outgoing)
        self._outgoing.clear()
        return out

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must next be called (driver clock, seconds), or None."""
        return None if self._state is CallState.CLOSED else self.timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Run every timer that is due at ``now`` (calling early or repeatedly is harmless)."""
        for name in self.timers.pop_due(now):
            if self._state is CallState.CLOSED:
                return
            if name is TimerName.KEEPALIVE:
                self._keepalive_tick(now)
            else:
                self._handler.on_timer(name, now)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def send_media(self, payload: bytes, timestamp_step: int | None = None) -> None:
        """Queue one SRTP packet carrying ``payload`` (prefix byte included) to the media destination.

        Group calls step 1920 by default and may queue the data-channel packet and RTCP feedback after it."""
        if self._state is CallState.CLOSED:
            raise PlanetStateError("the call has ended")
        media = self.media
        if media is None:
            raise PlanetStateError("media is not established (no usable answer yet)")
        if isinstance(media, GroupMediaSession):
            wires = [out.wire for out in media.protect_all(payload, timestamp_step)]
        else:
            wires = [media.protect(payload, timestamp_step)]
        self._outgoing.extend((wire, media.destination) for wire in wires)
        if self.debug_enabled:
            self.log.debug(
                "media_send",
                bytes=len(wires[0]),
                seq=(media.sender.next_seq - 1) & 0xFFFF,
                datagrams=len(wires),
            )

    def close(self, now: float) -> None:
        """Hang up: rel_req if a setup went out and the peer has not released; idempotent."""
        if self._state is CallState.CLOSED:
            return
        self.terminate(CallReleased(by_peer=False), send_release=True)

    def fail(self, reason: FailureReason, detail: str, now: float, *, code: int | None = None) -> None:
        """End the call as failed (a driver reports socket trouble or its own timeout this way)."""
        if self._state is CallState.CLOSED:
            return
        self.terminate(Failed(reason, code, detail), send_release=True)

    # ── used by the role handlers ─────────────────────────────────────────────────────────────────

    def terminate(self, event: CallReleased | Failed, *, send_release: bool) -> None:
        """Enter CLOSED with ``event``; queue rel_req first when allowed (setup sent, peer not released)."""
        if send_release and self.setup_sent and not self.released_by_peer and self._codec is not None:
            chan = ChanHdr(cid=self.cid, src_chan_id=self.src_chan_id, dst_chan_id=self.remote_cc_chan)
            self.send_message(self._handler.release_body(), chan)
        self.timers.cancel_all()
        self.mailbox.clear()
        self.outcome = event
        self.enter(CallState.CLOSED)
        if isinstance(event, Failed):
            self.log.warning("call_failed", reason=event.reason.value, code=event.code, detail=event.detail)
        else:
            self.log.info("call_released", by_peer=event.by_peer, rel_code=event.rel_code)
        self.emit(event)

    def release_by_peer(self, rel: RelReq) -> None:
        """The peer hung up: stop everything, discard anything not yet sent, and send nothing more."""
        self.released_by_peer = True
        self._outgoing.clear()
        self.terminate(
            CallReleased(by_peer=True, rel_code=rel.rel_code, releaser=rel.releaser), send_release=False
        )

    def queue_datagram(self, datagram: bytes, addr: Address | None = None) -> None:
        self._outgoing.append((datagram, addr or self.relay))

    def tran_id_for(self, tran_seq: int) -> bytes:
        override = self.overrides.tran_ids.get(tran_seq)
        return bytes(override) if override is not None else self.random(c.TRAN_ID_LEN)

    def send_message(
        self, body: CcBody | McBody | ScBody, chan: ChanHdr | None, *, bootstrap: bool = False
    ) -> bytes:
        """Wrap ``body`` in a planet_msg with our header, seal it, queue it to the relay; returns the datagram."""
        tran_seq = self._tran_seq
        self._tran_seq = (tran_seq + 1) & 0xFFFF_FFFF
        hdr = PlanetMsgHdr(
            user_id=self.local_mid,
            msg_id=body.MSG_ID,
            sess_id=self.peer_header.sess_id,
            tran_id=self.tran_id_for(tran_seq),
            tran_seq=tran_seq,
            loc_nonce=self.loc_nonce,
            rmt_nonce=self.peer_header.rmt_nonce,
        )
        message = PlanetMessage(hdr, cast(PlanetBody, body), chan)  # every sendable body is a PlanetBody
        plaintext = message.encode()
        datagram = self.codec.seal(plaintext, FrameKind.BOOTSTRAP if bootstrap else FrameKind.CONTROL)
        self.queue_datagram(datagram)
        if self.debug_enabled:
            self.log.debug(
                "send",
                kind=MessageKind.of(message).name,
                msg_id=body.MSG_ID,
                seq=(self.codec.next_seq - 1) & 0xFFFF,
                bytes=len(datagram),
                plain_bytes=len(plaintext),
                bootstrap=bootstrap,
            )
        return datagram

    def send_raw(self, plaintext: bytes, what: str) -> None:
        """A raw frame (pinhole probe or report): sealed, no planet_msg header, no tran_seq."""
        datagram = self.codec.seal(plaintext, FrameKind.RAW)
        self.queue_datagram(datagram)
        if self.debug_enabled:
            self.log.debug("send", kind=what, seq=(self.codec.next_seq - 1) & 0xFFFF, bytes=len(datagram))

    def send_pinhole_probes(self) -> None:
        """16 probes (500 random bytes each, increasing probe ids) and the report, back to back (§4.9)."""
        for _ in range(c.PINHOLE_PROBE_COUNT):
            self._last_probe_id = next_probe_id(self.wall_clock_ns(), self._last_probe_id)
            probe = PinholeProbe(self._last_probe_id, self.random(c.PINHOLE_PAYLOAD_LEN))
            self.send_raw(probe.encode(), "raw/pinhole_probe")
        self.send_raw(PinholeReport().encode(), "raw/pinhole_report")

    def start_keepalive(self, relay_interval_s: int | None, now: float) -> None:
        """One keepalive now, then one per interval (config override, else the relay's; none if neither)."""
        if self.config.keepalive_interval_ms is not None:
            interval: float | None = self.config.keepalive_interval_ms / 1000
        elif relay_interval_s:
            interval = float(relay_interval_s)
        else:
            interval = None
        self._keepalive_interval = None if interval is None else max(_MIN_KEEPALIVE_S, interval)
        self._send_keepalive()
        if self._keepalive_interval is not None:
            self.timers.arm(TimerName.KEEPALIVE, now + self._keepalive_interval)

    def _keepalive_tick(self, now: float) -> None:
        self._send_keepalive()
        if self._keepalive_interval is not None:
            self.timers.arm(TimerName.KEEPALIVE, now + self._keepalive_interval)

    def _send_keepalive(self) -> None:
        ns = self.wall_clock_ns()
        stamp = ns if self.config.keepalive_timestamp_ns else ns // 1_000_000
        self.send_message(KeepaliveReq(timestamp=stamp, is_p2p=False), None)

    def install_media(self, media: MediaSession | GroupMediaSession, *, source: str) -> None:
        """Adopt a configured media session and log media_configured (no keys, no address)."""
        self.media = media
        host, port = media.destination
        self.log.debug(
            "media_configured",
            endpoint=source,
            family=_family(host),
            port=port,
            payload_type=media.sender.payload_type,
            ssrc=media.sender.ssrc,
            media_key_mode=media.requested_mode.value,
            active_media_key_mode=media.active_mode.value,
        )

    def new_dev_id(self) -> str:
        """setup_req dev_id: override, config, else base64 of 32 random bytes (44 chars), as linejs."""
        if self.overrides.dev_id is not None:
            return self.overrides.dev_id
        if self.config.device_id is not None:
            return self.config.device_id
        return base64.b64encode(self.random(c.DEV_ID_RANDOM_BYTES)).decode("ascii")

    # ── media in ──────────────────────────────────────────────────────────────────────────────────

    def _receive_media(self, data: bytes, addr: Address | None) -> None:
        media = self.media
        if media is None:
            if self.debug_enabled:
                self.log.debug("media_decrypt_fail", reason="not_configured", bytes=len(data))
            return
        result = media.unprotect(data, addr)
        if not isinstance(result, MediaAccepted):
            if self.debug_enabled:
                self.log.debug("media_decrypt_fail", reason=result.reason.value, bytes=len(data))
            return
        if result.switched_mode is not None:
            self.log.info("media_key_selected", mode=result.switched_mode.value)
        if result.learned_endpoint:
            host, port = media.destination
            self.log.info("media_endpoint_learned", family=_family(host), port=port)
        header = result.media.header
        if self.debug_enabled:
            self.log.debug("media_recv", bytes=len(result.media.payload), seq=header.seq)
        self.emit(MediaReceived(result.media.payload, header.seq, header.timestamp, header.ssrc))
