"""1:1 call control (``cc_msg``): setup_req/rsp, conn_req/rsp, info_req/rsp, rel_req (planet-map §4.6-4.17).

Field numbers and kinds come from the native schema; fields are written iff not ``None`` (``False`` and
``0`` are written), repeated fields once per element, all in ascending field-number order. Nested records
linejs keeps opaque (``ua``, ``features``, ``offer``/``answer``, ``tgt_ue``) are ``bytes`` here: build
them with :class:`UserAgent`, :func:`feature_records`, :mod:`media_offer`, :class:`PlanetUeInfo`.

The ``*_for`` / ``native_*`` builders below produce exactly what the native client (and linejs) sends.
"""

# ruff: noqa: RUF009  (pb() returns dataclasses.field(...) carrying protobuf metadata, evaluated once)

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.messages_base import (
    CcBody,
    PlanetAddr,
    PlanetUeInfo,
    UserAgent,
    default_user_agent,
    feature_records,
)
from linecall.protocol.planet.proto import Kind, pb, pb_repeated


@dataclass(frozen=True, slots=True)
class SetupReq(CcBody):
    """``cc_setup_req`` (tag 1): the call invitation, sent in the bootstrap frame."""

    TAG: ClassVar[int] = c.CcTag.SETUP_REQ
    MSG_ID: ClassVar[int] = c.MsgId.SETUP_REQ

    initiator: str = pb(1, Kind.STRING, default="")
    responder: str = pb(2, Kind.STRING, default="")
    i_zone: str | None = pb(3, Kind.STRING)
    r_zone: str | None = pb(4, Kind.STRING)
    ua: bytes | None = pb(5, Kind.BYTES)
    dev_id: str | None = pb(6, Kind.STRING)
    comm_type_flags: int | None = pb(7, Kind.UINT)
    capas: tuple[int, ...] = pb_repeated(8, Kind.UINT)
    offer: bytes | None = pb(9, Kind.BYTES)
    credential: bytes | None = pb(10, Kind.BYTES)
    fake_call: bool | None = pb(11, Kind.BOOL)
    svc_key: str | None = pb(12, Kind.STRING)
    crt: bool | None = pb(13, Kind.BOOL)
    net_type: int | None = pb(14, Kind.UINT)
    stid: str | None = pb(21, Kind.STRING)
    ccp: str | None = pb(22, Kind.STRING)
    ue_data: bytes | None = pb(23, Kind.BYTES)
    ue_data_comp_type: int | None = pb(24, Kind.UINT)
    features: tuple[bytes, ...] = pb_repeated(25, Kind.BYTES)
    svc_id: str | None = pb(51, Kind.STRING)
    tgt_svc_id: str | None = pb(52, Kind.STRING)
    req_rec: bool | None = pb(53, Kind.BOOL)
    app_svr_data_id: str | None = pb(54, Kind.STRING)
    ue_public_addr: PlanetAddr | None = pb(101, Kind.MESSAGE, PlanetAddr)
    i_visited_zone: str | None = pb(102, Kind.STRING)
    r_token: str | None = pb(103, Kind.STRING)
    i_mercury_ip: str | None = pb(104, Kind.STRING)
    path_check: bool | None = pb(105, Kind.BOOL)
    i_mercury_ipv6: str | None = pb(106, Kind.STRING)
    r_gcall_zone: str | None = pb(107, Kind.STRING)
    inter_domain: bool | None = pb(151, Kind.BOOL)
    app_svr_data: str | None = pb(152, Kind.STRING)


def native_setup_req(
    *,
    initiator: str,
    responder: str,
    i_zone: str | None,
    r_zone: str | None,
    stid: str | None,
    dev_id: str,
    offer: bytes,
    credential: bytes,
    ua: UserAgent | None = None,
) -> SetupReq:
    """setup_req with the native field set (§4.6): zones and stid from the route, left out when absent."""
    return SetupReq(
        initiator=initiator,
        responder=responder,
        i_zone=i_zone,
        r_zone=r_zone,
        ua=(ua or default_user_agent()).encode(),
        dev_id=dev_id,
        comm_type_flags=c.COMM_TYPE_FLAGS,
        capas=c.SETUP_CAPAS,
        offer=offer,
        credential=credential,
        fake_call=False,
        svc_key=c.SVC_KEY_ONE_TO_ONE,
        net_type=c.NET_TYPE,
        stid=stid,
        features=feature_records(c.SETUP_FEATURES),
        req_rec=False,
        path_check=False,
    )


@dataclass(frozen=True, slots=True)
class SetupRsp(CcBody):
    """``cc_setup_rsp`` (tag 2): ``alive_rpt_interval`` (seconds) paces keepalives."""

    TAG: ClassVar[int] = c.CcTag.SETUP_RSP
    MSG_ID: ClassVar[int] = c.RelayMsgId.SETUP_RSP

    result: int | None = pb(1, Kind.UINT)
    rel_code: int | None = pb(2, Kind.UINT)
    rel_phrase: str | None = pb(3, Kind.STRING)
    cfgs: str | None = pb(4, Kind.STRING)
    releaser: str | None = pb(6, Kind.STRING)
    comp_cfgs: bytes | None = pb(7, Kind.BYTES)
    comp_cfgs_type: int | None = pb(8, Kind.UINT)
    alive_rpt_interval: int | None = pb(101, Kind.UINT)
    stops: str | None = pb(102, Kind.STRING)
    pt: bool | None = pb(111, Kind.BOOL)
    no_ans_to_sec: int | None = pb(112, Kind.UINT)
    max_dur_sec: int | None = pb(113, Kind.UINT)
    ptt: bool | None = pb(114, Kind.BOOL)
    svc_id: str | None = pb(151, Kind.STRING)
    tgt_svc_id: str | None = pb(152, Kind.STRING)
    inter_domain: bool | None = pb(153, Kind.BOOL)
    max_call_time_sec: int | None = pb(154, Kind.UINT)

    @property
    def refused(self) -> bool:
        """A non-zero result or rel_code (linejs ignores both)."""
        return bool(self.result) or bool(self.rel_code)


@dataclass(frozen=True, slots=True)
class ConnReq(CcBody):
    """``cc_conn_req`` (tag 5, inbound): the callee answered; ``answer`` is its offer-shaped media answer."""

    TAG: ClassVar[int] = c.CcTag.CONN_REQ
    MSG_ID: ClassVar[int] = c.RelayMsgId.CONN_REQ

    answer: bytes | None = pb(1, Kind.BYTES)
    m_chan_id: int | None = pb(2, Kind.UINT)
    net_type: int | None = pb(3, Kind.UINT)
    unavail_to_sec: int | None = pb(4, Kind.UINT)
    o_capas: tuple[int, ...] = pb_repeated(5, Kind.UINT)
    ue_data: bytes | None = pb(6, Kind.BYTES)
    ue_data_comp_type: int | None = pb(7, Kind.UINT)
    features: tuple[bytes, ...] = pb_repeated(8, Kind.BYTES)
    ua: bytes | None = pb(9, Kind.BYTES)
    r_country: str | None = pb(10, Kind.STRING)
    req_rec: bool | None = pb(51, Kind.BOOL)
    m_addr: PlanetAddr | None = pb(101, Kind.MESSAGE, PlanetAddr)
    dev_id: str | None = pb(102, Kind.STRING)
    ue_public_addr: PlanetAddr | None = pb(103, Kind.MESSAGE, PlanetAddr)
    offer: bytes | None = pb(104, Kind.BYTES)
    svc_id: str | None = pb(151, Kind.STRING)
    tgt_svc_id: str | None = pb(152, Kind.STRING)
    inter_domain: bool | None = pb(153, Kind.BOOL)
    pt: bool | None = pb(154, Kind.BOOL)

    def media_endpoint(self) -> tuple[str, int] | None:
        """``m_addr`` if usable, else ``ue_public_addr`` (§6.6); ``None`` means: use the relay."""
        for addr in (self.m_addr, self.ue_public_addr):
            if addr is not None and (endpoint := addr.endpoint()) is not None:
                return endpoint
        return None


@dataclass(frozen=True, slots=True)
class ConnRsp(CcBody):
    """``cc_conn_rsp`` (tag 6): our acceptance of the peer's answer."""

    TAG: ClassVar[int] = c.CcTag.CONN_RSP
    MSG_ID: ClassVar[int] = c.MsgId.CONN_RSP

    result: int | None = pb(1, Kind.UINT)
    rel_code: int | None = pb(2, Kind.UINT)
    rel_phrase: str | None = pb(3, Kind.STRING)
    m_chan_id: int | None = pb(4, Kind.UINT)
    net_type: int | None = pb(5, Kind.UINT)
    unavail_to_sec: int | None = pb(6, Kind.UINT)
    ua: bytes | None = pb(7, Kind.BYTES)
    m_addr: PlanetAddr | None = pb(101, Kind.MESSAGE, PlanetAddr)
    ue_public_addr: PlanetAddr | None = pb(102, Kind.MESSAGE, PlanetAddr)
    svc_id: str | None = pb(151, Kind.STRING)
    tgt_svc_id: str | None = pb(152, Kind.STRING)
    inter_domain: bool | None = pb(153, Kind.BOOL)


def conn_rsp_for(conn_req: ConnReq, *, local_media_chan_id: int, ua: UserAgent | None = None) -> ConnRsp:
    """conn_rsp as the native client answers a conn_req (§4.13): result 0, OUR media channel id."""
    return ConnRsp(
        result=0,
        m_chan_id=local_media_chan_id,
        net_type=c.NET_TYPE if conn_req.net_type is None else conn_req.net_type,
        unavail_to_sec=(
            c.CONN_RSP_DEFAULT_UNAVAIL_TO_SEC if conn_req.unavail_to_sec is None else conn_req.unavail_to_sec
        ),
        ua=(ua or default_user_agent()).encode(),
        svc_id=conn_req.svc_id,
        tgt_svc_id=conn_req.tgt_svc_id,
        inter_domain=conn_req.inter_domain,
    )


@dataclass(frozen=True, slots=True)
class InfoReq(CcBody):
    """``cc_info_req`` (tag 17): an application info exchange in either direction."""

    TAG: ClassVar[int] = c.CcTag.INFO_REQ
    MSG_ID: ClassVar[int] = c.MsgId.INFO_REQ

    body_type: str | None = pb(1, Kind.STRING)
    body: bytes | None = pb(2, Kind.BYTES)
    targets: tuple[str, ...] = pb_repeated(3, Kind.STRING)
    source: str | None = pb(4, Kind.STRING)
    source_svc_id: str | None = pb(5, Kind.STRING)
    tgt_ue: tuple[bytes, ...] = pb_repeated(6, Kind.BYTES)
    trx_origin: str | None = pb(7, Kind.STRING)
    svc_id: str | None = pb(151, Kind.STRING)
    tgt_svc_id: str | None = pb(152, Kind.STRING)
    inter_domain: bool | None = pb(153, Kind.BOOL)


def exchange_app_str_data_req(*, source: str, callee: str, conn_req: ConnReq) -> InfoReq:
    """The info_req the caller sends after its first conn_rsp (§4.14): ``{"csv":1}\\0`` to the callee."""
    return InfoReq(
        body_type=c.EXCHANGE_APP_STR_DATA,
        body=c.EXCHANGE_APP_STR_DATA_BODY,
        source=source,
        tgt_ue=(PlanetUeInfo(user_id=callee).encode(),),
        svc_id=conn_req.svc_id,
        tgt_svc_id=conn_req.tgt_svc_id,
        inter_domain=conn_req.inter_domain,
    )


@dataclass(frozen=True, slots=True)
class InfoRsp(CcBody):
    """``cc_info_rsp`` (tag 18)."""

    TAG: ClassVar[int] = c.CcTag.INFO_RSP
    MSG_ID: ClassVar[int] = c.MsgId.INFO_RSP

    result: int | None = pb(1, Kind.UINT)
    rel_code: int | None = pb(2, Kind.UINT)
    rel_phrase: str | None = pb(3, Kind.STRING)
    body_type: str | None = pb(4, Kind.STRING)
    body: bytes | None = pb(5, Kind.BYTES)
    svc_id: str | None = pb(151, Kind.STRING)
    tgt_svc_id: str | None = pb(152, Kind.STRING)
    inter_domain: bool | None = pb(153, Kind.BOOL)


def info_rsp_for(info_req: InfoReq) -> InfoRsp:
    """info_rsp answering an info_req (§4.14): result 0, body type/body and service ids echoed."""
    return InfoRsp(
        result=0,
        body_type=info_req.body_type,
        body=info_req.body,
        svc_id=info_req.svc_id,
        tgt_svc_id=info_req.tgt_svc_id,
        inter_domain=info_req.inter_domain,
    )


@dataclass(frozen=True, slots=True)
class RelReq(CcBody):
    """``cc_rel_req`` (tag 7): release, from us (hang-up / leave) or from the peer.

    ``last_ka_ts`` is an sfixed64 and decodes signed (linejs reads it unsigned).
    """

    TAG: ClassVar[int] = c.CcTag.REL_REQ
    MSG_ID: ClassVar[int] = c.MsgId.REL_REQ

    rel_code: int | None = pb(1, Kind.UINT)
    rel_phrase: str | None = pb(2, Kind.STRING)
    releaser: str | None = pb(3, Kind.STRING)
    comm_media_flags: int | None = pb(4, Kind.UINT)
    user_rel_code: str | None = pb(5, Kind.STRING)
    data_svcs: tuple[int, ...] = pb_repeated(6, Kind.UINT)
    last_ka_ts: int | None = pb(7, Kind.SFIXED64)
    room_destroy: bool | None = pb(51, Kind.BOOL)
    dev_id: str | None = pb(101, Kind.STRING)


def local_hangup_rel_req() -> RelReq:
    """1:1 hang-up: ``{1: 2, 3: "initiator", 4: 1}`` = ``08 02 1a 09 "initiator" 20 01``."""
    return RelReq(
        rel_code=c.REL_CODE_LOCAL_HANGUP,
        releaser=c.RELEASER_INITIATOR,
        comm_media_flags=c.COMM_MEDIA_FLAGS_AUDIO,
    )


def group_leave_rel_req() -> RelReq:
    """Group leave: ``{1: 1, 3: "participant", 4: 1, 6: 0, 51: false}``."""
    return RelReq(
        rel_code=c.REL_CODE_GROUP_LEAVE,
        releaser=c.RELEASER_PARTICIPANT,
        comm_media_flags=c.COMM_MEDIA_FLAGS_AUDIO,
        data_svcs=(0,),
        room_destroy=False,
    )
