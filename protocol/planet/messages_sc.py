"""Session control (``sc_msg``: keepalive, BEPI channel open) and raw pinhole frames (planet-map §4.9-4.10).

Pinhole probes and their report are not ``planet_msg``s: they travel as raw frames (tail base 0x48) whose
plaintext is a bare protobuf blob, so they have their own ``encode``/``decode`` and no header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.errors import ProtoDecodeError
from linecall.protocol.planet.messages_base import ScBody
from linecall.protocol.planet.proto import FieldSet, Kind, ProtoMessage, Writer, pb


@dataclass(frozen=True, slots=True)
class KeepaliveReq(ScBody):
    """``ka_req``: ``timestamp`` is an sfixed64; ``is_p2p`` is always written, even when false.

    linejs sends Unix milliseconds; the one native capture holds Unix nanoseconds (planet-map §4.10, §10.9):
    the caller chooses.
    """

    TAG: ClassVar[int] = c.ScTag.KA_REQ
    MSG_ID: ClassVar[int] = c.MsgId.KEEPALIVE

    timestamp: int = pb(1, Kind.SFIXED64, default=0)
    is_p2p: bool = pb(2, Kind.BOOL, default=False)


@dataclass(frozen=True, slots=True)
class BepiChannelOpen(ScBody):
    """The "BEPI channel open" record: ``sc f2 { f3 { f1 fixed64 token } }`` (``12 0b 1a 09 09 <8 B LE>``).

    linejs draws the token as 8 random bytes read big-endian, then writes it little-endian. Encoding
    accepts -2**63..2**64-1 (two's complement); decoding yields the unsigned value.
    """

    TAG: ClassVar[int] = c.ScTag.BEPI_CHANNEL_OPEN
    MSG_ID: ClassVar[int] = c.MsgId.BEPI_CHANNEL_OPEN

    token: int = 0

    def encode(self) -> bytes:
        inner = Writer().fixed64(1, self.token).getvalue()
        return Writer().blob(3, inner).getvalue()

    @classmethod
    def decode(cls, data: bytes | memoryview) -> Self:
        inner = FieldSet.parse(data).blob(3)
        if inner is None:
            raise ProtoDecodeError("bepi channel open without its record")
        token = FieldSet.parse(inner).fixed64(1)
        if token is None:
            raise ProtoDecodeError("bepi channel open without a token")
        return cls(token)


# ─── raw frames ──────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class _ProbeRecord(ProtoMessage):
    kind: int = pb(1, Kind.UINT, default=c.PINHOLE_KIND)
    probe_id: int = pb(2, Kind.UINT, default=0)
    mtu: int = pb(3, Kind.UINT, default=c.PINHOLE_MTU)
    payload: bytes = pb(4, Kind.BYTES, default=b"")


@dataclass(frozen=True, slots=True)
class PinholeProbe:
    """Pinhole probe plaintext ``f3 { f1 kind 16, f2 probe_id, f3 mtu 300, f4 500 random bytes }`` (519 B)."""

    probe_id: int
    payload: bytes
    kind: int = c.PINHOLE_KIND
    mtu: int = c.PINHOLE_MTU

    def encode(self) -> bytes:
        record = _ProbeRecord(self.kind, self.probe_id, self.mtu, self.payload).encode()
        return Writer().blob(3, record).getvalue()

    @classmethod
    def decode(cls, data: bytes | memoryview) -> PinholeProbe:
        raw = FieldSet.parse(data).blob(3)
        if raw is None:
            raise ProtoDecodeError("pinhole probe without its record")
        rec = _ProbeRecord.decode(raw)
        return cls(rec.probe_id, rec.payload, rec.kind, rec.mtu)


def next_probe_id(now_ns: int, last: int) -> int:
    """Probe id = (Unix time in ns & (2**48-1)) | 2**47, strictly increasing: ``last + 1`` on a collision."""
    value = (now_ns & c.PINHOLE_ID_MASK) | c.PINHOLE_ID_HIGH_BIT
    if value <= last:
        value = ((last + 1) & c.PINHOLE_ID_MASK) | c.PINHOLE_ID_HIGH_BIT
    return value


@dataclass(frozen=True, slots=True)
class _ReportRecord(ProtoMessage):
    report_mtu: int = pb(1, Kind.UINT, default=c.PINHOLE_REPORT_MTU)
    kind: int = pb(2, Kind.UINT, default=c.PINHOLE_KIND)
    mtu: int = pb(3, Kind.UINT, default=c.PINHOLE_MTU)


@dataclass(frozen=True, slots=True)
class PinholeReport:
    """Probe report plaintext ``f1 { f1 500, f2 16, f3 300 }`` = ``0a 08 08 f4 03 10 10 18 ac 02`` (10 B)."""

    report_mtu: int = c.PINHOLE_REPORT_MTU
    kind: int = c.PINHOLE_KIND
    mtu: int = c.PINHOLE_MTU

    def encode(self) -> bytes:
        record = _ReportRecord(self.report_mtu, self.kind, self.mtu).encode()
        return Writer().blob(1, record).getvalue()

    @classmethod
    def decode(cls, data: bytes | memoryview) -> PinholeReport:
        raw = FieldSet.parse(data).blob(1)
        if raw is None:
            raise ProtoDecodeError("pinhole report without its record")
        rec = _ReportRecord.decode(raw)
        return cls(rec.report_mtu, rec.kind, rec.mtu)
