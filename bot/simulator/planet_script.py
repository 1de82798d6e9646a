"""What the loopback PLANET relay is and how its answering peer behaves: configuration and scripts.

Two frozen dataclasses split the knobs by what they describe:

* :class:`RelayConfig`: the relay's identity and environment (its transport key pair, the token the
  setup credential hashes, channel ids, the media address it advertises, the peer's media material).
  Everything random is optional; what is left unset is drawn from the core's injected randomness, so a
  test can pin exactly the values a transcript recorded and leave the rest fresh.
* :class:`PeerScript`: how the called party behaves (ring delay, answer or not, refusal, silence, the
  media-control exchange after the answer, hang-up, audio sent back). The defaults reproduce the full
  flow the linejs transcript (planet_wire.json) recorded, so a default relay exercises every reply the
  client has to get right.

:func:`relay_route_json` builds the ``acquireCallRoute`` result (Thrift field names, the same shape as
planet_wire.json's ``route``) that points a client at the relay.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Final

from linecall.protocol.planet import constants as c
from linecall.protocol.planet.crypto import BOOTSTRAP_SEED_LEN, P256KeyPair, RandomSource
from linecall.protocol.planet.media_keys import DEFAULT_ONE_TO_ONE_MODE, LocalMediaMaterial, MediaKeyMode
from linecall.protocol.planet.route import CallRoute

__all__ = [
    "DEFAULT_FROM_TOKEN",
    "DEFAULT_REPLY_FIRST_SEQ",
    "DEFAULT_REPLY_SSRC",
    "RESULT_BAD_CREDENTIAL",
    "RESULT_BAD_OFFER",
    "RESULT_UNKNOWN_CALLEE",
    "PeerScript",
    "Refusal",
    "RelayConfig",
    "RelaySessionParams",
    "relay_call_route",
    "relay_route_json",
]

DEFAULT_FROM_TOKEN: Final = "bG9vcGJhY2stZnJvbS10b2tlbg=="  # base64("loopback-from-token"), route-like
#: Peer SSRC and first sequence of the audio the peer sends back; 0xFFFE makes the third packet wrap
#: the sequence number (the transcript's choice), which checks the client's rollover handling.
DEFAULT_REPLY_SSRC: Final = 0x0A0B0C0D
DEFAULT_REPLY_FIRST_SEQ: Final = 0xFFFE

# setup_rsp result codes this simulator uses when it refuses on its own account. LINE's real codes are
# not known; these only need to be non-zero and distinct so a test can tell the reasons apart.
RESULT_BAD_CREDENTIAL: Final = 401
RESULT_UNKNOWN_CALLEE: Final = 404
RESULT_BAD_OFFER: Final = 488


@dataclass(frozen=True, slots=True)
class Refusal:
    """A setup_rsp that turns the call down: non-zero ``result`` and optionally a rel_code and phrase."""

    result: int = 486
    rel_code: int | None = None
    rel_phrase: str | None = None

    def __post_init__(self) -> None:
        if self.result <= 0 and not self.rel_code:
            raise ValueError("a refusal needs a non-zero result or rel_code")


@dataclass(frozen=True, slots=True)
class RelaySessionParams:
    """The relay's per-call random values: what its bootstrap frame and message headers carry.

    Fixed ones let a test replay a transcript's relay side byte for byte; :meth:`draw` makes fresh ones.
    """

    bootstrap_seed: bytes
    send_label: int
    first_frame_seq: int
    sess_id: bytes
    loc_nonce: int
    first_tran_seq: int

    def __post_init__(self) -> None:
        if len(self.bootstrap_seed) != BOOTSTRAP_SEED_LEN:
            raise ValueError("the relay's bootstrap seed must be 16 bytes")
        if not 0 <= self.send_label <= 0xFFFF or not 0 <= self.first_frame_seq <= 0xFFFF:
            raise ValueError("label and first frame sequence are 16-bit values")
        if not self.sess_id:
            raise ValueError("the relay's session id must not be empty (the client learns it)")

    def __repr__(self) -> str:
        return "RelaySessionParams(<redacted>)"

    @classmethod
    def draw(cls, random: RandomSource) -> RelaySessionParams:
        """Draw order: seed (16), label (2), first frame seq (2), sess id (16), nonce (8), tran seq (8)."""
        seed = random(BOOTSTRAP_SEED_LEN)
        label = int.from_bytes(random(2), "big")
        first_seq = int.from_bytes(random(2), "big")
        sess_id = random(c.SESS_ID_LEN)
        nonce = (int.from_bytes(random(8), "big") >> 1) | (1 << 62)  # 63 bits, like the captured relay's
        tran_seq = c.draw_id_with_bits(random, *c.TRAN_SEQ_BITS)
        return cls(seed, label, first_seq, sess_id, nonce, tran_seq)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """The relay's identity. ``None`` fields are drawn from the core's random source when it starts.

    ``caller_mid`` / ``callee_mid``: when set, a setup_req from another initiator or to another
    responder is refused (``RESULT_BAD_CREDENTIAL`` / ``RESULT_UNKNOWN_CALLEE``); when ``None`` any MID
    is accepted. ``media_addr`` is advertised as conn_req ``m_addr`` (the client sends media there);
    ``None`` leaves it out and the client falls back to the relay address. ``caller_svc_id`` /
    ``callee_svc_id`` fill the service-id fields the recorded relay sent (conn_req and info_req).
    """

    from_token: str = DEFAULT_FROM_TOKEN
    caller_mid: str | None = None
    callee_mid: str | None = None
    keypair: P256KeyPair | None = None
    session: RelaySessionParams | None = None
    peer_media: LocalMediaMaterial | None = None
    relay_cc_chan_id: int = 4097
    peer_media_chan_id: int = 8194
    media_addr: tuple[str, int] | None = None
    caller_svc_id: str | None = "svc-a"
    callee_svc_id: str | None = "svc-b"
    from_zone: str = "JP"
    to_zone: str = "JP"
    stid: str = "stid-loopback"


@dataclass(frozen=True, slots=True)
class PeerScript:
    """How the called party behaves. Times are seconds on the clock the core is fed.

    Setup: the relay answers every authenticated setup_req with setup_rsp, unless ``silent`` (it never
    sends anything, though it still decodes and records what arrives), ``ignore_first_setups`` (the
    first N copies are recorded and dropped, so the client's retransmission is what gets answered) or
    ``refuse`` (setup_rsp with a non-zero result, and nothing after).

    Answer: ``ring_delay_s`` after setup_rsp the peer answers with conn_req carrying its media answer,
    unless ``answer`` is false (it rings forever). After the client's first conn_rsp the enabled
    follow-ups go out in the transcript's order (info_req, mc data_req, mc join_req, mc change_req, a
    duplicate conn_req), each once the client has answered the previous one (or after
    ``reply_timeout_s``, noting the missing reply). Then ``reply_payloads`` (LINE audio payloads,
    prefix included) are sent back as SRTP, one every ``reply_interval_s``.

    Hang-up: ``hangup_after_s`` after the answer, the peer sends rel_req with ``hangup_code`` and
    stops sending anything.
    """

    ring_delay_s: float = 0.0
    answer: bool = True
    refuse: Refusal | None = None
    silent: bool = False
    ignore_first_setups: int = 0
    info_req: bool = True
    data_req: bool = True
    join_req: bool = True
    change_req: bool = True
    duplicate_conn_req: bool = True
    answer_info_req: bool = True
    reply_timeout_s: float = 1.0
    hangup_after_s: float | None = None
    hangup_code: int = 1
    reply_payloads: tuple[bytes, ...] = ()
    reply_interval_s: float = 0.02
    reply_ssrc: int = DEFAULT_REPLY_SSRC
    reply_first_seq: int = DEFAULT_REPLY_FIRST_SEQ
    keepalive_interval_s: int = 15
    no_answer_timeout_s: int = 60
    media_mode: MediaKeyMode = DEFAULT_ONE_TO_ONE_MODE
    payload_prefix_len: int = 1
    follow_ups: tuple[str, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        for name in ("ring_delay_s", "reply_timeout_s", "reply_interval_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.hangup_after_s is not None and self.hangup_after_s < 0:
            raise ValueError("hangup_after_s must not be negative")
        if self.ignore_first_setups < 0 or self.payload_prefix_len < 0:
            raise ValueError("counts must not be negative")
        if self.media_mode is MediaKeyMode.AUTO:
            raise ValueError("the peer keys its media with one fixed mode, not auto")
        steps = (
            ("info_req", self.info_req),
            ("data_req", self.data_req),
            ("join_req", self.join_req),
            ("change_req", self.change_req),
            ("duplicate_conn_req", self.duplicate_conn_req),
        )
        object.__setattr__(self, "follow_ups", tuple(name for name, on in steps if on))

    @classmethod
    def minimal(cls, **overrides: Any) -> PeerScript:
        """Answer at once and skip every media-control follow-up (the shortest successful call)."""
        base: dict[str, Any] = {
            "info_req": False,
            "data_req": False,
            "join_req": False,
            "change_req": False,
            "duplicate_conn_req": False,
        }
        base.update(overrides)
        return cls(**base)


def relay_route_json(
    *, host: str, port: int, mpkey: bytes, config: RelayConfig, to_mid: str | None = None
) -> dict[str, Any]:
    """The CallRoute JSON (Thrift names, as planet_wire.json's ``route``) pointing at the relay."""
    route: dict[str, Any] = {
        "fromToken": config.from_token,
        "voipAddress": host,
        "voipUdpPort": port,
        "voipTcpPort": 0,
        "voipAddress6": "",
        "fromZone": config.from_zone,
        "toZone": config.to_zone,
        "fakeCall": False,
        "commParam": json.dumps({"mpkey": base64.b64encode(mpkey).decode("ascii")}),
        "stid": config.stid,
        "stnpk": "",
    }
    callee = to_mid if to_mid is not None else config.callee_mid
    if callee is not None:
        route["toMid"] = callee
    return route


def relay_call_route(
    *, host: str, port: int, mpkey: bytes, config: RelayConfig, to_mid: str | None = None
) -> CallRoute:
    """:func:`relay_route_json` parsed into the client's :class:`CallRoute`."""
    return CallRoute.from_json(
        relay_route_json(host=host, port=port, mpkey=mpkey, config=config, to_mid=to_mid)
    )
