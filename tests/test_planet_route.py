"""Call routes (linecall.protocol.planet.route): JSON shapes, mpkey, address family, credentials (§1.2-1.5)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.planet.errors import PlanetError
from linecall.protocol.planet.proto import read_fields
from linecall.protocol.planet.route import (
    AddressFamily,
    CallRoute,
    GroupCallRoute,
    RouteError,
    decode_mpkey,
    group_credential,
    parse_route,
    setup_credential,
)
from tests.conftest import load_vectors


def _field(plaintext_body_hex: str, number: int) -> bytes:
    value = next(f.value for f in read_fields(bytes.fromhex(plaintext_body_hex)) if f.number == number)
    assert isinstance(value, bytes)
    return value


def test_one_to_one_route_from_transcript() -> None:
    wire = load_vectors("planet_wire.json")
    route = parse_route(wire["route"])
    assert isinstance(route, CallRoute)
    assert route.mpkey == bytes.fromhex(wire["session"]["relay_keypair"]["public_key"])
    v4 = route.relay_endpoint()
    assert (v4.host, v4.port, v4.family, v4.bind_host) == ("192.0.2.10", 10001, AddressFamily.IPV4, "0.0.0.0")
    v6 = route.relay_endpoint(prefer_ipv6=True)
    assert (v6.host, v6.family, v6.bind_host) == ("2001:db8::10", AddressFamily.IPV6, "::")
    assert route.relay_endpoint() == CallRoute.from_json(route.to_json()).relay_endpoint()
    assert CallRoute.from_json(route.to_json()) == route
    # every PLANET datagram of the transcript goes to the relay endpoint (media goes to conn_req's m_addr)
    planet = {
        (x["to"]["host"], x["to"]["port"]) for x in wire["cases"] if "to" in x and x["channel"] == "planet"
    }
    assert planet == {(v4.host, v4.port)}

    setup = wire["cases"][0]["decoded"]
    credential = route.credential(
        initiator=wire["local_mid"], responder=wire["peer_mid"], cid=wire["session"]["cid"]
    )
    assert credential == _field(setup["body_hex"], 10)
    assert len(credential) == 32


def test_group_route_from_transcript() -> None:
    wire = load_vectors("planet_wire_group.json")
    route = parse_route(wire["route"])
    assert isinstance(route, GroupCallRoute)
    assert route.mpkey == bytes.fromhex(wire["session"]["relay_keypair"]["public_key"])
    assert (route.polaris_zone, route.orion_address, route.polaris_address, route.polaris_udp_port) == (
        "JP2",
        "192.0.2.32",
        "192.0.2.31",
        10003,
    )
    assert route.cscf is not None and route.cscf.port == 10002
    endpoint = route.relay_endpoint(prefer_ipv6=True)  # empty voipAddress6: stays IPv4
    assert (endpoint.host, endpoint.port, endpoint.family) == ("192.0.2.30", 10002, AddressFamily.IPV4)
    assert GroupCallRoute.from_json(route.to_json()) == route
    media = {(x["to"]["host"], x["to"]["port"]) for x in wire["cases"] if "to" in x}
    assert media == {("192.0.2.30", 10002)}  # signalling and media share the relay endpoint

    participate = wire["cases"][0]["decoded"]
    credential = route.credential(
        participant=wire["local_mid"], room_id=wire["room_id"], cid=wire["session"]["cid"]
    )
    assert credential == _field(participate["body_hex"], 12)


def test_credentials_are_sha256_of_joined_parts() -> None:
    import hashlib

    assert (
        setup_credential(initiator="a", responder="b", from_token="t", cid="c")
        == hashlib.sha256(b"a::b::t::c").digest()
    )
    assert (
        group_credential(participant="a", room_id="r", token="t", cid="c")
        == hashlib.sha256(b"a::r::t::c").digest()
    )


def test_routes_from_call_thrift_vectors() -> None:
    data = load_vectors("call_thrift.json")
    seen = set()
    for case in data["cases"]:
        decoded = case.get("decoded")
        if not isinstance(decoded, dict) or "commParam" not in decoded:
            continue
        route = parse_route(decoded)
        seen.add(type(route).__name__)
        assert len(route.mpkey) == 33
    assert seen == {"CallRoute", "GroupCallRoute"}


GOOD_MPKEY = base64.b64encode(bytes([2]) + bytes(range(32))).decode()


def _route(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "fromToken": "tok",
        "voipAddress": "192.0.2.1,192.0.2.2",
        "voipUdpPort": 5000,
        "commParam": json.dumps({"mpkey": GOOD_MPKEY}),
        "toMid": "u1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "overrides",
    [
        {"commParam": ""},  # "" counts as {} → mpkey missing
        {"commParam": "{}"},
        {"commParam": "[1]"},
        {"commParam": "not json"},
        {"commParam": json.dumps({"mpkey": "!!"})},
        {"commParam": json.dumps({"mpkey": base64.b64encode(bytes(33)).decode()})},  # parity byte 0
        {"commParam": json.dumps({"mpkey": base64.b64encode(bytes([2]) * 32).decode()})},  # 32 bytes
        {"commParam": json.dumps({"mpkey": 5})},
        {"voipAddress": None},
        {"voipAddress": ""},
        {"voipUdpPort": None},
        {"voipUdpPort": 0},
        {"voipUdpPort": 70000},
        {"voipUdpPort": "5000"},
        {"voipUdpPort": True},
        {"fromToken": None},
        {"fromToken": 5},
        {"fakeCall": "no"},
    ],
)
def test_bad_routes_raise_route_error(overrides: dict[str, Any]) -> None:
    with pytest.raises(RouteError) as info:
        parse_route(_route(**overrides))
    assert isinstance(info.value, PlanetError) and isinstance(info.value, ValueError)


def test_group_discrimination() -> None:
    assert isinstance(parse_route(_route()), CallRoute)
    group = _route(toMid=None, fromToken=None, token="g")
    assert isinstance(parse_route(group), GroupCallRoute)
    assert isinstance(parse_route({**group, "toMid": "u1", "fromToken": "t"}), CallRoute)  # toMid wins
    with pytest.raises(RouteError):
        parse_route(_route(toMid=None, fromToken=None, token="g", cscf=[1]))


def test_decode_mpkey() -> None:
    assert decode_mpkey(GOOD_MPKEY)[0] == 2
    with pytest.raises(RouteError):
        decode_mpkey(GOOD_MPKEY[:-4])


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**40), max_value=2**40) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
ROUTE_KEYS = [
    "fromToken",
    "token",
    "toMid",
    "voipAddress",
    "voipUdpPort",
    "commParam",
    "voipAddress6",
    "cscf",
]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(ROUTE_KEYS), JSONISH, max_size=8), st.booleans())
def test_random_routes_raise_only_route_error(data: dict[str, Any], with_mpkey: bool) -> None:
    if with_mpkey:
        data = {**data, "commParam": json.dumps({"mpkey": GOOD_MPKEY})}
    try:
        route = parse_route(data)
    except RouteError:
        return
    route.relay_endpoint(prefer_ipv6=True)
    assert len(route.mpkey) == 33
