"""A tiny scripted PLANET relay + answering peer for the connection and driver tests (sans I/O).

It plays the relay's side with our own codecs: it learns the client's transport key from the client's
bootstrap prefix, opens every client frame, and seals whatever message a test asks it to send (setup_rsp in
its own bootstrap frame first, then regular frames). The peer's media material is a fixed
:class:`LocalMediaMaterial`; ``peer_srtp`` protects audio the way the answering peer would under a key mode.
The full loopback relay with ring delays, Opus and audio checks lives in ``tests/sim/`` (another module).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from linecall.protocol.planet import messages as m
from linecall.protocol.planet.crypto import P256KeyPair
from linecall.protocol.planet.framing import BootstrapPrefix, FrameCodec, FrameKind, InboundFrame
from linecall.protocol.planet.handlers import offer_material
from linecall.protocol.planet.media_keys import (
    LocalMediaMaterial,
    MediaKeyMode,
    PeerMediaMaterial,
    select_keying,
)
from linecall.protocol.planet.route import CallRoute
from linecall.protocol.rtp.rtp import LINE_EXTENSION_PROFILE, RtpExtension, RtpHeader, RtpPacket
from linecall.protocol.rtp.srtp import SrtpSendSession

LOCAL_MID = "u0123456789abcdef0123456789abcdef"
PEER_MID = "ufedcba9876543210fedcba9876543210"
RELAY_KEY = P256KeyPair.from_private(
    bytes.fromhex("84083f2ba9907840094a877e3a732b8c572b325c00eff9c8b80e5b5eb6de1660")
)
PEER_MEDIA = LocalMediaMaterial(
    P256KeyPair.from_private(
        bytes.fromhex("4fb3ed91e49246d6ab4f0d1ab1fc99e0e8b4314cfbc127ebc0adb05adb019469")
    ),
    860116326,
    bytes.fromhex("81090ff86f72bdfe5c9a3dd85feed7af"),
    bytes.fromhex("bbee2c6b07a8ebf9e02fcbca3643c8aed9e168e1888b6785a75443df2ed8"),
)
OUR_MEDIA = LocalMediaMaterial(
    P256KeyPair.from_private(
        bytes.fromhex("bf92977f4541f13fe93fd16bd674e4a7daf6ef88c79ddf3c9b9ba3578bdeb001")
    ),
    825256185,
    bytes.fromhex("891be61a8d5fedaf37aa66a63ea3dd95"),
    bytes.fromhex("6f0070e1de4b424695d0158f9d932697df57f82b15e9a38c02d2b925790f"),
)
RELAY_CC_CHAN = 4097
RELAY_MEDIA_CHAN = 8194
SESS_ID = bytes.fromhex("5f432eab494a4385903e2b46feb35f39")
RELAY_NONCE = 7642030284661133203


def route_json(host: str = "192.0.2.10", port: int = 10001) -> dict[str, Any]:
    mpkey = base64.b64encode(RELAY_KEY.public_key).decode()
    return {
        "fromToken": "ZnJvbS10b2tlbi1leGFtcGxl",
        "voipAddress": host,
        "voipUdpPort": port,
        "fromZone": "JP",
        "toZone": "JP",
        "toMid": PEER_MID,
        "commParam": json.dumps({"mpkey": mpkey}),
        "stid": "stid-example",
    }


def make_route(host: str = "192.0.2.10", port: int = 10001) -> CallRoute:
    return CallRoute.from_json(route_json(host, port))


def as_peer(material: LocalMediaMaterial) -> PeerMediaMaterial:
    return PeerMediaMaterial(material.public_key, material.key_id, material.nonce, material.secret)


@dataclass
class Received:
    """One client frame as the relay saw it."""

    frame: InboundFrame
    message: m.PlanetMessage | None  # None for raw frames (probes, report)

    @property
    def kind(self) -> str:
        if self.message is None:
            return "raw"
        from linecall.protocol.planet.mailbox import MessageKind

        return MessageKind.of(self.message).name


@dataclass
class FakeRelay:
    """Relay side of one call. ``open`` the client's datagrams; ``seal_*`` the relay's replies."""

    seed: bytes = bytes(range(16))
    label: int = 0x4567
    first_seq: int = 20737
    codec: FrameCodec | None = None
    cid: str = ""
    client_chan: int = 0
    tran_seq: int = 27440064
    received: list[Received] = field(default_factory=list)

    def open(self, datagram: bytes) -> Received:
        if self.codec is None:
            prefix = BootstrapPrefix.parse(datagram)
            self.codec = FrameCodec(
                local=RELAY_KEY,
                peer_public_key=prefix.public_key,
                bootstrap_seed=self.seed,
                send_label=self.label,
                first_seq=self.first_seq,
            )
        result = self.codec.open(datagram)
        assert isinstance(result, InboundFrame), "client frame did not authenticate"
        try:
            message: m.PlanetMessage | None = m.decode_planet_message(result.plaintext)
        except Exception:
            message = None
        if message is not None and message.chan is not None and message.hdr.msg_id == m.SetupReq.MSG_ID:
            self.cid, self.client_chan = message.chan.cid, message.chan.src_chan_id
        got = Received(result, message)
        self.received.append(got)
        return got

    def seal(
        self,
        body: Any,
        *,
        mc: bool = False,
        bootstrap: bool = False,
        sess_id: bytes = SESS_ID,
        cid: str | None = None,
    ) -> bytes:
        assert self.codec is not None, "the relay has not seen the client's bootstrap frame yet"
        hdr = m.PlanetMsgHdr(
            user_id=PEER_MID,
            msg_id=body.MSG_ID,
            sess_id=sess_id,
            tran_id=bytes(16),
            tran_seq=self.tran_seq,
            loc_nonce=RELAY_NONCE,
        )
        self.tran_seq += 1
        chan = None
        if not isinstance(body, m.ScBody):
            src = RELAY_MEDIA_CHAN if mc else RELAY_CC_CHAN
            chan = m.ChanHdr(
                cid=self.cid if cid is None else cid, src_chan_id=src, dst_chan_id=self.client_chan
            )
        plaintext = m.PlanetMessage(hdr, body, chan).encode()
        return self.codec.seal(plaintext, FrameKind.BOOTSTRAP if bootstrap else FrameKind.CONTROL)

    def setup_rsp(
        self,
        *,
        result: int = 0,
        rel_code: int | None = None,
        interval: int | None = 15,
        bootstrap: bool = True,
    ) -> bytes:
        body = m.SetupRsp(result=result, rel_code=rel_code, alive_rpt_interval=interval, no_ans_to_sec=60)
        return self.seal(body, bootstrap=bootstrap)

    def conn_req(
        self,
        *,
        peer: LocalMediaMaterial = PEER_MEDIA,
        m_addr: m.PlanetAddr | None = None,
        answer: bytes | None = None,
        bootstrap: bool = False,
    ) -> bytes:
        body = m.ConnReq(
            answer=m.build_one_to_one_offer(offer_material(peer)) if answer is None else answer,
            m_chan_id=RELAY_MEDIA_CHAN,
            net_type=1,
            unavail_to_sec=120,
            m_addr=m_addr,
        )
        return self.seal(body, bootstrap=bootstrap)

    def rel_req(self, rel_code: int = 1) -> bytes:
        return self.seal(m.RelReq(rel_code=rel_code, releaser="responder", comm_media_flags=1))

    def info_req(self) -> bytes:
        return self.seal(m.InfoReq(body_type="exchange_app_str_data", body=b'{"csv":1}\x00'))

    def data_req(self) -> bytes:
        return self.seal(m.McDataReq(dispatch_id=7, data=b"\x00"), mc=True)

    def join_req(self) -> bytes:
        return self.seal(m.McJoinReq(), mc=True)

    def change_req(self) -> bytes:
        return self.seal(m.McChangeReq(), mc=True)


def peer_srtp(
    mode: MediaKeyMode = MediaKeyMode.AUDIO_REVERSE_STAGE,
    *,
    peer: LocalMediaMaterial = PEER_MEDIA,
    ours: LocalMediaMaterial = OUR_MEDIA,
) -> SrtpSendSession:
    """What the answering peer protects its audio with under ``mode`` (its send = our receive)."""
    return SrtpSendSession(select_keying(mode, peer, as_peer(ours)).send_master)


def our_send_master(mode: MediaKeyMode = MediaKeyMode.AUDIO_REVERSE_STAGE) -> bytes:
    return select_keying(mode, OUR_MEDIA, as_peer(PEER_MEDIA)).send_master


def peer_rtp(
    session: SrtpSendSession, payload: bytes, seq: int, timestamp: int = 960, ssrc: int = 0x0A0B0C0D
) -> bytes:
    header = RtpHeader(
        payload_type=96,
        seq=seq,
        timestamp=timestamp,
        ssrc=ssrc,
        extension=RtpExtension(LINE_EXTENSION_PROFILE, b""),
    )
    return session.protect(RtpPacket(header, payload).to_bytes())
