"""Transport key agreement and per-frame primitives against every case of planet_transport_keys.json."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linecall.protocol.planet.crypto import (
    P256KeyPair,
    TransportKeys,
    aes_ctr,
    decode_mpkey,
    decode_stnpk,
    derive_recv_keys,
    derive_send_keys,
    direction_label,
    ecdh_secret,
    frame_iv,
    frame_tag,
    group_credential,
    recv_stage1,
    send_stage1,
    setup_credential,
    tags_equal,
    transport_stage1,
    transport_stage2,
)
from linecall.protocol.planet.errors import PlanetCryptoError
from linecall.protocol.planet.framing import HEADER_LEN, open_frame
from tests.planet_vector_params import case_params, h, require, vector_file

FILE = "planet_transport_keys.json"
KINDS = (
    "call_keys",
    "ecdh",
    "ecdh_edge",
    "stage1",
    "stage2",
    "stage_error",
    "direction_label",
    "ctr_iv",
    "ctr_iv_error",
    "aes_ctr",
    "aes_ctr_error",
    "hmac_tag",
    "tag_equals",
    "decode_mpkey",
    "decode_stnpk",
    "setup_credential",
    "group_credential",
)


def _keys_hex(keys: TransportKeys) -> dict[str, str]:
    return {
        "enc_key": keys.enc_key.hex(),
        "ctr_base": keys.ctr_base.hex(),
        "mac_key": keys.mac_key.hex(),
        "raw": keys.raw.hex(),
    }


def test_every_kind_is_covered() -> None:
    data = vector_file(FILE)
    if data is None:
        pytest.skip(f"{FILE} absent")
    assert {c["kind"] for c in data["cases"]} == set(KINDS)


@pytest.mark.parametrize("case", case_params(FILE, "call_keys"))
def test_call_keys(case: Any) -> None:
    case = require(case, FILE)
    inp = case["inputs"]
    local = P256KeyPair.from_private(h(inp["local_private_key"]))
    relay = P256KeyPair.from_private(h(inp["relay_private_key"]))
    mpkey = h(inp["mpkey"])
    assert local.public_key.hex() == inp["local_public_key"]
    assert relay.public_key == mpkey
    assert decode_mpkey(inp["mpkey_base64"]) == mpkey

    assert ecdh_secret(local.private_key, mpkey).hex() == case["ecdh_secret"]
    assert ecdh_secret(relay.private_key, local.public_key).hex() == case["ecdh_secret"]
    assert send_stage1(local, mpkey).hex() == case["stage1_send"]
    assert recv_stage1(local, mpkey).hex() == case["stage1_recv"]

    seed, relay_seed = h(inp["bootstrap_seed"]), h(inp["relay_bootstrap_seed"])
    send = derive_send_keys(local, mpkey, seed, inp["send_label"])
    # deriveCallKeys uses our seed for both directions; the transport takes the relay's (below).
    dck = case["derive_call_keys"]
    assert _keys_hex(send) == dck["send"]
    assert _keys_hex(derive_recv_keys(local, mpkey, seed, inp["recv_label"])) == dck["recv"]

    transport = case["transport"]
    recv = derive_recv_keys(local, mpkey, relay_seed, inp["recv_label"])
    assert _keys_hex(send) == transport["send"]
    assert _keys_hex(recv) == transport["recv"]
    # The relay computes the same keys from its side: its send keys are our receive keys.
    assert derive_send_keys(relay, local.public_key, relay_seed, inp["recv_label"]) == recv
    assert derive_recv_keys(relay, local.public_key, seed, inp["send_label"]) == send

    for frame in case["frames_with_transport_send_keys"]:
        iv = frame_iv(send.ctr_base, frame["seq"])
        assert iv.hex() == frame["iv"]
        ciphertext = aes_ctr(send.enc_key, iv, h(frame["plaintext"]))
        assert ciphertext.hex() == frame["ciphertext"]
        mac_input = h(frame["mac_input"])
        assert mac_input[HEADER_LEN:] == ciphertext
        assert frame_tag(send.mac_key, mac_input).hex() == frame["tag"]
        # And the relay opens the datagram those bytes make.
        datagram = mac_input + h(frame["tag"])
        assert open_frame(send, datagram, HEADER_LEN) == h(frame["plaintext"])


@pytest.mark.parametrize("case", case_params(FILE, "ecdh", "ecdh_edge"))
def test_ecdh(case: Any) -> None:
    case = require(case, FILE)
    private = h(case["local_private_key"])
    if case.get("throws"):
        with pytest.raises(PlanetCryptoError):
            ecdh_secret(private, h(case["peer_public_key"]))
        return
    assert ecdh_secret(private, h(case["peer_public_key"])).hex() == case["shared_secret"]
    if "peer_public_key_uncompressed" in case:
        assert ecdh_secret(private, h(case["peer_public_key_uncompressed"])).hex() == case["shared_secret"]
        assert P256KeyPair.from_private(private).public_key.hex() == case["local_public_key"]
        peer_private = h(case["peer_private_key"])
        assert ecdh_secret(peer_private, h(case["local_public_key"])).hex() == case["shared_secret"]


@pytest.mark.parametrize("case", case_params(FILE, "stage1"))
def test_stage1(case: Any) -> None:
    case = require(case, FILE)
    secret, a, b = h(case["ecdh_secret"]), h(case["ikm_pub"]), h(case["info_pub"])
    assert transport_stage1(secret, a, b).hex() == case["out"]
    assert transport_stage1(secret, b, a).hex() == case["out_swapped"]


@pytest.mark.parametrize("case", case_params(FILE, "stage2"))
def test_stage2(case: Any) -> None:
    case = require(case, FILE)
    keys = transport_stage2(h(case["stage1"]), h(case["bootstrap_seed"]), h(case["direction_label"]))
    assert _keys_hex(keys) == case["out"]


_PUB = bytes([2]) + bytes(32)
_STAGE_ERRORS = {
    "stage1 rejects a 31-byte ecdh secret": lambda: transport_stage1(bytes(31), _PUB, _PUB),
    "stage1 rejects a 65-byte public key": lambda: transport_stage1(bytes(32), bytes([4]) + bytes(64), _PUB),
    "stage2 rejects a 32-byte stage1": lambda: transport_stage2(bytes(32), bytes(16), bytes(2)),
    "stage2 rejects a 15-byte seed": lambda: transport_stage2(bytes(64), bytes(15), bytes(2)),
    "stage2 rejects a 3-byte label": lambda: transport_stage2(bytes(64), bytes(16), bytes(3)),
    "ctr base must be 16 bytes": lambda: frame_iv(bytes(15), 0),
    "24-byte key rejected": lambda: aes_ctr(bytes(24), bytes(16), b""),
}


@pytest.mark.parametrize("case", case_params(FILE, "stage_error", "ctr_iv_error", "aes_ctr_error"))
def test_input_errors(case: Any) -> None:
    case = require(case, FILE)
    assert case["throws"]
    with pytest.raises(PlanetCryptoError):
        _STAGE_ERRORS[case["name"]]()


@pytest.mark.parametrize("case", case_params(FILE, "direction_label"))
def test_direction_label(case: Any) -> None:
    case = require(case, FILE)
    assert direction_label(case["label16"]).hex() == case["out"]


def test_direction_label_range() -> None:
    for bad in (-1, 0x10000):
        with pytest.raises(PlanetCryptoError):
            direction_label(bad)


@pytest.mark.parametrize("case", case_params(FILE, "ctr_iv"))
def test_ctr_iv(case: Any) -> None:
    case = require(case, FILE)
    assert frame_iv(h(case["ctr_base"]), case["seq"]).hex() == case["iv"]


@pytest.mark.parametrize("case", case_params(FILE, "aes_ctr"))
def test_aes_ctr(case: Any) -> None:
    case = require(case, FILE)
    key, iv = h(case["key"]), h(case["iv"])
    assert aes_ctr(key, iv, h(case["plaintext"])).hex() == case["ciphertext"]
    assert aes_ctr(key, iv, h(case["ciphertext"])).hex() == case["plaintext"]


@pytest.mark.parametrize("case", case_params(FILE, "hmac_tag"))
def test_hmac_tag(case: Any) -> None:
    case = require(case, FILE)
    assert frame_tag(h(case["key"]), h(case["data"])).hex() == case["tag"]


@pytest.mark.parametrize("case", case_params(FILE, "tag_equals"))
def test_tag_equals(case: Any) -> None:
    case = require(case, FILE)
    assert tags_equal(h(case["a"]), h(case["b"])) is case["equal"]


@pytest.mark.parametrize("case", case_params(FILE, "decode_mpkey"))
def test_decode_mpkey(case: Any) -> None:
    case = require(case, FILE)
    if case["ok"]:
        assert decode_mpkey(case["input_base64"]).hex() == case["key"]
    else:
        with pytest.raises(PlanetCryptoError):
            decode_mpkey(case["input_base64"])


@pytest.mark.parametrize("case", case_params(FILE, "decode_stnpk"))
def test_decode_stnpk(case: Any) -> None:
    case = require(case, FILE)
    if case["ok"]:
        assert decode_stnpk(case["input_base64"]).hex() == case["key"]
    else:
        with pytest.raises(PlanetCryptoError):
            decode_stnpk(case["input_base64"])


@pytest.mark.parametrize("case", case_params(FILE, "setup_credential", "group_credential"))
def test_credentials(case: Any) -> None:
    case = require(case, FILE)
    if case["kind"] == "setup_credential":
        out = setup_credential(case["initiator"], case["responder"], case["from_token"], case["cid"])
    else:
        out = group_credential(case["participant"], case["room_id"], case["token"], case["cid"])
    assert out.hex() == case["credential"]


def test_generated_key_pairs_are_valid_and_replayable() -> None:
    """Injected randomness: the same draws give the same key; out-of-range scalars are redrawn."""
    draws = [b"\xff" * 32, bytes(32), bytes(31) + b"\x07"]
    pair = P256KeyPair.generate(lambda n: draws.pop(0))
    assert pair.private_key == bytes(31) + b"\x07" and not draws
    assert P256KeyPair.from_private(pair.private_key) == pair
    assert len(pair.public_key) == 33 and pair.public_key[0] in (2, 3)
    assert pair.private_key.hex() not in repr(pair)


@given(st.text(max_size=60))
def test_decode_mpkey_raises_only_typed_errors(text: str) -> None:
    try:
        key = decode_mpkey(text)
    except PlanetCryptoError:
        return
    assert len(key) == 33 and key[0] in (2, 3)


@given(st.binary(min_size=33, max_size=33))
def test_mpkey_roundtrip_through_base64(raw: bytes) -> None:
    text = base64.b64encode(raw).decode()
    if raw[0] in (2, 3):
        assert decode_mpkey(text) == raw
    else:
        with pytest.raises(PlanetCryptoError):
            decode_mpkey(text)


@given(st.binary(max_size=70))
def test_ecdh_with_random_peer_bytes_raises_only_typed_errors(peer: bytes) -> None:
    with contextlib.suppress(PlanetCryptoError):
        assert len(ecdh_secret(bytes(31) + b"\x01", peer)) == 32
