"""Opus encoder and decoder over opuslib (libopus), 48 kHz mono.

The encoder runs in VOIP mode as linejs and the native app do, and applies only the CTLs the settings
name (bitrate and bandwidth when set; signal and VBR always, since the example bot's defaults, music and
CBR, differ from libopus's). Group clips need pairs of 20 ms frames that share one TOC configuration
(a code-3 packet has one TOC); libopus may switch mode or bandwidth between any two frames, so the
second frame of a pair can be encoded with mode and bandwidth pinned to the first frame's.

A frame can also be encoded *independently* (OPUS_SET_PREDICTION_DISABLED for that frame only): CELT codes
its band energies intra instead of as deltas from the previous frame's and leaves the pitch pre-filter
off, and SILK codes the frame as if after a reset. Clips use this for their first frames, because a
cached clip is decoded by a peer whose decoder has just played some other clip (see ``clip.py``).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, get_args

import numpy as np
import numpy.typing as npt
import opuslib
import opuslib.api.ctl
import opuslib.api.decoder
import opuslib.api.encoder

from linecall.media.errors import OpusCodecError
from linecall.media.packetize import Bandwidth, OpusMode, parse_toc

__all__ = [
    "FRAME_MS_CHOICES",
    "Bandwidth",
    "OpusDecoder",
    "OpusEncoder",
    "OpusParams",
    "Signal",
]

Signal = Literal["auto", "voice", "music"]

FRAME_MS_CHOICES: Final = (10, 20, 40, 60)
RATE: Final = 48_000
#: Large enough for any packet libopus emits (3 x 1275-byte frames + headers for 60 ms).
_MAX_PACKET = 4000
#: 120 ms at 48 kHz: the longest packet a decoder can be handed.
_MAX_DECODE_SAMPLES = 5760

_OPUS_AUTO = -1000
_BANDWIDTH_CODES: dict[Bandwidth, int] = {
    "narrowband": 1101,
    "mediumband": 1102,
    "wideband": 1103,
    "superwideband": 1104,
    "fullband": 1105,
}
_SIGNAL_CODES: dict[Signal, int] = {"auto": _OPUS_AUTO, "voice": 3001, "music": 3002}
# OPUS_SET_FORCE_MODE (opus_private.h); libopus handles it in release builds too.
_FORCE_MODE_REQUEST = 11002
_MODE_CODES: dict[OpusMode, int] = {"silk": 1000, "hybrid": 1001, "celt": 1002}
_set_force_mode: Any = opuslib.api.ctl.ctl_set(_FORCE_MODE_REQUEST)
_set_prediction_disabled: Any = opuslib.api.ctl.ctl_set(opuslib.SET_PREDICTION_DISABLED_REQUEST)
_get_prediction_disabled: Any = opuslib.api.ctl.get(opuslib.GET_PREDICTION_DISABLED_REQUEST, ctypes.c_int)

Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class OpusParams:
    """Encoder settings. ``bitrate``/``bandwidth`` of None leave libopus's automatic choice.

    ``frame_ms`` applies to 1:1 clips; group clips are always encoded at 20 ms (see ``for_group``).
    """

    bitrate: int | None = None
    bandwidth: Bandwidth | None = None
    signal: Signal = "music"
    vbr: bool = False
    frame_ms: int = 20

    def __post_init__(self) -> None:
        if self.frame_ms not in FRAME_MS_CHOICES:
            raise ValueError(f"Opus frame_ms must be one of {FRAME_MS_CHOICES}, got {self.frame_ms}")
        if self.bitrate is not None and not 500 <= self.bitrate <= 512_000:
            raise ValueError(f"Opus bitrate must be 500..512000 bit/s, got {self.bitrate}")
        if self.bandwidth is not None and self.bandwidth not in _BANDWIDTH_CODES:
            raise ValueError(
                f"Opus bandwidth must be one of {list(_BANDWIDTH_CODES)}, got {self.bandwidth!r}"
            )
        if self.signal not in get_args(Signal):
            raise ValueError(f"Opus signal must be one of {get_args(Signal)}, got {self.signal!r}")

    @property
    def frame_samples(self) -> int:
        return RATE // 1000 * self.frame_ms

    def for_group(self) -> OpusParams:
        """The same settings at 20 ms, the frame size group pairs are made of."""
        return self if self.frame_ms == 20 else replace(self, frame_ms=20)


def _ctl(func: Any, state: Any, request: Any, *value: int) -> Any:
    try:
        return func(state, request, *value)
    except opuslib.OpusError as exc:
        raise OpusCodecError(f"libopus CTL failed: {exc}") from exc


class OpusEncoder:
    """One libopus encoder (stateful: feed it consecutive frames of one stream)."""

    def __init__(self, params: OpusParams) -> None:
        self.params = params
        try:
            self._enc: Any = opuslib.Encoder(RATE, 1, opuslib.APPLICATION_VOIP)
        except opuslib.OpusError as exc:
            raise OpusCodecError(f"cannot create an Opus encoder: {exc}") from exc
        state = self._enc.encoder_state
        ctl = opuslib.api.encoder.encoder_ctl
        if params.bitrate is not None:
            _ctl(ctl, state, opuslib.api.ctl.set_bitrate, params.bitrate)
        self._bandwidth = _BANDWIDTH_CODES[params.bandwidth] if params.bandwidth else _OPUS_AUTO
        if params.bandwidth is not None:
            _ctl(ctl, state, opuslib.api.ctl.set_bandwidth, self._bandwidth)
        _ctl(ctl, state, opuslib.api.ctl.set_vbr, int(params.vbr))
        _ctl(ctl, state, opuslib.api.ctl.set_signal, _SIGNAL_CODES[params.signal])
        self._independent = False

    @property
    def frame_samples(self) -> int:
        return self.params.frame_samples

    @property
    def lookahead(self) -> int:
        """Encoder delay in samples at 48 kHz (decoded audio lags the input by this much)."""
        return int(
            _ctl(opuslib.api.encoder.encoder_ctl, self._enc.encoder_state, opuslib.api.ctl.get_lookahead)
        )

    @property
    def prediction_disabled(self) -> bool:
        """What libopus reports for OPUS_GET_PREDICTION_DISABLED (set by the last ``encode``)."""
        state = self._enc.encoder_state
        return bool(_ctl(opuslib.api.encoder.encoder_ctl, state, _get_prediction_disabled))

    def encode(self, frame: Int16Array, *, match_toc: int | None = None, independent: bool = False) -> bytes:
        """Encode exactly one frame of ``frame_samples`` int16 samples into one Opus packet.

        With ``match_toc``, mode and bandwidth are pinned to that TOC's for this frame only, so the
        packet can share a code-3 packet with the one that TOC came from. With ``independent``, the frame
        is coded without prediction from earlier frames, so a decoder that did not decode those frames
        (it decoded something else) still gets its level right; the next frame without it predicts again.
        """
        pcm = np.ascontiguousarray(frame, dtype=np.int16)
        if pcm.shape != (self.frame_samples,):
            raise OpusCodecError(f"an Opus frame here is {self.frame_samples} samples, got shape {pcm.shape}")
        if independent != self._independent:
            state = self._enc.encoder_state
            _ctl(opuslib.api.encoder.encoder_ctl, state, _set_prediction_disabled, int(independent))
            self._independent = independent
        if match_toc is None:
            return self._encode(pcm)
        info = parse_toc(match_toc)
        if info.frame_samples != self.frame_samples:
            raise OpusCodecError(f"TOC 0x{match_toc:02x} is for {info.frame_samples}-sample frames")
        state = self._enc.encoder_state
        ctl = opuslib.api.encoder.encoder_ctl
        _ctl(ctl, state, _set_force_mode, _MODE_CODES[info.mode])
        _ctl(ctl, state, opuslib.api.ctl.set_bandwidth, _BANDWIDTH_CODES[info.bandwidth])
        try:
            return self._encode(pcm)
        finally:
            _ctl(ctl, state, _set_force_mode, _OPUS_AUTO)
            _ctl(ctl, state, opuslib.api.ctl.set_bandwidth, self._bandwidth)

    def _encode(self, pcm: Int16Array) -> bytes:
        try:
            packet = opuslib.api.encoder.encode(self._enc.encoder_state, pcm.tobytes(), len(pcm), _MAX_PACKET)
        except opuslib.OpusError as exc:
            raise OpusCodecError(f"Opus encoding failed: {exc}") from exc
        return bytes(packet)


class OpusDecoder:
    """One libopus decoder at 48 kHz mono, for audio we receive (and for our tests)."""

    def __init__(self) -> None:
        try:
            self._dec: Any = opuslib.Decoder(RATE, 1)
        except opuslib.OpusError as exc:
            raise OpusCodecError(f"cannot create an Opus decoder: {exc}") from exc

    def decode(self, packet: bytes) -> Int16Array:
        """Decode one Opus packet (any frame size up to 120 ms) to int16 samples."""
        if not packet:
            raise OpusCodecError("cannot decode an empty Opus packet")
        return self._run(packet, _MAX_DECODE_SAMPLES)

    def decode_payload(self, payload: bytes, prefix_bytes: int = 1) -> Int16Array:
        """Decode a LINE audio payload: ``prefix_bytes`` of wrapper, then one Opus packet."""
        return self.decode(payload[prefix_bytes:])

    def conceal(self, samples: int = 960) -> Int16Array:
        """Packet-loss concealment: ``samples`` (a multiple of 2.5 ms) of audio for a lost packet."""
        if samples <= 0 or samples % 120 or samples > _MAX_DECODE_SAMPLES:
            raise OpusCodecError(
                f"concealment length must be a positive multiple of 120 <= 5760, got {samples}"
            )
        return self._run(None, samples)

    def _run(self, packet: bytes | None, samples: int) -> Int16Array:
        try:
            raw = opuslib.api.decoder.decode(
                self._dec.decoder_state, packet, len(packet or b""), samples, False, channels=1
            )
        except opuslib.OpusError as exc:
            raise OpusCodecError(f"Opus decoding failed: {exc}") from exc
        return np.frombuffer(raw, dtype=np.int16).copy()
