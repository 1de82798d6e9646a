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

Frame handling (bootstrap binding, classification, sealing, timers) is the 1:1 relay's, shared through
:class:`~.planet_relay_endpoint.RelayEndpoint`; this module adds the group's call logic and reuses the 1:1
relay's records, session parameters and Trio runner.
"""

from __future__ import annotations

import base64
import enum
import hmac
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import structlog
import trio

from linecall.protocol.planet.crypto import P256KeyPair, RandomSource
from linecall.protocol.planet.errors import PlanetError, ProtoDecodeError
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
    PlanetMessage,
    RelReq,
    ScBody,
    StrmSpec,
    build_group_offer,
    unwrap_data_session,
)
from linecall.protocol.planet.route import GroupCallRoute, group_credential

from .planet_group_media import MixerMedia, MixerStats
from .planet_records import ReceivedDatagram
from .planet_relay import PlanetRelay, serve_relay
from .planet_relay_endpoint import Address, RelayEndpoint, RelayTimer
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


class GroupRelayCore(RelayEndpoint):
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
        keypair = self.config.keypair or P256KeyPair.generate(random)
        self.mixer_material = self.config.mixer_media or LocalMediaMaterial.generate(random)
        params = self.config.session or RelaySessionParams.draw(random)
        super().__init__(keypair=keypair, params=params, random=random)
        self.state = GroupState.IDLE
        self.participates = 0
        self.provisional_sent = 0
        self.client_release: RelReq | None = None
        self.data_session: StrmSpec | None = None
        self.media: MixerMedia | None = None
        self._join: _Join | None = None
        self._last_reply: ParticipateRsp | None = None
        self._bootstrap_sent = False
        self._mixer_index = 0
        self._joined_at: float | None = None

    def __repr__(self) -> str:
        return f"GroupRelayCore(state={self.state.value}, received={len(self.received)})"

    # ── identity ─────────────────────────────────────────────────────────────────────────────────

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

    def _run_timer(self, timer: RelayTimer, now: float) -> None:
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

    # ── inbound ──────────────────────────────────────────────────────────────────────────────────

    def _on_message(self, message: PlanetMessage, kind: str, now: float) -> None:
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
            self._record(ReceivedDatagram(now, addr, KIND_GROUP_UNEXPECTED, len(data)))
            return
        name, media = self.media.receive(data)
        kind = {
            "audio": KIND_GROUP_AUDIO,
            "data": KIND_GROUP_DATA,
            "rtcp": KIND_GROUP_RTCP,
        }.get(name, KIND_GROUP_REJECTED)
        header = media.header if media is not None else None
        self._record(ReceivedDatagram(now, addr, kind, len(data), rtp=header))

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
        self._queue_media(media.send(payloads[self._mixer_index]), addr, KIND_GROUP_AUDIO, now)
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
        if self._codec is None or self._client_addr is None:  # pragma: no cover
            return
        bootstrap = not self._bootstrap_sent  # the participant learns our keys from our first frame
        self._bootstrap_sent = True
        self._queue_message(body, now, chan=chan, user_id="", bootstrap=bootstrap)


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

    def make_relay(sock: trio.socket.SocketType, address: Address) -> GroupRelay:
        core = GroupRelayCore(script, config, random=random)
        return GroupRelay(core, sock, address)  # type: ignore[arg-type]

    async with serve_relay(host, make_relay) as relay:
        yield relay
