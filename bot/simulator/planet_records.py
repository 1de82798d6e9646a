"""What the loopback relay saw and did: typed records of every datagram in and out, and a stats snapshot.

Kinds are spelled as planet_wire.json spells them (``cc/setup_req``, ``mc/data_rsp``, ``sc/ka_req``,
``raw/pinhole_probe``, ``srtp/audio``), so a test can compare the relay's log with a transcript's
``kind`` column directly. Datagrams the relay could not use get kinds of their own (``planet/short``,
``planet/unauthenticated``, ``planet/undecodable``, ``raw/undecodable``, ``srtp/rejected``,
``srtp/unexpected``) so nothing that arrives is silently lost from the record.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final, Literal

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.messages import (
    PlanetMessage,
    UnknownCcBody,
    UnknownMcBody,
    UnknownScBody,
)
from linecall.protocol.planet.messages_sc import PinholeProbe, PinholeReport
from linecall.protocol.rtp.rtp import RtpHeader

__all__ = [
    "KIND_PLANET_SHORT",
    "KIND_PLANET_UNAUTHENTICATED",
    "KIND_PLANET_UNDECODABLE",
    "KIND_PROBE",
    "KIND_RAW_UNDECODABLE",
    "KIND_REPORT",
    "KIND_SRTP_AUDIO",
    "KIND_SRTP_REJECTED",
    "KIND_SRTP_UNEXPECTED",
    "CallState",
    "ReceivedDatagram",
    "RelayStats",
    "SentDatagram",
    "message_kind",
]

KIND_PLANET_SHORT: Final = "planet/short"
KIND_PLANET_UNAUTHENTICATED: Final = "planet/unauthenticated"
KIND_PLANET_UNDECODABLE: Final = "planet/undecodable"
KIND_PROBE: Final = "raw/pinhole_probe"
KIND_REPORT: Final = "raw/pinhole_report"
KIND_RAW_UNDECODABLE: Final = "raw/undecodable"
KIND_SRTP_AUDIO: Final = "srtp/audio"
KIND_SRTP_REJECTED: Final = "srtp/rejected"
KIND_SRTP_UNEXPECTED: Final = "srtp/unexpected"  # RTP-looking before any call has media keys


def message_kind(message: PlanetMessage) -> str:
    """``<channel>/<body name>``: ``cc/conn_rsp``, ``mc/check_rpt``, ``sc/bepi_channel_open``..."""
    body = message.body
    if isinstance(body, UnknownCcBody | UnknownMcBody):
        name = body.name
    elif isinstance(body, UnknownScBody):
        name = f"sc_msg_{body.tag}"
    else:
        channel = message.channel.value
        if channel == "cc":
            name = c.CcTag(body.TAG).name.lower()
        elif channel == "mc":
            name = c.McTag(body.TAG).name.lower()
        else:
            name = c.ScTag(body.TAG).name.lower()
    return f"{message.channel.value}/{name}"


class CallState(enum.Enum):
    """Where the simulated call stands, from the relay's side."""

    IDLE = "idle"  # no setup_req accepted yet
    RINGING = "ringing"  # setup_rsp sent, the peer has not answered
    ANSWERED = "answered"  # conn_req sent, the client's conn_rsp not yet seen
    CONNECTED = "connected"  # the client accepted the answer
    REFUSED = "refused"  # setup_rsp carried a refusal
    RELEASED_BY_PEER = "released_by_peer"  # the peer sent rel_req
    RELEASED_BY_CLIENT = "released_by_client"  # the client sent rel_req


@dataclass(frozen=True, slots=True)
class ReceivedDatagram:
    """One datagram off the socket, classified; ``message`` is set for decoded planet_msgs."""

    at: float
    source: tuple[str, int]
    kind: str
    size: int
    message: PlanetMessage | None = None
    raw: PinholeProbe | PinholeReport | None = None
    rtp: RtpHeader | None = None
    frame_seq: int | None = None
    bootstrap: bool = False
    plaintext: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SentDatagram:
    """One datagram the relay sent (or queued), with the message it carries when it is a planet_msg."""

    at: float
    destination: tuple[str, int]
    kind: str
    wire: bytes = field(repr=False)
    message: PlanetMessage | None = None
    bootstrap: bool = False


@dataclass(frozen=True, slots=True)
class RelayStats:
    """A snapshot of the call as the relay and its peer saw it.

    ``rel_req_seen`` / ``rel_code`` / ``releaser`` describe the client's rel_req (the peer's own
    hang-up shows as ``released_by == "peer"``). Media fields cover authenticated packets only.
    """

    state: CallState
    setup_reqs: int
    answered: bool
    media_packets: int
    media_rejected: int
    media_lost: int
    decode_errors: int
    heard_samples: int
    seqs: tuple[int, ...]
    timestamps: tuple[int, ...]
    ssrcs: tuple[int, ...]
    payload_types: tuple[int, ...]
    replies_sent: int
    rel_req_seen: bool
    rel_code: int | None
    releaser: str | None
    released_by: Literal["client", "peer"] | None
    replies_missing: tuple[str, ...]
