"""linejs's JSON conventions (camelCase, hex bytes, decimal-string bigints) mapped onto linecall's PLANET
dataclasses, shared by the planet vector tests."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from linecall.protocol.planet import messages as m
from linecall.protocol.planet.proto import Kind


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", name).lower()


def _scalar(kind: Kind, message: Any, value: Any) -> Any:
    if kind in (Kind.UINT, Kind.FIXED64, Kind.SFIXED64):
        return int(value)
    if kind is Kind.BOOL:
        return bool(value)
    if kind is Kind.STRING:
        return str(value)
    if kind is Kind.BYTES:
        return bytes.fromhex(value)
    if kind is Kind.FLOAT32:
        return float(value)
    if isinstance(value, str):  # a nested message given as its encoded hex
        return message.decode(bytes.fromhex(value))
    return from_js(message, value)


def from_js(cls: type[Any], obj: dict[str, Any]) -> Any:
    """Build ``cls`` from linejs's JSON shape (camelCase keys, hex bytes, decimal-string bigints)."""
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in obj.items():
        if cls is m.StrmAttr and key == "fecLossThre":  # linejs flattens the FecRx record
            kwargs["fec"] = m.FecRx(tuple(int(v) for v in value))
            continue
        name = _snake(key)
        f = by_name[name]
        _number, kind, repeated, message, _omit = f.metadata["pb"]
        if repeated:
            kwargs[name] = tuple(_scalar(kind, message, v) for v in value)
        else:
            kwargs[name] = _scalar(kind, message, value)
    return cls(**kwargs)


def hex_or_none(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def offer_json(offer: m.MediaOffer) -> dict[str, Any]:
    """Our decoded offer in the shape of linejs's decodeNativeSetupOffer (kind = first listed kind)."""
    out: dict[str, Any] = {
        "media": [
            {
                k: v
                for k, v in (
                    ("name", r.name),
                    ("enabled", r.enabled),
                    ("bitrate", r.bitrate),
                    ("kind", r.kind),
                    ("rtpId", r.rtp_id),
                    ("rtpPort", r.rtp_port),
                    ("rtcpId", r.rtcp_id),
                    ("raw", r.raw.hex()),
                )
                if v is not None
            }
            for r in offer.media
        ]
    }
    for key, value in (
        ("mediaPubKey", hex_or_none(offer.media_pub_key)),
        ("mediaKeyId", offer.media_key_id),
        ("mediaNonce", hex_or_none(offer.media_nonce)),
        ("mediaSecret", hex_or_none(offer.media_secret)),
    ):
        if value is not None:
            out[key] = value
    if offer.version is not None:
        out["version"] = {"major": offer.version.major, "mode": offer.version.mode}
    return out
