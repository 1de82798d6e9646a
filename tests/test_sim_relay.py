"""The loopback PLANET relay (tests/sim): transcript replay, scripted behaviours, robustness, the runner.

The strongest check comes first: fed planet_wire.json's client->relay datagrams, with the transcript's
relay key pair, session values and peer media material injected by name, the relay core answers with
every relay->client datagram of the transcript byte for byte (PLANET frames and the peer's SRTP) in
the same order, decodes every client message to the transcript's kind, and decrypts the client's SRTP
to the transcript's payloads. The behaviour tests then drive the core with a scripted caller built
from the same codecs (tests/planet_sim_support.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linecall.media.opus import OpusEncoder, OpusParams
from linecall.protocol.planet.crypto import P256KeyPair
from linecall.protocol.planet.media_keys import LocalMediaMaterial, MediaKeyMode
from linecall.protocol.planet.media_offer import MediaOffer
from linecall.protocol.planet.messages import ConnReq, InfoRsp, KeepaliveReq, RelReq, SetupRsp
from linecall.protocol.planet.route import CallRoute
from tests.audio_match import audio_match, band_noise
from tests.conftest import load_vectors
from tests.planet_sim_support import CALLEE, CLIENT_ADDR, MiniCaller, converse, seeded
from tests.sim.planet_relay import (
    PEER_RELEASER,
    RESULT_BAD_CREDENTIAL,
    RESULT_BAD_OFFER,
    RESULT_UNKNOWN_CALLEE,
    CallState,
    PeerScript,
    Refusal,
    RelayConfig,
    RelayCore,
    RelaySessionParams,
    run_planet_relay,
)

FULL_FLOW = [
    "cc/setup_rsp",
    "cc/conn_req",
    "cc/info_req",
    "cc/info_rsp",
    "mc/data_req",
    "mc/join_req",
    "mc/change_req",
    "cc/conn_req",
]
FOLLOW_UP_KIND = {
    "info_req": "cc/info_req",
    "data_req": "mc/data_req",
    "join_req": "mc/join_req",
    "change_req": "mc/change_req",
    "duplicate_conn_req": "cc/conn_req",
}


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def make_core(
    script: PeerScript | None = None, config: RelayConfig | None = None, seed: int = 7
) -> RelayCore:
    return RelayCore(script, config, random=seeded(seed))


def caller_for(core: RelayCore, **kwargs: Any) -> MiniCaller:
    return MiniCaller(CallRoute.from_json(core.route_json("127.0.0.1", 40_000)), **kwargs)


def run_call(
    script: PeerScript, *, until: float = 30.0, **caller_kwargs: Any
) -> tuple[RelayCore, MiniCaller]:
    core = make_core(script)
    caller = caller_for(core, **caller_kwargs)
    converse(core, caller, [caller.setup_req()], until=until)
    return core, caller


# ── planet_wire.json: the relay side reproduced ──────────────────────────────────────────────────


@pytest.fixture
def wire() -> Any:
    return load_vectors("planet_wire.json")


def transcript_core(wire: Any, **config_overrides: Any) -> RelayCore:
    """A relay core holding the transcript's relay values, each injected by name."""
    session = wire["session"]
    relay_cases = [c for c in wire["cases"] if c["direction"] == "relay->client"]
    first_hdr = relay_cases[0]["decoded"]["hdr"]
    tran_ids = iter(h(c["decoded"]["hdr"]["tranId"]) for c in relay_cases if c["channel"] == "planet")

    def tran_id_source(n: int) -> bytes:
        assert n == 16, "after construction the relay only draws 16-byte tran ids"
        return next(tran_ids)

    pm = session["peer_media"]
    peer = LocalMediaMaterial(
        keypair=P256KeyPair.from_private(h(pm["private_key"])),
        key_id=pm["media_key_id"],
        nonce=h(pm["media_nonce"]),
        secret=h(pm["media_secret"]),
    )
    conn_req = next(c for c in relay_cases if c["kind"] == "cc/conn_req")["decoded"]["body"]
    config = RelayConfig(
        from_token=wire["route"]["fromToken"],
        caller_mid=wire["local_mid"],
        callee_mid=wire["peer_mid"],
        keypair=P256KeyPair.from_private(h(session["relay_keypair"]["private_key"])),
        session=RelaySessionParams(
            bootstrap_seed=h(session["relay_bootstrap_seed"]),
            send_label=session["relay_label"],
            first_frame_seq=relay_cases[0]["seq"],
            sess_id=h(first_hdr["sessId"]),
            loc_nonce=int(first_hdr["locNonce"]),
            first_tran_seq=first_hdr["tranSeq"],
        ),
        peer_media=peer,
        relay_cc_chan_id=int(relay_cases[0]["decoded"]["cc_hdr"]["srcChanId"]),
        peer_media_chan_id=int(conn_req["mChanId"]),
        media_addr=(conn_req["mAddr"]["ip"], conn_req["mAddr"]["port"]),
        caller_svc_id=conn_req["svcId"],
        callee_svc_id=conn_req["tgtSvcId"],
    )
    config = replace(config, **config_overrides)
    payloads = tuple(h(c["rtp_payload"]) for c in relay_cases if c["channel"] == "srtp")
    # The recorded relay ignored the client's info_req; its audio started at the transcript's first
    # peer packet seq/SSRC; it hung up last. Ring delay 20.5 ms puts conn_req where the transcript has it
    # when case i is fed at i ms.
    first_srtp = next(c for c in relay_cases if c["channel"] == "srtp")
    script = PeerScript(
        ring_delay_s=0.0205,
        answer_info_req=False,
        reply_payloads=payloads,
        reply_first_seq=int(first_srtp["rtp_plain"][4:8], 16),
        reply_ssrc=int(first_srtp["rtp_plain"][16:24], 16),
        hangup_after_s=0.1,
    )
    return RelayCore(script, config, random=tran_id_source)


def replay(core: RelayCore, wire: Any) -> list[tuple[dict[str, Any], bytes]]:
    """Feed client->relay cases (case i at i ms); pair each relay->client case with the relay's next datagram.

    A relay datagram may come out earlier than the transcript shows it (linejs's fake relay answered
    lazily, on the client's next keepalive), never later: when the transcript expects one and none is
    queued, only the relay's own timers may produce it.
    """
    now, queued, pairs = 0.0, [], []
    for case in wire["cases"]:
        now = max(now, case["index"] / 1000)
        if case["direction"] == "client->relay":
            core.receive_datagram(h(case["wire"]), CLIENT_ADDR, now)
        core.handle_timer(now)
        queued += core.datagrams_to_send(now)
        if case["direction"] == "relay->client":
            while not queued:
                deadline = core.get_timer()
                assert deadline is not None, f"relay has nothing to send for case {case['index']}"
                now = deadline
                core.handle_timer(now)
                queued += core.datagrams_to_send(now)
            wire_bytes, destination = queued.pop(0)
            assert destination == CLIENT_ADDR
            pairs.append((case, wire_bytes))
    assert queued == [], "the relay sent more than the transcript's relay"
    return pairs


def test_transcript_relay_datagrams_reproduced_byte_for_byte(wire: Any) -> None:
    core = transcript_core(wire)
    pairs = replay(core, wire)
    assert len(pairs) == sum(c["direction"] == "relay->client" for c in wire["cases"])
    for case, produced in pairs:
        assert produced.hex() == case["wire"], f"case {case['index']} ({case['kind']})"
    assert [s.kind for s in core.sent] == [case["kind"] for case, _ in pairs]


def test_transcript_client_datagrams_decoded_to_their_kinds(wire: Any) -> None:
    core = transcript_core(wire)
    replay(core, wire)
    client_cases = [c for c in wire["cases"] if c["direction"] == "client->relay"]
    assert core.received_kinds() == [c["kind"] for c in client_cases]
    for record, case in zip(core.received, client_cases, strict=True):
        if case["channel"] == "planet":
            assert record.plaintext is not None and record.plaintext.hex() == case["plaintext"], case["index"]
            assert record.bootstrap is (case["frame"] == "bootstrap")
    setup = core.received[0].message
    assert setup is not None and setup.hdr.user_id == wire["local_mid"]


def test_transcript_media_heard_as_the_peer(wire: Any) -> None:
    core = transcript_core(wire)
    replay(core, wire)
    media = wire["session"]["media"]
    assert core.media is not None
    # The peer's keys are the client's, mirrored: its recv is the client's send and vice versa.
    assert core.media.keying.recv_master.hex() == media["send_master"]
    assert core.media.keying.send_master.hex() == media["recv_master"]
    client_srtp = [c for c in wire["cases"] if c["direction"] == "client->relay" and c["channel"] == "srtp"]
    assert core.media.stats.payloads == [h(c["rtp_payload"]) for c in client_srtp]
    stats = core.stats()
    assert stats.seqs == tuple(c["rtp_header"]["seq"] for c in client_srtp)
    assert stats.timestamps == tuple(c["rtp_header"]["timestamp"] for c in client_srtp)
    assert set(stats.ssrcs) == {wire["session"]["rtp"]["ssrc"]}
    # Payload 0 is transcript filler (f8 ff fe), not Opus; payloads 1..4 are 20 ms Opus packets.
    assert stats.decode_errors == 1 and stats.heard_samples == 4 * 960
    assert stats.rel_req_seen and stats.rel_code == 2 and stats.releaser == "initiator"
    assert stats.released_by == "peer" and stats.state is CallState.RELEASED_BY_PEER


def test_transcript_setup_with_another_token_is_refused(wire: Any) -> None:
    core = transcript_core(wire, from_token="not-the-route-token")
    setup = next(c for c in wire["cases"] if c["kind"] == "cc/setup_req")
    core.receive_datagram(h(setup["wire"]), CLIENT_ADDR, 0.0)
    core.handle_timer(100.0)
    assert core.sent_kinds() == ["cc/setup_rsp"]
    rsp = core.sent[0].message
    assert rsp is not None and isinstance(rsp.body, SetupRsp)
    assert rsp.body.result == RESULT_BAD_CREDENTIAL and rsp.body.refused
    assert core.state is CallState.REFUSED and core.get_timer() is None


# ── scripted behaviours (against the scripted caller) ────────────────────────────────────────────


def test_default_script_plays_the_whole_exchange_in_order() -> None:
    core, caller = run_call(PeerScript(ring_delay_s=2.0))
    assert core.sent_kinds() == FULL_FLOW
    assert caller.kinds() == FULL_FLOW
    assert [s.bootstrap for s in core.sent] == [True] + [False] * (len(FULL_FLOW) - 1)
    conn_req_at = core.sent[1].at
    assert conn_req_at == pytest.approx(2.0)
    setup_rsp = caller.inbox[0].body
    assert isinstance(setup_rsp, SetupRsp)
    assert (setup_rsp.result, setup_rsp.alive_rpt_interval, setup_rsp.no_ans_to_sec) == (0, 15, 60)
    assert core.state is CallState.CONNECTED and core.stats().replies_missing == ()
    # The caller's info_req was answered by echoing its body, as a peer would.
    info_rsp = caller.inbox[3].body
    assert isinstance(info_rsp, InfoRsp) and info_rsp.body == b'{"csv":1}\x00' and info_rsp.result == 0


def test_conn_req_carries_the_peers_answer_and_media_address() -> None:
    core = make_core(config=RelayConfig(media_addr=("127.0.0.1", 41_000)))
    caller = caller_for(core)
    converse(core, caller, [caller.setup_req()], until=5)
    conn_req = caller.inbox[1]
    assert isinstance(conn_req.body, ConnReq) and conn_req.body.answer is not None
    answer = MediaOffer.decode(conn_req.body.answer)
    assert answer.media_pub_key == core.peer_material.public_key
    assert (answer.media_key_id, answer.media_nonce) == (core.peer_material.key_id, core.peer_material.nonce)
    assert conn_req.body.media_endpoint() == ("127.0.0.1", 41_000)
    assert conn_req.chan is not None and conn_req.chan.dst_chan_id == caller.chan_id
    assert conn_req.hdr.user_id == CALLEE and conn_req.hdr.sess_id == core.params.sess_id


@pytest.mark.parametrize("step", sorted(FOLLOW_UP_KIND))
def test_each_follow_up_can_be_switched_off(step: str) -> None:
    core, _ = run_call(PeerScript(**{step: False}))
    expected = [k for k in FULL_FLOW if k != "cc/info_rsp"]
    expected.remove(FOLLOW_UP_KIND[step]) if step != "duplicate_conn_req" else expected.pop()
    # info_rsp answers the caller's own info_req, so where it falls depends on the first follow-up.
    sent = core.sent_kinds()
    assert sent.count("cc/info_rsp") == 1
    assert [k for k in sent if k != "cc/info_rsp"] == expected
    assert core.stats().replies_missing == ()


def test_minimal_script_answers_and_nothing_more() -> None:
    core, _ = run_call(PeerScript.minimal(answer_info_req=False))
    assert core.sent_kinds() == ["cc/setup_rsp", "cc/conn_req"]
    assert core.state is CallState.CONNECTED


def test_a_missing_reply_is_noted_and_the_exchange_moves_on() -> None:
    core, _ = run_call(
        PeerScript(reply_timeout_s=0.5), reply_to=frozenset({"conn_req", "info_req", "join_req"})
    )
    assert core.sent_kinds() == FULL_FLOW  # every step still goes out, the unanswered ones after a wait
    assert core.stats().replies_missing == ("data_req: mc/data_rsp", "change_req: mc/change_rsp")
    data_req, join_req = core.sent[4], core.sent[5]
    assert join_req.at - data_req.at == pytest.approx(0.5)


def test_the_clients_info_req_goes_unanswered_when_scripted() -> None:
    core, _ = run_call(PeerScript(answer_info_req=False))
    assert "cc/info_rsp" not in core.sent_kinds()


def test_refusal_sends_setup_rsp_with_the_code_and_nothing_after() -> None:
    refusal = Refusal(result=486, rel_code=17, rel_phrase="busy")
    core, caller = run_call(PeerScript(refuse=refusal), until=1000)
    assert core.sent_kinds() == ["cc/setup_rsp"]
    body = caller.inbox[0].body
    assert isinstance(body, SetupRsp) and (body.result, body.rel_code, body.rel_phrase) == (486, 17, "busy")
    assert core.state is CallState.REFUSED and core.get_timer() is None
    # A retransmitted setup_req gets the same refusal again.
    converse(core, caller, [caller.setup_req()], until=1000)
    assert core.sent_kinds() == ["cc/setup_rsp", "cc/setup_rsp"]
    assert core.sent[1].message is not None and core.sent[1].message.body == body


def test_silence_never_sends_but_still_records() -> None:
    core = make_core(PeerScript(silent=True))
    caller = caller_for(core)
    end = converse(core, caller, [caller.setup_req(), caller.setup_req()], until=1000)
    assert core.sent == [] and core.get_timer() is None and end == 0.0
    assert core.received_kinds() == ["cc/setup_req", "cc/setup_req"]
    assert core.state is CallState.IDLE


def test_no_answer_rings_forever() -> None:
    core, caller = run_call(PeerScript(answer=False), until=10_000)
    assert core.sent_kinds() == ["cc/setup_rsp"] and core.state is CallState.RINGING
    assert core.get_timer() is None and caller.kinds() == ["cc/setup_rsp"]


def test_first_setup_copies_can_be_ignored_so_the_retransmission_is_answered() -> None:
    core = make_core(PeerScript(ignore_first_setups=2, answer=False))
    caller = caller_for(core)
    setup = caller.setup_req()
    for n in range(2):
        core.receive_datagram(setup, CLIENT_ADDR, float(n))
        assert core.datagrams_to_send(float(n)) == []
    core.receive_datagram(setup, CLIENT_ADDR, 3.0)
    assert [s.kind for s in core.sent] == ["cc/setup_rsp"] and core.stats().setup_reqs == 3


def test_a_retransmitted_setup_req_after_the_answer_repeats_setup_rsp_only() -> None:
    core, caller = run_call(PeerScript.minimal())
    converse(core, caller, [caller.setup_req()], start=5, until=30)
    assert core.sent_kinds() == ["cc/setup_rsp", "cc/conn_req", "cc/info_rsp", "cc/setup_rsp"]
    assert core.sent[-1].bootstrap


@pytest.mark.parametrize(
    ("config", "setup_kwargs", "result"),
    [
        (RelayConfig(), {"credential": bytes(32)}, RESULT_BAD_CREDENTIAL),
        (RelayConfig(caller_mid="u" + "9" * 32), {}, RESULT_BAD_CREDENTIAL),
        (RelayConfig(callee_mid="u" + "8" * 32), {}, RESULT_UNKNOWN_CALLEE),
        (RelayConfig(), {"offer": b"\x0a\x05junk"}, RESULT_BAD_OFFER),
        (RelayConfig(), {"offer": b""}, RESULT_BAD_OFFER),
    ],
    ids=["credential", "initiator", "callee", "garbled-offer", "empty-offer"],
)
def test_setup_checks_refuse_bad_requests(
    config: RelayConfig, setup_kwargs: dict[str, Any], result: int
) -> None:
    core = make_core(config=config)
    caller = caller_for(core)
    converse(core, caller, [caller.setup_req(**setup_kwargs)], until=100)
    assert core.sent_kinds() == ["cc/setup_rsp"] and core.state is CallState.REFUSED
    body = caller.inbox[0].body
    assert isinstance(body, SetupRsp) and body.result == result


def test_peer_hangs_up_after_the_scripted_delay_with_its_code() -> None:
    core, caller = run_call(PeerScript(ring_delay_s=1.0, hangup_after_s=3.0, hangup_code=7), until=100)
    assert core.sent_kinds() == [*FULL_FLOW, "cc/rel_req"]
    rel = core.sent[-1]
    assert rel.at == pytest.approx(4.0)
    assert rel.message is not None and isinstance(rel.message.body, RelReq)
    assert (rel.message.body.rel_code, rel.message.body.releaser) == (7, PEER_RELEASER)
    stats = core.stats()
    assert stats.released_by == "peer" and not stats.rel_req_seen and core.get_timer() is None
    # Nothing the client sends afterwards gets an answer.
    converse(core, caller, [caller.setup_req(), caller.rel_req()], start=5, until=100)
    assert core.sent_kinds()[-1] == "cc/rel_req" and len(core.sent) == len(FULL_FLOW) + 1
    assert core.stats().rel_req_seen and core.stats().rel_code == 2


def test_hangup_cuts_a_pending_exchange_short() -> None:
    core, _ = run_call(PeerScript(hangup_after_s=0.0, reply_timeout_s=5), reply_to=frozenset({"conn_req"}))
    assert core.sent_kinds() == ["cc/setup_rsp", "cc/conn_req", "cc/rel_req"]


def test_client_rel_req_is_recorded_and_ends_the_call() -> None:
    core, caller = run_call(PeerScript.minimal(hangup_after_s=50, reply_payloads=(b"\x00\xf8",) * 3))
    converse(core, caller, [caller.rel_req()], start=1, until=100)
    stats = core.stats()
    assert stats.rel_req_seen and stats.rel_code == 2 and stats.releaser == "initiator"
    assert stats.released_by == "client" and stats.state is CallState.RELEASED_BY_CLIENT
    assert "cc/rel_req" not in core.sent_kinds() and core.get_timer() is None


def test_reply_audio_reaches_the_caller_paced_and_decryptable() -> None:
    payloads = tuple(bytes([0, 0xF8, i]) for i in range(5))
    core, caller = run_call(
        PeerScript(reply_payloads=payloads, reply_interval_s=0.02, reply_first_seq=0xFFFE)
    )
    srtp = [s for s in core.sent if s.kind == "srtp/audio"]
    assert [round(s.at - srtp[0].at, 6) for s in srtp] == [0.0, 0.02, 0.04, 0.06, 0.08]
    assert caller.media_in == list(payloads)  # includes the packets after the sequence wrap
    assert core.stats().replies_sent == 5


def test_the_peer_hears_the_clients_audio() -> None:
    source = band_noise(1.0, seed=3)
    encoder = OpusEncoder(OpusParams(bitrate=32_000))
    core, caller = run_call(PeerScript.minimal())
    frames = source.reshape(-1, 960)
    packets = [caller.media_packet(b"\x00" + encoder.encode(frame)) for frame in frames]
    for i, packet in enumerate(packets):
        core.receive_datagram(packet, CLIENT_ADDR, 1.0 + i * 0.02)
    stats = core.stats()
    assert stats.media_packets == len(frames) and stats.media_rejected == 0 and stats.media_lost == 0
    assert stats.seqs == tuple(range(100, 100 + len(frames)))
    assert set(np.diff(stats.timestamps)) == {960} and stats.timestamps[0] == 960
    assert core.media is not None and set(core.media.stats.prefixes) == {b"\x00"}
    assert audio_match(source, core.heard_pcm()) >= 0.9
    assert core.received_kinds()[-len(frames) :] == ["srtp/audio"] * len(frames)


@pytest.mark.parametrize(
    "mode", [MediaKeyMode.CURRENT, MediaKeyMode.REVERSE_STAGE, MediaKeyMode.AUDIO_SECRET_SENDER]
)
def test_audio_keyed_with_another_mode_is_rejected(mode: MediaKeyMode) -> None:
    core, caller = run_call(PeerScript.minimal(), media_mode=mode)
    for i in range(3):
        core.receive_datagram(caller.media_packet(b"\x00\xf8\xff\xfe"), CLIENT_ADDR, 1.0 + i)
    stats = core.stats()
    assert (stats.media_packets, stats.media_rejected) == (0, 3)
    assert core.received_kinds()[-3:] == ["srtp/rejected"] * 3 and len(core.heard_pcm()) == 0


def test_peer_can_use_another_mode_when_scripted() -> None:
    core, caller = run_call(
        PeerScript.minimal(media_mode=MediaKeyMode.CURRENT), media_mode=MediaKeyMode.CURRENT
    )
    core.receive_datagram(caller.media_packet(b"\x00\xf8\xff\xfe"), CLIENT_ADDR, 1.0)
    assert core.stats().media_packets == 1


def test_route_json_points_at_the_relay_like_a_real_route(wire: Any) -> None:
    core = make_core(config=RelayConfig(callee_mid=CALLEE))
    route_json = core.route_json("127.0.0.1", 40_123)
    assert set(route_json) == set(wire["route"])
    route = CallRoute.from_json(route_json)
    assert route.mpkey == core.mpkey and route.to_mid == CALLEE
    endpoint = route.relay_endpoint()
    assert (endpoint.host, endpoint.port) == ("127.0.0.1", 40_123)
    assert "toMid" not in make_core().route_json("127.0.0.1", 1)


def test_construction_is_deterministic_for_a_seed() -> None:
    a, b = make_core(seed=11), make_core(seed=11)
    assert a.mpkey == b.mpkey and a.params == b.params and a.peer_material.secret == b.peer_material.secret
    assert make_core(seed=12).mpkey != a.mpkey


def test_script_validation() -> None:
    with pytest.raises(ValueError):
        PeerScript(ring_delay_s=-1)
    with pytest.raises(ValueError):
        PeerScript(media_mode=MediaKeyMode.AUTO)
    with pytest.raises(ValueError):
        Refusal(result=0)
    assert PeerScript(data_req=False).follow_ups == (
        "info_req",
        "join_req",
        "change_req",
        "duplicate_conn_req",
    )


# ── robustness ───────────────────────────────────────────────────────────────────────────────────


def _bootstrapish(data: bytes) -> bytes:
    """Make random bytes look like a PLANET bootstrap frame so they reach the key-agreement path."""
    body = bytearray(data.ljust(80, b"\x00"))
    body[0] = 0xD8 | (body[0] & 7)
    body[4:6] = b"\x06\x02"
    body[24] = 0x02 | (body[24] & 1)
    return bytes(body)


datagrams = st.one_of(
    st.binary(max_size=1600),
    st.binary(min_size=12, max_size=400).map(lambda d: bytes([0x80 | (d[0] & 0x3F)]) + d[1:]),
    st.binary(min_size=60, max_size=900).map(_bootstrapish),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datagrams)
def test_random_datagrams_never_crash_an_idle_relay(data: bytes) -> None:
    core = make_core()
    core.receive_datagram(data, CLIENT_ADDR, 0.0)
    assert core.state is CallState.IDLE and core.sent == [] and core.get_timer() is None
    assert len(core.received) == 1


_connected: list[tuple[RelayCore, MiniCaller]] = []


def _connected_call() -> tuple[RelayCore, MiniCaller]:
    if not _connected:
        _connected.append(run_call(PeerScript.minimal(answer_info_req=False)))
    return _connected[0]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datagrams, flips=st.lists(st.integers(min_value=0, max_value=10_000), max_size=4))
def test_random_and_bit_flipped_datagrams_leave_a_live_call_alone(data: bytes, flips: list[int]) -> None:
    core, caller = _connected_call()
    sent_before, state_before = len(core.sent), core.state
    packets_before = core.stats().media_packets
    tampered = bytearray(caller.frame(KeepaliveReq(timestamp=1)))
    for flip in flips:
        tampered[flip % len(tampered)] ^= 1 << (flip % 8)
    for datagram in (data, bytes(tampered) if flips else data):
        core.receive_datagram(datagram, CLIENT_ADDR, 2.0)
    assert len(core.sent) == sent_before and core.state is state_before
    assert core.stats().media_packets == packets_before
    assert core.datagrams_to_send(2.0) == []


# ── the Trio runner on a real loopback socket ────────────────────────────────────────────────────


async def _udp_exchange(
    relay_address: tuple[str, int], caller: MiniCaller, datagrams_out: list[bytes]
) -> None:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with sock:
        await sock.bind(("127.0.0.1", 0))
        pending = list(datagrams_out)

        async def pump() -> None:
            while True:
                data, _ = await sock.recvfrom(65_535)
                pending.extend(caller.receive(data))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump)
            while True:
                while pending:
                    await sock.sendto(pending.pop(0), relay_address)
                await trio.sleep(0.01)


async def test_runner_plays_the_script_over_udp_on_the_mock_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = PeerScript(ring_delay_s=5.0, hangup_after_s=10.0, hangup_code=3)
    async with run_planet_relay(script, random=seeded(5)) as relay:
        route = relay.route
        assert route.mpkey == relay.core.mpkey and route.relay_endpoint().port == relay.address[1]
        caller = MiniCaller(route)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_udp_exchange, relay.address, caller, [caller.setup_req()])
            with trio.fail_after(60):
                setup = await relay.wait_for("cc/setup_req")
                conn_req = await relay.wait_sent("cc/conn_req")
                assert conn_req.at - setup.at == pytest.approx(5.0, abs=0.05)
                await relay.wait_for("mc/change_rsp")
                rel = await relay.wait_sent("cc/rel_req")
                assert rel.at - conn_req.at == pytest.approx(10.0, abs=0.05)
            nursery.cancel_scope.cancel()
    assert relay.sent[1].message is not None and isinstance(relay.sent[1].message.body, ConnReq)
    assert relay.sent[1].message.body.media_endpoint() == relay.address  # advertised m_addr
    assert relay.state is CallState.RELEASED_BY_PEER and relay.stats().released_by == "peer"
    assert caller.kinds() == [*FULL_FLOW, "cc/rel_req"]


async def test_runner_without_a_client_just_waits() -> None:
    async with run_planet_relay(PeerScript()) as relay:
        with trio.move_on_after(0.05):
            await relay.wait_for("cc/setup_req")
        assert relay.received == [] and relay.heard_pcm().size == 0
    assert relay.state is CallState.IDLE
