"""Conditioning: downmix, soxr resampling to 48 kHz, gain with saturation, framing."""

from __future__ import annotations

import numpy as np
import pytest

from linecall.media.condition import OPUS_RATE, condition, downmix, frame_pcm, resample, to_int16
from linecall.media.wav import WavAudio


def tone(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def fit_sine(x: np.ndarray, freq: float, rate: int) -> tuple[float, float]:
    """Least-squares fit of a sine at ``freq``: returns (amplitude, SNR in dB of the residual)."""
    t = np.arange(len(x)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    fitted = basis @ coef
    residual = x - fitted
    return float(np.hypot(coef[0], coef[1])), float(10 * np.log10(np.sum(fitted**2) / np.sum(residual**2)))


@pytest.mark.parametrize("quality", ["HQ", "VHQ"])
def test_1khz_tone_44k1_to_48k_keeps_frequency_with_60db_snr(quality: str) -> None:
    src = tone(1000.0, 44_100, 1.0)
    out = resample(src, 44_100, OPUS_RATE, quality)  # type: ignore[arg-type]
    assert len(out) == 48_000
    # Judge the middle (the resampler's edges see the signal switch on and off).
    mid = out[4800:-4800].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    peak_hz = np.argmax(spectrum) * OPUS_RATE / len(mid)
    assert abs(peak_hz - 1000.0) < 2.5
    amplitude, snr = fit_sine(mid, 1000.0, OPUS_RATE)
    assert amplitude == pytest.approx(0.5, rel=1e-3)
    assert snr >= 60.0


def test_full_conditioning_of_tone_keeps_60db_snr_through_int16() -> None:
    x = tone(1000.0, 44_100, 1.0)
    audio = WavAudio("t.wav", np.stack([x, x], axis=1), 44_100, 2, "f32")
    pcm = condition(audio)
    assert pcm.dtype == np.int16
    assert len(pcm) == 48_000
    _, snr = fit_sine(pcm[4800:-4800].astype(np.float64) / 32768, 1000.0, OPUS_RATE)
    assert snr >= 60.0


def test_48k_mono_s16_passes_bit_exact() -> None:
    pcm = np.random.default_rng(0).integers(-32768, 32768, 4800).astype(np.int16)
    audio = WavAudio("t.wav", (pcm.astype(np.float32) / 32768).reshape(-1, 1), 48_000, 1, "s16")
    assert np.array_equal(condition(audio), pcm)


def test_downmix_averages_channels() -> None:
    x = np.array([[1.0, 0.0], [0.5, -0.5], [-1.0, -1.0]], dtype=np.float32)
    assert downmix(x).tolist() == [0.5, 0.0, -1.0]
    assert downmix(x[:, :1]).tolist() == [1.0, 0.5, -1.0]
    assert downmix(np.array([0.25], dtype=np.float32)).tolist() == [0.25]


def test_gain_saturates_instead_of_wrapping() -> None:
    x = np.array([0.9, -0.9, 0.1, -1.0], dtype=np.float32)
    out = to_int16(x, gain=2.0)
    assert out.tolist() == [32767, -32768, 6554, -32768]
    assert to_int16(np.array([1.0], dtype=np.float32)).tolist() == [32767]


def test_gain_scales() -> None:
    x = np.array([0.25, -0.25], dtype=np.float32)
    assert to_int16(x, gain=0.5).tolist() == [4096, -4096]


def test_resample_same_rate_is_identity() -> None:
    x = tone(300, 48_000, 0.1)
    assert resample(x, 48_000) is x


def test_frame_pcm_zero_pads_last_frame() -> None:
    pcm = np.arange(1, 2001, dtype=np.int16)
    frames = frame_pcm(pcm, 960)
    assert frames.shape == (3, 960)
    assert frames.ravel()[:2000].tolist() == pcm.tolist()
    assert not frames.ravel()[2000:].any()
    assert frame_pcm(pcm[:960], 960).shape == (1, 960)
    assert frame_pcm(pcm[:0], 960).shape == (0, 960)
    with pytest.raises(ValueError):
        frame_pcm(pcm, 0)
