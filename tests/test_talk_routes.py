"""Talk route structs become PLANET routes with every field carried over, and incomplete ones are refused."""

from __future__ import annotations

import base64
import json

import pytest

from linecall.protocol.planet.route import CallHost, RouteError
from linecall.protocol.talk import structs
from linecall.protocol.talk.routes import planet_call_route, planet_group_call_route

MPKEY = bytes([2]) + bytes(range(32))
COMM = json.dumps({"mpkey": base64.b64encode(MPKEY).decode()})


def test_one_to_one_route_keeps_every_field() -> None:
    route = planet_call_route(
        structs.CallRoute(
            from_token="ft",
            call_flow_type=structs.CallFlowType.PLANET,
            voip_address="10.0.0.1,10.0.0.2",
            voip_udp_port=40000,
            voip_tcp_port=443,
            from_zone="JP",
            to_zone="TH",
            fake_call=False,
            to_mid="u" + "2" * 32,
            comm_param=COMM,
            stid="st",
            voip_address6="::1",
            stnpk="pk",
        )
    )
    assert route.mpkey == MPKEY and route.from_token == "ft" and route.voip_udp_port == 40000
    assert route.relay_endpoint().host == "10.0.0.1" and route.relay_endpoint(prefer_ipv6=True).host == "::1"
    assert (route.to_mid, route.stid, route.stnpk, route.fake_call) == ("u" + "2" * 32, "st", "pk", False)


def test_group_route_keeps_hosts_and_token() -> None:
    route = planet_group_call_route(
        structs.GroupCallRoute(
            token="tk",
            cscf=structs.CallHost("cscf.example", 5060, "JP"),
            mix=structs.CallHost(None, 7000, None),
            host_mid="u" + "3" * 32,
            voip_address="10.0.0.9",
            voip_udp_port=41000,
            comm_param=COMM,
        )
    )
    assert route.token == "tk" and route.mpkey == MPKEY and route.voip_udp_port == 41000
    assert route.cscf == CallHost("cscf.example", 5060, "JP") and route.mix == CallHost(None, 7000, None)


@pytest.mark.parametrize(
    "route",
    [
        structs.CallRoute(from_token="ft", voip_udp_port=1, comm_param=COMM),  # no relay address
        structs.CallRoute(from_token="ft", voip_address="10.0.0.1", voip_udp_port=1, comm_param="{}"),
        structs.CallRoute(voip_address="10.0.0.1", voip_udp_port=1, comm_param=COMM),  # no fromToken
        structs.CallRoute(from_token="ft", voip_address="10.0.0.1", voip_udp_port=0, comm_param=COMM),
    ],
)
def test_incomplete_routes_are_route_errors(route: structs.CallRoute) -> None:
    with pytest.raises(RouteError):
        planet_call_route(route)


def test_incomplete_group_route_is_a_route_error() -> None:
    with pytest.raises(RouteError):
        planet_group_call_route(structs.GroupCallRoute(voip_address="10.0.0.1", voip_udp_port=1))
