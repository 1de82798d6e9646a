"""The one audio comparison used by every test in the project, and the test signals it is meant for.

The comparison itself lives in ``linecall.media.compare`` (``linecall demo`` prints it too); it is
re-exported here so that every test keeps importing ``tests.audio_match``.

``audio_match(source, decoded)`` is the Pearson correlation between the source and the decoded PCM
(48 kHz mono) after removing ONE global lag: the lag in 0..max_lag_ms (decoded lags source: codec
delay, jitter buffers) with the largest cross-correlation. It is computed over the whole source; decoded
audio that is missing at the end counts as silence. One global lag is deliberate: a dropped, repeated
or reordered frame shifts everything after it, and that must cost score rather than be realigned away.

Test signals are non-periodic (seeded noise band-limited to 300-3400 Hz, a log chirp), so no lag other
than the true one can line them up.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from linecall.media.compare import RATE, audio_match, best_lag

__all__ = ["RATE", "audio_match", "band_noise", "best_lag", "log_chirp"]

Int16Array = npt.NDArray[np.int16]


def band_noise(
    seconds: float,
    *,
    seed: int = 0,
    low_hz: float = 300.0,
    high_hz: float = 3400.0,
    peak: float = 0.5,
    rate: int = RATE,
) -> Int16Array:
    """Seeded white noise band-limited to ``low_hz..high_hz`` (a brick-wall FFT mask), peak at ``peak``."""
    n = round(seconds * rate)
    noise = np.random.default_rng(seed).standard_normal(n)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0
    shaped = np.fft.irfft(spectrum, n)
    shaped *= peak * 32767 / np.max(np.abs(shaped))
    return np.round(shaped).astype(np.int16)


def log_chirp(
    seconds: float,
    *,
    f0: float = 200.0,
    f1: float = 6000.0,
    peak: float = 0.5,
    rate: int = RATE,
) -> Int16Array:
    """A logarithmic sweep from ``f0`` to ``f1`` Hz (its instantaneous frequency never repeats)."""
    n = round(seconds * rate)
    t = np.arange(n) / rate
    k = np.log(f1 / f0) / seconds
    phase = 2 * np.pi * f0 * (np.exp(k * t) - 1) / k
    chirp: Int16Array = np.round(np.sin(phase) * peak * 32767).astype(np.int16)
    return chirp
