"""Call routes from ``acquireCallRoute`` / ``acquireGroupCallRoute``, and what PLANET derives from them.

A route names the relay (first element of ``voipAddress`` and ``voipUdpPort``), carries the relay's transport
public key as ``commParam.mpkey`` (base64 of a 33-byte compressed P-256 point, planet-map §1.4) and the token
the setup credential hashes (§1.5). Field names mirror the Thrift names (``fromToken`` → ``from_token``);
``from_json`` takes the JSON shape planet_wire.json's ``route`` uses (and a saved ``--route`` file).

A route counts as a group route iff it has ``token`` and no ``toMid`` (:func:`parse_route`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypedDict, TypeVar

from linecall.protocol.planet.crypto import decode_mpkey as crypto_decode_mpkey
from linecall.protocol.planet.errors import PlanetCryptoError, PlanetError


class RouteError(PlanetError, ValueError):
    """A route that cannot be used: missing or mistyped fields, bad ``commParam`` or ``mpkey``."""


class AddressFamily(IntEnum):
    IPV4 = 4
    IPV6 = 6


@dataclass(frozen=True, slots=True)
class RelayEndpoint:
    """Where every PLANET datagram goes; the one socket is bound to ``0.0.0.0`` or ``::`` to match."""

    host: str
    port: int
    family: AddressFamily

    @property
    def bind_host(self) -> str:
        return "::" if self.family is AddressFamily.IPV6 else "0.0.0.0"


def first_address(value: str | None) -> str:
    """The first element of a comma-separated address list ("" when absent)."""
    return (value or "").split(",")[0].strip()


def decode_mpkey(b64: str) -> bytes:
    """``mpkey`` → the relay's 33-byte SEC1 compressed P-256 public key (first byte 0x02/0x03).

    The decoding rules live in :func:`linecall.protocol.planet.crypto.decode_mpkey` (checked against
    linejs's vectors); here a bad key is reported as a route problem.
    """
    try:
        return crypto_decode_mpkey(b64)
    except PlanetCryptoError as exc:
        raise RouteError(f"commParam.mpkey is unusable: {exc}") from None


def mpkey_from_comm_param(comm_param: str) -> bytes:
    """Parse ``commParam`` (JSON; "" counts as ``{}``) and decode its ``mpkey``."""
    try:
        parsed: Any = json.loads(comm_param or "{}")
    except json.JSONDecodeError as exc:
        raise RouteError("commParam is not JSON") from exc
    if not isinstance(parsed, dict):
        raise RouteError("commParam is not a JSON object")
    mpkey = parsed.get("mpkey")
    if not isinstance(mpkey, str) or not mpkey:
        raise RouteError("commParam.mpkey missing")
    return decode_mpkey(mpkey)


def _hash_parts(*parts: str) -> bytes:
    return hashlib.sha256("::".join(parts).encode("utf-8")).digest()


def setup_credential(*, initiator: str, responder: str, from_token: str, cid: str) -> bytes:
    """setup_req f10: SHA-256(initiator ‖ "::" ‖ responder ‖ "::" ‖ fromToken ‖ "::" ‖ cid) (§1.5).

    ``fromToken`` is hashed as the string the route carries (it is not base64-decoded).
    """
    return _hash_parts(initiator, responder, from_token, cid)


def group_credential(*, participant: str, room_id: str, token: str, cid: str) -> bytes:
    """participate_req f12: SHA-256(participant ‖ "::" ‖ roomId ‖ "::" ‖ token ‖ "::" ‖ cid) (§1.5)."""
    return _hash_parts(participant, room_id, token, cid)


# ─── JSON field readers ──────────────────────────────────────────────────────────────────────────

T = TypeVar("T")


def _get(data: Mapping[str, Any], key: str, kind: type[T]) -> T | None:
    value = data.get(key)
    if value is None:
        return None
    # bool is an int subclass: never accept one for the other
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RouteError(f"route field {key} must be {kind.__name__}")
    return value


def _req(data: Mapping[str, Any], key: str, kind: type[T]) -> T:
    value = _get(data, key, kind)
    if value is None:
        raise RouteError(f"route field {key} missing")
    return value


def _port(data: Mapping[str, Any], key: str) -> int:
    port = _req(data, key, int)
    if not 1 <= port <= 65535:
        raise RouteError(f"route field {key} out of range: {port}")
    return port


def _endpoint(voip_address: str, voip_address6: str | None, port: int, prefer_ipv6: bool) -> RelayEndpoint:
    """IPv6 only if asked for AND ``voip_address6`` has a first element; else the first IPv4 address (§1.4)."""
    v6 = first_address(voip_address6)
    if prefer_ipv6 and v6:
        return RelayEndpoint(v6, port, AddressFamily.IPV6)
    return RelayEndpoint(first_address(voip_address), port, AddressFamily.IPV4)


class _RelayFields(TypedDict):
    voip_address: str
    voip_udp_port: int
    comm_param: str
    mpkey: bytes
    voip_address6: str | None
    voip_tcp_port: int | None
    from_zone: str | None


def _relay_fields(data: Mapping[str, Any], token_key: str) -> tuple[str, _RelayFields]:
    """The token under ``token_key`` and the relay fields both route kinds carry, read and checked in one
    order, so both report the same first problem for the same bad input."""
    comm_param = _get(data, "commParam", str) or ""
    voip_address = _req(data, "voipAddress", str)
    token = _req(data, token_key, str)
    if not first_address(voip_address):
        raise RouteError("route field voipAddress is empty")
    return token, _RelayFields(
        voip_address=voip_address,
        voip_udp_port=_port(data, "voipUdpPort"),
        comm_param=comm_param,
        mpkey=mpkey_from_comm_param(comm_param),
        voip_address6=_get(data, "voipAddress6", str),
        voip_tcp_port=_get(data, "voipTcpPort", int),
        from_zone=_get(data, "fromZone", str),
    )


# ─── routes ──────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class CallRoute:
    """1:1 CallRoute (Thrift fids: 1 fromToken, 3 voipAddress, 4 voipUdpPort, 5 voipTcpPort, 6 fromZone,
    7 toZone, 8 fakeCall, 10 toMid, 12 commParam, 13 stid, 17 voipAddress6, 20 stnpk)."""

    from_token: str
    voip_address: str
    voip_udp_port: int
    comm_param: str
    mpkey: bytes  # decoded from comm_param, validated
    voip_address6: str | None = None
    voip_tcp_port: int | None = None
    from_zone: str | None = None
    to_zone: str | None = None
    fake_call: bool | None = None
    to_mid: str | None = None
    stid: str | None = None
    stnpk: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallRoute:
        from_token, relay = _relay_fields(data, "fromToken")
        return cls(
            from_token=from_token,
            **relay,
            to_zone=_get(data, "toZone", str),
            fake_call=_get(data, "fakeCall", bool),
            to_mid=_get(data, "toMid", str),
            stid=_get(data, "stid", str),
            stnpk=_get(data, "stnpk", str),
        )

    def to_json(self) -> dict[str, Any]:
        """The Thrift-named JSON shape (``None`` fields left out); ``from_json(to_json())`` round-trips."""
        out: dict[str, Any] = {
            "fromToken": self.from_token,
            "voipAddress": self.voip_address,
            "voipUdpPort": self.voip_udp_port,
            "voipTcpPort": self.voip_tcp_port,
            "voipAddress6": self.voip_address6,
            "fromZone": self.from_zone,
            "toZone": self.to_zone,
            "fakeCall": self.fake_call,
            "toMid": self.to_mid,
            "commParam": self.comm_param,
            "stid": self.stid,
            "stnpk": self.stnpk,
        }
        return {k: v for k, v in out.items() if v is not None}

    def relay_endpoint(self, prefer_ipv6: bool = False) -> RelayEndpoint:
        """IPv6 only if asked for AND the route has a first voipAddress6 element; else IPv4 (§1.4)."""
        return _endpoint(self.voip_address, self.voip_address6, self.voip_udp_port, prefer_ipv6)

    def credential(self, *, initiator: str, responder: str, cid: str) -> bytes:
        return setup_credential(initiator=initiator, responder=responder, from_token=self.from_token, cid=cid)


@dataclass(frozen=True, slots=True)
class CallHost:
    """GroupCallRoute ``cscf`` / ``mix`` (unused by the transport)."""

    host: str | None = None
    port: int | None = None
    zone: str | None = None


def _call_host(data: Mapping[str, Any], key: str) -> CallHost | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RouteError(f"route field {key} must be an object")
    return CallHost(_get(value, "host", str), _get(value, "port", int), _get(value, "zone", str))


@dataclass(frozen=True, slots=True)
class GroupCallRoute:
    """GroupCallRoute (Thrift fids: 1 token, 2 cscf, 3 mix, 4 hostMid, 7 voipAddress, 8 voipUdpPort,
    10 fromZone, 11 commParam, 12 polarisAddress, 13 polarisUdpPort, 14 polarisZone, 15 orionAddress,
    16 voipAddress6, 17 stnpk). Group media goes to the relay's own host and port."""

    token: str
    voip_address: str
    voip_udp_port: int
    comm_param: str
    mpkey: bytes
    voip_address6: str | None = None
    voip_tcp_port: int | None = None
    from_zone: str | None = None
    polaris_address: str | None = None
    polaris_udp_port: int | None = None
    polaris_zone: str | None = None
    orion_address: str | None = None
    host_mid: str | None = None
    stnpk: str | None = None
    cscf: CallHost | None = None
    mix: CallHost | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupCallRoute:
        token, relay = _relay_fields(data, "token")
        return cls(
            token=token,
            **relay,
            polaris_address=_get(data, "polarisAddress", str),
            polaris_udp_port=_get(data, "polarisUdpPort", int),
            polaris_zone=_get(data, "polarisZone", str),
            orion_address=_get(data, "orionAddress", str),
            host_mid=_get(data, "hostMid", str),
            stnpk=_get(data, "stnpk", str),
            cscf=_call_host(data, "cscf"),
            mix=_call_host(data, "mix"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "token": self.token,
            "cscf": None if self.cscf is None else _host_json(self.cscf),
            "mix": None if self.mix is None else _host_json(self.mix),
            "hostMid": self.host_mid,
            "voipAddress": self.voip_address,
            "voipUdpPort": self.voip_udp_port,
            "voipTcpPort": self.voip_tcp_port,
            "fromZone": self.from_zone,
            "commParam": self.comm_param,
            "polarisAddress": self.polaris_address,
            "polarisUdpPort": self.polaris_udp_port,
            "polarisZone": self.polaris_zone,
            "orionAddress": self.orion_address,
            "voipAddress6": self.voip_address6,
            "stnpk": self.stnpk,
        }
        return {k: v for k, v in out.items() if v is not None}

    def relay_endpoint(self, prefer_ipv6: bool = False) -> RelayEndpoint:
        """Signalling AND media endpoint. With ``prefer_ipv6`` both use the IPv6 host (linejs keeps sending
        group media to the IPv4 host from its IPv6 socket, planet-map §10.13)."""
        return _endpoint(self.voip_address, self.voip_address6, self.voip_udp_port, prefer_ipv6)

    def credential(self, *, participant: str, room_id: str, cid: str) -> bytes:
        return group_credential(participant=participant, room_id=room_id, token=self.token, cid=cid)


def _host_json(host: CallHost) -> dict[str, Any]:
    return {k: v for k, v in (("host", host.host), ("port", host.port), ("zone", host.zone)) if v is not None}


def is_group_route(data: Mapping[str, Any]) -> bool:
    return data.get("token") is not None and data.get("toMid") is None


def parse_route(data: Mapping[str, Any]) -> CallRoute | GroupCallRoute:
    """A group route iff it has ``token`` and no ``toMid``; otherwise a 1:1 route."""
    if is_group_route(data):
        return GroupCallRoute.from_json(data)
    return CallRoute.from_json(data)
