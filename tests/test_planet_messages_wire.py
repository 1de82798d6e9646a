"""The decoded messages of planet_wire.json (1:1) and planet_wire_group.json (group join) as codec input.

Every PLANET plaintext in both transcripts (client→relay and relay→client) decodes to the transcript's
fields and re-encodes byte for byte. Every client→relay message is also REBUILT from the transcript's
values by name (mids, route, session material, cid, chan ids, tran ids/seqs, the peer's request it
answers) through the public builders the connection will use, and must equal the recorded plaintext.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from linecall.protocol.planet import constants as c
from linecall.protocol.planet import media_offer
from linecall.protocol.planet import messages as m
from linecall.protocol.planet.proto import read_fields
from linecall.protocol.planet.route import CallRoute, GroupCallRoute
from tests.conftest import load_vectors
from tests.planet_json import from_js, offer_json

WIRES = ("planet_wire.json", "planet_wire_group.json")

BODY_CLASSES: dict[str, type[Any]] = {
    "cc/setup_req": m.SetupReq,
    "cc/setup_rsp": m.SetupRsp,
    "cc/conn_req": m.ConnReq,
    "cc/conn_rsp": m.ConnRsp,
    "cc/info_req": m.InfoReq,
    "cc/info_rsp": m.InfoRsp,
    "cc/rel_req": m.RelReq,
    "cc/participate_req": m.ParticipateReq,
    "cc/participate_rsp": m.ParticipateRsp,
    "mc/data_req": m.McDataReq,
    "mc/data_rsp": m.McDataRsp,
    "mc/join_req": m.McJoinReq,
    "mc/join_rsp": m.McJoinRsp,
    "mc/change_req": m.McChangeReq,
    "mc/change_rsp": m.McChangeRsp,
    "mc/check_rpt": m.McCheckRpt,
    "sc/ka_req": m.KeepaliveReq,
    "sc/bepi_channel_open": m.BepiChannelOpen,
}


def _planet_cases() -> list[Any]:
    out = []
    for name in WIRES:
        try:
            wire = load_vectors(name)
        except pytest.skip.Exception:
            return [pytest.param(None, None, marks=pytest.mark.skip("no vectors"))]
        for case in wire["cases"]:
            if case["channel"] == "planet":
                out.append(pytest.param(name, case, id=f"{name}#{case['index']} {case['kind']}"))
    return out


# ─── decode every plaintext; compare with the transcript's decoded fields ───────────────────────


def _check_fields(raw: bytes, fields: list[dict[str, Any]]) -> None:
    ours = [
        (f.number, int(f.wire_type), f.value.hex() if isinstance(f.value, bytes) else str(f.value))
        for f in read_fields(raw)
    ]
    assert ours == [(f["tag"], f["wire_type"], f["value"]) for f in fields]


@pytest.mark.parametrize(("wire_name", "case"), _planet_cases())
def test_transcript_plaintext_decodes_and_round_trips(wire_name: str, case: dict[str, Any]) -> None:
    plaintext = bytes.fromhex(case["plaintext"])
    decoded = case["decoded"]
    kind = case["kind"]
    if kind == "raw/pinhole_probe":
        probe = m.PinholeProbe.decode(plaintext)
        assert (probe.kind, probe.probe_id, probe.mtu) == (16, int(decoded["probe_id"]), 300)
        assert probe.payload.hex() == decoded["payload"] and len(probe.payload) == 500
        assert probe.encode() == plaintext and len(plaintext) == 519
        return
    if kind == "raw/pinhole_report":
        assert m.PinholeReport.decode(plaintext) == m.PinholeReport()
        assert m.PinholeReport().encode() == plaintext
        return
    msg = m.decode_planet_message(plaintext)
    assert msg.encode() == plaintext
    assert msg.hdr == from_js(m.PlanetMsgHdr, decoded["hdr"])
    chan_json = decoded.get("cc_hdr") or decoded.get("mc_hdr")
    assert msg.chan == (None if chan_json is None else from_js(m.ChanHdr, chan_json))
    cls = BODY_CLASSES[kind]
    assert type(msg.body) is cls
    if "body_tag" in decoded:
        assert decoded["body_tag"] == cls.TAG
    body = decoded["body"]
    assert m.encode_oneof(msg.body)  # encodable
    if kind == "sc/ka_req":
        assert msg.body == m.KeepaliveReq(int(body["ts"]), body["is_p2p"] != "0")
    elif kind == "sc/bepi_channel_open":
        assert msg.body == m.BepiChannelOpen(int(body["token_sfixed64"]))
    elif "fields" in body:  # linejs did not parse these bodies: compare the field list
        _check_fields(msg.body.encode(), body["fields"])  # type: ignore[union-attr]
    else:
        answer = body.get("answer_decoded")
        plain = {k: v for k, v in body.items() if k != "answer_decoded"}
        assert msg.body == from_js(cls, plain)
        if answer is not None:
            assert offer_json(m.MediaOffer.decode(bytes.fromhex(body["answer"]))) == answer
    if "offer" in body:  # setup_req / participate_req: our offer decoder reads the transcript's offer
        offer_field = 9 if kind == "cc/setup_req" else 11
        raw_offer = next(f.value for f in read_fields(msg.body.encode()) if f.number == offer_field)  # type: ignore[union-attr]
        assert isinstance(raw_offer, bytes)
        assert offer_json(m.MediaOffer.decode(raw_offer)) == body["offer"]


# ─── rebuild every client→relay message from the transcript's values ───────────────────────────


class Transcript:
    def __init__(self, name: str) -> None:
        self.wire = load_vectors(name)
        self.cases = {x["index"]: x for x in self.wire["cases"]}
        self.session = self.wire["session"]
        self.local = self.wire["local_mid"]

    def msg(self, index: int) -> m.PlanetMessage:
        return m.decode_planet_message(bytes.fromhex(self.cases[index]["plaintext"]))

    def hdr(self, index: int) -> m.PlanetMsgHdr:
        """Our header for frame ``index``: msg id by kind, tran id/seq and learnt session values by name."""
        h = self.cases[index]["decoded"]["hdr"]
        return m.PlanetMsgHdr(
            user_id=self.local,
            msg_id=h["msgId"],
            sess_id=bytes.fromhex(h.get("sessId", "")),
            tran_id=bytes.fromhex(h["tranId"]),
            tran_seq=h["tranSeq"],
            loc_nonce=int(self.session["loc_nonce"]),
            rmt_nonce=int(h.get("rmtNonce", "0")),
        )

    def draw(self, index: int) -> bytes:
        return bytes.fromhex(self.wire["determinism"]["draws"][index]["bytes"])

    def dev_id(self) -> str:
        """dev_id = base64 of the 32-byte draw (as linejs does with no deviceId option)."""
        draws = [d for d in self.wire["determinism"]["draws"] if d["source"].endswith("Uint8Array[32])")]
        assert len(draws) == 1
        return base64.b64encode(bytes.fromhex(draws[0]["bytes"])).decode()

    def check(self, index: int, body: m.PlanetBody, chan: m.ChanHdr | None) -> None:
        case = self.cases[index]
        assert case["direction"] == "client->relay"
        built = m.PlanetMessage(self.hdr(index), body, chan)
        if isinstance(body, m.CcBody | m.McBody | m.ScBody):
            assert built.hdr.msg_id == m.msg_id_for(body)
        assert built.encode().hex() == case["plaintext"]


@pytest.fixture(scope="module")
def one_to_one() -> Transcript:
    return Transcript("planet_wire.json")


@pytest.fixture(scope="module")
def group() -> Transcript:
    return Transcript("planet_wire_group.json")


def test_one_to_one_setup_req_rebuilt(one_to_one: Transcript) -> None:
    t = one_to_one
    route = CallRoute.from_json(t.wire["route"])
    peer, cid = t.wire["peer_mid"], t.session["cid"]
    material = t.session["local_media_offer"]["material"]
    offer = m.build_one_to_one_offer(
        m.OfferMaterial(
            bytes.fromhex(material["media_pub_key"]),
            material["media_key_id"],
            bytes.fromhex(material["media_nonce"]),
            bytes.fromhex(material["media_secret"]),
        )
    )
    assert (
        offer.hex() == t.session["local_media_offer"]["offer"]
        and len(offer) == media_offer.ONE_TO_ONE_OFFER_LEN
    )
    body = m.native_setup_req(
        initiator=t.local,
        responder=peer,
        i_zone=route.from_zone,
        r_zone=route.to_zone,
        stid=route.stid,
        dev_id=t.dev_id(),
        offer=offer,
        credential=route.credential(initiator=t.local, responder=peer, cid=cid),
    )
    t.check(0, body, m.ChanHdr(cid, int(t.session["src_chan_id"])))
    assert t.session["first_tran_seq"] == t.hdr(0).tran_seq


def test_one_to_one_keepalives_rebuilt(one_to_one: Transcript) -> None:
    t = one_to_one
    kas = [i for i, x in t.cases.items() if x["kind"] == "sc/ka_req"]
    assert len(kas) == 11
    for i in kas:
        ts = int(t.cases[i]["decoded"]["body"]["ts"])
        t.check(i, m.KeepaliveReq(ts), None)


def test_one_to_one_replies_rebuilt(one_to_one: Transcript) -> None:
    t = one_to_one
    local_chan = int(t.session["src_chan_id"])  # 1:1: the media channel id is the same value
    for req_index, rsp_index in ((21, 22), (39, 40)):  # conn_req → conn_rsp, duplicate answered again
        req = t.msg(req_index)
        assert isinstance(req.body, m.ConnReq) and req.chan is not None
        rsp = m.conn_rsp_for(req.body, local_media_chan_id=local_chan)
        t.check(rsp_index, rsp, m.ChanHdr(req.chan.cid, local_chan, req.chan.src_chan_id))
        assert req.body.media_endpoint() == ("192.0.2.50", 40000)

    conn = t.msg(21)
    assert isinstance(conn.body, m.ConnReq) and conn.chan is not None
    info = m.exchange_app_str_data_req(source=t.local, callee=t.wire["peer_mid"], conn_req=conn.body)
    t.check(23, info, m.ChanHdr(conn.chan.cid, local_chan, conn.chan.src_chan_id))

    peer_info = t.msg(25)
    assert isinstance(peer_info.body, m.InfoReq) and peer_info.chan is not None
    t.check(
        26,
        m.info_rsp_for(peer_info.body),
        m.ChanHdr(peer_info.chan.cid, local_chan, peer_info.chan.src_chan_id),
    )

    data_req = t.msg(28)
    assert isinstance(data_req.body, m.McDataReq) and data_req.chan is not None
    mc_chan = m.ChanHdr(data_req.chan.cid, local_chan, data_req.chan.src_chan_id)
    data_rsp = m.data_rsp_for(data_req.body)
    assert data_rsp.data is not None and len(data_rsp.data) == 148
    t.check(29, data_rsp, mc_chan)

    join = t.msg(31)
    assert isinstance(join.body, m.McJoinReq) and join.chan is not None
    join_chan = m.ChanHdr(join.chan.cid, local_chan, join.chan.src_chan_id)
    t.check(32, m.join_rsp(), join_chan)
    token = int(t.cases[33]["decoded"]["body"]["token_sfixed64"])
    bepi_draw = next(d for d in t.wire["determinism"]["draws"] if d["source"].endswith("Uint8Array[8])"))
    assert token == int.from_bytes(bytes.fromhex(bepi_draw["bytes"]), "big")  # 8 random bytes read big-endian
    t.check(33, m.BepiChannelOpen(token), None)
    t.check(34, m.check_rpt(), join_chan)

    change = t.msg(36)
    assert isinstance(change.body, m.McChangeReq) and change.chan is not None
    t.check(37, m.change_rsp(), m.ChanHdr(change.chan.cid, local_chan, change.chan.src_chan_id))

    t.check(54, m.local_hangup_rel_req(), m.ChanHdr(t.session["cid"], local_chan, conn.chan.src_chan_id))


def test_one_to_one_inbound_bodies(one_to_one: Transcript) -> None:
    t = one_to_one
    setup_rsp = t.msg(1).body
    assert isinstance(setup_rsp, m.SetupRsp)
    assert (setup_rsp.alive_rpt_interval, setup_rsp.no_ans_to_sec, setup_rsp.refused) == (15, 60, False)
    assert t.msg(1).hdr.loc_nonce == 7642030284661133203  # what becomes our rmt_nonce
    answer = t.msg(21).body
    assert isinstance(answer, m.ConnReq) and answer.answer is not None
    offer = m.MediaOffer.decode(answer.answer)
    peer = t.session["peer_media"]
    assert offer.media_pub_key == bytes.fromhex(peer["public_key"])
    assert offer.media_key_id == peer["media_key_id"]
    assert offer.media_secret == bytes.fromhex(peer["media_secret"])
    audio = offer.audio()
    assert audio is not None and (audio.rtp_id, audio.rtcp_id) == (96, t.session["rtp"]["ssrc"])
    rel = t.msg(53).body
    assert isinstance(rel, m.RelReq) and (rel.rel_code, rel.releaser) == (1, "responder")
    join = t.msg(31).body
    assert isinstance(join, m.McJoinReq) and join.spec is not None
    assert m.StrmSpec.decode(join.spec).fb_intv == 200


def test_one_to_one_raw_frames(one_to_one: Transcript) -> None:
    t = one_to_one
    probes = [x for x in t.cases.values() if x["kind"] == "raw/pinhole_probe"]
    assert len(probes) == c.PINHOLE_PROBE_COUNT
    ids = [int(x["decoded"]["probe_id"]) for x in probes]
    assert ids == sorted(set(ids)) and all(i >> 47 == 1 for i in ids)
    for x in probes:
        probe = m.PinholeProbe(int(x["decoded"]["probe_id"]), bytes.fromhex(x["decoded"]["payload"]))
        assert probe.encode().hex() == x["plaintext"]
    report = next(x for x in t.cases.values() if x["kind"] == "raw/pinhole_report")
    assert m.PinholeReport().encode().hex() == report["plaintext"] == "0a0808f403101018ac02"


def test_probe_ids_strictly_increase() -> None:
    first = m.next_probe_id(1_767_225_600_000_000_000, 0)
    assert first >> 47 == 1 and first < 1 << 48
    assert m.next_probe_id(1_767_225_600_000_000_000, first) == first + 1  # same clock: bumped
    assert m.next_probe_id(1_767_225_600_000_001_000, first) == first + 1000


def test_group_participate_req_rebuilt(group: Transcript) -> None:
    t = group
    route = GroupCallRoute.from_json(t.wire["route"])
    room, cid = t.wire["room_id"], t.session["cid"]
    secret = bytes.fromhex(t.session["local_media_offer"]["material"]["media_secret"])
    offer = m.build_group_offer(secret)
    assert len(offer) == media_offer.GROUP_OFFER_LEN
    body = m.native_participate_req(
        participant=t.local,
        room_id=room,
        p_zone=route.from_zone,
        x_zone=route.polaris_zone,
        orion_ip=route.orion_address,
        mix_ip=route.polaris_address,
        mix_port=route.polaris_udp_port,
        dev_id=t.dev_id(),
        offer=offer,
        credential=route.credential(participant=t.local, room_id=room, cid=cid),
        m_chan_id=int(t.session["media_chan_id"]),
    )
    t.check(0, body, m.ChanHdr(cid, int(t.session["cc_src_chan_id"])))


def test_group_flow_rebuilt(group: Transcript) -> None:
    t = group
    media_chan = int(t.session["media_chan_id"])
    rsp_msg = t.msg(1)
    rsp = rsp_msg.body
    assert isinstance(rsp, m.ParticipateRsp) and rsp_msg.chan is not None
    assert rsp.is_final and not rsp.refused
    assert (rsp.m_chan_id, rsp.alive_rpt_interval) == (180092930, 15)
    assert rsp.bridge_info is not None
    bridge = m.BridgeInfo.decode(rsp.bridge_info)
    assert bridge.addr == m.PlanetAddr(ver=4, trpt=1, ip="192.0.2.31", port=10003)
    assert rsp.answer is not None
    mixer = m.MediaOffer.decode(rsp.answer)
    assert mixer.media_secret == bytes.fromhex(t.session["peer_media"]["media_secret"])

    plan = m.GroupSsrcPlan.from_random_u32(int.from_bytes(t.draw(21), "little"))
    data_req = m.group_data_session_req(plan)
    assert len(data_req.data) == 168
    # dst = the remote media channel from participate_rsp f7
    t.check(2, data_req, m.ChanHdr(t.session["cid"], media_chan, rsp.m_chan_id))
    spec = m.StrmSpec.decode(m.unwrap_data_session(data_req.data))
    assert [s.ssrc for s in spec.strms] == [plan.rx_audio, plan.rx_video, plan.rx_data]
    assert [s.ssrc for s in spec.tx_strms] == [plan.tx_audio, plan.tx_video]

    data_rsp = t.msg(3).body
    assert isinstance(data_rsp, m.McDataRsp) and (data_rsp.result, data_rsp.dispatch_id) == (0, 2)

    for i in (21, 49, 51):
        t.check(i, m.KeepaliveReq(int(t.cases[i]["decoded"]["body"]["ts"])), None)
    cc_chan = m.ChanHdr(t.session["cid"], int(t.session["cc_src_chan_id"]), rsp_msg.chan.src_chan_id)
    t.check(53, m.group_leave_rel_req(), cc_chan)


def test_provisional_participate_rsp() -> None:
    assert not m.ParticipateRsp(m_chan_id=5, role="participant").is_final
    assert m.ParticipateRsp(result=0).is_final
    assert m.ParticipateRsp(rel_code=219).refused
    assert m.SetupRsp(result=1).refused
