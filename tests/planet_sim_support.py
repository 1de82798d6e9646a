"""A scripted PLANET caller for driving the loopback relay core in tests (not the product's client).

``MiniCaller`` builds the client's frames with the real codecs (FrameCodec, native_setup_req, the
media offer, the native reply builders) and can answer every relay message the way linejs does, so
the relay's behaviour can be tested before and independently of ``PlanetConnection``. ``converse``
runs the two sans-I/O ends against each other on a virtual clock.
"""

from __future__ import annotations

import random as random_module
from collections.abc import Callable
from dataclasses import dataclass, field

from linecall.protocol.planet.crypto import RandomSource
from linecall.protocol.planet.framing import FrameCodec, FrameKind, InboundFrame, is_rtp_like
from linecall.protocol.planet.media_keys import (
    LocalMediaMaterial,
    MediaKeyMode,
    PeerMediaMaterial,
    select_keying,
)
from linecall.protocol.planet.media_offer import MediaOffer, OfferMaterial, build_one_to_one_offer
from linecall.protocol.planet.messages import (
    BepiChannelOpen,
    CcBody,
    ChanHdr,
    ConnReq,
    InfoReq,
    McBody,
    McChangeReq,
    McDataReq,
    McJoinReq,
    PlanetMessage,
    PlanetMsgHdr,
    ScBody,
    change_rsp,
    check_rpt,
    conn_rsp_for,
    data_rsp_for,
    decode_planet_message,
    exchange_app_str_data_req,
    info_rsp_for,
    join_rsp,
    local_hangup_rel_req,
    native_setup_req,
)
from linecall.protocol.planet.route import CallRoute
from linecall.protocol.rtp.sender import RtpReceiver, RtpSender
from linecall.protocol.rtp.srtp import SrtpReceiveSession, SrtpSendSession
from tests.sim.planet_records import message_kind
from tests.sim.planet_relay_core import RelayCore

CALLER = "u0123456789abcdef0123456789abcdef"
CALLEE = "ufedcba9876543210fedcba9876543210"
CLIENT_ADDR = ("127.0.0.1", 50_000)


def seeded(seed: int) -> RandomSource:
    rng = random_module.Random(seed)
    return rng.randbytes


@dataclass
class MiniCaller:
    """One scripted call from CALLER to ``callee`` through ``route``."""

    route: CallRoute
    random: RandomSource = field(default_factory=lambda: seeded(1))
    callee: str = CALLEE
    cid: str = "11111111-2222-4333-8444-555555555555"
    chan_id: int = 0x1ABCDEF0
    auto_reply: bool = True
    reply_to: frozenset[str] = frozenset({"conn_req", "info_req", "data_req", "join_req", "change_req"})
    media_mode: MediaKeyMode = MediaKeyMode.AUDIO_REVERSE_STAGE
    inbox: list[PlanetMessage] = field(default_factory=list)
    media_in: list[bytes] = field(default_factory=list)
    conn_reqs: int = 0

    def __post_init__(self) -> None:
        self.codec = FrameCodec.create(mpkey=self.route.mpkey, random=self.random)
        self.material = LocalMediaMaterial.generate(self.random)
        self.tran_seq = 5_000_000
        self.answer: MediaOffer | None = None
        self._sender: RtpSender | None = None
        self._receiver: RtpReceiver | None = None

    # ── building ───────────────────────────────────────────────────────────────────────────────

    def offer(self) -> bytes:
        m = self.material
        return build_one_to_one_offer(OfferMaterial(m.public_key, m.key_id, m.nonce, m.secret))

    def setup_req(self, *, credential: bytes | None = None, offer: bytes | None = None) -> bytes:
        body = native_setup_req(
            initiator=CALLER,
            responder=self.callee,
            i_zone=self.route.from_zone,
            r_zone=self.route.to_zone,
            stid=self.route.stid,
            dev_id="loopback-device",
            offer=self.offer() if offer is None else offer,
            credential=credential
            if credential is not None
            else self.route.credential(initiator=CALLER, responder=self.callee, cid=self.cid),
        )
        return self.frame(body, bootstrap=True)

    def frame(self, body: CcBody | McBody | ScBody, *, bootstrap: bool = False, dst: int = 0) -> bytes:
        hdr = PlanetMsgHdr(
            user_id=CALLER,
            msg_id=body.MSG_ID,
            tran_id=self.random(16),
            tran_seq=self.tran_seq,
            loc_nonce=0x1234_5678,
        )
        self.tran_seq += 1
        chan = None if isinstance(body, ScBody) else ChanHdr(self.cid, self.chan_id, dst)
        message = PlanetMessage(hdr, body, chan)  # type: ignore[arg-type]
        return self.codec.seal(message.encode(), FrameKind.BOOTSTRAP if bootstrap else FrameKind.CONTROL)

    def rel_req(self) -> bytes:
        return self.frame(local_hangup_rel_req(), dst=4097)

    # ── media ──────────────────────────────────────────────────────────────────────────────────

    def _keying_peer(self) -> PeerMediaMaterial:
        if self.answer is None:
            raise AssertionError("no conn_req answer yet")
        a = self.answer
        return PeerMediaMaterial(a.media_pub_key, a.media_key_id, a.media_nonce, a.media_secret)

    def media_packet(self, payload: bytes) -> bytes:
        if self._sender is None:
            keying = select_keying(self.media_mode, self.material, self._keying_peer())
            self._sender = RtpSender(
                SrtpSendSession(keying.send_master), ssrc=201, payload_type=96, first_seq=100
            )
        return self._sender.send(payload).wire

    def _receive_media(self, data: bytes) -> None:
        if self._receiver is None:
            keying = select_keying(self.media_mode, self.material, self._keying_peer())
            self._receiver = RtpReceiver(SrtpReceiveSession(keying.recv_master))
        self.media_in.append(self._receiver.receive(data).payload)

    # ── receiving ──────────────────────────────────────────────────────────────────────────────

    def receive(self, data: bytes) -> list[bytes]:
        """Open one relay datagram; returns the replies (if auto_reply) as datagrams to send."""
        if is_rtp_like(data):
            self._receive_media(data)
            return []
        result = self.codec.open(data)
        if not isinstance(result, InboundFrame):
            raise AssertionError(f"relay frame did not authenticate: {result}")
        message = decode_planet_message(result.plaintext)
        self.inbox.append(message)
        return self._replies(message) if self.auto_reply else []

    def _replies(self, message: PlanetMessage) -> list[bytes]:
        body, chan = message.body, message.chan
        src = chan.src_chan_id if chan is not None else 0
        out: list[bytes] = []
        if isinstance(body, ConnReq) and "conn_req" in self.reply_to:
            self.conn_reqs += 1
            if self.answer is None and body.answer is not None:
                self.answer = MediaOffer.decode(body.answer)
            out.append(self.frame(conn_rsp_for(body, local_media_chan_id=self.chan_id), dst=src))
            if self.conn_reqs == 1:
                info = exchange_app_str_data_req(source=CALLER, callee=self.callee, conn_req=body)
                out.append(self.frame(info, dst=src))
        elif isinstance(body, InfoReq) and "info_req" in self.reply_to:
            out.append(self.frame(info_rsp_for(body), dst=src))
        elif isinstance(body, McDataReq) and "data_req" in self.reply_to:
            out.append(self.frame(data_rsp_for(body), dst=src))
        elif isinstance(body, McJoinReq) and "join_req" in self.reply_to:
            out.append(self.frame(join_rsp(), dst=src))
            out.append(self.frame(BepiChannelOpen(token=0x0102030405060708)))
            out.append(self.frame(check_rpt(), dst=src))
        elif isinstance(body, McChangeReq) and "change_req" in self.reply_to:
            out.append(self.frame(change_rsp(), dst=src))
        return out

    def kinds(self) -> list[str]:
        return [message_kind(m) for m in self.inbox]


def converse(
    core: RelayCore,
    caller: MiniCaller,
    first: list[bytes],
    *,
    start: float = 0.0,
    until: float,
    on_step: Callable[[float], list[bytes]] | None = None,
) -> float:
    """Run relay and caller against each other on a virtual clock from ``start`` to ``until``.

    Datagrams are delivered instantly; the clock only moves to the relay's next timer. Returns the
    virtual time reached. ``on_step(now)`` may inject extra client datagrams after each exchange.
    """
    now = start
    pending = list(first)
    while True:
        while pending:
            core.receive_datagram(pending.pop(0), CLIENT_ADDR, now)
            core.handle_timer(now)
            for wire, _dest in core.datagrams_to_send(now):
                pending.extend(caller.receive(wire))
        if on_step is not None:
            pending.extend(on_step(now))
            if pending:
                continue
        deadline = core.get_timer()
        if deadline is None or deadline > until:
            return now
        now = max(now, deadline)
        core.handle_timer(now)
        for wire, _dest in core.datagrams_to_send(now):
            pending.extend(caller.receive(wire))


__all__ = ["CALLEE", "CALLER", "CLIENT_ADDR", "MiniCaller", "converse", "seeded"]
