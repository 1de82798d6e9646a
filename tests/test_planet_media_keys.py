"""Media keys: every case of planet_media_keys.json, all 13 modes in both directions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linecall.protocol.planet.crypto import P256KeyPair
from linecall.protocol.planet.errors import PlanetCryptoError
from linecall.protocol.planet.media_keys import (
    CANDIDATE_ORDER,
    DEFAULT_GROUP_MODE,
    DEFAULT_ONE_TO_ONE_MODE,
    LocalMediaMaterial,
    MediaKeyMode,
    PeerMediaMaterial,
    Variant,
    candidates,
    data_recv_master,
    derive_variants,
    group_data_send_master,
    media_key_info,
    mode_available,
    select_keying,
    stream_keying,
)
from linecall.protocol.rtp.srtp import SrtpAuthError, SrtpReceiveSession, derive_session_keys
from tests.planet_vector_params import case_params, h, require, vector_file

FILE = "planet_media_keys.json"
KINDS = {"material_set", "stream_keying", "media_error", "media_key_info", "transport_mode_check"}


def _local(spec: dict[str, Any]) -> LocalMediaMaterial:
    return LocalMediaMaterial(
        keypair=P256KeyPair.from_private(h(spec["private_key"])),
        key_id=spec["media_key_id"],
        nonce=h(spec["media_nonce"]),
        secret=h(spec["media_secret"]),
    )


def _peer(spec: dict[str, Any]) -> PeerMediaMaterial:
    return PeerMediaMaterial(
        public_key=h(spec["public_key"]),
        key_id=spec["media_key_id"],
        nonce=h(spec["media_nonce"]),
        secret=h(spec["media_secret"]),
    )


def _material_modes() -> list[Any]:
    """One parameter per (material set, mode): 4 sets x 13 modes."""
    params = []
    for param in case_params(FILE, "material_set"):
        case = param.values[0]
        if case is None:
            return [pytest.param(None, None, id="vectors-absent")]
        for mode in case["modes"]:
            params.append(pytest.param(case, mode, id=f"{case['name'].split(' ')[0]}:{mode['mode']}"))
    return params


def test_every_kind_and_mode_is_covered() -> None:
    data = vector_file(FILE)
    if data is None:
        pytest.skip(f"{FILE} absent")
    assert {c["kind"] for c in data["cases"]} == KINDS
    assert [m.value for m in CANDIDATE_ORDER] == data["candidate_order"]
    assert len(MediaKeyMode) == 13
    for case in data["cases"]:
        if case["kind"] == "material_set":
            assert {m["mode"] for m in case["modes"]} == {m.value for m in MediaKeyMode}
    checked = {c["mode"] for c in data["cases"] if c["kind"] == "transport_mode_check"}
    assert checked == {m.value for m in MediaKeyMode}


@pytest.mark.parametrize("case", case_params(FILE, "material_set"))
def test_material_set_derivations(case: Any) -> None:
    case = require(case, FILE)
    local, peer = _local(case["local"]), _peer(case["peer"])
    assert local.public_key.hex() == case["local"]["public_key"]
    assert media_key_info(local.key_id).hex() == case["media_key_info_local"]
    assert media_key_info(peer.key_id).hex() == case["media_key_info_peer"]
    variants = derive_variants(local, peer)
    assert variants.ecdh_secret.hex() == case["ecdh_secret"]
    assert variants.local_peer_stage1.hex() == case["local_peer_stage1"]
    assert variants.peer_local_stage1.hex() == case["peer_local_stage1"]
    for name, raw in case["variants_raw32"].items():
        assert variants.raw[Variant(name)].hex() == raw
        assert variants.master(Variant(name)).hex() == case["variants"][name]
    dpk = case["derive_planet_media_keys"]  # linejs's derivePlanetMediaKeys = the "current" orientation
    current = select_keying(MediaKeyMode.CURRENT, local, peer)
    assert (current.send_master.hex(), current.recv_master.hex()) == (dpk["send_keying"], dpk["recv_keying"])
    for source, streams in case["stream_keying"].items():
        if source == "local-secret":
            base = local.secret
        elif source == "peer-secret":
            base = h(case["peer"]["media_secret"])
        else:
            base = variants.master(Variant(source))
        for stream, out in streams.items():
            assert stream_keying(base, stream).hex() == out
    assert group_data_send_master(local).hex() == case["group_data_send_master"]
    assert data_recv_master(peer).hex() == case["one_to_one_data_recv_master"]


@pytest.mark.parametrize(("case", "mode_case"), _material_modes())
def test_mode_send_and_receive(case: Any, mode_case: Any) -> None:
    case = require(case, FILE)
    local, peer = _local(case["local"]), _peer(case["peer"])
    mode = MediaKeyMode(mode_case["mode"])
    keying = select_keying(mode, local, peer)
    assert keying.mode is mode
    assert keying.send_master.hex() == mode_case["send_master"]
    assert keying.recv_master.hex() == mode_case["recv_master"]
    assert keying.send_source == mode_case["send_source"]
    assert keying.recv_source == mode_case["recv_source"]
    for direction, master in (("send_srtp", keying.send_master), ("recv_srtp", keying.recv_master)):
        session = derive_session_keys(master)
        expected = mode_case[direction]
        assert session.cipher_key.hex() == expected["cipher_key"]
        assert session.cipher_salt.hex() == expected["cipher_salt"]
        assert session.auth_key.hex() == expected["auth_key"]
    # The mirror: the peer running the same mode with the roles swapped sends what we receive.
    mirror_local = _local(case["peer"])
    mirror = select_keying(mode, mirror_local, _peer(case["local"]))
    if mode_case.get("self_consistent", True):
        assert mirror.send_master == keying.recv_master
        assert mirror.recv_master == keying.send_master


@pytest.mark.parametrize("case", case_params(FILE, "transport_mode_check"))
def test_transport_mode_check(case: Any) -> None:
    """The masters linejs's transport actually used, shown by decrypting the SRTP it sent and received."""
    case = require(case, FILE)
    local, peer = _local(case["local_media"]), _peer(case["peer_media"])
    mode = MediaKeyMode(case["mode"])
    keying = select_keying(mode, local, peer)
    assert keying.send_master.hex() == case["send_master"]
    assert keying.recv_master.hex() == case["recv_master"]
    assert (keying.send_source, keying.recv_source) == (case["send_source"], case["recv_source"])

    first = case["client_sent"][0]
    assert first["srtp_master"] == case["send_master"]
    assert SrtpReceiveSession(keying.send_master).unprotect(h(first["wire"])).hex() == first["rtp_plain"]
    receiver = SrtpReceiveSession(keying.recv_master)
    assert receiver.unprotect(h(case["peer_sent"]["wire"])).hex() == case["peer_sent"]["rtp_plain"]

    if mode is not MediaKeyMode.AUTO:
        return
    # auto: a packet under another mode's key fails current's receive key; the first candidate (in
    # order, skipping the active one) whose receive key authenticates it becomes send and receive.
    switch = case["auto_switch"]
    packet = h(switch["peer_sent"]["wire"])
    with pytest.raises(SrtpAuthError):
        SrtpReceiveSession(keying.recv_master).unprotect(packet)
    chosen = None
    for candidate in candidates(local, peer):
        if candidate.mode is MediaKeyMode.CURRENT:
            continue
        try:
            plain = SrtpReceiveSession(candidate.recv_master).unprotect(packet)
        except SrtpAuthError:
            continue
        chosen = candidate
        assert plain.hex() == switch["peer_sent"]["rtp_plain"]
        break
    assert chosen is not None and chosen.mode is MediaKeyMode.AUDIO_REVERSE_STAGE
    assert chosen.send_master.hex() == switch["then_send_master"]
    later = case["client_sent"][1]
    assert SrtpReceiveSession(chosen.send_master).unprotect(h(later["wire"])).hex() == later["rtp_plain"]


@pytest.mark.parametrize("case", case_params(FILE, "stream_keying"))
def test_stream_keying(case: Any) -> None:
    case = require(case, FILE)
    assert stream_keying(h(case["base"]), case["stream"]).hex() == case["out"]


_MEDIA_ERRORS = {
    "29-byte base rejected": lambda: stream_keying(bytes(29), "AUDIO"),
    "lower-case stream name rejected": lambda: stream_keying(bytes(30), "audio"),
    "derivePlanetMediaKeys rejects a 15-byte nonce": lambda: derive_variants(
        LocalMediaMaterial(P256KeyPair.from_private(bytes(31) + b"\x01"), 1, bytes(16), bytes(30)),
        PeerMediaMaterial(P256KeyPair.from_private(bytes(31) + b"\x02").public_key, 2, bytes(15), None),
    ),
}


@pytest.mark.parametrize("case", case_params(FILE, "media_error"))
def test_media_errors(case: Any) -> None:
    case = require(case, FILE)
    with pytest.raises(PlanetCryptoError):
        _MEDIA_ERRORS[case["name"]]()


@pytest.mark.parametrize("case", case_params(FILE, "media_key_info"))
def test_media_key_info(case: Any) -> None:
    case = require(case, FILE)
    assert media_key_info(case["media_key_id"]).hex() == case["info"]


def test_defaults() -> None:
    assert DEFAULT_ONE_TO_ONE_MODE is MediaKeyMode.AUDIO_REVERSE_STAGE
    assert DEFAULT_GROUP_MODE is MediaKeyMode.AUDIO_SECRET_SENDER


def test_candidates_follow_the_available_material() -> None:
    local = LocalMediaMaterial(P256KeyPair.from_private(bytes(31) + b"\x05"), 7, b"n" * 16, b"s" * 30)
    peer_key = P256KeyPair.from_private(bytes(31) + b"\x06").public_key
    full = PeerMediaMaterial(peer_key, 9, b"m" * 16, b"t" * 30)
    assert tuple(c.mode for c in candidates(local, full)) == CANDIDATE_ORDER
    kdf_only = PeerMediaMaterial(peer_key, 9, b"m" * 16, None)
    assert tuple(c.mode for c in candidates(local, kdf_only)) == CANDIDATE_ORDER[:8]
    secret_only = PeerMediaMaterial(secret=b"t" * 30)
    assert tuple(c.mode for c in candidates(local, secret_only)) == CANDIDATE_ORDER[8:]
    assert candidates(local, PeerMediaMaterial()) == []
    # Group offers carry only the secret: the group default works, the 1:1 default does not.
    assert mode_available(DEFAULT_GROUP_MODE, local, secret_only)
    assert not mode_available(DEFAULT_ONE_TO_ONE_MODE, local, secret_only)
    assert mode_available(MediaKeyMode.AUTO, local, kdf_only)
    with pytest.raises(PlanetCryptoError):
        select_keying(DEFAULT_ONE_TO_ONE_MODE, local, secret_only)
    with pytest.raises(PlanetCryptoError):
        select_keying(DEFAULT_GROUP_MODE, local, kdf_only)
    with pytest.raises(PlanetCryptoError):
        data_recv_master(kdf_only)


def test_generated_material_draws_in_order_and_has_native_shapes() -> None:
    draws = [
        bytes(31) + b"\x03",
        (1).to_bytes(4, "big"),
        (0xFFFFFFFF).to_bytes(4, "big"),
        b"N" * 16,
        b"S" * 30,
    ]
    material = LocalMediaMaterial.generate(lambda n: draws.pop(0))
    assert not draws
    assert material.keypair == P256KeyPair.from_private(bytes(31) + b"\x03")
    assert material.key_id == (1 << 29) | ((1 << 29) - 1)  # 30 bits, top bit set
    assert (material.nonce, material.secret) == (b"N" * 16, b"S" * 30)
    assert "S" * 30 not in repr(material) and material.secret.hex() not in repr(material)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_generated_key_ids_are_29_or_30_bits(a: int, b: int) -> None:
    draws = [bytes(31) + b"\x03", a.to_bytes(4, "big"), b.to_bytes(4, "big"), bytes(16), bytes(30)]
    key_id = LocalMediaMaterial.generate(lambda n: draws.pop(0)).key_id
    assert key_id.bit_length() in (29, 30)
