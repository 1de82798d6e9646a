"""Loopback PLANET group relay: the LINE side of a group call (relay + mixer), built from our own codecs.

``async with run_group_relay(GroupScript(...)) as relay:`` binds an ephemeral loopback UDP port and hands
out ``relay.route`` (a :class:`GroupCallRoute`, as ``acquireGroupCallRoute`` would) pointing at it. The
sans-I/O :class:`GroupRelayCore` plays the group side of planet_wire_group.json:

* the participant's bootstrap frame keys a relay-role :class:`FrameCodec` (as the 1:1 relay does);
* participate_req is checked (group credential ``SHA-256(participant::room::token::cid)``, room, offer
  with a 30-byte secret) and answered: ``provisional`` provisional participate_rsp first (the first reply is
  a bootstrap frame), then after ``join_delay_s`` the final one (result 0, the mixer's group offer as
  answer, its media channel, bridge info, alive_rpt_interval), or a refusal (result / rel_code);
* the data-session mc data_req is answered with data_rsp (result 0, dispatch id echoed) and its StrmSpec
  kept (the participant's SSRC plan);
* media is decrypted and decoded by :class:`~.planet_group_media.MixerMedia` (nothing is mixed);
* "others are present": the mixer streams ``others_present`` (group payloads: prefix + 40 ms code-3
  packet) to the participant, one every ``mixer_interval_s`` from the join on;
* ``kick_after_s`` after the join the relay sends its own rel_req; the participant's rel_req is recorded.

The 1:1 relay (:mod:`.planet_relay_core`) is untouched; this module only reuses its records, its session
parameters and its Trio runner.
"""

from __future__ import annotations

import base64
import enum
import heapq
import hmac
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import structlog
import trio

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
from linecall.protocol.planet.media_keys import DEFAULT_GROUP_MODE, LocalMediaMaterial, MediaKeyMode
from linecall.protocol.planet.messages import (
    BridgeInfo,
    CcBody,
    ChanHdr,
    McBody,
    McDataReq,
    McDataRsp,
    MediaOffer,
    ParticipateReq,
    ParticipateRsp,
    PlanetAddr,
    PlanetBody,
    PlanetMessage,
    PlanetMsgHdr,
    RelReq,
    ScBody,
    StrmSpec,
    build_group_offer,
    decode_planet_message,
    unwrap_data_session,
)
from linecall.protocol.planet.messages_sc import PinholeProbe, PinholeReport
from linecall.protocol.planet.proto import FieldSet
from linecall.protocol.planet.route import GroupCallRoute, group_credential

from .planet_group_media import MixerMedia, MixerStats
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
from .planet_relay import PlanetRelay
from .planet_script import (
    RESULT_BAD_CREDENTIAL,
    RESULT_BAD_OFFER,
    RESULT_UNKNOWN_CALLEE,
    Refusal,
    RelaySessionParams,
)

__all__ = [
    "DEFAULT_GROUP_TOKEN",
    "KIND_GROUP_DATA",
    "KIND_GROUP_RTCP",
    "GroupRelay",
    "GroupRelayConfig",
    "GroupRelayCore",
    "GroupScript",
    "GroupState",
    "run_group_relay",
]

log = structlog.get_logger(__name__)

Address = tuple[str, int]
Int16Array = npt.NDArray[np.int16]

DEFAULT_GROUP_TOKEN: Final = "bG9vcGJhY2stZ3JvdXAtdG9rZW4="  # base64("loopback-group-token")
KIND_GROUP_AUDIO: Final = "srtp/audio"
KIND_GROUP_DATA: Final = "srtp/group_data"
KIND_GROUP_RTCP: Final = "rtcp/group_feedback"
KIND_GROUP_REJECTED: Final = "srtp/rejected"
KIND_GROUP_UNEXPECTED: Final = "srtp/unexpected"
#: What the relay names itself as when it sends its own rel_req (a simulator choice; LINE's is unknown).
RELAY_RELEASER: Final = "mixer"
_BRIDGE_VERSION: Final = 4
_BRIDGE_UDP: Final = 1


class GroupState(enum.Enum):
    IDLE = "idle"  # no participate_req accepted yet
    JOINING = "joining"  # provisional reply sent, final one pending
    JOINED = "joined"  # final participate_rsp (result 0) sent
    REFUSED = "refused"
    KICKED = "kicked"  # the relay sent rel_req
    LEFT = "left"  # the participant sent rel_req


@dataclass(frozen=True, slots=True)
class GroupRelayConfig:
    """The relay's identity; ``None`` fields are drawn from the core's random source (keys, session)."""

    token: str = DEFAULT_GROUP_TOKEN
    room_id: str | None = None  # when set, other rooms are refused (RESULT_UNKNOWN_CALLEE)
    keypair: P256KeyPair | None = None
    session: RelaySessionParams | None = None
    mixer_media: LocalMediaMaterial | None = None
    relay_cc_chan_id: int = 180092929
    mixer_media_chan_id: int = 180092930
    from_zone: str = "JP"
    polaris_zone: str = "JP2"
    polaris_address: str = "192.0.2.31"
    polaris_udp_port: int = 10003
    orion_address: str = "192.0.2.32"
    host_mid: str = "ufedcba9876543210fedcba9876543210"


@dataclass(frozen=True, slots=True)
class GroupScript:
    """How the group side behaves. Times are seconds on the clock the core is fed."""

    provisional: int = 1
    join_delay_s: float = 0.05
    refuse: Refusal | None = None
    silent: bool = False
    ignore_first_participates: int = 0
    answer: bool = True  # False: the final reply carries no mixer answer (no media keys)
    keepalive_interval_s: int = 15
    role: str = "participant"
    join_ts_ms: int = 1767229200000
    max_call_time_s: int | None = None
    others_present: tuple[bytes, ...] = ()
    mixer_interval_s: float = 0.04
    mixer_ssrc: int = 0x00C0FFEE
    mixer_first_seq: int = 100
    media_mode: MediaKeyMode = DEFAULT_GROUP_MODE
    kick_after_s: float | None = None
    kick_code: int = 1

    def __post_init__(self) -> None:
        if self.provisional < 0 or self.ignore_first_participates < 0:
            raise ValueError("counts must not be negative")
        if self.join_delay_s < 0 or self.mixer_interval_s <= 0:
            raise ValueError("join_delay_s must be >= 0 and mixer_interval_s > 0")


@dataclass(frozen=True, slots=True)
class _Join:
    cid: str
    participant: str
    room_id: str
    client_cc_chan: int
    client_media_chan: int
    participant_secret: bytes


@dataclass(order=True, frozen=True, slots=True)
class _Timer:
    at: float
    order: int
    action: str


class GroupRelayCore:
    """One simulated group call, sans I/O: ``receive_datagram`` / ``datagrams_to_send`` / timers.

    Construction draws (for what ``config`` leaves unset): transport key pair, mixer media material,
    session values. Each planet_msg sent draws a 16-byte tran_id.
    """

    def __init__(
        self,
        script: GroupScript | None = None,
        config: GroupRelayConfig | None = None,
        *,
        random: RandomSource = os.urandom,
    ) -> None:
        self.script = script if script is not None else GroupScript()
        self.config = config if config is not None else GroupRelayConfig()
        self._random = random
        self.keypair = self.config.keypair or P256KeyPair.generate(random)
        self.mixer_material = self.config.mixer_media or LocalMediaMaterial.generate(random)
        self.params = self.config.session or RelaySessionParams.draw(random)
        self.state = GroupState.IDLE
        self.received: list[ReceivedDatagram] = []
        self.sent: list[SentDatagram] = []
        self.participates = 0
        self.provisional_sent = 0
        self.client_release: RelReq | None = None
        self.data_session: StrmSpec | None = None
        self.media: MixerMedia | None = None
        self._codec: FrameCodec | None = None
        self._client_addr: Address | None = None
        self._join: _Join | None = None
        self._last_reply: ParticipateRsp | None = None
        self._tran_seq = self.params.first_tran_seq
        self._bootstrap_sent = False
        self._outbox: list[tuple[bytes, Address]] = []
        self._timers: list[_Timer] = []
        self._timer_order = 0
        self._mixer_index = 0
        self._joined_at: float | None = None

    def __repr__(self) -> str:
        return f"GroupRelayCore(state={self.state.value}, received={len(self.received)})"

    # ── identity ─────────────────────────────────────────────────────────────────────────────────

    @property
    def mpkey(self) -> bytes:
        return self.keypair.public_key

    def route_json(self, host: str, port: int) -> dict[str, Any]:
        """GroupCallRoute JSON (Thrift names, the shape of planet_wire_group.json's ``route``)."""
        cfg = self.config
        return {
            "token": cfg.token,
            "hostMid": cfg.host_mid,
            "voipAddress": host,
            "voipUdpPort": port,
            "voipTcpPort": 0,
            "fromZone": cfg.from_zone,
            "commParam": json.dumps({"mpkey": base64.b64encode(self.mpkey).decode("ascii")}),
            "polarisAddress": cfg.polaris_address,
            "polarisUdpPort": cfg.polaris_udp_port,
            "polarisZone": cfg.polaris_zone,
            "orionAddress": cfg.orion_address,
            "voipAddress6": "",
            "stnpk": "",
        }

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
            self.received.append(ReceivedDatagram(now, addr, kind, len(data)))
            return
        self._client_addr = addr
        self._receive_frame(result, addr, now, len(data))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        return self._timers[0].at if self._timers else None

    def handle_timer(self, now: float) -> None:
        while self._timers and self._timers[0].at <= now:
            timer = heapq.heappop(self._timers)
            {"final": self._on_final, "mixer": self._on_mixer, "kick": self._on_kick}[timer.action](now)

    # ── results ──────────────────────────────────────────────────────────────────────────────────

    @property
    def mixer_stats(self) -> MixerStats:
        return self.media.stats if self.media is not None else MixerStats()

    def heard_pcm(self) -> Int16Array:
        """What the mixer decoded of the participant's audio (48 kHz mono int16)."""
        return self.media.heard_pcm() if self.media is not None else np.zeros(0, dtype=np.int16)

    def stats(self) -> MixerStats:
        return self.mixer_stats

    def received_kinds(self) -> list[str]:
        return [r.kind for r in self.received]

    def sent_kinds(self) -> list[str]:
        return [s.kind for s in self.sent]

    # ── inbound ──────────────────────────────────────────────────────────────────────────────────

    def _open(self, data: bytes) -> InboundResult:
        if self._codec is not None:
            return self._codec.open(data)
        if not looks_bootstrap(data):
            return IgnoredDatagram(IgnoreReason.SHORT if len(data) < 22 else IgnoreReason.UNAUTHENTICATED)
        try:
            prefix = BootstrapPrefix.parse(data)
            codec = FrameCodec(
                local=self.keypair,
                peer_public_key=prefix.public_key,
                bootstrap_seed=self.params.bootstrap_seed,
                send_label=self.params.send_label,
                first_seq=self.params.first_frame_seq,
            )
        except PlanetError:
            return IgnoredDatagram(IgnoreReason.UNAUTHENTICATED)
        result = codec.open(data)
        if isinstance(result, InboundFrame):
            self._codec = codec  # bound to this participant from now on
        return result

    def _receive_frame(self, frame: InboundFrame, addr: Address, now: float, size: int) -> None:
        common: dict[str, Any] = {"frame_seq": frame.header.seq, "bootstrap": frame.bootstrap}
        if not frame.bootstrap and (frame.header.tail16 >> 8) & 0xF8 == TAIL_CLASS_RAW:
            raw = _decode_raw(frame.plaintext)
            kind = (
                KIND_RAW_UNDECODABLE
                if raw is None
                else KIND_PROBE
                if isinstance(raw, PinholeProbe)
                else KIND_REPORT
            )
            self.received.append(ReceivedDatagram(now, addr, kind, size, raw=raw, **common))
            return
        try:
            message = decode_planet_message(frame.plaintext)
        except ProtoDecodeError:
            self.received.append(ReceivedDatagram(now, addr, KIND_PLANET_UNDECODABLE, size, **common))
            return
        kind = message_kind(message)
        self.received.append(ReceivedDatagram(now, addr, kind, size, message=message, **common))
        if self.script.silent:
            return
        body, chan = message.body, message.chan
        if isinstance(body, ParticipateReq) and chan is not None:
            self._on_participate_req(body, chan, now)
        elif isinstance(body, McDataReq) and chan is not None:
            self._on_data_req(body, chan, now)
        elif isinstance(body, RelReq):
            if self.client_release is None:
                self.client_release = body
            if self.state in (GroupState.JOINING, GroupState.JOINED):
                self.state = GroupState.LEFT
                self._timers.clear()

    def _receive_media(self, data: bytes, addr: Address, now: float) -> None:
        if self.media is None:
            self.received.append(ReceivedDatagram(now, addr, KIND_GROUP_UNEXPECTED, len(data)))
            return
        name, media = self.media.receive(data)
        kind = {
            "audio": KIND_GROUP_AUDIO,
            "data": KIND_GROUP_DATA,
            "rtcp": KIND_GROUP_RTCP,
        }.get(name, KIND_GROUP_REJECTED)
        header = media.header if media is not None else None
        self.received.append(ReceivedDatagram(now, addr, kind, len(data), rtp=header))

    # ── the join ─────────────────────────────────────────────────────────────────────────────────

    def _on_participate_req(self, body: ParticipateReq, chan: ChanHdr, now: float) -> None:
        self.participates += 1
        if self.participates <= self.script.ignore_first_participates:
            return
        if self._join is not None:
            # A retransmission: the participant missed our reply, repeat the latest one.
            if chan.cid == self._join.cid and self._last_reply is not None:
                self._send(self._last_reply, now, chan=self._cc_chan())
            return
        refusal, secret = self._check(body, chan)
        self._join = _Join(
            cid=chan.cid,
            participant=body.participant,
            room_id=body.room_id,
            client_cc_chan=chan.src_chan_id,
            client_media_chan=body.m_chan_id or 0,
            participant_secret=secret or b"",
        )
        if refusal is None:
            refusal = self.script.refuse
        if refusal is not None:
            self._reply(
                ParticipateRsp(
                    result=refusal.result, rel_code=refusal.rel_code, rel_phrase=refusal.rel_phrase
                ),
                now,
            )
            self.state = GroupState.REFUSED
            return
        for _ in range(self.script.provisional):
            self._reply(ParticipateRsp(role=self.script.role), now)
            self.provisional_sent += 1
        self.state = GroupState.JOINING
        self._schedule(now + self.script.join_delay_s, "final")

    def _check(self, body: ParticipateReq, chan: ChanHdr) -> tuple[Refusal | None, bytes | None]:
        cfg = self.config
        expected = group_credential(
            participant=body.participant, room_id=body.room_id, token=cfg.token, cid=chan.cid
        )
        if body.credential is None or not hmac.compare_digest(body.credential, expected):
            return Refusal(RESULT_BAD_CREDENTIAL, rel_phrase="credential mismatch"), None
        if cfg.room_id is not None and body.room_id != cfg.room_id:
            return Refusal(RESULT_UNKNOWN_CALLEE, rel_phrase="unknown room"), None
        try:
            secret = MediaOffer.decode(body.offer or b"").media_secret
        except PlanetError:
            secret = None
        if secret is None or len(secret) != 30:
            return Refusal(RESULT_BAD_OFFER, rel_phrase="unusable media offer"), None
        return None, secret

    def _on_final(self, now: float) -> None:
        join, script, cfg = self._join, self.script, self.config
        if join is None or self.state is not GroupState.JOINING:
            return
        bridge = BridgeInfo(
            PlanetAddr(
                ver=_BRIDGE_VERSION, trpt=_BRIDGE_UDP, ip=cfg.polaris_address, port=cfg.polaris_udp_port
            )
        )
        final = ParticipateRsp(
            result=0,
            answer=build_group_offer(self.mixer_material.secret) if script.answer else None,
            m_chan_id=cfg.mixer_media_chan_id,
            role=script.role,
            join_ts=script.join_ts_ms,
            bridge_info=bridge.encode(),
            alive_rpt_interval=script.keepalive_interval_s,
            max_call_time_sec=script.max_call_time_s,
        )
        self.media = MixerMedia(
            mixer=self.mixer_material,
            participant_secret=join.participant_secret,
            mode=script.media_mode,
            reply_ssrc=script.mixer_ssrc,
            reply_first_seq=script.mixer_first_seq,
        )
        self._reply(final, now)
        self.state = GroupState.JOINED
        self._joined_at = now
        if script.others_present:
            self._schedule(now, "mixer")
        if script.kick_after_s is not None:
            self._schedule(now + script.kick_after_s, "kick")

    def _on_data_req(self, body: McDataReq, chan: ChanHdr, now: float) -> None:
        if self.data_session is None and body.data is not None:
            try:
                self.data_session = StrmSpec.decode(unwrap_data_session(body.data))
            except ProtoDecodeError:
                log.debug("sim_group_bad_data_session")
        rsp = McDataRsp(result=0, rel_code=0, dispatch_id=body.dispatch_id)
        mc = ChanHdr(cid=chan.cid, src_chan_id=self.config.mixer_media_chan_id, dst_chan_id=chan.src_chan_id)
        self._send(rsp, now, chan=mc)

    def _on_mixer(self, now: float) -> None:
        media, payloads, addr = self.media, self.script.others_present, self._client_addr
        if media is None or addr is None or self.state is not GroupState.JOINED:
            return
        if self._mixer_index >= len(payloads) or self._joined_at is None:
            return
        wire = media.send(payloads[self._mixer_index])
        self._outbox.append((wire, addr))
        self.sent.append(SentDatagram(now, addr, KIND_GROUP_AUDIO, wire))
        self._mixer_index += 1
        if self._mixer_index < len(payloads):
            self._schedule(self._joined_at + self._mixer_index * self.script.mixer_interval_s, "mixer")

    def _on_kick(self, now: float) -> None:
        if self.state is not GroupState.JOINED:
            return
        rel = RelReq(rel_code=self.script.kick_code, releaser=RELAY_RELEASER, comm_media_flags=1)
        self._send(rel, now, chan=self._cc_chan())
        self.state = GroupState.KICKED
        self._timers.clear()

    # ── outbound ─────────────────────────────────────────────────────────────────────────────────

    def _schedule(self, at: float, action: str) -> None:
        self._timer_order += 1
        heapq.heappush(self._timers, _Timer(at, self._timer_order, action))

    def _cc_chan(self) -> ChanHdr:
        join = self._join
        if join is None:  # pragma: no cover - only called within a join
            raise RuntimeError("no join")
        return ChanHdr(
            cid=join.cid, src_chan_id=self.config.relay_cc_chan_id, dst_chan_id=join.client_cc_chan
        )

    def _reply(self, rsp: ParticipateRsp, now: float) -> None:
        self._last_reply = rsp
        self._send(rsp, now, chan=self._cc_chan())

    def _send(self, body: CcBody | McBody | ScBody, now: float, *, chan: ChanHdr | None) -> None:
        codec, destination = self._codec, self._client_addr
        if codec is None or destination is None:  # pragma: no cover
            return
        hdr = PlanetMsgHdr(
            user_id="",
            msg_id=body.MSG_ID,
            sess_id=self.params.sess_id,
            tran_id=self._random(c.TRAN_ID_LEN),
            tran_seq=self._tran_seq,
            loc_nonce=self.params.loc_nonce,
        )
        self._tran_seq += 1
        message = PlanetMessage(hdr, cast(PlanetBody, body), None if isinstance(body, ScBody) else chan)
        bootstrap = not self._bootstrap_sent  # the participant learns our keys from our first frame
        self._bootstrap_sent = True
        wire = codec.seal(message.encode(), FrameKind.BOOTSTRAP if bootstrap else FrameKind.CONTROL)
        self._outbox.append((wire, destination))
        self.sent.append(SentDatagram(now, destination, message_kind(message), wire, message, bootstrap))


def _decode_raw(plaintext: bytes) -> PinholeProbe | PinholeReport | None:
    """A raw frame's plaintext: a probe carries its record in f3, the report in f1."""
    try:
        if FieldSet.parse(plaintext).has(3):
            return PinholeProbe.decode(plaintext)
        return PinholeReport.decode(plaintext)
    except ProtoDecodeError:
        return None


class GroupRelay(PlanetRelay):
    """A running loopback group relay (the 1:1 runner's loop, a :class:`GroupRelayCore` inside)."""

    core: GroupRelayCore  # type: ignore[assignment]

    @property
    def route(self) -> GroupCallRoute:  # type: ignore[override]
        return GroupCallRoute.from_json(self.route_json)

    @property
    def mixer_stats(self) -> MixerStats:
        return self.core.mixer_stats


@asynccontextmanager
async def run_group_relay(
    script: GroupScript | None = None,
    config: GroupRelayConfig | None = None,
    *,
    host: str = "127.0.0.1",
    random: RandomSource = os.urandom,
) -> AsyncIterator[GroupRelay]:
    """Run a group relay on ``host`` (an ephemeral UDP port) for the duration of the block."""
    family = trio.socket.AF_INET6 if ":" in host else trio.socket.AF_INET
    sock = trio.socket.socket(family, trio.socket.SOCK_DGRAM)
    with sock:
        await sock.bind((host, 0))
        bound_host, port = sock.getsockname()[:2]
        core = GroupRelayCore(script, config, random=random)
        relay = GroupRelay(core, sock, (str(bound_host), int(port)))  # type: ignore[arg-type]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relay.serve)
            try:
                yield relay
            finally:
                nursery.cancel_scope.cancel()
