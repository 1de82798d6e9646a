"""planet_wire.json at the frame level: our derived keys seal and open the transcript's PLANET frames.

From the session material alone (transport key pair, route mpkey, bootstrap seed, send label, first
frame sequence) a :class:`FrameCodec` re-seals every client->relay plaintext into the transcript's exact
datagram, in order, and opens every relay->client frame, learning the receive keys from the relay's
bootstrap frame.  A relay-side codec built from the client's bootstrap prefix does the mirror image.
This is the layer the connection state machine builds on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from linecall.protocol.planet.crypto import P256KeyPair, TransportKeys, decode_mpkey
from linecall.protocol.planet.framing import (
    BootstrapPrefix,
    FrameCodec,
    FrameHeader,
    FrameKind,
    IgnoredDatagram,
    InboundFrame,
    is_rtp_like,
)
from tests.conftest import load_vectors
from tests.planet_vector_params import h

KIND = {"bootstrap": FrameKind.BOOTSTRAP, "regular": FrameKind.CONTROL, "raw": FrameKind.RAW}


@pytest.fixture
def wire() -> Any:
    return load_vectors("planet_wire.json")


def _keys(spec: dict[str, str]) -> TransportKeys:
    return TransportKeys(enc_key=h(spec["enc_key"]), ctr_base=h(spec["ctr_base"]), mac_key=h(spec["mac_key"]))


def _planet(wire: Any, direction: str) -> list[dict[str, Any]]:
    return [c for c in wire["cases"] if c["channel"] == "planet" and c["direction"] == direction]


def _client_codec(wire: Any) -> FrameCodec:
    session = wire["session"]
    local = P256KeyPair.from_private(h(session["transport_keypair"]["private_key"]))
    assert local.public_key.hex() == session["transport_keypair"]["public_key"]
    mpkey = decode_mpkey(json.loads(wire["route"]["commParam"])["mpkey"])
    assert mpkey.hex() == session["relay_keypair"]["public_key"]
    return FrameCodec(
        local=local,
        peer_public_key=mpkey,
        bootstrap_seed=h(session["bootstrap_seed"]),
        send_label=session["send_label"],
        first_seq=session["first_frame_seq"],
    )


def test_client_frames_are_resealed_byte_for_byte(wire: Any) -> None:
    codec = _client_codec(wire)
    assert codec.send_keys == _keys(wire["session"]["transport_send_keys"])
    sent = _planet(wire, "client->relay")
    assert sent[0]["frame"] == "bootstrap" and {c["frame"] for c in sent[1:]} == {"regular", "raw"}
    for case in sent:
        assert codec.next_seq == int(case["seq"]), case["index"]
        datagram = codec.seal(h(case["plaintext"]), KIND[case["frame"]])
        assert datagram.hex() == case["wire"], f"frame {case['index']} ({case['kind']})"
        header = FrameHeader.parse(datagram)
        expected = case["header"]
        assert (header.chunk_logical, header.seq, header.tail16) == (
            expected["chunk_logical"],
            expected["seq"],
            expected["tail16"],
        )
        assert int.from_bytes(datagram[:2], "big") == expected["chunk_word_be"]


def test_relay_frames_open_with_the_derived_receive_keys(wire: Any) -> None:
    codec = _client_codec(wire)
    received = _planet(wire, "relay->client")
    assert received[0]["frame"] == "bootstrap"
    for i, case in enumerate(received):
        result = codec.open(h(case["wire"]))
        assert isinstance(result, InboundFrame), case["index"]
        assert result.plaintext.hex() == case["plaintext"]
        assert result.header.seq == int(case["seq"])
        assert result.bootstrap is (i == 0)
        if i == 0:
            session = wire["session"]
            assert result.relay_prefix == BootstrapPrefix(
                label=session["relay_label"],
                seed=h(session["relay_bootstrap_seed"]),
                public_key=h(session["relay_keypair"]["public_key"]),
            )
            assert codec.recv_keys == _keys(session["transport_recv_keys"])


def test_srtp_datagrams_are_told_apart(wire: Any) -> None:
    for case in wire["cases"]:
        assert is_rtp_like(h(case["wire"])) is (case["channel"] != "planet"), case["index"]


def test_tampered_relay_frames_are_ignored_without_state_change(wire: Any) -> None:
    codec = _client_codec(wire)
    received = _planet(wire, "relay->client")
    codec.open(h(received[0]["wire"]))
    keys = codec.recv_keys
    for case in received:
        datagram = bytearray(h(case["wire"]))
        for pos in (0, 3, 5, 6, 30, 60, len(datagram) // 2, len(datagram) - 1):
            datagram[pos] ^= 0x40
            assert isinstance(codec.open(bytes(datagram)), IgnoredDatagram)
            datagram[pos] ^= 0x40
        assert codec.recv_keys == keys


def test_a_relay_codec_mirrors_the_transcript(wire: Any) -> None:
    """What the loopback relay will do: learn our key from our bootstrap prefix, then speak the transcript."""
    session = wire["session"]
    sent, received = _planet(wire, "client->relay"), _planet(wire, "relay->client")
    client_pub = BootstrapPrefix.parse(h(sent[0]["wire"])).public_key
    relay = FrameCodec(
        local=P256KeyPair.from_private(h(session["relay_keypair"]["private_key"])),
        peer_public_key=client_pub,
        bootstrap_seed=h(session["relay_bootstrap_seed"]),
        send_label=session["relay_label"],
        first_seq=int(received[0]["seq"]),
    )
    assert relay.send_keys == _keys(session["transport_recv_keys"])
    for case in received:
        frame = KIND[case["frame"]]
        assert relay.seal(h(case["plaintext"]), frame).hex() == case["wire"], case["index"]
    for case in sent:
        result = relay.open(h(case["wire"]))
        assert isinstance(result, InboundFrame) and result.plaintext.hex() == case["plaintext"]
    assert relay.recv_keys == _keys(session["transport_send_keys"])
