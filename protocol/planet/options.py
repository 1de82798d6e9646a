"""Configuration of a PLANET call (:class:`PlanetConfig`) and named material overrides (:class:`PlanetOverrides`).

``PlanetConfig`` holds the knobs a deployment turns (timeouts, key modes, user agent, IPv6); its defaults are
linejs's option defaults (planet-map §7.5) except the 1:1 key mode, which defaults to what native clients use
(``audio-reverse-stage``, §5.4), and the setup retransmissions linejs lacks (§10.12). Each role has its own
key-mode field, so one config (or the default one) is right for a 1:1 call and for a group call alike.

``PlanetOverrides`` replaces individual random draws BY NAME (the transport key pair, the bootstrap seed, the
call id, each message's tran_id ...), so a test can replay a linejs transcript byte for byte without having
to reproduce linejs's stream of random draws. Production code leaves it empty.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from linecall.protocol.planet.crypto import P256KeyPair
from linecall.protocol.planet.errors import PlanetError
from linecall.protocol.planet.media_keys import (
    DEFAULT_GROUP_MODE,
    DEFAULT_ONE_TO_ONE_MODE,
    LocalMediaMaterial,
    MediaKeyMode,
)
from linecall.protocol.planet.messages_base import UserAgent


class PlanetConfigError(PlanetError, ValueError):
    """A configuration value or override that cannot work (negative timeout, wrong-sized seed ...)."""


class CallRole(enum.Enum):
    """Which flow a connection runs: a 1:1 call (``invite``) or a group call (``join_group``).

    The route decides: a :class:`~.route.CallRoute` gives ONE_TO_ONE, a :class:`~.route.GroupCallRoute` GROUP.
    """

    ONE_TO_ONE = "one_to_one"
    GROUP = "group"


class SsrcPolicy(enum.Enum):
    """How the SSRC of our outgoing 1:1 audio is chosen.

    ``PEER_RTCP_ID`` is linejs's rule (planet-map §6.2): the peer answer's audio ``rtcp_id`` (201 for a
    native answer), else its ``rtp_port``, else random. Odd as it is, it is the only value known to pass
    LINE's relay, hence the default. ``RANDOM`` draws a fresh 32-bit value.
    """

    PEER_RTCP_ID = "peer_rtcp_id"
    RANDOM = "random"


@dataclass(frozen=True, slots=True)
class PlanetConfig:
    """Per-call settings. All durations are milliseconds, as in linejs and the daemon's environment."""

    timeout_ms: int = 10_000
    """How long to wait for setup_rsp (LINE_CALL_TIMEOUT_MS)."""
    answer_timeout_ms: int = 60_000
    """How long the callee may ring before the call fails with ``no_answer`` (LINE_CALL_ANSWER_TIMEOUT_MS)."""
    media_key_mode: MediaKeyMode = DEFAULT_ONE_TO_ONE_MODE
    """Key mode of 1:1 calls (LINE_CALL_MEDIA_KEY_MODE; group calls use ``group_media_key_mode``)."""
    group_media_key_mode: MediaKeyMode = DEFAULT_GROUP_MODE
    """Key mode of group calls. ``auto`` means the group default here: a mixer answer carries only a secret,
    so linejs's auto (which starts from the ECDH mode ``current``) could never configure group media."""
    group_data_session_after_provisional: bool = False
    """Open the group data session on a provisional participate_rsp already (linejs's option, default off)."""
    device_info: str | None = None
    """user agent ``app_release_info`` (``ANDROID\\t<LINE version>\\tAndroid OS\\t16``); None = linejs's default."""
    user_agent: UserAgent | None = None
    """A complete user agent; replaces the Android default (and ``device_info``) when given."""
    device_id: str | None = None
    """setup_req ``dev_id``; None = base64 of 32 random bytes per call, as linejs does."""
    rtp_timestamp_step: int = 960
    """Default RTP timestamp step per 1:1 ``send_media`` (960 = 20 ms at 48 kHz); group audio steps 1920."""
    prefer_ipv6: bool = False
    """Use the route's IPv6 relay address when it has one."""
    keepalive_interval_ms: int | None = None
    """Force a keepalive interval; None = the relay's ``alive_rpt_interval`` (none when it sends none)."""
    setup_retransmit_ms: tuple[int, ...] = (1000, 2000, 4000)
    """When to re-send the identical setup_req datagram, counted from the first send, while no reply came.
    Offsets at or past ``timeout_ms`` are skipped."""
    ssrc_policy: SsrcPolicy = SsrcPolicy.PEER_RTCP_ID
    keepalive_timestamp_ns: bool = False
    """linejs stamps keepalives in Unix milliseconds; the one native capture holds nanoseconds (§10.9)."""
    mailbox_limit: int = 32
    """Inbound messages kept per message kind while nothing consumes them; older ones are dropped."""

    def __post_init__(self) -> None:
        if self.timeout_ms <= 0 or self.answer_timeout_ms <= 0:
            raise PlanetConfigError("timeout_ms and answer_timeout_ms must be positive")
        if not 0 < self.rtp_timestamp_step <= 0xFFFF_FFFF:
            raise PlanetConfigError(f"rtp_timestamp_step out of range: {self.rtp_timestamp_step}")
        if self.keepalive_interval_ms is not None and self.keepalive_interval_ms <= 0:
            raise PlanetConfigError("keepalive_interval_ms must be positive (or None for the relay's value)")
        if any(ms <= 0 for ms in self.setup_retransmit_ms) or list(self.setup_retransmit_ms) != sorted(
            self.setup_retransmit_ms
        ):
            raise PlanetConfigError("setup_retransmit_ms must be positive and ascending")
        if self.mailbox_limit < 1:
            raise PlanetConfigError("mailbox_limit must be at least 1")


@dataclass(frozen=True, slots=True)
class PlanetOverrides:
    """Values that replace a random draw, each by name; ``None`` (or a missing tran_id) means: draw it.

    ``tran_ids`` maps a message's ``tran_seq`` to the 16-byte ``tran_id`` it must carry, so each message
    of a transcript can be matched however many other messages are sent around it.
    """

    transport_keypair: P256KeyPair | None = None
    bootstrap_seed: bytes | None = field(default=None, repr=False)
    send_label: int | None = None
    first_frame_seq: int | None = None
    cid: str | None = None
    src_chan_id: int | None = None
    loc_nonce: int | None = None
    first_tran_seq: int | None = None
    tran_ids: Mapping[int, bytes] = field(default_factory=dict, repr=False)
    dev_id: str | None = None
    local_media: LocalMediaMaterial | None = None
    rtp_first_seq: int | None = None
    rtp_ssrc: int | None = None
    media_chan_id: int | None = None
    """Group: our media channel id (1:1 uses ``src_chan_id`` for both)."""
    group_ssrc_base: int | None = None
    """Group: the SSRC plan's base (low byte clear), drawn when the data session is opened."""
    group_data_timestamp_start: int | None = None
    """Group: the data channel's first RTP timestamp (before its first step of 0)."""

    def __post_init__(self) -> None:
        if self.bootstrap_seed is not None and len(self.bootstrap_seed) != 16:
            raise PlanetConfigError("bootstrap_seed must be 16 bytes")
        if self.send_label is not None and not 0 <= self.send_label <= 0xFFFF:
            raise PlanetConfigError("send_label must be a uint16")
        if self.first_frame_seq is not None and not 0 <= self.first_frame_seq <= 0xFFFF:
            raise PlanetConfigError("first_frame_seq must be a uint16")
        if self.rtp_first_seq is not None and not 0 <= self.rtp_first_seq <= 0xFFFF:
            raise PlanetConfigError("rtp_first_seq must be a uint16")
        if self.rtp_ssrc is not None and not 0 <= self.rtp_ssrc <= 0xFFFF_FFFF:
            raise PlanetConfigError("rtp_ssrc must be a uint32")
        if self.group_ssrc_base is not None and (
            not 0 < self.group_ssrc_base <= 0xFFFF_FFFF or self.group_ssrc_base & 0xFF
        ):
            raise PlanetConfigError("group_ssrc_base must be a non-zero uint32 with a clear low byte")
        for name in ("media_chan_id", "group_data_timestamp_start"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 0xFFFF_FFFF:
                raise PlanetConfigError(f"{name} must be a uint32")
        if any(len(tran_id) != 16 for tran_id in self.tran_ids.values()):
            raise PlanetConfigError("every tran_id must be 16 bytes")
