"""audio_match must reward only faithful audio: identical and delayed copies pass, damaged ones fail."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audio_match import audio_match, band_noise, best_lag, log_chirp

FRAME = 960  # 20 ms at 48 kHz


@pytest.fixture(params=["noise", "chirp"])
def signal(request: pytest.FixtureRequest) -> np.ndarray:
    if request.param == "noise":
        return band_noise(2.0, seed=7)
    return log_chirp(2.0)


def test_identical_scores_one(signal: np.ndarray) -> None:
    assert audio_match(signal, signal) == pytest.approx(1.0, abs=1e-9)


def test_global_lag_is_removed(signal: np.ndarray) -> None:
    lag = 312  # about the Opus encoder delay
    delayed = np.concatenate([np.zeros(lag, dtype=np.int16), signal])
    assert best_lag(signal, delayed) == lag
    assert audio_match(signal, delayed) == pytest.approx(1.0, abs=1e-9)


def test_lag_beyond_window_is_not_found() -> None:
    src = band_noise(1.0, seed=3)
    delayed = np.concatenate([np.zeros(int(0.3 * 48_000), dtype=np.int16), src])
    assert audio_match(src, delayed) < 0.5


def test_dropping_one_frame_mid_clip_fails(signal: np.ndarray) -> None:
    frames = signal.reshape(-1, FRAME)
    mid = len(frames) // 2
    damaged = np.concatenate([frames[:mid], frames[mid + 1 :]]).ravel()
    assert audio_match(signal, damaged) < 0.9


def test_swapping_twenty_percent_of_frames_fails(signal: np.ndarray) -> None:
    frames = signal.reshape(-1, FRAME).copy()
    rng = np.random.default_rng(11)
    # Swap disjoint adjacent pairs until 20 % of the frames are out of place.
    starts = rng.choice(np.arange(0, len(frames) - 1, 2), size=len(frames) // 10, replace=False)
    for s in starts:
        frames[[s, s + 1]] = frames[[s + 1, s]]
    moved = 2 * len(starts)
    assert moved >= 0.2 * len(frames)
    assert audio_match(signal, frames.ravel()) < 0.9


def test_truncated_decoding_counts_missing_audio_as_silence() -> None:
    src = band_noise(2.0, seed=5)
    assert audio_match(src, src[: len(src) // 2]) < 0.75


def test_mild_noise_still_matches() -> None:
    src = band_noise(1.0, seed=9).astype(np.float64)
    noisy = src + np.random.default_rng(1).normal(0, 0.05 * np.std(src), len(src))
    assert audio_match(src, noisy) > 0.99


def test_signals_are_seeded_and_band_limited() -> None:
    a, b = band_noise(0.5, seed=1), band_noise(0.5, seed=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, band_noise(0.5, seed=2))
    spectrum = np.abs(np.fft.rfft(a.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(a), 1 / 48_000)
    outside = spectrum[(freqs < 250) | (freqs > 3500)].sum()
    assert outside < 0.01 * spectrum.sum()


def test_chirp_is_not_periodic() -> None:
    chirp = log_chirp(1.0).astype(np.float64)
    first, second = chirp[:FRAME], chirp[FRAME : 2 * FRAME]
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.5


def test_rejects_multichannel_input() -> None:
    with pytest.raises(ValueError):
        audio_match(np.zeros((10, 2)), np.zeros(10))
