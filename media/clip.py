"""Clips: a WAV encoded once into every payload a call will send, shared read-only by all calls.

A :class:`Clip` holds the 1:1 payloads (prefix + Opus packet, at ``frame_ms``) and the group packets
(40 ms code-3 packets, unprefixed: the 0x00/0x10 prefix depends on how many payloads the call has
already sent, so :class:`~linecall.media.packetize.GroupPrefixer` adds it per call at send time).
Both are tuples of bytes: immutable, so any number of concurrent calls, repeats and sequences replay
them without copying or re-encoding. :class:`ClipCache` keys clips by file identity (path, mtime,
size) or content hash, plus the parameters.

Joins. A clip is encoded once, by a fresh encoder, but it is replayed after arbitrary other clips (the
next source of a sequence, or itself on a repeat), into a peer that keeps ONE decoder for the whole call.
Opus frames normally predict from the previous frame: CELT codes band energies as deltas from the last
frame's and runs a pitch pre-filter over past samples, SILK delta-codes gains. At a join the decoder's
"previous frame" is the other clip's while the fresh encoder's was silence, so the next clip's first
frames came out wrong (band-noise clips: 2.6x too loud over the first 60 ms, the segment scoring 0.83-0.85
instead of 0.97). So the first :data:`INDEPENDENT_LEAD_MS` of every clip are encoded independently
(OPUS_SET_PREDICTION_DISABLED), and prediction is switched back on after that. One intra-coded frame
re-syncs CELT's energies; 40 ms also outlasts the pitch filter's memory (at most 1024 samples plus the
2.5 ms overlap), so by the time the pre-filter is back on, encoder and any continuing decoder both hold
only this clip's audio. With it every CELT segment after a join (the default "music" signal) matches
as well as the clip alone. Where libopus picks SILK or hybrid (voice/auto signal, low bitrates) a join
can still come out loud for the first 20-40 ms (up to 2.5x over 60 ms after a loud tonal clip): the SILK
decoder's own history (gain index, LPC and pitch memory) carries over, and disabling prediction does not
reach it. (Forcing each clip's first frame to CELT would, since decoders reset SILK after a CELT frame,
but it shifts libopus's mode choices for the whole clip; not done.)

Why not the whole clip without prediction (which fixes the joins just as well): it changes every frame
and costs bits everywhere, for a problem that only exists at the start. On single clips (audio_match,
fresh decoder) both are within 0.002 of predicted coding at the default settings, but at lower bitrates
whole-clip loses up to 0.10 (1 s band noise: 0.868 -> 0.791 at 16 kbit/s, 0.945 -> 0.900 at 24 kbit/s
voice) where the 40 ms lead costs at most 0.026 (on a 0.4 s clip, of which the lead is a tenth).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import structlog
import trio

from linecall.media.condition import OPUS_RATE, ResampleQuality, condition, frame_pcm
from linecall.media.errors import MediaError
from linecall.media.opus import OpusEncoder, OpusParams
from linecall.media.packetize import join_group_pair
from linecall.media.wav import WavAudio, parse_wav, read_wav

__all__ = [
    "DEFAULT_CLIP_NAME",
    "GROUP_FRAME_MS",
    "GROUP_TIMESTAMP_STEP",
    "INDEPENDENT_LEAD_MS",
    "Clip",
    "ClipCache",
    "ClipParams",
    "clear_clip_cache",
    "clip_from_pcm",
    "clip_from_wav",
    "default_clip_path",
    "encode_group",
    "encode_one_to_one",
    "independent_lead_frames",
    "load_clip",
    "load_clip_async",
    "load_clip_bytes",
]

log = structlog.get_logger(__name__)

DEFAULT_CLIP_NAME: Final = "linecall-default.wav"
#: Group payloads always carry two 20 ms frames.
GROUP_FRAME_MS: Final = 40
GROUP_TIMESTAMP_STEP: Final = OPUS_RATE * GROUP_FRAME_MS // 1000
_GROUP_PAIR_SAMPLES: Final = 960
#: How much of the start of every clip is encoded without inter-frame prediction (see the module doc).
INDEPENDENT_LEAD_MS: Final = 40

Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class ClipParams:
    """Everything that changes a clip's bytes. ``prefix`` and ``opus.frame_ms`` apply to 1:1 only."""

    opus: OpusParams = field(default_factory=OpusParams)
    gain: float = 1.0
    prefix: bytes = b"\x00"
    resample_quality: ResampleQuality = "HQ"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gain) and self.gain > 0):
            raise ValueError(f"gain must be a finite number > 0, got {self.gain}")
        if not isinstance(self.prefix, bytes):
            raise ValueError(f"prefix must be bytes, got {type(self.prefix).__name__}")
        if self.resample_quality not in ("HQ", "VHQ"):
            raise ValueError(f"resample_quality must be 'HQ' or 'VHQ', got {self.resample_quality!r}")


@dataclass(frozen=True, slots=True)
class Clip:
    """One encoded clip. Sizes count bytes handed to the RTP layer (prefixes included)."""

    source: str
    params: ClipParams
    source_rate: int
    source_channels: int
    source_format: str
    source_frames: int
    samples: int
    one_to_one_payloads: tuple[bytes, ...]
    group_packets: tuple[bytes, ...]

    @property
    def duration_s(self) -> float:
        """Length of the conditioned audio (48 kHz), before padding to whole frames."""
        return self.samples / OPUS_RATE

    @property
    def frame_ms(self) -> int:
        """1:1 frame duration (``LINE_CALL_FRAME_MS``)."""
        return self.params.opus.frame_ms

    @property
    def frame_s(self) -> float:
        return self.frame_ms / 1000

    @property
    def one_to_one_timestamp_step(self) -> int:
        return self.params.opus.frame_samples

    @property
    def one_to_one_frames(self) -> int:
        return len(self.one_to_one_payloads)

    @property
    def one_to_one_bytes(self) -> int:
        return sum(map(len, self.one_to_one_payloads))

    @property
    def one_to_one_duration_s(self) -> float:
        """Playing time of the 1:1 payloads (whole frames)."""
        return self.one_to_one_frames * self.frame_ms / 1000

    @property
    def group_frame_s(self) -> float:
        return GROUP_FRAME_MS / 1000

    @property
    def group_payloads(self) -> int:
        return len(self.group_packets)

    @property
    def group_frames_20ms(self) -> int:
        """20 ms Opus frames inside the group packets (always even)."""
        return 2 * len(self.group_packets)

    @property
    def group_bytes(self) -> int:
        """Group payload bytes as sent: each packet plus its one-byte prefix."""
        return sum(map(len, self.group_packets)) + len(self.group_packets)

    @property
    def group_duration_s(self) -> float:
        return self.group_payloads * GROUP_FRAME_MS / 1000

    def summary(self) -> dict[str, str | int | float]:
        """What a call would play, flat and printable (``linecall check``, logs)."""
        opus = self.params.opus
        return {
            "source": self.source,
            "source_format": self.source_format,
            "source_rate_hz": self.source_rate,
            "source_channels": self.source_channels,
            "duration_s": round(self.duration_s, 3),
            "gain": self.params.gain,
            "opus_bitrate": opus.bitrate if opus.bitrate is not None else "auto",
            "opus_bandwidth": opus.bandwidth or "auto",
            "opus_signal": opus.signal,
            "opus_vbr": str(opus.vbr).lower(),
            "one_to_one_frame_ms": self.frame_ms,
            "one_to_one_prefix_hex": self.params.prefix.hex(),
            "one_to_one_payloads": self.one_to_one_frames,
            "one_to_one_bytes": self.one_to_one_bytes,
            "group_frame_ms": GROUP_FRAME_MS,
            "group_payloads": self.group_payloads,
            "group_frames_20ms": self.group_frames_20ms,
            "group_bytes": self.group_bytes,
        }


def independent_lead_frames(frame_ms: int) -> int:
    """Frames of ``frame_ms`` that cover :data:`INDEPENDENT_LEAD_MS` (10 ms: 4, 20 ms: 2, 40/60 ms: 1)."""
    return -(-INDEPENDENT_LEAD_MS // frame_ms)


def encode_one_to_one(pcm: Int16Array, opus: OpusParams, prefix: bytes = b"\x00") -> tuple[bytes, ...]:
    """48 kHz mono int16 -> ``prefix + packet`` per ``opus.frame_ms`` frame (last frame zero-padded).

    The first frames (:func:`independent_lead_frames`) are coded independently: the clip may follow any
    other clip in a call's decoder.
    """
    encoder = OpusEncoder(opus)
    lead = independent_lead_frames(opus.frame_ms)
    return tuple(
        prefix + encoder.encode(frame, independent=i < lead)
        for i, frame in enumerate(frame_pcm(pcm, encoder.frame_samples))
    )


def encode_group(pcm: Int16Array, opus: OpusParams) -> tuple[bytes, ...]:
    """48 kHz mono int16 -> unprefixed 40 ms group packets (two 20 ms frames each).

    An odd frame count is completed with one silent frame (linejs drops the last frame instead). The
    second frame of each pair is encoded with the first one's mode and bandwidth, so both fit one TOC.
    The first 40 ms (the first pair) is coded independently, as for 1:1 clips.
    """
    pair_opus = opus.for_group()
    encoder = OpusEncoder(pair_opus)
    lead = independent_lead_frames(pair_opus.frame_ms)
    frames = frame_pcm(pcm, _GROUP_PAIR_SAMPLES)
    if len(frames) % 2:
        frames = np.vstack([frames, np.zeros((1, _GROUP_PAIR_SAMPLES), dtype=np.int16)])
    out = []
    for i in range(0, len(frames), 2):
        left = encoder.encode(frames[i], independent=i < lead)
        right = encoder.encode(frames[i + 1], match_toc=left[0], independent=i + 1 < lead)
        out.append(join_group_pair(left, right))
    return tuple(out)


def clip_from_pcm(
    pcm: Int16Array,
    params: ClipParams | None = None,
    *,
    source: str = "<pcm>",
    source_rate: int = OPUS_RATE,
    source_channels: int = 1,
    source_format: str = "s16",
    source_frames: int | None = None,
) -> Clip:
    """Encode already-conditioned audio (48 kHz mono int16) into a clip (no cache)."""
    params = params or ClipParams()
    if len(pcm) == 0:
        raise MediaError(f"{source}: no audio to encode")
    started = time.perf_counter()
    clip = Clip(
        source=source,
        params=params,
        source_rate=source_rate,
        source_channels=source_channels,
        source_format=source_format,
        source_frames=len(pcm) if source_frames is None else source_frames,
        samples=len(pcm),
        one_to_one_payloads=encode_one_to_one(pcm, params.opus, params.prefix),
        group_packets=encode_group(pcm, params.opus),
    )
    log.debug(
        "clip.encoded",
        source=source,
        duration_s=round(clip.duration_s, 3),
        frames=clip.one_to_one_frames,
        group_payloads=clip.group_payloads,
        encode_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return clip


def clip_from_wav(audio: WavAudio, params: ClipParams | None = None) -> Clip:
    """Condition (downmix, resample, gain) and encode a decoded WAV (no cache)."""
    params = params or ClipParams()
    pcm = condition(audio, params.gain, params.resample_quality)
    return clip_from_pcm(
        pcm,
        params,
        source=audio.source,
        source_rate=audio.rate,
        source_channels=audio.channels,
        source_format=audio.sample_format,
        source_frames=audio.frames,
    )


class ClipCache:
    """Thread-safe LRU of encoded clips; concurrent requests for one key encode it once."""

    def __init__(self, max_entries: int = 64) -> None:
        if max_entries < 1:
            raise ValueError("a clip cache holds at least one clip")
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, Clip] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def load(self, path: str | os.PathLike[str], params: ClipParams | None = None) -> Clip:
        """The clip for the WAV at ``path``; re-encoded when the file's mtime or size changes."""
        params = params or ClipParams()
        name = os.fspath(path)
        try:
            st = os.stat(name)
        except OSError:
            # Let the reader raise its WavError (it names the file and the problem).
            return clip_from_wav(read_wav(name), params)
        key = ("file", os.path.realpath(name), st.st_mtime_ns, st.st_size, params)
        return self._get(key, lambda: clip_from_wav(read_wav(name), params))

    def load_bytes(self, data: bytes, name: str, params: ClipParams | None = None) -> Clip:
        """The clip for WAV bytes (e.g. an upload), keyed by content hash; ``name`` is for messages."""
        params = params or ClipParams()
        key = ("bytes", hashlib.blake2b(data, digest_size=20).digest(), params)
        return self._get(key, lambda: clip_from_wav(parse_wav(data, name), params))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _get(self, key: Hashable, build: Callable[[], Clip]) -> Clip:
        with self._lock:
            clip = self._lookup(key)
            if clip is not None:
                return clip
            gate = self._building.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                clip = self._lookup(key)
            if clip is not None:
                return clip
            try:
                clip = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            with self._lock:
                self._entries[key] = clip
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            return clip

    def _lookup(self, key: Hashable) -> Clip | None:
        clip = self._entries.get(key)
        if clip is not None:
            self._entries.move_to_end(key)
        return clip


_cache = ClipCache()


def load_clip(path: str | os.PathLike[str], params: ClipParams | None = None) -> Clip:
    """The shared, cached clip for a WAV file (blocking: encodes on first use)."""
    return _cache.load(path, params)


def load_clip_bytes(data: bytes, name: str, params: ClipParams | None = None) -> Clip:
    """The shared, cached clip for WAV bytes (blocking: encodes on first use)."""
    return _cache.load_bytes(data, name, params)


async def load_clip_async(path: str | os.PathLike[str], params: ClipParams | None = None) -> Clip:
    """:func:`load_clip` in a worker thread, so encoding never stalls other calls' pacing."""
    return await trio.to_thread.run_sync(load_clip, path, params)


def clear_clip_cache() -> None:
    _cache.clear()


_resource_files = contextlib.ExitStack()
atexit.register(_resource_files.close)


def default_clip_path() -> Path:
    """Filesystem path of the clip shipped inside the package (extracted if installed zipped)."""
    resource = resources.files("linecall.media") / "assets" / DEFAULT_CLIP_NAME
    if isinstance(resource, Path):
        return resource
    return _resource_files.enter_context(resources.as_file(resource))
