"""Every planet_schema.json case of linejs's schema.ts module (not the legacy cassini.ts) and every recorded
schema.test.ts assertion, against linecall.protocol.planet.messages; plus Hypothesis over every decoder.

The JSON uses linejs's shapes (camelCase names, bytes as hex, bigints as decimal strings); ``from_js``
maps them onto our dataclasses by their protobuf declarations. Where linejs is lenient (first copy wins, a
one-of body that is not a message, sfixed64 read unsigned) the test asserts our behaviour and names the case.
The varint/decodeFields cases live in test_planet_proto.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.planet import constants as c
from linecall.protocol.planet import messages as m
from linecall.protocol.planet.errors import ProtoDecodeError
from linecall.protocol.planet.proto import ProtoMessage, Writer, read_fields
from tests.conftest import load_vectors
from tests.planet_json import from_js, hex_or_none, offer_json

SCHEMA_MODULE = "packages/linejs/client/features/call/planet/schema.ts"
SCHEMA_TEST = "packages/linejs/client/features/call/planet/schema.test.ts"
PROTO_FUNCTIONS = {"encodeVarint", "decodeVarint", "decodeFields"}  # in test_planet_proto.py


# ─── per-function handlers for pack/decode cases ─────────────────────────────────────────────────

BODY_TYPES: dict[str, type[Any]] = {
    "PlanetMsgHdr": m.PlanetMsgHdr,
    "PlanetCcHdr": m.ChanHdr,
    "PlanetMcHdr": m.ChanHdr,
    "PlanetUserAgent": m.UserAgent,
    "PlanetUeInfo": m.PlanetUeInfo,
    "PlanetAddr": m.PlanetAddr,
    "CcSetupReq": m.SetupReq,
    "CcParticipateReq": m.ParticipateReq,
    "CcSetupRsp": m.SetupRsp,
    "CcParticipateRsp": m.ParticipateRsp,
    "CcConnReq": m.ConnReq,
    "CcConnRsp": m.ConnRsp,
    "CcInfoReq": m.InfoReq,
    "CcInfoRsp": m.InfoRsp,
    "CcRelReq": m.RelReq,
    "McDataReq": m.McDataReq,
    "McDataRsp": m.McDataRsp,
    "StrmSpec": m.StrmSpec,
}

# Decoded values where our decoder deliberately differs from linejs's: case name → field → our value.
DECODE_DEPARTURES: dict[str, dict[str, Any]] = {
    # departs from "every field (last_ka_ts sfixed64, negative)": sfixed64 decodes signed (linejs: 2**64-2)
    "every field (last_ka_ts sfixed64, negative)": {"last_ka_ts": -2},
}


def _check_decoded(cls: type[Any], case: dict[str, Any], raw: bytes) -> None:
    decoded = cls.decode(raw)
    expected = dict(case["decoded"])
    ours = {}
    for key, value in DECODE_DEPARTURES.get(case["name"], {}).items():
        ours[key] = value
        expected.pop(re.sub(r"_(.)", lambda mt: mt.group(1).upper(), key), None)
    want = dataclasses.replace(from_js(cls, expected), **ours)
    assert decoded == want


def handle_generic(case: dict[str, Any]) -> None:
    fn = case["function"]
    name = fn.removeprefix("pack").removeprefix("decode")
    cls = BODY_TYPES[name]
    if case["kind"] == "pack":
        obj = from_js(cls, case["args"][0])
        if case.get("throws"):
            pytest.fail("no generic pack case is expected to throw")
        assert obj.encode().hex() == case["encoded"]
        if "decoder" in case:
            _check_decoded(cls, case, bytes.fromhex(case["encoded"]))
        return
    raw = bytes.fromhex(case["input"])
    if case.get("throws"):
        with pytest.raises(ProtoDecodeError):
            cls.decode(raw)
        return
    _check_decoded(cls, case, raw)


def handle_extract_rmt_nonce(case: dict[str, Any]) -> None:
    hdr = m.PlanetMsgHdr.decode(bytes.fromhex(case["input"]))
    if case.get("throws"):
        assert hdr.loc_nonce is None  # "no loc_nonce in reply header": nothing to learn
    else:
        assert str(hdr.loc_nonce) == case["decoded"]


def handle_wrap(case: dict[str, Any]) -> None:
    tag, payload = case["args"][0], bytes.fromhex(case["args"][1])
    body: m.PlanetBody = (
        m.UnknownCcBody(tag, payload) if case["function"] == "wrapCcMsg" else (m.UnknownMcBody(tag, payload))
    )
    assert m.encode_oneof(body).hex() == case["encoded"]


def _body_json(chan: m.ChanHdr, body: m.PlanetBody) -> dict[str, Any]:
    hdr: dict[str, Any] = {"cid": chan.cid, "srcChanId": str(chan.src_chan_id)}
    if chan.dst_chan_id:
        hdr["dstChanId"] = str(chan.dst_chan_id)
    if isinstance(body, m.UnknownCcBody | m.UnknownMcBody | m.UnknownScBody):
        tag, payload = body.tag, body.payload
    else:
        tag, payload = body.TAG, body.encode()
    enum = c.CcTag if isinstance(body, m.CcBody | m.UnknownCcBody) else c.McTag
    try:
        name = enum(tag).name.lower()
    except ValueError:
        name = f"{'cc' if enum is c.CcTag else 'mc'}_msg_{tag}"
    return {"hdr": hdr, "bodyTag": tag, "bodyName": name, "bodyBytes": payload.hex()}


def handle_chan_msg(case: dict[str, Any]) -> None:
    is_cc = case["function"].endswith("CcMsg")
    decode = m.decode_cc_msg if is_cc else m.decode_mc_msg
    raw = bytes.fromhex(case["encoded"] if case["kind"] == "pack" else case["input"])
    if case["name"] == "body whose first field is a varint: no bodyTag":
        # departs from linejs (which returns the header alone): a one-of member must be a message
        with pytest.raises(ProtoDecodeError):
            decode(raw)
        return
    chan, body = decode(raw)
    assert _body_json(chan, body) == case["decoded"]
    assert m.encode_chan_msg(chan, body) == raw
    if case["kind"] == "pack":
        assert chan == from_js(m.ChanHdr, case["args"][0])
        assert m.encode_chan_msg(chan, body).hex() == case["encoded"]


def _hdr_json(hdr: m.PlanetMsgHdr) -> dict[str, Any]:
    out: dict[str, Any] = {"userId": hdr.user_id, "msgId": hdr.msg_id}
    if hdr.sess_id:
        out["sessId"] = hdr.sess_id.hex()
    out["tranId"] = hdr.tran_id.hex()
    out["tranSeq"] = hdr.tran_seq
    if hdr.loc_nonce is not None:
        out["locNonce"] = str(hdr.loc_nonce)
    if hdr.rmt_nonce:
        out["rmtNonce"] = str(hdr.rmt_nonce)
    return out


def handle_planet_msg(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["encoded"] if case["kind"] == "pack" else case["input"])
    msg = m.decode_planet_message(raw)
    want = case["decoded"]
    assert _hdr_json(msg.hdr) == want["hdr"]
    assert msg.encode() == raw
    if "cc" in want:
        assert msg.chan is not None
        assert _body_json(msg.chan, msg.body) == want["cc"]
    if "mc" in want:
        assert msg.chan is not None
        assert _body_json(msg.chan, msg.body) == want["mc"]
    if "scBytes" in want:
        assert m.encode_oneof(msg.body).hex() == want["scBytes"]
        assert isinstance(msg.body, m.KeepaliveReq)
    if case["kind"] == "pack":
        hdr = from_js(m.PlanetMsgHdr, case["args"][0])
        assert msg.hdr == hdr
        data = bytes.fromhex(case["args"][1]["data"])
        kind = case["args"][1]["kind"]
        assert msg.channel == kind
        if kind == "sc":
            assert m.encode_oneof(msg.body) == data
        else:
            assert msg.chan is not None and m.encode_chan_msg(msg.chan, msg.body) == data


def handle_feature(case: dict[str, Any]) -> None:
    feature, enabled, *state = case["args"]
    assert m.FeatureRegister(feature, enabled, *state).encode().hex() == case["encoded"]


def _material(obj: dict[str, Any]) -> m.OfferMaterial:
    return m.OfferMaterial(
        bytes.fromhex(obj["mediaPubKey"]),
        int(obj["mediaKeyId"]),
        bytes.fromhex(obj["mediaNonce"]),
        bytes.fromhex(obj["mediaSecret"]),
    )


def handle_offer(case: dict[str, Any]) -> None:
    arg = case["args"][0]
    if case["function"] == "packNativeSetupOffer":
        build: Callable[[], bytes] = lambda: m.build_one_to_one_offer(_material(arg))  # noqa: E731
    else:
        build = lambda: m.build_group_offer(bytes.fromhex(arg["mediaSecret"]))  # noqa: E731
    if case.get("throws"):
        with pytest.raises(ValueError, match="must be"):
            build()
        return
    raw = build()
    assert raw.hex() == case["encoded"]
    assert offer_json(m.MediaOffer.decode(raw)) == case["decoded"]


def handle_offer_decode(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["input"])
    if case.get("throws"):
        with pytest.raises(ProtoDecodeError):
            m.MediaOffer.decode(raw)
        return
    assert offer_json(m.MediaOffer.decode(raw)) == case["decoded"]


def handle_session_payload(case: dict[str, Any]) -> None:
    spec = bytes.fromhex(case["args"][0])
    wrapped = m.wrap_data_session(spec)
    assert wrapped.hex() == case["encoded"]
    assert m.unwrap_data_session(wrapped) == spec


def handle_mc_session_rsp(case: dict[str, Any]) -> None:
    arg = case["args"][0]
    cls = m.McJoinRsp if case["function"] == "packMcJoinRsp" else m.McChangeRsp
    body = cls(
        result=arg.get("result"),
        rel_code=arg.get("relCode"),
        rel_phrase=arg.get("relPhrase"),
        spec=bytes.fromhex(arg["data"]) if "data" in arg else None,
    )
    assert body.encode().hex() == case["encoded"]
    assert cls.decode(bytes.fromhex(case["encoded"])) == body


def handle_check_rpt(case: dict[str, Any]) -> None:
    body = m.McCheckRpt(spec=bytes.fromhex(case["args"][0]))
    assert body.encode().hex() == case["encoded"]
    assert m.McCheckRpt.decode(body.encode()) == body


def handle_bepi(case: dict[str, Any]) -> None:
    token = int(case["args"][0])
    sc = m.encode_oneof(m.BepiChannelOpen(token))
    assert sc.hex() == case["encoded"]
    body = m.decode_sc_msg(sc)
    assert isinstance(body, m.BepiChannelOpen) and body.token == token % (1 << 64)


def handle_keepalive(case: dict[str, Any]) -> None:
    ts, *p2p = case["args"]
    body = m.KeepaliveReq(int(ts), *p2p)
    assert body.encode().hex() == case["encoded"]
    assert m.KeepaliveReq.decode(body.encode()) == body


def handle_sc_ka(case: dict[str, Any]) -> None:
    inner = m.KeepaliveReq.decode(bytes.fromhex(case["args"][0]))
    assert m.encode_oneof(inner).hex() == case["encoded"]


def handle_setup_rsp_decode(case: dict[str, Any]) -> None:
    if case["name"] == "repeated field: the FIRST occurrence wins":
        # departs from linejs's first-wins rule: the LAST copy wins (here both copies are 1, so we also
        # check an input where first and last differ)
        assert m.SetupRsp.decode(bytes.fromhex(case["input"])).result == 1
        assert m.SetupRsp.decode(bytes.fromhex("080108020803")).result == 3
        return
    handle_generic(case)


HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "packPlanetMsgHdr": handle_generic,
    "decodePlanetMsgHdr": handle_generic,
    "extractRmtNonceFromReply": handle_extract_rmt_nonce,
    "packPlanetCcHdr": handle_generic,
    "packPlanetMcHdr": handle_generic,
    "wrapCcMsg": handle_wrap,
    "wrapMcMsg": handle_wrap,
    "packPlanetCcMsg": handle_chan_msg,
    "decodePlanetCcMsg": handle_chan_msg,
    "packPlanetMcMsg": handle_chan_msg,
    "decodePlanetMcMsg": handle_chan_msg,
    "packPlanetMsg": handle_planet_msg,
    "decodePlanetMsg": handle_planet_msg,
    "packPlanetUserAgent": handle_generic,
    "packPlanetFeatureRegister": handle_feature,
    "packPlanetUeInfo": handle_generic,
    "packPlanetAddr": handle_generic,
    "packNativeSetupOffer": handle_offer,
    "packNativeGroupParticipateOffer": handle_offer,
    "decodeNativeSetupOffer": handle_offer_decode,
    "packCcSetupReq": handle_generic,
    "packCcParticipateReq": handle_generic,
    "packCcSetupRsp": handle_generic,
    "decodeCcSetupRsp": handle_setup_rsp_decode,
    "decodeCcParticipateRsp": handle_generic,
    "packCcConnReq": handle_generic,
    "decodeCcConnReq": handle_generic,
    "packCcConnRsp": handle_generic,
    "packCcInfoReq": handle_generic,
    "packCcInfoRsp": handle_generic,
    "packCcRelReq": handle_generic,
    "decodeCcRelReq": handle_generic,
    "packMcDataReq": handle_generic,
    "packMcDataRsp": handle_generic,
    "packStrmSpec": handle_generic,
    "packMcDataSessionPayload": handle_session_payload,
    "packMcJoinRsp": handle_mc_session_rsp,
    "packMcChangeRsp": handle_mc_session_rsp,
    "packMcCheckRpt": handle_check_rpt,
    "packBepiChannelOpen": handle_bepi,
    "packKeepaliveReq": handle_keepalive,
    "packPlanetScMsgKaReq": handle_sc_ka,
}


def _schema_cases() -> list[Any]:
    try:
        data = load_vectors("planet_schema.json")
    except pytest.skip.Exception:
        return [pytest.param(None, marks=pytest.mark.skip("no vectors"))]
    out = []
    for case in data["cases"]:
        if case.get("module") != SCHEMA_MODULE or case["function"] in PROTO_FUNCTIONS:
            continue
        out.append(pytest.param(case, id=f"{case['function']}: {case['name']}"))
    return out


@pytest.mark.parametrize("case", _schema_cases())
def test_schema_case(case: dict[str, Any]) -> None:
    handler = HANDLERS.get(case["function"])
    assert handler is not None, f"no handler for {case['function']}"
    handler(case)


# ─── recorded schema.test.ts assertions ──────────────────────────────────────────────────────────


def _pack_case(function: str, name: str) -> dict[str, Any]:
    data = load_vectors("planet_schema.json")
    return next(
        x
        for x in data["cases"]
        if x.get("module") == SCHEMA_MODULE and x.get("function") == function and x["name"] == name
    )


def _tags(raw: bytes) -> list[int]:
    return [f.number for f in read_fields(raw)]


PIXEL_UA = m.UserAgent("Android", "36", "Pixel 6a")


def actual_msg_hdr() -> list[Any]:
    case = _pack_case("packPlanetMsgHdr", "captured 96-byte header")
    return [from_js(m.PlanetMsgHdr, case["args"][0]).encode().hex()]


def actual_setup_req_tags() -> list[Any]:
    raw = m.SetupReq(
        initiator="uA", responder="uB", svc_key="BASE64PUBKEY==", credential=b"\x01\x02\x03"
    ).encode()
    by_tag = {f.number: f.value for f in read_fields(raw)}
    assert (by_tag[1], by_tag[2], by_tag[12]) == (b"uA", b"uB", b"BASE64PUBKEY==")
    return [by_tag[10].hex()]  # type: ignore[union-attr]


def actual_group_offer() -> list[Any]:
    raw = m.build_group_offer(bytes([7]) * 30)
    assert len(raw) == 265
    offer = m.MediaOffer.decode(raw)
    assert offer.media_pub_key is None
    assert offer.version is not None
    return [
        [r.name for r in offer.media],
        [r.kind for r in offer.media],
        [r.enabled for r in offer.media],
        [r.rtp_port for r in offer.media],
        [r.rtcp_id for r in offer.media],
        hex_or_none(offer.media_secret),
        {"major": offer.version.major, "mode": offer.version.mode},
    ]


def actual_participate_order() -> list[Any]:
    req = m.ParticipateReq(
        participant="u" + "0" * 32,
        room_id="c" + "0" * 32,
        p_zone="jp",
        x_zone="jp",
        orion_ip="10.0.0.1",
        mix_ip="10.0.0.2",
        ua=PIXEL_UA.encode(),
        dev_id="A" * 44,
        comm_type_flags=1,
        capas=c.PARTICIPATE_CAPAS,
        offer=b"\x01\x02\x03",
        credential=bytes([1]) * 32,
        svc_key="groupcall.audio",
        net_type=1,
        m_chan_id=0x7D3158F8,
        mix_port=33828,
        features=m.feature_records(c.PARTICIPATE_FEATURES),
        room_attrs=(1,),
        recv_rtp=2,
        max_chan_cnt=30,
        unavail_to_sec=0,
        pdtp_ondemand_streams=(bytes.fromhex("08041002"),),
        ue_extra_info=bytes.fromhex("0801"),
        path_check=False,
    )
    raw = req.encode()
    assert dict((f.number, f.value) for f in read_fields(raw))[13] == b"groupcall.audio"
    return [_tags(raw)]


def actual_participate_rsp() -> list[Any]:
    rsp = m.ParticipateRsp.decode(bytes.fromhex("080032030102034001"))
    assert (rsp.result, rsp.contents_type) == (0, 1)
    rel = m.RelReq.decode(
        m.RelReq(rel_code=219, rel_phrase="closed", releaser="participant", comm_media_flags=1).encode()
    )
    assert (rel.rel_code, rel.rel_phrase, rel.releaser, rel.comm_media_flags) == (
        219,
        "closed",
        "participant",
        1,
    )
    return [hex_or_none(rsp.answer)]


def actual_group_strm_spec() -> list[Any]:
    spec = m.GroupSsrcPlan(0xE3530100).strm_spec().encode()
    data = m.wrap_data_session(spec)
    assert len(data) == 168
    req = m.McDataReq(src_type=0, dst_type=0, dispatch_id=2, data=data)
    mc = m.encode_chan_msg(m.ChanHdr("00000000-0000-4000-8000-000000000000", 1, 2), req)
    return [
        spec.hex(),
        data[:8].hex(),
        data[8 : 8 + len(spec)].hex(),
        data[8 + len(spec) :].hex(),
        _tags(req.encode()),
        _tags(mc),
    ]


def actual_data_rsp_shapes() -> list[Any]:
    spec = m.StrmSpec(
        strms=(
            m.StrmAttr(
                ssrc=102,
                bitrate=m.MinMax(target=32),
                state=m.StrmState(paused=False, code=0),
                ptime=40,
                retx=m.RetxRx(peri_on=True, peri_intv_ms=40, peri_loss_thre=(0, 0, 20)),
                fec=m.FecRx(),
            ),
        ),
        fb_intv=200,
        tp=1,
        fb_on=True,
    )
    data = m.wrap_data_session(spec.encode())
    rsp = m.McDataRsp(result=0, rel_code=0, dispatch_id=2, data=data)
    decoded = m.McDataRsp.decode(rsp.encode())
    assert (decoded.result, decoded.rel_code, decoded.dispatch_id, decoded.data) == (0, 0, 2, data)
    req = m.McDataReq.decode(
        m.McDataReq(src_type=0, dst_type=0, dispatch_id=2, data=b"\x01\x02\x03").encode()
    )
    ue = m.PlanetUeInfo(user_id="u" + "0" * 32).encode()
    return [
        _tags(rsp.encode()),
        data.hex(),
        {
            "srcType": req.src_type,
            "dstType": req.dst_type,
            "dispatchId": req.dispatch_id,
            "data": req.data.hex(),
        },
        _tags(ue),
    ]


def actual_ua_layout() -> list[Any]:
    raw = m.default_user_agent().encode()
    fields = read_fields(raw)
    assert (fields[0].value, fields[2].value, fields[6].value) == (b"Android", b"Pixel 6a", b"google")
    return [_tags(raw)]


def actual_features() -> list[Any]:
    return [raw.hex() for raw in m.feature_records(c.SETUP_FEATURES)]


def actual_setup_offer() -> list[Any]:
    pub = bytes([2, *range(1, 33)])
    nonce = bytes(range(0xA0, 0xB0))
    secret = bytes(range(0xC0, 0xDE))
    raw = m.build_one_to_one_offer(m.OfferMaterial(pub, 0x572FF1A1, nonce, secret))
    assert len(raw) == 311
    top = read_fields(raw)
    lengths = [len(f.value) for f in top if isinstance(f.value, bytes)]
    names = []
    for f in top[:3]:
        assert isinstance(f.value, bytes)
        codec = read_fields(f.value)[0].value
        assert isinstance(codec, bytes)
        names.append(read_fields(codec)[0].value.decode())  # type: ignore[union-attr]
    sec_a = read_fields(top[3].value)  # type: ignore[arg-type]
    assert sec_a[0].number == 3
    sec_a_inner = read_fields(sec_a[0].value)  # type: ignore[arg-type]
    sec_b = read_fields(top[4].value)  # type: ignore[arg-type]
    assert sec_b[0].number == 2
    sec_b_inner = read_fields(sec_b[0].value)  # type: ignore[arg-type]
    offer = m.MediaOffer.decode(raw)
    assert offer.version is not None and offer.media_key_id == 0x572FF1A1
    return [
        [f.number for f in top],
        lengths,
        names,
        sec_a_inner[0].value.hex(),  # type: ignore[union-attr]
        str(sec_a_inner[1].value),
        sec_a_inner[2].value.hex(),  # type: ignore[union-attr]
        sec_b_inner[0].value.hex(),  # type: ignore[union-attr]
        [r.name for r in offer.media],
        [r.rtp_port for r in offer.media],
        hex_or_none(offer.media_pub_key),
        hex_or_none(offer.media_nonce),
        hex_or_none(offer.media_secret),
        {"major": offer.version.major, "mode": offer.version.mode},
    ]


def actual_decode_setup_rsp() -> list[Any]:
    chan = m.ChanHdr("call-001", 1, 2)
    body = m.SetupRsp.decode(bytes.fromhex("0800a8061e800778"))
    hdr = m.PlanetMsgHdr("uB", 2, bytes([0xAA]) * 16, bytes([0xBB]) * 16, 3, 4, 5)
    msg = m.decode_planet_message(m.PlanetMessage(hdr, body, chan).encode())
    assert msg.hdr.msg_id == 2 and msg.chan is not None and msg.chan.cid == "call-001"
    assert isinstance(msg.body, m.SetupRsp) and (msg.body.alive_rpt_interval, msg.body.no_ans_to_sec) == (
        30,
        120,
    )
    return [msg.hdr.sess_id.hex()]


def actual_conn_round_trip() -> list[Any]:
    ua = PIXEL_UA.encode()
    req = m.ConnReq.decode(
        m.ConnReq(
            answer=b"\x01\x02\x03",
            m_chan_id=0x11223344,
            net_type=1,
            unavail_to_sec=120,
            o_capas=(1, 2, 7),
            features=m.feature_records(((16, True, 0),)),
            ua=ua,
            m_addr=m.PlanetAddr(ver=4, trpt=1, ip="203.0.113.10", port=12345),
            req_rec=False,
        ).encode()
    )
    assert (req.net_type, req.unavail_to_sec, len(req.features), req.req_rec) == (1, 120, 1, False)
    rsp = m.ConnRsp.decode(
        m.ConnRsp(result=0, m_chan_id=0x55667788, net_type=1, unavail_to_sec=120, ua=ua).encode()
    )
    assert (rsp.result, rsp.net_type, rsp.unavail_to_sec) == (0, 1, 120)
    assert req.m_addr is not None
    addr = {"ver": req.m_addr.ver, "trpt": req.m_addr.trpt, "ip": req.m_addr.ip, "port": req.m_addr.port}
    return [
        hex_or_none(req.answer),
        str(req.m_chan_id),
        list(req.o_capas),
        hex_or_none(req.ua),
        addr,
        str(rsp.m_chan_id),
        hex_or_none(rsp.ua),
    ]


def actual_info_round_trip() -> list[Any]:
    req = m.InfoReq.decode(
        m.InfoReq(
            body_type="profile",
            body=b"\x01\x02\x03",
            targets=("callee",),
            source="caller",
            source_svc_id="freecall.audio",
            tgt_ue=(b"\x04\x05",),
            trx_origin="origin",
            svc_id="svc",
            tgt_svc_id="target",
            inter_domain=False,
        ).encode()
    )
    assert (req.body_type, req.source, req.trx_origin, req.inter_domain) == (
        "profile",
        "caller",
        "origin",
        False,
    )
    rsp = m.InfoRsp.decode(
        m.InfoRsp(
            result=0,
            body_type="profile",
            body=b"\x01\x02\x03",
            svc_id="svc",
            tgt_svc_id="target",
            inter_domain=True,
        ).encode()
    )
    assert (rsp.result, rsp.inter_domain) == (0, True)
    return [hex_or_none(req.body), list(req.targets), [u.hex() for u in req.tgt_ue], hex_or_none(rsp.body)]


def actual_rel_req_shape() -> list[Any]:
    fields = read_fields(m.local_hangup_rel_req().encode())
    assert fields[1].value == b"initiator"
    return [[[f.number, int(f.wire_type)] for f in fields], str(fields[0].value), str(fields[2].value)]


def actual_keepalive() -> list[Any]:
    raw = m.KeepaliveReq(0x18B156DC467AEE80, False).encode()
    fields = read_fields(raw)
    assert fields[0].wire_type.name == "FIXED64"
    return [raw.hex(), str(fields[0].value), str(fields[1].value)]


def actual_extract_nonce() -> list[Any]:
    hdr = m.PlanetMsgHdr(
        "u" + "1" * 32, 1, bytes([0xAA]) * 16, bytes([0xBB]) * 16, 1, 0x6A0E122C0E9D22AC, 199820756
    )
    return [str(m.PlanetMsgHdr.decode(hdr.encode()).loc_nonce)]


ASSERTION_HANDLERS: dict[str, Callable[[], list[Any]]] = {
    "packPlanetMsgHdr matches an observed 96-byte header shape": actual_msg_hdr,
    "packCcSetupReq emits initiator + responder + svc_key in tag order": actual_setup_req_tags,
    "packNativeGroupParticipateOffer emits group media records": actual_group_offer,
    "packCcParticipateReq emits native group join field order": actual_participate_order,
    "decodeCcParticipateRsp and decodeCcRelReq parse group replies": actual_participate_rsp,
    "packStrmSpec matches native group mc_data_req payload": actual_group_strm_spec,
    "packMcDataRsp and packPlanetUeInfo match post-answer control shapes": actual_data_rsp_shapes,
    "packPlanetUserAgent emits the native Android UA field layout": actual_ua_layout,
    "packPlanetFeatureRegister matches captured feature records": actual_features,
    "packNativeSetupOffer emits the 311-byte native media offer shape": actual_setup_offer,
    "decodePlanetMsg unwraps cc setup_rsp": actual_decode_setup_rsp,
    "packCcConnReq/packCcConnRsp round-trip answered-call media fields": actual_conn_round_trip,
    "packCcInfoReq/packCcInfoRsp round-trip info exchange fields": actual_info_round_trip,
    "packCcRelReq matches the observed local-hangup field shape": actual_rel_req_shape,
    "packKeepaliveReq produces the captured msg #1 body (13 bytes)": actual_keepalive,
    "extractRmtNonceFromReply pulls loc_nonce (field 6) out": actual_extract_nonce,
}
# these two live in test_planet_proto.py
PROTO_ASSERTIONS = {
    "decodeFields parses the captured header into the expected fields",
    "encodeVarint matches well-known protobuf encodings",
}


def _assertion_cases() -> list[Any]:
    try:
        data = load_vectors("planet_schema.json")
    except pytest.skip.Exception:
        return [pytest.param(None, marks=pytest.mark.skip("no vectors"))]
    return [
        pytest.param(x, id=f"{x['test']} #{x['assertion']}")
        for x in data["cases"]
        if x["kind"] == "test_assertion"
        and x["source_test"] == SCHEMA_TEST
        and x["test"] not in PROTO_ASSERTIONS
    ]


@pytest.mark.parametrize("case", _assertion_cases())
def test_schema_test_assertion(case: dict[str, Any]) -> None:
    handler = ASSERTION_HANDLERS.get(case["test"])
    assert handler is not None, f"no handler for {case['test']}"
    actual = handler()
    assert actual[case["assertion"]] == case["expected"] == case["actual"]


# ─── envelope strictness ─────────────────────────────────────────────────────────────────────────


def test_planet_msg_requires_header_and_body() -> None:
    hdr = Writer().blob(1, m.PlanetMsgHdr("u", 1, loc_nonce=1).encode())
    with pytest.raises(ProtoDecodeError):
        m.decode_planet_message(hdr.getvalue())  # header only
    ka = m.encode_oneof(m.KeepaliveReq(1))
    with pytest.raises(ProtoDecodeError):
        m.decode_planet_message(Writer().blob(2, ka).getvalue())  # body only
    with pytest.raises(ProtoDecodeError):
        m.decode_planet_message(bytes.fromhex("0a0808f403101018ac02"))  # a pinhole report is not a planet_msg


def test_last_one_of_member_wins() -> None:
    hdr = m.PlanetMsgHdr("u", 1, loc_nonce=1)
    ka = m.encode_oneof(m.KeepaliveReq(5))
    cc = m.encode_chan_msg(m.ChanHdr("c", 1), m.local_hangup_rel_req())
    raw = Writer().blob(1, hdr.encode()).blob(2, ka).blob(3, cc).getvalue()
    assert isinstance(m.decode_planet_message(raw).body, m.RelReq)
    sc_two = Writer().blob(1, m.KeepaliveReq(1).encode()).blob(1, m.KeepaliveReq(2).encode()).getvalue()
    body = m.decode_sc_msg(sc_two)
    assert isinstance(body, m.KeepaliveReq) and body.timestamp == 2


def test_encode_checks_channel_header() -> None:
    hdr = m.PlanetMsgHdr("u", 1, loc_nonce=1)
    with pytest.raises(ValueError):
        m.PlanetMessage(hdr, m.local_hangup_rel_req()).encode()
    with pytest.raises(ValueError):
        m.PlanetMessage(hdr, m.KeepaliveReq(1), m.ChanHdr("c", 1)).encode()


def test_unknown_bodies_round_trip() -> None:
    hdr = m.PlanetMsgHdr("u", 1, loc_nonce=1)
    for body in (m.UnknownCcBody(3, b"\x08\x01"), m.UnknownMcBody(55, b""), m.UnknownScBody(9, b"\x01")):
        chan = None if isinstance(body, m.UnknownScBody) else m.ChanHdr("c", 7, 8)
        msg = m.PlanetMessage(hdr, body, chan)
        assert m.decode_planet_message(msg.encode()) == msg
    assert m.UnknownCcBody(3, b"").name == "verify_req"
    assert m.UnknownMcBody(99, b"").name == "mc_msg_99"


def test_constants_draws_reproduce_the_transcript() -> None:
    wire = load_vectors("planet_wire.json")
    draws = {d["index"]: bytes.fromhex(d["bytes"]) for d in wire["determinism"]["draws"]}

    def drawer(first: int) -> Callable[[int], bytes]:
        it = iter((draws[first], draws[first + 1]))
        return lambda n: next(it)

    assert c.draw_id_with_bits(drawer(5), *c.TRAN_SEQ_BITS) == wire["session"]["first_tran_seq"]
    assert c.draw_id_with_bits(drawer(7), *c.ONE_TO_ONE_CHAN_ID_BITS) == int(wire["session"]["src_chan_id"])
    assert c.draw_id_with_bits(drawer(10), *c.LOC_NONCE_BITS) == int(wire["session"]["loc_nonce"])


def test_data_session_unwrap_is_strict() -> None:
    good = m.one_to_one_data_session_payload()
    assert len(good) == 148 and len(m.unwrap_data_session(good)) == 139
    for bad in (good[:-1], good + b"\x00", b"\x00\x03" + good[2:], good[:-1] + b"\x01", b""):
        with pytest.raises(ProtoDecodeError):
            m.unwrap_data_session(bad)


def test_planet_addr_endpoint_rules() -> None:
    assert m.PlanetAddr(ip="192.0.2.50", ports="40000-40010").endpoint() == ("192.0.2.50", 40000)
    assert m.PlanetAddr(ip="192.0.2.50", trpt=2, port=1).endpoint() is None
    assert m.PlanetAddr(ip="192.0.2.50", port=0).endpoint() is None
    assert m.PlanetAddr(port=5).endpoint() is None
    assert m.PlanetAddr(ip="h", ports="x99999").endpoint() is None


# ─── hypothesis over every decoder ───────────────────────────────────────────────────────────────

DECODERS: list[Callable[[bytes], object]] = [
    m.decode_planet_message,
    m.decode_cc_msg,
    m.decode_mc_msg,
    m.decode_sc_msg,
    m.MediaOffer.decode,
    m.PinholeProbe.decode,
    m.PinholeReport.decode,
    m.unwrap_data_session,
    *(cls.decode for cls in (*m.CC_BODIES.values(), *m.MC_BODIES.values(), *m.SC_BODIES.values())),
    *(
        cls.decode
        for cls in (
            m.PlanetMsgHdr,
            m.ChanHdr,
            m.UserAgent,
            m.FeatureRegister,
            m.PlanetAddr,
            m.PlanetUeInfo,
            m.StrmSpec,
            m.BridgeInfo,
        )
    ),
]


def _seed_messages() -> list[bytes]:
    """Valid encodings to mutate: one of every message kind the client sends or receives."""
    hdr = m.PlanetMsgHdr("u1", 0x2141, b"\x01" * 16, b"\x02" * 16, 5, 6, 7)
    chan = m.ChanHdr("38d6d12c-dd61-4206-bba2-7744be82f256", 365771455, 4097)
    offer = m.build_one_to_one_offer(m.OfferMaterial(b"\x02" * 33, 0x572FF1A1, b"\x03" * 16, b"\x04" * 30))
    conn_req = m.ConnReq(answer=offer, m_chan_id=8194, m_addr=m.PlanetAddr(4, 1, "192.0.2.50", None, 40000))
    bodies: list[m.PlanetBody] = [
        m.native_setup_req(
            initiator="u1",
            responder="u2",
            i_zone="JP",
            r_zone="JP",
            stid="s",
            dev_id="d",
            offer=offer,
            credential=b"\x05" * 32,
        ),
        m.SetupRsp(result=0, alive_rpt_interval=15),
        conn_req,
        m.conn_rsp_for(conn_req, local_media_chan_id=365771455),
        m.exchange_app_str_data_req(source="u1", callee="u2", conn_req=conn_req),
        m.local_hangup_rel_req(),
        m.ParticipateRsp(result=0, answer=m.build_group_offer(b"\x06" * 30), m_chan_id=5),
        m.group_data_session_req(m.GroupSsrcPlan(0xE3530100)),
        m.data_rsp_for(m.McDataReq(dispatch_id=2)),
        m.join_rsp(),
        m.KeepaliveReq(1767225600000),
        m.BepiChannelOpen(12845170403053278365),
    ]
    out = []
    for body in bodies:
        is_sc = isinstance(body, m.ScBody)
        out.append(m.PlanetMessage(hdr, body, None if is_sc else chan).encode())
    out += [offer, m.PinholeReport().encode(), m.PinholeProbe(1 << 47, b"\x00" * 8).encode()]
    return out


SEEDS = _seed_messages()


def _must_be_typed(decoder: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(ProtoDecodeError):
        decoder(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=96), st.sampled_from(range(len(DECODERS))))
def test_decoders_random_bytes(data: bytes, which: int) -> None:
    _must_be_typed(DECODERS[which], data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(range(len(SEEDS))), st.sampled_from(range(len(DECODERS))), st.data())
def test_decoders_truncated_and_bit_flipped(seed: int, which: int, data: st.DataObject) -> None:
    raw = SEEDS[seed]
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    _must_be_typed(DECODERS[which], raw[:cut])
    flipped = bytearray(raw)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
        flipped[bit // 8] ^= 1 << (bit % 8)
    _must_be_typed(DECODERS[which], bytes(flipped))


@pytest.mark.parametrize("seed", range(len(SEEDS) - 3))
def test_seed_messages_round_trip(seed: int) -> None:
    raw = SEEDS[seed]
    msg = m.decode_planet_message(raw)
    assert msg.encode() == raw
    for cut in range(len(raw)):
        try:
            m.decode_planet_message(raw[:cut])
        except ProtoDecodeError:
            continue


def test_proto_message_base_is_declared() -> None:
    assert issubclass(m.SetupReq, ProtoMessage)
    assert all(issubclass(cls, m.CcBody) for cls in m.CC_BODIES.values())
