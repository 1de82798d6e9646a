"""The transport half both simulated relays share: open the client's frames, classify them, seal replies.

The 1:1 relay (:mod:`.planet_relay_core`) and the group relay (:mod:`.planet_group_relay`) differ in what
they do with a message, but not in how a datagram gets to be one: the first authenticated bootstrap frame
binds a relay-role :class:`FrameCodec` to the client, raw frames are pinhole probes or reports, the rest
are planet_msgs; every message the relay sends draws a 16-byte tran_id and takes the next tran_seq. Keeping
that in one place keeps the two relays' wire bytes (and the order of their random draws) in step, which
the transcript replays rely on.

Subclasses draw their keys and session in their own order, then call :meth:`RelayEndpoint.__init__`, and
provide ``_receive_media``, ``_on_message`` and ``_run_timer``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.crypto import P256KeyPair, RandomSource
from linecall.protocol.planet.errors import PlanetError, ProtoDecodeError
from linecall.protocol.planet.framing import (
    TAIL_CLASS_RAW,
    BootstrapPrefix,
    FrameCodec,
    FrameKind,
    IgnoredDatagram,
    IgnoreReason,
    InboundFrame,
    InboundResult,
    is_rtp_like,
    looks_bootstrap,
)
from linecall.protocol.planet.messages import (
    CcBody,
    ChanHdr,
    McBody,
    PlanetBody,
    PlanetMessage,
    PlanetMsgHdr,
    ScBody,
    decode_planet_message,
)
from linecall.protocol.planet.messages_sc import PinholeProbe, PinholeReport
from linecall.protocol.planet.proto import FieldSet

from .planet_records import (
    KIND_PLANET_SHORT,
    KIND_PLANET_UNAUTHENTICATED,
    KIND_PLANET_UNDECODABLE,
    KIND_PROBE,
    KIND_RAW_UNDECODABLE,
    KIND_REPORT,
    ReceivedDatagram,
    SentDatagram,
    message_kind,
)
from .planet_script import RelaySessionParams

__all__ = ["Address", "RelayEndpoint", "RelayTimer"]

Address = tuple[str, int]

#: Shorter than this, a datagram that is not a bootstrap frame is recorded as short, not unauthenticated.
_MIN_FRAME_LEN = 22


@dataclass(order=True, frozen=True, slots=True)
class RelayTimer:
    """A scheduled action; ``order`` keeps equal times in schedule order, ``generation`` tags a step."""

    at: float
    order: int
    action: str
    generation: int = 0


class RelayEndpoint:
    """One relay's transport state and the sans-I/O interface over it (datagrams in and out, timers)."""

    #: Whether received frame records keep their plaintext (the 1:1 relay's replays compare it).
    KEEP_PLAINTEXT: ClassVar[bool] = False

    def __init__(self, *, keypair: P256KeyPair, params: RelaySessionParams, random: RandomSource) -> None:
        self.keypair = keypair
        self.params = params
        self._random = random
        self.received: list[ReceivedDatagram] = []
        self.sent: list[SentDatagram] = []
        self._codec: FrameCodec | None = None
        self._client_addr: Address | None = None
        self._tran_seq = params.first_tran_seq
        self._outbox: list[tuple[bytes, Address]] = []
        self._timers: list[RelayTimer] = []
        self._timer_order = 0

    @property
    def mpkey(self) -> bytes:
        """The relay's 33-byte compressed public key, published as ``commParam.mpkey``."""
        return self.keypair.public_key

    # ── sans-I/O interface ───────────────────────────────────────────────────────────────────────

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Take one datagram from ``addr``; never raises on bad input (junk is recorded and dropped)."""
        data = bytes(data)
        if is_rtp_like(data):
            self._receive_media(data, addr, now)
            return
        result = self._open(data)
        if isinstance(result, IgnoredDatagram):
            kind = KIND_PLANET_SHORT if result.reason is IgnoreReason.SHORT else KIND_PLANET_UNAUTHENTICATED
            self._record(ReceivedDatagram(now, addr, kind, len(data)))
            return
        self._client_addr = addr
        self._receive_frame(result, addr, now, len(data))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Everything queued since the last call, in order, with its destination."""
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` next has work (clock of the ``now`` values fed in), or ``None``."""
        return self._timers[0].at if self._timers else None

    def handle_timer(self, now: float) -> None:
        """Run every scheduled action due at ``now`` (in schedule order)."""
        while self._timers and self._timers[0].at <= now:
            timer = heapq.heappop(self._timers)
            self._run_timer(timer, now)

    def received_kinds(self) -> list[str]:
        return [r.kind for r in self.received]

    def sent_kinds(self) -> list[str]:
        return [s.kind for s in self.sent]

    # ── what subclasses provide ──────────────────────────────────────────────────────────────────

    def _receive_media(self, data: bytes, addr: Address, now: float) -> None:
        raise NotImplementedError

    def _on_message(self, message: PlanetMessage, kind: str, now: float) -> None:
        raise NotImplementedError

    def _run_timer(self, timer: RelayTimer, now: float) -> None:
        raise NotImplementedError

    def _record(self, record: ReceivedDatagram) -> None:
        self.received.append(record)

    # ── inbound ──────────────────────────────────────────────────────────────────────────────────

    def _open(self, data: bytes) -> InboundResult:
        if self._codec is not None:
            return self._codec.open(data)
        if not looks_bootstrap(data):
            short = len(data) < _MIN_FRAME_LEN
            return IgnoredDatagram(IgnoreReason.SHORT if short else IgnoreReason.UNAUTHENTICATED)
        try:
            prefix = BootstrapPrefix.parse(data)
            candidate = FrameCodec(
                local=self.keypair,
                peer_public_key=prefix.public_key,
                bootstrap_seed=self.params.bootstrap_seed,
                send_label=self.params.send_label,
                first_seq=self.params.first_frame_seq,
            )
        except PlanetError:  # not a point on P-256, and the like
            return IgnoredDatagram(IgnoreReason.UNAUTHENTICATED)
        result = candidate.open(data)
        if isinstance(result, InboundFrame):
            self._codec = candidate  # bound to this client from now on
        return result

    def _receive_frame(self, frame: InboundFrame, addr: Address, now: float, size: int) -> None:
        common: dict[str, Any] = {"frame_seq": frame.header.seq, "bootstrap": frame.bootstrap}
        if self.KEEP_PLAINTEXT:
            common["plaintext"] = frame.plaintext
        if not frame.bootstrap and (frame.header.tail16 >> 8) & 0xF8 == TAIL_CLASS_RAW:
            raw = _decode_raw(frame.plaintext)
            kind = (
                KIND_RAW_UNDECODABLE
                if raw is None
                else KIND_PROBE
                if isinstance(raw, PinholeProbe)
                else KIND_REPORT
            )
            self._record(ReceivedDatagram(now, addr, kind, size, raw=raw, **common))
            return
        try:
            message = decode_planet_message(frame.plaintext)
        except ProtoDecodeError:
            self._record(ReceivedDatagram(now, addr, KIND_PLANET_UNDECODABLE, size, **common))
            return
        kind = message_kind(message)
        self._record(ReceivedDatagram(now, addr, kind, size, message=message, **common))
        self._on_message(message, kind, now)

    # ── timers and outbound ──────────────────────────────────────────────────────────────────────

    def _schedule(self, at: float, action: str, generation: int = 0) -> None:
        self._timer_order += 1
        heapq.heappush(self._timers, RelayTimer(at, self._timer_order, action, generation))

    def _queue_media(self, wire: bytes, destination: Address, kind: str, now: float) -> None:
        """Queue one SRTP packet the relay's media side made, and record it."""
        self._outbox.append((wire, destination))
        self.sent.append(SentDatagram(now, destination, kind, wire))

    def _queue_message(
        self,
        body: CcBody | McBody | ScBody,
        now: float,
        *,
        chan: ChanHdr | None,
        user_id: str,
        bootstrap: bool,
    ) -> SentDatagram | None:
        """Seal one planet_msg to the bound client (a fresh tran_id, the next tran_seq) and queue it.

        ``None`` (nothing drawn, nothing queued) before a client has been bound.
        """
        codec, destination = self._codec, self._client_addr
        if codec is None or destination is None:  # pragma: no cover
            return None
        hdr = PlanetMsgHdr(
            user_id=user_id,
            msg_id=body.MSG_ID,
            sess_id=self.params.sess_id,
            tran_id=self._random(c.TRAN_ID_LEN),
            tran_seq=self._tran_seq,
            loc_nonce=self.params.loc_nonce,
        )
        self._tran_seq += 1
        message = PlanetMessage(hdr, cast(PlanetBody, body), None if isinstance(body, ScBody) else chan)
        wire = codec.seal(message.encode(), FrameKind.BOOTSTRAP if bootstrap else FrameKind.CONTROL)
        self._outbox.append((wire, destination))
        sent = SentDatagram(now, destination, message_kind(message), wire, message, bootstrap)
        self.sent.append(sent)
        return sent


def _decode_raw(plaintext: bytes) -> PinholeProbe | PinholeReport | None:
    """A raw frame's plaintext: a probe carries its record in f3, the report in f1."""
    try:
        if FieldSet.parse(plaintext).has(3):
            return PinholeProbe.decode(plaintext)
        return PinholeReport.decode(plaintext)
    except ProtoDecodeError:
        return None
