"""From the Talk structs ``acquireCallRoute`` / ``acquireGroupCallRoute`` return to PLANET's route types.

The Talk layer decodes routes as Thrift structs (every field optional, as on the wire); PLANET wants a
validated :class:`~linecall.protocol.planet.route.CallRoute` / ``GroupCallRoute`` (relay address, port and
the decoded ``mpkey`` all present). Both sides already agree on the Thrift field names through the JSON
shape (``fromToken``, ``voipAddress`` ...), so the conversion goes through it and every check stays in
``planet.route``: a route LINE sent without what a call needs raises
:class:`~linecall.protocol.planet.route.RouteError`, which the call worker reports as a route error.
"""

from __future__ import annotations

from typing import Any

from linecall.protocol.planet import route as planet_route
from linecall.protocol.talk import structs

__all__ = ["planet_call_route", "planet_group_call_route"]


def _host(host: structs.CallHost | None) -> dict[str, Any] | None:
    if host is None:
        return None
    return {"host": host.host, "port": host.port, "zone": host.zone}


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def planet_call_route(route: structs.CallRoute) -> planet_route.CallRoute:
    """A 1:1 route as PLANET uses it; raises ``RouteError`` when a needed field is missing or malformed."""
    return planet_route.CallRoute.from_json(
        _without_none(
            {
                "fromToken": route.from_token,
                "voipAddress": route.voip_address,
                "voipUdpPort": route.voip_udp_port,
                "voipTcpPort": route.voip_tcp_port,
                "voipAddress6": route.voip_address6,
                "fromZone": route.from_zone,
                "toZone": route.to_zone,
                "fakeCall": route.fake_call,
                "toMid": route.to_mid,
                "commParam": route.comm_param,
                "stid": route.stid,
                "stnpk": route.stnpk,
            }
        )
    )


def planet_group_call_route(route: structs.GroupCallRoute) -> planet_route.GroupCallRoute:
    """A group route as PLANET uses it; raises ``RouteError`` when a needed field is missing or malformed."""
    return planet_route.GroupCallRoute.from_json(
        _without_none(
            {
                "token": route.token,
                "cscf": _host(route.cscf),
                "mix": _host(route.mix),
                "hostMid": route.host_mid,
                "voipAddress": route.voip_address,
                "voipUdpPort": route.voip_udp_port,
                "voipTcpPort": route.voip_tcp_port,
                "fromZone": route.from_zone,
                "commParam": route.comm_param,
                "polarisAddress": route.polaris_address,
                "polarisUdpPort": route.polaris_udp_port,
                "polarisZone": route.polaris_zone,
                "orionAddress": route.orion_address,
                "voipAddress6": route.voip_address6,
                "stnpk": route.stnpk,
            }
        )
    )
