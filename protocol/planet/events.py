"""What a :class:`~linecall.protocol.planet.connection.PlanetConnection` tells its driver, as typed events.

The sans-I/O connection never calls back into its owner: everything that happened (the relay accepted
the setup, the peer answered, audio arrived, somebody hung up, a timer ran out) comes out of
``next_event()`` as one of the frozen dataclasses below, in the order it happened. A driver dispatches
on the type (``match event: case PeerAnswered(media_ready=True): ...``).

Events carry no keys, tokens, MIDs or decrypted PLANET plaintexts, so they are safe to log whole. The one
exception is :class:`MediaReceived`, whose payload is the peer's (decrypted) audio: log its length only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class FailureReason(enum.StrEnum):
    """Why a call ended without either side hanging up normally."""

    SETUP_TIMEOUT = "setup_timeout"
    """No setup_rsp (group: no final participate_rsp) within ``timeout_ms`` although the request was re-sent
    (relay unreachable, wrong mpkey)."""
    NO_ANSWER = "no_answer"
    """The relay accepted the setup but the callee did not answer within ``answer_timeout_ms``."""
    REFUSED = "refused"
    """setup_rsp / participate_rsp carried a non-zero ``result`` or a ``rel_code``: LINE refused the call."""
    MEDIA_KEYS = "media_keys"
    """The answer carried no media key material usable in the configured key mode."""
    TRANSPORT = "transport"
    """The socket failed (reported by a driver through ``PlanetConnection.fail``)."""


@dataclass(frozen=True, slots=True)
class SetupAccepted:
    """The relay answered setup_req with a zero result: the callee's phone is being rung.

    ``keepalive_interval`` is the relay's ``alive_rpt_interval`` in seconds (``None`` when it sent none;
    then no keepalives are sent unless the config forces an interval). ``no_answer_timeout`` and
    ``max_duration`` are the relay's own limits in seconds, for information.
    """

    keepalive_interval: float | None
    no_answer_timeout: float | None = None
    max_duration: float | None = None


@dataclass(frozen=True, slots=True)
class PeerRinging:
    """The callee is being alerted.

    PLANET has no separate ringing message for the caller: an accepted setup is the ringing signal (linejs's
    session wrapper enters "ringing" at the same point), so this follows :class:`SetupAccepted` at once.
    """


@dataclass(frozen=True, slots=True)
class PeerAnswered:
    """The callee picked up (first conn_req). ``media_ready`` says SRTP keys and the RTP target are set,
    i.e. ``send_media`` will work; it is false when the answer had no usable media material."""

    media_ready: bool
    media_key_mode: str | None = None


@dataclass(frozen=True, slots=True)
class GroupJoined:
    """The mixer accepted our participate_req (a final participate_rsp with a zero result and no rel_code).

    ``media_ready`` says SRTP keys are set from the mixer's answer (``send_media`` works);
    ``keepalive_interval`` is participate_rsp's ``alive_rpt_interval`` in seconds; ``role``,
    ``join_ts`` (Unix ms) and ``max_call_time`` (seconds) are the relay's, for information.
    """

    media_ready: bool
    media_key_mode: str | None = None
    keepalive_interval: float | None = None
    role: str | None = None
    join_ts: int | None = None
    max_call_time: float | None = None


@dataclass(frozen=True, slots=True)
class MediaReceived:
    """One authenticated, decrypted RTP packet from the peer. ``payload`` still has LINE's prefix byte(s)."""

    payload: bytes = field(repr=False)
    seq: int
    timestamp: int
    ssrc: int = 0


@dataclass(frozen=True, slots=True)
class CallReleased:
    """The call ended normally: ``by_peer`` says who hung up; ``rel_code`` is the peer's rel_req code
    (``None`` for a local hang-up or when the peer sent none)."""

    by_peer: bool
    rel_code: int | None = None
    releaser: str | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The call failed; ``code`` is the relay's result (else its rel_code) when it gave one, ``detail`` says
    what to do. ``rel_code`` is the refusal's rel_code by itself (set for group refusals)."""

    reason: FailureReason
    code: int | None = None
    detail: str = ""
    rel_code: int | None = None


Event = SetupAccepted | PeerRinging | PeerAnswered | GroupJoined | MediaReceived | CallReleased | Failed
"""Everything ``PlanetConnection.next_event()`` can return."""

TERMINAL_EVENTS: tuple[type[CallReleased], type[Failed]] = (CallReleased, Failed)
"""After one of these the connection sends nothing more (except the rel_req queued with it)."""
