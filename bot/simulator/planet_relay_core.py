"""Sans-I/O PLANET relay plus answering peer: the LINE side of a 1:1 call, built from our own codecs.

The relay owns a P-256 transport key pair whose public half it publishes as the route's ``mpkey``.
The client's first frame (a bootstrap frame carrying setup_req) tells it the client's public key, seed
and label; from then on one :class:`FrameCodec` in the relay role opens the client's frames and seals
the relay's, exactly as planet_wire.json's recorded relay did. The relay verifies the setup credential
(``SHA-256(initiator::responder::fromToken::cid)``) against its own ``fromToken`` and then plays the
call as :class:`PeerScript` says: setup_rsp, ringing, conn_req with the peer's media answer, the
media-control exchange, audio back, hang-up.

The peer decrypts the client's SRTP with the mirror keying (:mod:`.planet_peer_media`) and decodes the
Opus, so a test can compare what the peer heard with what the client meant to send.

Like the client's connection, this is a sans-I/O core: ``receive_datagram(data, addr, now)``,
``datagrams_to_send(now)``, ``get_timer()``, ``handle_timer(now)``. Randomness is injected
(``random(n) -> bytes``); draws happen in a documented order so a transcript's relay side can be
replayed byte for byte. Nothing here raises on bad input: junk is recorded under its own kind.
"""

from __future__ import annotations

import hmac
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

import numpy as np
import numpy.typing as npt
import structlog

from linecall.protocol.planet.crypto import P256KeyPair, RandomSource
from linecall.protocol.planet.errors import PlanetError
from linecall.protocol.planet.media_keys import LocalMediaMaterial
from linecall.protocol.planet.media_offer import MediaOffer
from linecall.protocol.planet.messages import (
    CcBody,
    ChanHdr,
    ConnRsp,
    InfoReq,
    McBody,
    PlanetMessage,
    PlanetMsgHdr,
    RelReq,
    ScBody,
    SetupReq,
    SetupRsp,
    info_rsp_for,
)
from linecall.protocol.planet.route import setup_credential
from linecall.protocol.rtp.srtp import SrtpError

from .planet_peer_media import PeerMedia
from .planet_peer_messages import (
    PEER_RELEASER,
    accepting_setup_rsp,
    peer_change_req,
    peer_conn_req,
    peer_data_req,
    peer_info_req,
    peer_join_req,
    peer_rel_req,
    refusing_setup_rsp,
)
from .planet_records import (
    KIND_SRTP_AUDIO,
    KIND_SRTP_REJECTED,
    KIND_SRTP_UNEXPECTED,
    CallState,
    ReceivedDatagram,
    RelayStats,
)
from .planet_relay_endpoint import Address, RelayEndpoint, RelayTimer
from .planet_script import (
    RESULT_BAD_CREDENTIAL,
    RESULT_BAD_OFFER,
    RESULT_UNKNOWN_CALLEE,
    PeerScript,
    Refusal,
    RelayConfig,
    RelaySessionParams,
    relay_route_json,
)

__all__ = ["PEER_RELEASER", "RelayCore"]

log = structlog.get_logger(__name__)

Int16Array = npt.NDArray[np.int16]

#: Replies the peer waits for after each follow-up before sending the next one.
_EXPECTED_REPLIES: Final[dict[str, frozenset[str]]] = {
    "info_req": frozenset({"cc/info_rsp"}),
    "data_req": frozenset({"mc/data_rsp"}),
    "join_req": frozenset({"mc/join_rsp", "mc/check_rpt"}),
    "change_req": frozenset({"mc/change_rsp"}),
    "duplicate_conn_req": frozenset({"cc/conn_rsp"}),
}
_LIVE_STATES: Final = frozenset({CallState.RINGING, CallState.ANSWERED, CallState.CONNECTED})


@dataclass(frozen=True, slots=True)
class _Call:
    """What the accepted setup_req fixed for the rest of the call."""

    cid: str
    client_mid: str
    callee_mid: str
    client_chan_id: int
    setup_rsp: SetupRsp


class RelayCore(RelayEndpoint):
    """One simulated 1:1 call: the relay's transport side and the called party behind it.

    Construction draws, in this order and only for what ``config`` leaves unset: the transport key
    pair (32-byte scalar tries), the peer's media material (key pair, key id, nonce, secret), the
    session values (:meth:`RelaySessionParams.draw`). Afterwards each planet_msg sent draws a 16-byte
    tran_id. The first client bootstrap frame that authenticates binds the relay to that client.
    """

    KEEP_PLAINTEXT: ClassVar[bool] = True  # the transcript replays compare what the client sealed

    def __init__(
        self,
        script: PeerScript | None = None,
        config: RelayConfig | None = None,
        *,
        random: RandomSource = os.urandom,
    ) -> None:
        self.script = script if script is not None else PeerScript()
        self.config = config if config is not None else RelayConfig()
        keypair = self.config.keypair or P256KeyPair.generate(random)
        self.peer_material = self.config.peer_media or LocalMediaMaterial.generate(random)
        params = self.config.session or RelaySessionParams.draw(random)
        super().__init__(keypair=keypair, params=params, random=random)
        self.state = CallState.IDLE
        self.replies_missing: list[str] = []
        self.client_release: RelReq | None = None
        self.released_by_peer = False
        self.media: PeerMedia | None = None
        self._media_addr: Address | None = None
        self._call: _Call | None = None
        self._client_media_chan: int | None = None
        self._setups_seen = 0
        self._steps: deque[str] = deque()
        self._current_step: str | None = None
        self._awaiting: set[str] = set()
        self._step_generation = 0
        self._reply_index = 0
        self._reply_start = 0.0
        self._answered_at: float | None = None

    def __repr__(self) -> str:
        return f"RelayCore(state={self.state.value}, received={len(self.received)}, sent={len(self.sent)})"

    # ── identity ─────────────────────────────────────────────────────────────────────────────────

    def route_json(self, host: str, port: int, *, to_mid: str | None = None) -> dict[str, Any]:
        """The CallRoute JSON that points a client at this relay listening on ``host:port``."""
        return relay_route_json(host=host, port=port, mpkey=self.mpkey, config=self.config, to_mid=to_mid)

    # ── results ──────────────────────────────────────────────────────────────────────────────────

    def heard_pcm(self) -> Int16Array:
        """What the peer heard: the client's audio decoded to 48 kHz mono int16 (empty before media)."""
        return self.media.heard_pcm() if self.media is not None else np.zeros(0, dtype=np.int16)

    def received_of(self, kind: str) -> list[ReceivedDatagram]:
        return [r for r in self.received if r.kind == kind]

    def stats(self) -> RelayStats:
        media = self.media.stats if self.media is not None else None
        release = self.client_release
        released_by: Literal["client", "peer"] | None = None
        if self.released_by_peer:
            released_by = "peer"
        elif release is not None:
            released_by = "client"
        return RelayStats(
            state=self.state,
            setup_reqs=self._setups_seen,
            answered=self._answered_at is not None,
            media_packets=media.packets if media else 0,
            media_rejected=media.rejected if media else 0,
            media_lost=media.lost if media else 0,
            decode_errors=media.decode_errors if media else 0,
            heard_samples=len(self.heard_pcm()),
            seqs=tuple(media.seqs) if media else (),
            timestamps=tuple(media.timestamps) if media else (),
            ssrcs=tuple(media.ssrcs) if media else (),
            payload_types=tuple(media.payload_types) if media else (),
            replies_sent=media.sent if media else 0,
            rel_req_seen=release is not None,
            rel_code=release.rel_code if release is not None else None,
            releaser=release.releaser if release is not None else None,
            released_by=released_by,
            replies_missing=tuple(self.replies_missing),
        )

    # ── inbound ──────────────────────────────────────────────────────────────────────────────────

    def _receive_media(self, data: bytes, addr: Address, now: float) -> None:
        if self.media is None:
            self._record(ReceivedDatagram(now, addr, KIND_SRTP_UNEXPECTED, len(data)))
            return
        media = self.media.receive(data, addr)
        if media is None:
            self._record(ReceivedDatagram(now, addr, KIND_SRTP_REJECTED, len(data)))
            return
        self._media_addr = addr
        self._record(ReceivedDatagram(now, addr, KIND_SRTP_AUDIO, len(data), rtp=media.header))

    def _record(self, record: ReceivedDatagram) -> None:
        self.received.append(record)
        if record.kind != KIND_SRTP_AUDIO:
            log.debug("sim_relay_recv", kind=record.kind, size=record.size, state=self.state.value)

    # ── call logic ───────────────────────────────────────────────────────────────────────────────

    def _on_message(self, message: PlanetMessage, kind: str, now: float) -> None:
        if self.script.silent:
            return
        # Replies to a follow-up are ticked off before the message is handled, so a message that
        # starts the next step (a conn_rsp) can never also count as that step's reply.
        if kind in self._awaiting and self.state is CallState.CONNECTED:
            self._awaiting.discard(kind)
            if not self._awaiting:
                self._advance(now)
        body, chan = message.body, message.chan
        if isinstance(body, SetupReq) and chan is not None:
            self._on_setup_req(message.hdr, body, chan, now)
        elif isinstance(body, ConnRsp) and chan is not None:
            self._on_conn_rsp(body, now)
        elif isinstance(body, InfoReq) and chan is not None:
            if self.script.answer_info_req and self.state in _LIVE_STATES:
                self._send_cc(info_rsp_for(body), now, dst=chan.src_chan_id)
        elif isinstance(body, RelReq):
            self._on_client_rel_req(body)

    def _on_client_rel_req(self, body: RelReq) -> None:
        """The client hung up (or let go after the peer did): keep its first rel_req, end a live call."""
        if self.client_release is None:
            self.client_release = body
        if self.state in _LIVE_STATES:
            self.state = CallState.RELEASED_BY_CLIENT
            self._timers.clear()
            self._awaiting.clear()

    def _on_setup_req(self, hdr: PlanetMsgHdr, body: SetupReq, chan: ChanHdr, now: float) -> None:
        self._setups_seen += 1
        if self._setups_seen <= self.script.ignore_first_setups:
            return
        call = self._call
        if call is not None:
            # A retransmission of the accepted setup_req: the client missed our answer, repeat it.
            if chan.cid == call.cid and self.state in (_LIVE_STATES | {CallState.REFUSED}):
                self._send(call.setup_rsp, now, chan=self._cc_chan(), bootstrap=True)
            return
        refusal = self._check_setup(body, chan) or self.script.refuse
        media: PeerMedia | None = None
        if refusal is None:
            media, refusal = self._peer_media_for(body)
        rsp = accepting_setup_rsp(self.script) if refusal is None else refusing_setup_rsp(refusal)
        self._call = _Call(
            cid=chan.cid,
            client_mid=body.initiator or hdr.user_id,
            callee_mid=body.responder,
            client_chan_id=chan.src_chan_id,
            setup_rsp=rsp,
        )
        self._send(rsp, now, chan=self._cc_chan(), bootstrap=True)
        if refusal is not None:
            self.state = CallState.REFUSED
            return
        self.media = media
        self.state = CallState.RINGING
        if self.script.answer:
            self._schedule(now + self.script.ring_delay_s, "answer")

    def _check_setup(self, body: SetupReq, chan: ChanHdr) -> Refusal | None:
        cfg = self.config
        expected = setup_credential(
            initiator=body.initiator, responder=body.responder, from_token=cfg.from_token, cid=chan.cid
        )
        if body.credential is None or not hmac.compare_digest(body.credential, expected):
            return Refusal(RESULT_BAD_CREDENTIAL, rel_phrase="credential mismatch")
        if cfg.caller_mid is not None and body.initiator != cfg.caller_mid:
            return Refusal(RESULT_BAD_CREDENTIAL, rel_phrase="unexpected initiator")
        if cfg.callee_mid is not None and body.responder != cfg.callee_mid:
            return Refusal(RESULT_UNKNOWN_CALLEE, rel_phrase="unknown callee")
        return None

    def _peer_media_for(self, body: SetupReq) -> tuple[PeerMedia | None, Refusal | None]:
        script = self.script
        try:
            offer = MediaOffer.decode(body.offer or b"")
            media = PeerMedia(
                peer=self.peer_material,
                client_offer=offer,
                mode=script.media_mode,
                reply_ssrc=script.reply_ssrc,
                reply_first_seq=script.reply_first_seq,
                prefix_len=script.payload_prefix_len,
            )
        except (PlanetError, SrtpError, ValueError):
            return None, Refusal(RESULT_BAD_OFFER, rel_phrase="unusable media offer")
        return media, None

    def _on_conn_rsp(self, body: ConnRsp, now: float) -> None:
        if self.state is not CallState.ANSWERED or self._call is None:
            return
        self.state = CallState.CONNECTED
        self._client_media_chan = body.m_chan_id or self._call.client_chan_id
        self._steps = deque(self.script.follow_ups)
        self._advance(now)

    def _advance(self, now: float) -> None:
        """Send the next follow-up (and wait for its replies), or start the audio once none is left."""
        self._step_generation += 1
        self._current_step = None
        if not self._steps:
            self._start_replies(now)
            return
        step = self._steps.popleft()
        self._current_step = step
        self._awaiting = set(_EXPECTED_REPLIES[step])
        self._send_follow_up(step, now)
        self._schedule(now + self.script.reply_timeout_s, "step_timeout", self._step_generation)

    def _send_follow_up(self, step: str, now: float) -> None:
        call = self._call
        if call is None:  # pragma: no cover - steps only run in a connected call
            return
        if step == "info_req":
            info = peer_info_req(client_mid=call.client_mid, callee_mid=call.callee_mid, config=self.config)
            self._send_cc(info, now, dst=call.client_chan_id)
        elif step == "data_req":
            self._send_mc(peer_data_req(), now)
        elif step == "join_req":
            self._send_mc(peer_join_req(), now)
        elif step == "change_req":
            self._send_mc(peer_change_req(), now)
        else:
            self._send_cc(peer_conn_req(self.peer_material, self.config), now, dst=call.client_chan_id)

    def _start_replies(self, now: float) -> None:
        if self.script.reply_payloads:
            self._reply_start = now
            self._schedule(now, "reply")

    # ── timers ───────────────────────────────────────────────────────────────────────────────────

    def _run_timer(self, timer: RelayTimer, now: float) -> None:
        handler: Callable[[RelayTimer, float], None] = {
            "answer": self._on_answer_timer,
            "step_timeout": self._on_step_timeout,
            "reply": self._on_reply_timer,
            "hangup": self._on_hangup_timer,
        }[timer.action]
        handler(timer, now)

    def _on_answer_timer(self, timer: RelayTimer, now: float) -> None:
        if self.state is not CallState.RINGING or self._call is None:
            return
        self._send_cc(peer_conn_req(self.peer_material, self.config), now, dst=self._call.client_chan_id)
        self.state = CallState.ANSWERED
        self._answered_at = now
        if self.script.hangup_after_s is not None:
            self._schedule(now + self.script.hangup_after_s, "hangup")

    def _on_step_timeout(self, timer: RelayTimer, now: float) -> None:
        if timer.generation != self._step_generation or self.state is not CallState.CONNECTED:
            return
        self.replies_missing.append(f"{self._current_step}: {', '.join(sorted(self._awaiting))}")
        self._awaiting.clear()
        self._advance(now)

    def _on_reply_timer(self, timer: RelayTimer, now: float) -> None:
        media, payloads = self.media, self.script.reply_payloads
        if media is None or self.state not in _LIVE_STATES or self._reply_index >= len(payloads):
            return
        destination = self._media_addr or self._client_addr
        if destination is None:  # pragma: no cover - a live call has heard from its client
            return
        self._queue_media(media.send(payloads[self._reply_index]), destination, KIND_SRTP_AUDIO, now)
        self._reply_index += 1
        if self._reply_index < len(payloads):
            self._schedule(self._reply_start + self._reply_index * self.script.reply_interval_s, "reply")

    def _on_hangup_timer(self, timer: RelayTimer, now: float) -> None:
        if self.state not in (CallState.ANSWERED, CallState.CONNECTED) or self._call is None:
            return
        self._send_cc(peer_rel_req(self.script.hangup_code), now, dst=self._call.client_chan_id)
        self.state = CallState.RELEASED_BY_PEER
        self.released_by_peer = True
        self._timers.clear()
        self._awaiting.clear()

    # ── outbound ─────────────────────────────────────────────────────────────────────────────────

    def _cc_chan(self, dst: int | None = None) -> ChanHdr:
        call = self._call
        if call is None:  # pragma: no cover - only called within a call
            raise RuntimeError("no call")
        return ChanHdr(
            cid=call.cid, src_chan_id=self.config.relay_cc_chan_id, dst_chan_id=dst or call.client_chan_id
        )

    def _send_cc(self, body: CcBody, now: float, *, dst: int) -> None:
        self._send(body, now, chan=self._cc_chan(dst))

    def _send_mc(self, body: McBody, now: float) -> None:
        call = self._call
        if call is None:  # pragma: no cover
            return
        dst = self._client_media_chan or call.client_chan_id
        chan = ChanHdr(cid=call.cid, src_chan_id=self.config.peer_media_chan_id, dst_chan_id=dst)
        self._send(body, now, chan=chan)

    def _send(
        self, body: CcBody | McBody | ScBody, now: float, *, chan: ChanHdr | None, bootstrap: bool = False
    ) -> None:
        call = self._call
        if call is None:  # pragma: no cover
            return
        sent = self._queue_message(body, now, chan=chan, user_id=call.callee_mid, bootstrap=bootstrap)
        if sent is not None:
            log.debug("sim_relay_send", kind=sent.kind, size=len(sent.wire), state=self.state.value)
