"""Clips played back to back through ONE decoder: every segment, and the first instants after every join.

Each clip is encoded once by a fresh encoder and cached, then a call plays clips one after another
(a sequence of sources, or the same clip repeated) while the peer keeps one decoder for the whole call.
So a clip's first frames are decoded with whatever state the previous clip left in the decoder, and must
still come out right: each segment matches its own source (audio_match >= 0.9), and the first 60 ms after
each join is neither much louder nor much quieter than the source (no inter-frame prediction carried over
from the previous clip), with no peak well above the source's in the first 100 ms.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from linecall.media.clip import Clip, ClipParams, clip_from_pcm, independent_lead_frames
from linecall.media.condition import frame_pcm
from linecall.media.opus import OpusDecoder, OpusEncoder, OpusParams
from linecall.media.packetize import GroupPrefixer, parse_packet
from tests.audio_match import RATE, audio_match, band_noise, best_lag, log_chirp

Int16Array = npt.NDArray[np.int16]

# The two sources of the Audio Caller end-to-end test, in an order that has every kind of join:
# A->B and B->A (different clips), B->B and A->A (a clip repeated).
A = band_noise(0.6, seed=21)
B = band_noise(0.4, seed=22)
SEQUENCE = [A, B, B, A, A]
RMS_MS = 60
PEAK_MS = 100
#: Decoded audio lags its source by the encoder's lookahead, so a segment's last few ms come out at the
#: start of the next segment's packets: each segment is scored with that much of what follows it.
SPILL = 4 * 960


def _rms(x: npt.ArrayLike) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def _peak(x: npt.ArrayLike) -> float:
    return float(np.max(np.abs(np.asarray(x, dtype=np.float64))))


def _clips(frame_ms: int, sources: list[Int16Array]) -> list[Clip]:
    """One cached clip per distinct source (the same object when a source repeats, as the cache does)."""
    params = ClipParams(opus=OpusParams(frame_ms=frame_ms))
    cache: dict[int, Clip] = {}
    return [cache.setdefault(id(pcm), clip_from_pcm(pcm, params)) for pcm in sources]


def _check_segments(sources: list[Int16Array], heard: list[Int16Array]) -> None:
    scores, loudness, peaks = [], [], []
    for index, (source, decoded) in enumerate(zip(sources, heard, strict=True)):
        following = heard[index + 1][:SPILL] if index + 1 < len(heard) else np.zeros(0, np.int16)
        window = np.concatenate([decoded, following])
        scores.append(audio_match(source, window))
        if index == 0:
            continue
        lag = best_lag(source, window)
        n_rms, n_peak = RATE * RMS_MS // 1000, RATE * PEAK_MS // 1000
        loudness.append(_rms(window[lag : lag + n_rms]) / _rms(source[:n_rms]))
        peaks.append(_peak(window[lag : lag + n_peak]) / _peak(source[:n_peak]))
    summary = f"scores={np.round(scores, 3)} rms60={np.round(loudness, 2)} peak100={np.round(peaks, 2)}"
    assert min(scores) >= 0.9, summary
    assert all(0.5 <= r <= 2.0 for r in loudness), summary
    assert max(peaks) <= 1.5, summary


@pytest.mark.parametrize("frame_ms", [10, 20, 40, 60])
def test_one_to_one_clips_back_to_back_through_one_decoder(frame_ms: int) -> None:
    decoder = OpusDecoder()
    heard = [
        np.concatenate([decoder.decode_payload(p) for p in clip.one_to_one_payloads])
        for clip in _clips(frame_ms, SEQUENCE)
    ]
    _check_segments(SEQUENCE, heard)


def test_group_clips_back_to_back_through_one_decoder() -> None:
    prefixer = GroupPrefixer()  # one call: its prefix state runs on across clips
    decoder = OpusDecoder()
    heard = []
    sent = []
    for clip in _clips(20, SEQUENCE):
        payloads = list(prefixer.wrap_all(clip.group_packets))
        sent += payloads
        for payload in payloads:
            packet = parse_packet(payload[1:])
            assert (len(packet.frames), packet.samples) == (2, 1920)  # one TOC for the pair
        heard.append(np.concatenate([decoder.decode_payload(p) for p in payloads]))
    assert [p[0] for p in sent[:3]] == [0x00, 0x00, 0x10]
    _check_segments(SEQUENCE, heard)


def test_a_chirp_between_noise_clips() -> None:
    # A tonal clip (CELT's pitch pre-filter engages) between noise clips: both joins stay clean.
    sources = [A, log_chirp(0.5), B]
    decoder = OpusDecoder()
    heard = [
        np.concatenate([decoder.decode_payload(p) for p in clip.one_to_one_payloads])
        for clip in _clips(20, sources)
    ]
    _check_segments(sources, heard)


@pytest.mark.parametrize(("frame_ms", "frames"), [(10, 4), (20, 2), (40, 1), (60, 1)])
def test_independent_lead_covers_40ms(frame_ms: int, frames: int) -> None:
    assert independent_lead_frames(frame_ms) == frames


def test_encoder_toggles_prediction_per_frame() -> None:
    encoder = OpusEncoder(OpusParams(signal="voice", bitrate=32_000))
    frames = frame_pcm(A, encoder.frame_samples)
    assert not encoder.prediction_disabled
    encoder.encode(frames[0], independent=True)
    assert encoder.prediction_disabled
    left = encoder.encode(frames[1])
    assert not encoder.prediction_disabled
    right = encoder.encode(frames[2], match_toc=left[0], independent=True)
    assert encoder.prediction_disabled and right[0] >> 3 == left[0] >> 3  # still pinned to the pair's TOC
    encoder.encode(frames[3])
    assert not encoder.prediction_disabled
