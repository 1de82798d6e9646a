"""Group calls: participate_req / participate_rsp and the group data-session request (planet-map §4.16).

A group join sends participate_req (bootstrap frame, msg_id 0x214e) with the group offer (secret only),
waits for a final participate_rsp (one with a result, rel_code, answer or contents), then opens its data
session once with an mc data_req whose StrmSpec announces the group SSRC plan (§6.5).
"""

# ruff: noqa: RUF009  (pb() returns dataclasses.field(...) carrying protobuf metadata, evaluated once)

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.messages_base import (
    CcBody,
    PlanetAddr,
    UserAgent,
    default_user_agent,
    feature_records,
)
from linecall.protocol.planet.messages_mc import McDataReq, StrmSpec, native_strm_spec, wrap_data_session
from linecall.protocol.planet.proto import Kind, ProtoMessage, Writer, pb, pb_repeated
from linecall.protocol.rtp.group import GroupSsrcPlan as RtpGroupSsrcPlan


@dataclass(frozen=True, slots=True)
class ParticipateReq(CcBody):
    """``cc_participate_req`` (tag 51): join (or start) a chat's group call."""

    TAG: ClassVar[int] = c.CcTag.PARTICIPATE_REQ
    MSG_ID: ClassVar[int] = c.MsgId.PARTICIPATE_REQ

    participant: str = pb(1, Kind.STRING, default="")
    room_id: str = pb(2, Kind.STRING, default="")
    p_zone: str | None = pb(3, Kind.STRING)
    x_zone: str | None = pb(4, Kind.STRING)
    orion_ip: str | None = pb(5, Kind.STRING)
    mix_ip: str | None = pb(6, Kind.STRING)
    ua: bytes | None = pb(7, Kind.BYTES)
    dev_id: str | None = pb(8, Kind.STRING)
    comm_type_flags: int | None = pb(9, Kind.UINT)
    capas: tuple[int, ...] = pb_repeated(10, Kind.UINT)
    offer: bytes | None = pb(11, Kind.BYTES)
    credential: bytes | None = pb(12, Kind.BYTES)
    svc_key: str | None = pb(13, Kind.STRING)
    net_type: int | None = pb(14, Kind.UINT)
    m_chan_id: int | None = pb(15, Kind.UINT)
    crt: bool | None = pb(16, Kind.BOOL)
    mix_port: int | None = pb(17, Kind.UINT)
    features: tuple[bytes, ...] = pb_repeated(18, Kind.BYTES)
    room_attrs: tuple[int, ...] = pb_repeated(19, Kind.UINT)
    recv_rtp: int | None = pb(20, Kind.UINT)
    ccp: str | None = pb(21, Kind.STRING)
    max_chan_cnt: int | None = pb(22, Kind.UINT)
    unavail_to_sec: int | None = pb(23, Kind.UINT)
    pdtp_ondemand_streams: tuple[bytes, ...] = pb_repeated(24, Kind.BYTES)
    disable_conference_info: bool | None = pb(25, Kind.BOOL)
    stid: str | None = pb(31, Kind.STRING)
    gsid: str | None = pb(32, Kind.STRING)
    gmsid: str | None = pb(33, Kind.STRING)
    speaker: bool | None = pb(34, Kind.BOOL)
    svc_id: str | None = pb(51, Kind.STRING)
    tgt_svc_id: str | None = pb(52, Kind.STRING)
    ue_extra_info: bytes | None = pb(53, Kind.BYTES)
    app_svr_data_id: str | None = pb(54, Kind.STRING)
    user_extra_info: bytes | None = pb(55, Kind.BYTES)
    ue_public_addr: PlanetAddr | None = pb(101, Kind.MESSAGE, PlanetAddr)
    path_check: bool | None = pb(102, Kind.BOOL)
    pdtp_tunnel: bool | None = pb(103, Kind.BOOL)
    inter_domain: bool | None = pb(151, Kind.BOOL)
    ghost: bool | None = pb(161, Kind.BOOL)
    subs_type: int | None = pb(162, Kind.UINT)


#: ``pdtp_ondemand_streams`` element the native client sends: ``{f1 4, f2 2}``.
PDTP_ONDEMAND_STREAM = Writer().uint(1, 4).uint(2, 2).getvalue()
#: ``ue_extra_info`` the native client sends: ``{f1 1}``.
UE_EXTRA_INFO = Writer().uint(1, 1).getvalue()


def native_participate_req(
    *,
    participant: str,
    room_id: str,
    p_zone: str | None,
    x_zone: str | None,
    orion_ip: str | None,
    mix_ip: str | None,
    mix_port: int | None,
    dev_id: str,
    offer: bytes,
    credential: bytes,
    m_chan_id: int,
    ua: UserAgent | None = None,
) -> ParticipateReq:
    """participate_req with the native field set and order (§4.16); route fields are left out when absent."""
    return ParticipateReq(
        participant=participant,
        room_id=room_id,
        p_zone=p_zone,
        x_zone=x_zone,
        orion_ip=orion_ip,
        mix_ip=mix_ip,
        ua=(ua or default_user_agent()).encode(),
        dev_id=dev_id,
        comm_type_flags=c.COMM_TYPE_FLAGS,
        capas=c.PARTICIPATE_CAPAS,
        offer=offer,
        credential=credential,
        svc_key=c.SVC_KEY_GROUP,
        net_type=c.NET_TYPE,
        m_chan_id=m_chan_id,
        mix_port=mix_port,
        features=feature_records(c.PARTICIPATE_FEATURES),
        room_attrs=c.GROUP_ROOM_ATTRS,
        recv_rtp=c.GROUP_RECV_RTP,
        max_chan_cnt=c.GROUP_MAX_CHAN_CNT,
        unavail_to_sec=c.GROUP_UNAVAIL_TO_SEC,
        pdtp_ondemand_streams=(PDTP_ONDEMAND_STREAM,),
        ue_extra_info=UE_EXTRA_INFO,
        path_check=False,
    )


@dataclass(frozen=True, slots=True)
class ParticipateRsp(CcBody):
    """``cc_participate_rsp`` (tag 52): mixer answer (f6), media channel (f7), keepalive interval (f102)."""

    TAG: ClassVar[int] = c.CcTag.PARTICIPATE_RSP
    MSG_ID: ClassVar[int] = c.RelayMsgId.PARTICIPATE_RSP

    result: int | None = pb(1, Kind.UINT)
    rel_code: int | None = pb(2, Kind.UINT)
    rel_phrase: str | None = pb(3, Kind.STRING)
    releaser: str | None = pb(4, Kind.STRING)
    cfgs: str | None = pb(5, Kind.STRING)
    answer: bytes | None = pb(6, Kind.BYTES)
    m_chan_id: int | None = pb(7, Kind.UINT)
    contents_type: int | None = pb(8, Kind.UINT)
    contents: bytes | None = pb(9, Kind.BYTES)
    comp_cfgs: bytes | None = pb(10, Kind.BYTES)
    comp_cfgs_type: int | None = pb(11, Kind.UINT)
    comp_contents_type: int | None = pb(12, Kind.UINT)
    role: str | None = pb(13, Kind.STRING)
    join_ts: int | None = pb(14, Kind.UINT)
    bridge_info: bytes | None = pb(101, Kind.BYTES)
    alive_rpt_interval: int | None = pb(102, Kind.UINT)
    stops: str | None = pb(103, Kind.STRING)
    msg_creator: int | None = pb(104, Kind.UINT)
    ptt: bool | None = pb(105, Kind.BOOL)
    svc_id: str | None = pb(151, Kind.STRING)
    tgt_svc_id: str | None = pb(152, Kind.STRING)
    inter_domain: bool | None = pb(153, Kind.BOOL)
    max_call_time_sec: int | None = pb(154, Kind.UINT)

    @property
    def is_final(self) -> bool:
        """A provisional reply has none of result, rel_code, answer, contents; linejs keeps waiting then."""
        return (
            self.result is not None
            or self.rel_code is not None
            or self.answer is not None
            or self.contents is not None
        )

    @property
    def refused(self) -> bool:
        return bool(self.result) or bool(self.rel_code)


@dataclass(frozen=True, slots=True)
class BridgeInfo(ProtoMessage):
    """participate_rsp ``bridge_info``: ``{f1 PlanetAddr}`` (linejs only logs it)."""

    addr: PlanetAddr | None = pb(1, Kind.MESSAGE, PlanetAddr)


# ─── group SSRC plan and data session (§6.5) ─────────────────────────────────────────────────────


def group_strm_spec(plan: RtpGroupSsrcPlan) -> StrmSpec:
    """The group StrmSpec: the 1:1 shape with ``plan``'s SSRCs and a 1200 kbps initial bandwidth."""
    return native_strm_spec(
        rx_audio=plan.rx_audio,
        rx_video=plan.rx_video,
        rx_data=plan.rx_data,
        tx_audio=plan.tx_audio,
        tx_video=plan.tx_video,
        bw_init_kbps=1200,
    )


@dataclass(frozen=True, slots=True)
class GroupSsrcPlan(RtpGroupSsrcPlan):
    """The SSRC plan of :mod:`linecall.protocol.rtp.group` (one definition of the offsets), with the
    names this module has always offered. Any plan, this class or its base, works everywhere."""

    @classmethod
    def from_random_u32(cls, value: int) -> GroupSsrcPlan:
        """The name this module has always offered for :meth:`from_u32` (one derivation of the base)."""
        return cls.from_u32(value)

    def strm_spec(self) -> StrmSpec:
        return group_strm_spec(self)


def group_data_session_req(plan: RtpGroupSsrcPlan) -> McDataReq:
    """The group data-session request (mc data_req, msg_id 0x3189): ``{0, 0, dispatch 2, wrapped spec}``."""
    return McDataReq(
        src_type=0,
        dst_type=0,
        dispatch_id=c.GROUP_DATA_SESSION_DISPATCH_ID,
        data=wrap_data_session(group_strm_spec(plan).encode()),
    )
