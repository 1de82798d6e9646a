"""The bodies the simulated relay and peer send, shaped as planet_wire.json's recorded relay sent them.

Every builder is pure: config, script values and the call's ids in, a message body out. Keeping the shapes
here (and the relay's state machine in :mod:`.planet_relay_core`) means a relay capture that differs from
the transcript can be matched by editing one table, not the call logic.
"""

from __future__ import annotations

from typing import Final

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.media_keys import LocalMediaMaterial
from linecall.protocol.planet.media_offer import OfferMaterial, build_one_to_one_offer
from linecall.protocol.planet.messages import (
    ConnReq,
    InfoReq,
    McChangeReq,
    McDataReq,
    McJoinReq,
    MinMax,
    PlanetAddr,
    RelReq,
    SetupRsp,
    StrmAttr,
    StrmSpec,
    feature_records,
)

from .planet_script import PeerScript, Refusal, RelayConfig

__all__ = [
    "PEER_RELEASER",
    "accepting_setup_rsp",
    "peer_change_req",
    "peer_conn_req",
    "peer_data_req",
    "peer_info_req",
    "peer_join_req",
    "peer_rel_req",
    "refusing_setup_rsp",
]

#: rel_req ``releaser`` when the called party hangs up (what the recorded relay sent).
PEER_RELEASER: Final = "responder"
_CONN_REQ_CAPAS: Final = (1, 2, 3)
_CONN_REQ_FEATURES: Final = ((16, True, 0),)
_CONN_REQ_UNAVAIL_TO_SEC: Final = 120
_M_ADDR_VERSION: Final = 4
_M_ADDR_UDP: Final = 1
_DATA_REQ_DISPATCH_ID: Final = 2
#: The StrmSpecs the recorded relay put in its join_req / change_req (one audio stream, target kbps).
_JOIN_SPEC: Final = StrmSpec(strms=(StrmAttr(ssrc=201, bitrate=MinMax(target=32)),), fb_intv=200)
_CHANGE_SPEC: Final = StrmSpec(strms=(StrmAttr(ssrc=201, bitrate=MinMax(target=24)),))


def accepting_setup_rsp(script: PeerScript) -> SetupRsp:
    """Result 0 with the keepalive interval and the no-answer limit (``08 00 a8 06 0f 80 07 3c``)."""
    return SetupRsp(
        result=0, alive_rpt_interval=script.keepalive_interval_s, no_ans_to_sec=script.no_answer_timeout_s
    )


def refusing_setup_rsp(refusal: Refusal) -> SetupRsp:
    return SetupRsp(result=refusal.result, rel_code=refusal.rel_code, rel_phrase=refusal.rel_phrase)


def peer_conn_req(peer: LocalMediaMaterial, config: RelayConfig) -> ConnReq:
    """The answer: the peer's 1:1 offer (its media key material), its media channel, ``m_addr`` if any."""
    answer = build_one_to_one_offer(
        OfferMaterial(
            media_pub_key=peer.public_key,
            media_key_id=peer.key_id,
            media_nonce=peer.nonce,
            media_secret=peer.secret,
        )
    )
    m_addr = None
    if config.media_addr is not None:
        host, port = config.media_addr
        m_addr = PlanetAddr(ver=_M_ADDR_VERSION, trpt=_M_ADDR_UDP, ip=host, port=port)
    return ConnReq(
        answer=answer,
        m_chan_id=config.peer_media_chan_id,
        net_type=c.NET_TYPE,
        unavail_to_sec=_CONN_REQ_UNAVAIL_TO_SEC,
        o_capas=_CONN_REQ_CAPAS,
        features=feature_records(_CONN_REQ_FEATURES),
        m_addr=m_addr,
        svc_id=config.caller_svc_id,
        tgt_svc_id=config.callee_svc_id,
        inter_domain=False,
    )


def peer_info_req(*, client_mid: str, callee_mid: str, config: RelayConfig) -> InfoReq:
    """The peer's own ``exchange_app_str_data`` (``{"csv":1}\\0``), addressed to the caller."""
    return InfoReq(
        body_type=c.EXCHANGE_APP_STR_DATA,
        body=c.EXCHANGE_APP_STR_DATA_BODY,
        targets=(client_mid,),
        source=callee_mid,
        source_svc_id=config.callee_svc_id,
        svc_id=config.callee_svc_id,
        tgt_svc_id=config.caller_svc_id,
        inter_domain=False,
    )


def peer_data_req() -> McDataReq:
    return McDataReq(src_type=0, dst_type=0, dispatch_id=_DATA_REQ_DISPATCH_ID, data=b"\x00")


def peer_join_req() -> McJoinReq:
    return McJoinReq(spec=_JOIN_SPEC.encode())


def peer_change_req() -> McChangeReq:
    return McChangeReq(spec=_CHANGE_SPEC.encode())


def peer_rel_req(code: int) -> RelReq:
    """The peer's hang-up: ``{rel_code, releaser "responder", comm_media_flags 1}``."""
    return RelReq(rel_code=code, releaser=PEER_RELEASER, comm_media_flags=c.COMM_MEDIA_FLAGS_AUDIO)
