"""The ``planet_msg`` envelope and the classifier for everything that arrives in a PLANET plaintext.

Nesting (planet-map §4.1)::

    planet_msg   { f1 planet_msg_hdr, one of: f2 sc_msg | f3 planet_cc_msg | f4 planet_mc_msg }
    planet_cc_msg / planet_mc_msg   { f1 ChanHdr, f2 cc_msg / mc_msg }
    cc_msg / mc_msg / sc_msg        one of { <tag>: inner message bytes }

:func:`decode_planet_message` is strict where linejs is lenient: the header and one body are required, every
one-of member must be length-delimited, and when a one-of appears more than once the LAST member wins (the
protobuf rule; linejs takes the first). Bodies with a known tag decode into their dataclass (a malformed
known body is an error); unknown tags come back as ``Unknown*Body`` with their raw bytes.

This module re-exports every message type, so callers can ``from linecall.protocol.planet import messages``
and use ``messages.ConnReq``, ``messages.native_setup_req(...)`` etc.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.errors import ProtoDecodeError
from linecall.protocol.planet.media_offer import (
    MediaOffer,
    MediaRecord,
    OfferMaterial,
    OfferVersion,
    build_group_offer,
    build_one_to_one_offer,
)
from linecall.protocol.planet.messages_base import (
    CcBody,
    ChanHdr,
    FeatureRegister,
    McBody,
    PlanetAddr,
    PlanetMsgHdr,
    PlanetUeInfo,
    ScBody,
    UserAgent,
    default_user_agent,
    feature_records,
)
from linecall.protocol.planet.messages_cc import (
    ConnReq,
    ConnRsp,
    InfoReq,
    InfoRsp,
    RelReq,
    SetupReq,
    SetupRsp,
    conn_rsp_for,
    exchange_app_str_data_req,
    group_leave_rel_req,
    info_rsp_for,
    local_hangup_rel_req,
    native_setup_req,
)
from linecall.protocol.planet.messages_group import (
    BridgeInfo,
    GroupSsrcPlan,
    ParticipateReq,
    ParticipateRsp,
    group_data_session_req,
    native_participate_req,
)
from linecall.protocol.planet.messages_mc import (
    ONE_TO_ONE_STRM_SPEC,
    FecRx,
    Link,
    McChangeReq,
    McChangeRsp,
    McCheckRpt,
    McDataReq,
    McDataRsp,
    McJoinReq,
    McJoinRsp,
    MinMax,
    RetxRx,
    RetxTx,
    StrmAttr,
    StrmSpec,
    StrmState,
    TxStrmAttr,
    change_rsp,
    check_rpt,
    data_rsp_for,
    join_rsp,
    one_to_one_data_session_payload,
    unwrap_data_session,
    wrap_data_session,
)
from linecall.protocol.planet.messages_sc import (
    BepiChannelOpen,
    KeepaliveReq,
    PinholeProbe,
    PinholeReport,
    next_probe_id,
)
from linecall.protocol.planet.proto import Field, FieldSet, WireType, Writer, read_fields


class Channel(StrEnum):
    SC = "sc"
    CC = "cc"
    MC = "mc"


@dataclass(frozen=True, slots=True)
class UnknownCcBody:
    """A cc_msg member this schema does not model (e.g. verify_req, upd_req); ``payload`` is its raw bytes."""

    tag: int
    payload: bytes

    @property
    def name(self) -> str:
        try:
            return c.CcTag(self.tag).name.lower()
        except ValueError:
            return f"cc_msg_{self.tag}"


@dataclass(frozen=True, slots=True)
class UnknownMcBody:
    tag: int
    payload: bytes

    @property
    def name(self) -> str:
        try:
            return c.McTag(self.tag).name.lower()
        except ValueError:
            return f"mc_msg_{self.tag}"


@dataclass(frozen=True, slots=True)
class UnknownScBody:
    tag: int
    payload: bytes


CcMessageBody = (
    SetupReq | SetupRsp | ConnReq | ConnRsp | InfoReq | InfoRsp | RelReq | ParticipateReq | ParticipateRsp
) | UnknownCcBody
McMessageBody = (
    McDataReq | McDataRsp | McJoinReq | McJoinRsp | McChangeReq | McChangeRsp | McCheckRpt
) | UnknownMcBody
ScMessageBody = KeepaliveReq | BepiChannelOpen | UnknownScBody
PlanetBody = CcMessageBody | McMessageBody | ScMessageBody

CC_BODIES: dict[int, type[CcBody]] = {
    cls.TAG: cls
    for cls in (
        SetupReq,
        SetupRsp,
        ConnReq,
        ConnRsp,
        InfoReq,
        InfoRsp,
        RelReq,
        ParticipateReq,
        ParticipateRsp,
    )
}
MC_BODIES: dict[int, type[McBody]] = {
    cls.TAG: cls for cls in (McDataReq, McDataRsp, McJoinReq, McJoinRsp, McChangeReq, McChangeRsp, McCheckRpt)
}
SC_BODIES: dict[int, type[ScBody]] = {cls.TAG: cls for cls in (KeepaliveReq, BepiChannelOpen)}


def channel_of(body: PlanetBody) -> Channel:
    if isinstance(body, CcBody | UnknownCcBody):
        return Channel.CC
    if isinstance(body, McBody | UnknownMcBody):
        return Channel.MC
    return Channel.SC


def _tag_of(body: PlanetBody) -> int:
    if isinstance(body, UnknownCcBody | UnknownMcBody | UnknownScBody):
        return body.tag
    return body.TAG


def _payload_of(body: PlanetBody) -> bytes:
    if isinstance(body, UnknownCcBody | UnknownMcBody | UnknownScBody):
        return body.payload
    return body.encode()


def encode_oneof(body: PlanetBody) -> bytes:
    """The ``cc_msg`` / ``mc_msg`` / ``sc_msg`` one-of: ``{<tag>: body bytes}``."""
    return Writer().blob(_tag_of(body), _payload_of(body)).getvalue()


def encode_chan_msg(chan: ChanHdr, body: PlanetBody) -> bytes:
    """``planet_cc_msg`` / ``planet_mc_msg``: ``{1: chan, 2: one-of}``."""
    return Writer().blob(1, chan.encode()).blob(2, encode_oneof(body)).getvalue()


def msg_id_for(body: CcBody | McBody | ScBody) -> int:
    """The header msg_id a body is sent with (§4.4; for relay-sent kinds, what the recorded relay used)."""
    return body.MSG_ID


@dataclass(frozen=True, slots=True)
class PlanetMessage:
    """One decoded ``planet_msg``: header, body, and for cc/mc bodies the channel header.

    ``chan`` is required for cc/mc bodies and must be ``None`` for sc bodies.
    """

    hdr: PlanetMsgHdr
    body: PlanetBody
    chan: ChanHdr | None = None

    @property
    def channel(self) -> Channel:
        return channel_of(self.body)

    def encode(self) -> bytes:
        """The plaintext the transport encrypts: header, then the body in f2 (sc), f3 (cc) or f4 (mc)."""
        channel = self.channel
        w = Writer().blob(c.Envelope.HDR, self.hdr.encode())
        if channel is Channel.SC:
            if self.chan is not None:
                raise ValueError("sc messages carry no channel header")
            return w.blob(c.Envelope.SC, encode_oneof(self.body)).getvalue()
        if self.chan is None:
            raise ValueError(f"{channel} messages need a channel header")
        number = c.Envelope.CC if channel is Channel.CC else c.Envelope.MC
        return w.blob(number, encode_chan_msg(self.chan, self.body)).getvalue()

    @classmethod
    def decode(cls, plaintext: bytes | memoryview) -> PlanetMessage:
        return decode_planet_message(plaintext)


def _last_len_field(fields: list[Field], what: str) -> Field:
    """The one-of member of a union message: every field must be a message; the last one wins."""
    if not fields:
        raise ProtoDecodeError(f"{what}: empty one-of")
    for f in fields:
        if f.wire_type is not WireType.LEN:
            raise ProtoDecodeError(f"{what}: one-of member {f.number} is not length-delimited")
    return fields[-1]


def _decode_chan_msg(data: bytes, what: str) -> tuple[ChanHdr, Field]:
    fs = FieldSet.parse(data)
    hdr_raw = fs.blob(1)
    body_raw = fs.blob(2)
    if hdr_raw is None or body_raw is None:
        raise ProtoDecodeError(f"{what} needs both a channel header and a body")
    return ChanHdr.decode(hdr_raw), _last_len_field(read_fields(body_raw), what)


def _payload(f: Field) -> bytes:
    if not isinstance(f.value, bytes):  # _last_len_field guarantees LEN; keep mypy and -O honest
        raise ProtoDecodeError(f"field {f.number} is not length-delimited")
    return f.value


def decode_cc_body(tag: int, payload: bytes) -> CcMessageBody:
    """The typed cc body for ``tag`` (``UnknownCcBody`` when not modelled)."""
    cls = CC_BODIES.get(tag)
    return UnknownCcBody(tag, payload) if cls is None else cast(CcMessageBody, cls.decode(payload))


def decode_mc_body(tag: int, payload: bytes) -> McMessageBody:
    cls = MC_BODIES.get(tag)
    return UnknownMcBody(tag, payload) if cls is None else cast(McMessageBody, cls.decode(payload))


def decode_sc_body(tag: int, payload: bytes) -> ScMessageBody:
    cls = SC_BODIES.get(tag)
    return UnknownScBody(tag, payload) if cls is None else cast(ScMessageBody, cls.decode(payload))


def decode_cc_msg(data: bytes | memoryview) -> tuple[ChanHdr, CcMessageBody]:
    """``planet_cc_msg`` → (channel header, typed body)."""
    chan, oneof = _decode_chan_msg(bytes(data), "planet_cc_msg")
    return chan, decode_cc_body(oneof.number, _payload(oneof))


def decode_mc_msg(data: bytes | memoryview) -> tuple[ChanHdr, McMessageBody]:
    """``planet_mc_msg`` → (channel header, typed body)."""
    chan, oneof = _decode_chan_msg(bytes(data), "planet_mc_msg")
    return chan, decode_mc_body(oneof.number, _payload(oneof))


def decode_sc_msg(data: bytes | memoryview) -> ScMessageBody:
    """``sc_msg`` → typed body."""
    oneof = _last_len_field(read_fields(data), "sc_msg")
    return decode_sc_body(oneof.number, _payload(oneof))


def decode_planet_message(plaintext: bytes | memoryview) -> PlanetMessage:
    """Classify one decrypted plaintext; ProtoDecodeError if it is not a well-formed ``planet_msg``.

    Raw frames (pinhole probes/reports) are not planet_msgs and fail here by design.
    """
    fields = read_fields(plaintext)
    hdr_raw: bytes | None = None
    body_fields: list[Field] = []
    for f in fields:
        if f.number == c.Envelope.HDR:
            hdr_raw = _payload(f)
        elif f.number in (c.Envelope.SC, c.Envelope.CC, c.Envelope.MC):
            body_fields.append(f)
    if hdr_raw is None:
        raise ProtoDecodeError("planet_msg without a header")
    hdr = PlanetMsgHdr.decode(hdr_raw)
    member = _last_len_field(body_fields, "planet_msg")
    raw = _payload(member)
    if member.number == c.Envelope.SC:
        return PlanetMessage(hdr, decode_sc_msg(raw))
    if member.number == c.Envelope.CC:
        chan, cc_body = decode_cc_msg(raw)
        return PlanetMessage(hdr, cc_body, chan)
    chan, mc_body = decode_mc_msg(raw)
    return PlanetMessage(hdr, mc_body, chan)


__all__ = [
    "CC_BODIES",
    "MC_BODIES",
    "ONE_TO_ONE_STRM_SPEC",
    "SC_BODIES",
    "BepiChannelOpen",
    "BridgeInfo",
    "CcBody",
    "CcMessageBody",
    "ChanHdr",
    "Channel",
    "ConnReq",
    "ConnRsp",
    "FeatureRegister",
    "FecRx",
    "GroupSsrcPlan",
    "InfoReq",
    "InfoRsp",
    "KeepaliveReq",
    "Link",
    "McBody",
    "McChangeReq",
    "McChangeRsp",
    "McCheckRpt",
    "McDataReq",
    "McDataRsp",
    "McJoinReq",
    "McJoinRsp",
    "McMessageBody",
    "MediaOffer",
    "MediaRecord",
    "MinMax",
    "OfferMaterial",
    "OfferVersion",
    "ParticipateReq",
    "ParticipateRsp",
    "PinholeProbe",
    "PinholeReport",
    "PlanetAddr",
    "PlanetBody",
    "PlanetMessage",
    "PlanetMsgHdr",
    "PlanetUeInfo",
    "RelReq",
    "RetxRx",
    "RetxTx",
    "ScBody",
    "ScMessageBody",
    "SetupReq",
    "SetupRsp",
    "StrmAttr",
    "StrmSpec",
    "StrmState",
    "TxStrmAttr",
    "UnknownCcBody",
    "UnknownMcBody",
    "UnknownScBody",
    "UserAgent",
    "build_group_offer",
    "build_one_to_one_offer",
    "change_rsp",
    "channel_of",
    "check_rpt",
    "conn_rsp_for",
    "data_rsp_for",
    "decode_cc_body",
    "decode_cc_msg",
    "decode_mc_body",
    "decode_mc_msg",
    "decode_planet_message",
    "decode_sc_body",
    "decode_sc_msg",
    "default_user_agent",
    "encode_chan_msg",
    "encode_oneof",
    "exchange_app_str_data_req",
    "feature_records",
    "group_data_session_req",
    "group_leave_rel_req",
    "info_rsp_for",
    "join_rsp",
    "local_hangup_rel_req",
    "msg_id_for",
    "native_participate_req",
    "native_setup_req",
    "next_probe_id",
    "one_to_one_data_session_payload",
    "unwrap_data_session",
    "wrap_data_session",
]
