"""Conditioning: any decoded WAV -> 48 kHz mono int16, then cut into codec frames.

Order: downmix first (resampling one channel instead of several costs less, and both steps are linear so
the result is the same), then soxr resampling (linejs interpolates linearly, which aliases audibly),
then gain with saturation at the int16 limits so a loud clip clips instead of wrapping around.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import soxr

from linecall.media.wav import WavAudio

__all__ = [
    "OPUS_RATE",
    "ResampleQuality",
    "condition",
    "downmix",
    "frame_pcm",
    "resample",
    "to_int16",
]

#: The rate everything is encoded at: Opus is always fed 48 kHz here.
OPUS_RATE = 48_000

ResampleQuality = Literal["HQ", "VHQ"]

Int16Array = npt.NDArray[np.int16]
Float32Array = npt.NDArray[np.float32]


def downmix(samples: Float32Array) -> Float32Array:
    """Average the channels of a ``(frames, channels)`` array into one ``(frames,)`` channel."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    if samples.shape[1] == 1:
        return np.ascontiguousarray(samples[:, 0], dtype=np.float32)
    mean: Float32Array = samples.mean(axis=1, dtype=np.float64).astype(np.float32)
    return mean


def resample(
    mono: Float32Array, from_rate: int, to_rate: int = OPUS_RATE, quality: ResampleQuality = "HQ"
) -> Float32Array:
    """Band-limited resampling with libsoxr; a no-op copy-free return when the rates already match."""
    if from_rate == to_rate:
        return mono
    out = soxr.resample(np.ascontiguousarray(mono, dtype=np.float32), from_rate, to_rate, quality)
    return np.asarray(out, dtype=np.float32)


def to_int16(samples: Float32Array, gain: float = 1.0) -> Int16Array:
    """Scale full-scale floats to int16 with ``gain``, rounding and saturating at -32768..32767."""
    scaled = np.rint(samples.astype(np.float64) * (32768.0 * gain))
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def condition(audio: WavAudio, gain: float = 1.0, quality: ResampleQuality = "HQ") -> Int16Array:
    """Decoded WAV -> 48 kHz mono int16 with ``gain`` applied (what the Opus encoder is fed)."""
    return to_int16(resample(downmix(audio.samples), audio.rate, OPUS_RATE, quality), gain)


def frame_pcm(pcm: Int16Array, frame_samples: int) -> Int16Array:
    """Cut ``pcm`` into rows of ``frame_samples``; the last row is zero-padded. Empty input gives 0 rows."""
    if frame_samples <= 0:
        raise ValueError(f"frame_samples must be positive, got {frame_samples}")
    count = -(-len(pcm) // frame_samples)
    out = np.zeros(count * frame_samples, dtype=np.int16)
    out[: len(pcm)] = pcm
    return out.reshape(count, frame_samples)
