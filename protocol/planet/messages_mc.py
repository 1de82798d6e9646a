"""Media control (``mc_msg``): data_req/rsp, join, change, check_rpt and the StrmSpec they carry (§4.15).

The relay drives these after a 1:1 answer (data_req → data_rsp with the 148-byte data-session payload;
join_req → join_rsp, then BEPI open and check_rpt; change_req → change_rsp), and a group join opens its
data session with a data_req of its own. StrmSpecs travel encoded (``bytes``, like every nested record the
native client treats as opaque); :class:`StrmSpec` builds and reads them. The commit that added join/change/BEPI to linejs fixed calls
dropping about 10 s after answer, so these replies matter even though nothing is negotiated.
"""

# ruff: noqa: RUF009  (pb() returns dataclasses.field(...) carrying protobuf metadata, evaluated once)

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.errors import ProtoDecodeError
from linecall.protocol.planet.messages_base import McBody
from linecall.protocol.planet.proto import Kind, ProtoMessage, pb, pb_repeated

# ─── StrmSpec ────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class MinMax(ProtoMessage):
    min: int | None = pb(1, Kind.UINT)
    max: int | None = pb(2, Kind.UINT)
    target: int | None = pb(3, Kind.UINT)


@dataclass(frozen=True, slots=True)
class StrmState(ProtoMessage):
    """Native writes ``{paused: false, code: 0}`` in full (``08 00 10 00``)."""

    paused: bool | None = pb(1, Kind.BOOL)
    code: int | None = pb(2, Kind.UINT)


@dataclass(frozen=True, slots=True)
class RetxRx(ProtoMessage):
    peri_on: bool | None = pb(1, Kind.BOOL)
    peri_intv_ms: int | None = pb(2, Kind.UINT)
    peri_loss_thre: tuple[int, ...] = pb_repeated(3, Kind.UINT)


@dataclass(frozen=True, slots=True)
class RetxTx(ProtoMessage):
    reqd_on: bool | None = pb(1, Kind.BOOL)
    reqd_rtt_thre: int | None = pb(2, Kind.UINT)


@dataclass(frozen=True, slots=True)
class FecRx(ProtoMessage):
    """FEC loss thresholds; an empty record is still written (``3a 00``) when present."""

    loss_thre: tuple[int, ...] = pb_repeated(1, Kind.UINT)


@dataclass(frozen=True, slots=True)
class StrmAttr(ProtoMessage):
    """A receive stream."""

    ssrc: int = pb(1, Kind.UINT, default=0)
    bitrate: MinMax | None = pb(2, Kind.MESSAGE, MinMax)
    state: StrmState | None = pb(3, Kind.MESSAGE, StrmState)
    disable_dtx: bool | None = pb(4, Kind.BOOL)
    ptime: int | None = pb(5, Kind.UINT)
    retx: RetxRx | None = pb(6, Kind.MESSAGE, RetxRx)
    fec: FecRx | None = pb(7, Kind.MESSAGE, FecRx)


@dataclass(frozen=True, slots=True)
class TxStrmAttr(ProtoMessage):
    """A send stream."""

    ssrc: int = pb(1, Kind.UINT, default=0)
    state: StrmState | None = pb(2, Kind.MESSAGE, StrmState)
    retx: RetxTx | None = pb(3, Kind.MESSAGE, RetxTx)


@dataclass(frozen=True, slots=True)
class Link(ProtoMessage):
    """Link attributes; ``probe_rate`` is a float32 (0.2 = ``cd cc 4c 3e``)."""

    bw_init_kbps: int | None = pb(1, Kind.UINT)
    bw_max_kbps: int | None = pb(2, Kind.UINT)
    probe_rate: float | None = pb(3, Kind.FLOAT32)
    probe_br_max_kbps: int | None = pb(4, Kind.UINT)


@dataclass(frozen=True, slots=True)
class StrmSpec(ProtoMessage):
    strms: tuple[StrmAttr, ...] = pb_repeated(1, Kind.MESSAGE, StrmAttr)
    fb_intv: int | None = pb(2, Kind.UINT)
    tp: int | None = pb(3, Kind.UINT)
    fec_bypass: bool | None = pb(4, Kind.BOOL)
    fb_on: bool | None = pb(5, Kind.BOOL)
    tx_strms: tuple[TxStrmAttr, ...] = pb_repeated(6, Kind.MESSAGE, TxStrmAttr)
    link: Link | None = pb(7, Kind.MESSAGE, Link)


_IDLE = StrmState(paused=False, code=0)


def native_strm_spec(
    *, rx_audio: int, rx_video: int, rx_data: int, tx_audio: int, tx_video: int, bw_init_kbps: int
) -> StrmSpec:
    """The StrmSpec shape the native client announces; only the SSRCs and the initial bandwidth vary."""
    return StrmSpec(
        strms=(
            StrmAttr(
                ssrc=rx_audio,
                bitrate=MinMax(target=32),
                state=_IDLE,
                ptime=40,
                retx=RetxRx(peri_on=True, peri_intv_ms=40, peri_loss_thre=(0, 0, 20)),
                fec=FecRx(),
            ),
            StrmAttr(
                ssrc=rx_video,
                bitrate=MinMax(min=100, max=1200, target=800),
                state=_IDLE,
                retx=RetxRx(peri_on=False),
                fec=FecRx((0, 1, 10)),
            ),
            StrmAttr(
                ssrc=rx_data, bitrate=MinMax(max=2000), state=_IDLE, retx=RetxRx(peri_on=False), fec=FecRx()
            ),
        ),
        fb_intv=200,
        tp=1,
        fb_on=True,
        tx_strms=(
            TxStrmAttr(ssrc=tx_audio, state=_IDLE, retx=RetxTx(reqd_on=True, reqd_rtt_thre=300)),
            TxStrmAttr(ssrc=tx_video, state=_IDLE, retx=RetxTx(reqd_on=False)),
        ),
        link=Link(bw_init_kbps=bw_init_kbps, bw_max_kbps=3000, probe_rate=0.2, probe_br_max_kbps=200),
    )


#: The 1:1 StrmSpec (139 bytes): rx 102/112/122, tx 202/212, link 886 kbps. Also what linejs answers with
#: in group calls.
ONE_TO_ONE_STRM_SPEC = native_strm_spec(
    rx_audio=102, rx_video=112, rx_data=122, tx_audio=202, tx_video=212, bw_init_kbps=886
)

# ─── the data-session payload wrapper ────────────────────────────────────────────────────────────

_SESSION_PREFIX = b"\x00\x02\x00\x00"


def wrap_data_session(spec: bytes) -> bytes:
    """``00 02 00 00 <len16 BE> 00 00`` ‖ spec ‖ zero padding to a multiple of 4 of the spec length."""
    if len(spec) > 0xFFFF:
        raise ValueError("StrmSpec longer than 65535 bytes")
    pad = -len(spec) % 4
    return _SESSION_PREFIX + len(spec).to_bytes(2, "big") + b"\x00\x00" + spec + bytes(pad)


def unwrap_data_session(payload: bytes) -> bytes:
    """The StrmSpec bytes inside a data-session payload; ProtoDecodeError if the wrapper is malformed."""
    if len(payload) < 8 or payload[:4] != _SESSION_PREFIX or payload[6:8] != b"\x00\x00":
        raise ProtoDecodeError("not a data-session payload")
    length = int.from_bytes(payload[4:6], "big")
    end = 8 + length
    if len(payload) != end + (-length % 4) or any(payload[end:]):
        raise ProtoDecodeError("data-session payload length or padding mismatch")
    return payload[8:end]


def one_to_one_data_session_payload() -> bytes:
    """The 148-byte payload of every data_rsp the client sends (139-byte spec + 8 + 1 pad)."""
    return wrap_data_session(ONE_TO_ONE_STRM_SPEC.encode())


# ─── mc bodies ───────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class McDataReq(McBody):
    """``mc data_req`` (tag 16): ``dispatch_id`` and ``data`` are always written."""

    TAG: ClassVar[int] = c.McTag.DATA_REQ
    MSG_ID: ClassVar[int] = c.MsgId.MC_DATA_REQ

    src_type: int | None = pb(1, Kind.UINT)
    dst_type: int | None = pb(2, Kind.UINT)
    dispatch_id: int = pb(3, Kind.UINT, default=0)
    data: bytes = pb(4, Kind.BYTES, default=b"")


@dataclass(frozen=True, slots=True)
class McDataRsp(McBody):
    """``mc data_rsp`` (tag 17)."""

    TAG: ClassVar[int] = c.McTag.DATA_RSP
    MSG_ID: ClassVar[int] = c.MsgId.MC_DATA_RSP

    result: int | None = pb(1, Kind.UINT)
    rel_code: int | None = pb(2, Kind.UINT)
    rel_phrase: str | None = pb(3, Kind.STRING)
    dispatch_id: int | None = pb(4, Kind.UINT)
    data: bytes | None = pb(5, Kind.BYTES)


def data_rsp_for(data_req: McDataReq) -> McDataRsp:
    """What the client answers to any data_req, 1:1 or group: result 0 and the 148-byte 1:1 payload."""
    return McDataRsp(
        result=0, rel_code=0, dispatch_id=data_req.dispatch_id, data=one_to_one_data_session_payload()
    )


@dataclass(frozen=True, slots=True)
class McJoinReq(McBody):
    """``mc join_req`` (tag 9, inbound); linejs never reads it. ``spec`` is the raw f17 StrmSpec."""

    TAG: ClassVar[int] = c.McTag.JOIN_REQ
    MSG_ID: ClassVar[int] = c.RelayMsgId.MC_JOIN_REQ

    spec: bytes | None = pb(17, Kind.BYTES)


@dataclass(frozen=True, slots=True)
class McJoinRsp(McBody):
    """``mc join_rsp`` (tag 10): result plus an encoded StrmSpec (no data-session wrapper) in f17."""

    TAG: ClassVar[int] = c.McTag.JOIN_RSP
    MSG_ID: ClassVar[int] = c.MsgId.MC_JOIN_RSP

    result: int | None = pb(1, Kind.UINT)
    rel_code: int | None = pb(2, Kind.UINT)
    rel_phrase: str | None = pb(3, Kind.STRING)
    spec: bytes | None = pb(17, Kind.BYTES)


@dataclass(frozen=True, slots=True)
class McChangeReq(McBody):
    """``mc change_req`` (tag 11, inbound); content unread by linejs."""

    TAG: ClassVar[int] = c.McTag.CHANGE_REQ
    MSG_ID: ClassVar[int] = c.RelayMsgId.MC_CHANGE_REQ

    spec: bytes | None = pb(17, Kind.BYTES)


@dataclass(frozen=True, slots=True)
class McChangeRsp(McBody):
    """``mc change_rsp`` (tag 12): same shape as join_rsp."""

    TAG: ClassVar[int] = c.McTag.CHANGE_RSP
    MSG_ID: ClassVar[int] = c.MsgId.MC_CHANGE_RSP

    result: int | None = pb(1, Kind.UINT)
    rel_code: int | None = pb(2, Kind.UINT)
    rel_phrase: str | None = pb(3, Kind.STRING)
    spec: bytes | None = pb(17, Kind.BYTES)


@dataclass(frozen=True, slots=True)
class McCheckRpt(McBody):
    """``mc check_rpt`` (tag 13): ``{f17 encoded StrmSpec}``, sent after join_rsp and BEPI open."""

    TAG: ClassVar[int] = c.McTag.CHECK_RPT
    MSG_ID: ClassVar[int] = c.MsgId.MC_CHECK_RPT

    spec: bytes | None = pb(17, Kind.BYTES)


def join_rsp() -> McJoinRsp:
    """The client's answer to any join_req: result 0 and the 1:1 StrmSpec."""
    return McJoinRsp(result=0, spec=ONE_TO_ONE_STRM_SPEC.encode())


def change_rsp() -> McChangeRsp:
    """The client's answer to any change_req: result 0 and the 1:1 StrmSpec."""
    return McChangeRsp(result=0, spec=ONE_TO_ONE_STRM_SPEC.encode())


def check_rpt() -> McCheckRpt:
    """The check report that follows join_rsp: the 1:1 StrmSpec."""
    return McCheckRpt(spec=ONE_TO_ONE_STRM_SPEC.encode())
