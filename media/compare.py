"""How closely decoded audio matches what was sent: the project's one audio comparison.

``audio_match(source, decoded)`` is the Pearson correlation between the source and the decoded PCM
(48 kHz mono) after removing ONE global lag: the lag in 0..max_lag_ms (decoded lags source: codec
delay, jitter buffers) with the largest cross-correlation. It is computed over the whole source; decoded
audio that is missing at the end counts as silence. One global lag is deliberate: a dropped, repeated
or reordered frame shifts everything after it, and that must cost score rather than be realigned away.

It lives in product code because ``linecall demo`` prints it for the call the simulated peer heard; the
tests import the same function (``tests/audio_match.py`` re-exports it), so there is one implementation.
"""

from __future__ import annotations

import os
import wave

import numpy as np
import numpy.typing as npt

__all__ = ["RATE", "audio_match", "best_lag", "write_wav_mono16"]

RATE = 48_000

FloatArray = npt.NDArray[np.float64]
Int16Array = npt.NDArray[np.int16]


def _as_float(x: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"audio_match compares mono signals, got shape {arr.shape}")
    return arr


def best_lag(source: npt.ArrayLike, decoded: npt.ArrayLike, rate: int = RATE, max_lag_ms: float = 200) -> int:
    """Lag in samples (0..max_lag) at which ``decoded`` best lines up with ``source``."""
    src, dec = _as_float(source), _as_float(decoded)
    max_lag = round(rate * max_lag_ms / 1000)
    n = len(src)
    if n == 0:
        return 0
    # corr[k] = sum_t src[t] * dec[t + k], for k = 0..max_lag, through one FFT.
    dec_win = np.zeros(n + max_lag)
    usable = min(len(dec), n + max_lag)
    dec_win[:usable] = dec[:usable]
    size = 1 << int(np.ceil(np.log2(len(dec_win) + n)))
    spec = np.fft.rfft(dec_win, size) * np.conj(np.fft.rfft(src, size))
    corr = np.fft.irfft(spec, size)[: max_lag + 1]
    return int(np.argmax(corr))


def audio_match(
    source: npt.ArrayLike, decoded: npt.ArrayLike, rate: int = RATE, max_lag_ms: float = 200
) -> float:
    """Pearson correlation of ``source`` and ``decoded`` after removing the best global lag (-1..1)."""
    src, dec = _as_float(source), _as_float(decoded)
    lag = best_lag(src, dec, rate, max_lag_ms)
    aligned = np.zeros(len(src))
    tail = dec[lag : lag + len(src)]
    aligned[: len(tail)] = tail
    if len(src) < 2 or np.std(src) == 0 or np.std(aligned) == 0:
        return 0.0
    return float(np.corrcoef(src, aligned)[0, 1])


def write_wav_mono16(path: str | os.PathLike[str], pcm: npt.ArrayLike, rate: int = RATE) -> None:
    """Write mono 16-bit PCM as a WAV file (what a simulated peer heard, for a person to listen to)."""
    samples = np.asarray(pcm, dtype=np.int16)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples, got shape {samples.shape}")
    with wave.open(os.fspath(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
