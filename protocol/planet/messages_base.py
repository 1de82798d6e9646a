"""Shared pieces of the Cassini schema: body base classes, the two headers and small nested records.

The message modules (``messages_cc``, ``messages_mc``, ``messages_sc``, ``messages_group``) build on these;
``messages`` ties them into the ``planet_msg`` envelope. Nested records that linejs carries as opaque bytes
inside a message (user agent, feature registers, ue infos) stay ``bytes`` in the message dataclasses so a
capture round-trips byte for byte; the dataclasses below build and read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.proto import Kind, ProtoMessage, pb


class CcBody(ProtoMessage):
    """A ``cc_msg`` one-of member: ``TAG`` is its one-of field, ``MSG_ID`` the msg_id it is sent with."""

    __slots__ = ()
    TAG: ClassVar[int]
    MSG_ID: ClassVar[int]


class McBody(ProtoMessage):
    """A ``mc_msg`` one-of member (media control)."""

    __slots__ = ()
    TAG: ClassVar[int]
    MSG_ID: ClassVar[int]


class ScBody(ProtoMessage):
    """A ``sc_msg`` one-of member (session control)."""

    __slots__ = ()
    TAG: ClassVar[int]
    MSG_ID: ClassVar[int]


@dataclass(frozen=True, slots=True)
class PlanetMsgHdr(ProtoMessage):
    """``planet_msg_hdr`` (planet-map §4.2).

    ``sess_id`` is left out while empty and ``rmt_nonce`` while 0, as the native client does; ``loc_nonce``
    is ``None`` only when a received header lacks it (our own headers always carry it).
    """

    user_id: str = pb(1, Kind.STRING, default="")
    msg_id: int = pb(2, Kind.UINT, default=0)
    sess_id: bytes = pb(3, Kind.BYTES, default=b"", omit=b"")
    tran_id: bytes = pb(4, Kind.BYTES, default=b"")
    tran_seq: int = pb(5, Kind.UINT, default=0)
    loc_nonce: int | None = pb(6, Kind.UINT)
    rmt_nonce: int = pb(7, Kind.UINT, default=0, omit=0)


@dataclass(frozen=True, slots=True)
class ChanHdr(ProtoMessage):
    """``planet_cc_hdr`` / ``planet_mc_hdr`` (same shape): the call id and the two channel ids.

    ``dst_chan_id`` is left out while 0 (the remote channel is not known yet).
    """

    cid: str = pb(1, Kind.STRING, default="")
    src_chan_id: int = pb(2, Kind.UINT, default=0)
    dst_chan_id: int = pb(3, Kind.UINT, default=0, omit=0)


@dataclass(frozen=True, slots=True)
class UserAgent(ProtoMessage):
    """``planet_user_agent`` (§4.7): the first three fields are always written, the rest when set."""

    os_name: str = pb(1, Kind.STRING, default="")
    os_version: str = pb(2, Kind.STRING, default="")
    device_name: str = pb(3, Kind.STRING, default="")
    mcc_mnc: str | None = pb(4, Kind.STRING)
    app_version: str | None = pb(5, Kind.STRING)
    engine_version: str | None = pb(6, Kind.STRING)
    app_release_info: str | None = pb(7, Kind.STRING)
    manufacturer: str | None = pb(8, Kind.STRING)
    kit_wrapper_version: str | None = pb(9, Kind.STRING)


def default_user_agent(app_release_info: str | None = None) -> UserAgent:
    """The Android UA linejs sends (96 bytes encoded); ``app_release_info`` replaces the LINE version."""
    return UserAgent(
        os_name=c.UA_OS_NAME,
        os_version=c.UA_OS_VERSION,
        device_name=c.UA_DEVICE_NAME,
        app_version=c.UA_APP_VERSION,
        engine_version=c.UA_ENGINE_VERSION,
        app_release_info=c.UA_APP_RELEASE_INFO if app_release_info is None else app_release_info,
        manufacturer=c.UA_MANUFACTURER,
    )


@dataclass(frozen=True, slots=True)
class FeatureRegister(ProtoMessage):
    """``planet_feat_register``: all three fields always written (``08 10 10 01 18 00`` = 16 on)."""

    feature: int = pb(1, Kind.UINT, default=0)
    enabled: bool = pb(2, Kind.BOOL, default=False)
    state: int = pb(3, Kind.UINT, default=0)


def feature_records(features: tuple[tuple[int, bool, int], ...]) -> tuple[bytes, ...]:
    """Encoded feature registers from ``(feature, enabled, state)`` triples, for ``features`` fields."""
    return tuple(FeatureRegister(f, on, state).encode() for f, on, state in features)


@dataclass(frozen=True, slots=True)
class PlanetAddr(ProtoMessage):
    """``PlanetAddr``: a media address (``m_addr``, ``ue_public_addr``, bridge info)."""

    ver: int | None = pb(1, Kind.UINT)
    trpt: int | None = pb(2, Kind.UINT)
    ip: str | None = pb(3, Kind.STRING)
    ports: str | None = pb(4, Kind.STRING)
    port: int | None = pb(5, Kind.UINT)

    def usable_port(self) -> int | None:
        """``port`` if in 1..65535, else the first decimal number of ``ports`` ("40000-40010" → 40000)."""
        if self.port is not None:
            return self.port if 1 <= self.port <= 65535 else None
        if self.ports is None:
            return None
        digits = ""
        for ch in self.ports:
            if ch.isascii() and ch.isdigit():
                digits += ch
            elif digits:
                break
        if not digits or len(digits) > 5:
            return None
        value = int(digits)
        return value if 1 <= value <= 65535 else None

    def endpoint(self) -> tuple[str, int] | None:
        """``(ip, port)`` when the address is usable for UDP media (planet-map §6.6), else ``None``."""
        port = self.usable_port()
        if not self.ip or self.trpt not in (None, 0, 1) or port is None:
            return None
        return self.ip, port


@dataclass(frozen=True, slots=True)
class PlanetUeInfo(ProtoMessage):
    """``PlanetUeInfo`` (info_req ``tgt_ue`` element)."""

    user_id: str | None = pb(1, Kind.STRING)
    svc_id: str | None = pb(2, Kind.STRING)
