"""Clips: encoded once, shared read-only; 1:1 payloads and group packets decode back to the source."""

from __future__ import annotations

import os
import struct
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from linecall.media import clip as clip_module
from linecall.media.clip import (
    GROUP_TIMESTAMP_STEP,
    Clip,
    ClipCache,
    ClipParams,
    clip_from_pcm,
    default_clip_path,
    encode_group,
    load_clip,
    load_clip_async,
    load_clip_bytes,
)
from linecall.media.errors import MediaError
from linecall.media.opus import OpusDecoder, OpusParams
from linecall.media.packetize import GroupPrefixer, parse_packet
from linecall.media.wav import WavError, read_wav
from tests.audio_match import audio_match, band_noise, log_chirp


def write_wav(path: Path, pcm: np.ndarray, rate: int = 48_000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return path


def decode_group(packets: tuple[bytes, ...]) -> np.ndarray:
    decoder = OpusDecoder()
    return np.concatenate([decoder.decode(p) for p in packets])


def test_default_clip_is_shipped_short_and_non_periodic() -> None:
    path = default_clip_path()
    assert path.is_file()
    assert path.stat().st_size < 300_000
    audio = read_wav(path)
    assert (audio.rate, audio.channels, audio.sample_format) == (48_000, 1, "s16")
    assert 2.0 <= audio.duration_s <= 3.0
    x = audio.samples[:, 0].astype(np.float64)
    # Non-periodic: no lag from one frame (20 ms) up to the whole clip lines it up with itself.
    spectrum = np.fft.rfft(x, 2 * len(x))
    auto = np.fft.irfft(spectrum * np.conj(spectrum))[: len(x)]
    auto /= auto[0]
    assert np.max(auto[960:]) < 0.6


def test_default_clip_round_trips_and_a_lost_frame_shows() -> None:
    source = np.round(read_wav(default_clip_path()).samples[:, 0] * 32768).astype(np.int16)
    clip = load_clip(default_clip_path())
    decoder = OpusDecoder()
    frames = [decoder.decode_payload(p) for p in clip.one_to_one_payloads]
    assert audio_match(source, np.concatenate(frames)) >= 0.9
    mid = len(frames) // 2
    assert audio_match(source, np.concatenate(frames[:mid] + frames[mid + 1 :])) < 0.9


def test_default_clip_loads_with_the_expected_figures() -> None:
    clip = load_clip(default_clip_path())
    assert clip.source_rate == 48_000 and clip.source_channels == 1
    assert clip.one_to_one_frames == -(-clip.samples // 960)
    assert clip.group_frames_20ms == clip.one_to_one_frames + (clip.one_to_one_frames % 2)
    assert clip.one_to_one_bytes == sum(len(p) for p in clip.one_to_one_payloads)
    assert clip.group_bytes == sum(len(p) + 1 for p in clip.group_packets)
    assert clip.frame_ms == 20 and clip.frame_s == 0.02 and clip.one_to_one_timestamp_step == 960
    assert clip.group_frame_s == 0.04 and GROUP_TIMESTAMP_STEP == 1920
    assert clip.one_to_one_duration_s >= clip.duration_s
    assert clip.group_duration_s >= clip.duration_s


@pytest.mark.parametrize("frame_ms", [10, 20, 40, 60])
def test_one_to_one_payloads_round_trip(frame_ms: int) -> None:
    source = band_noise(1.0, seed=4)
    clip = clip_from_pcm(source, ClipParams(opus=OpusParams(frame_ms=frame_ms)))
    assert isinstance(clip.one_to_one_payloads, tuple)
    assert all(type(p) is bytes and p[:1] == b"\x00" for p in clip.one_to_one_payloads)
    decoder = OpusDecoder()
    decoded = np.concatenate([decoder.decode_payload(p) for p in clip.one_to_one_payloads])
    assert audio_match(source, decoded) >= 0.9


def test_custom_prefix_applies_to_one_to_one_only() -> None:
    clip = clip_from_pcm(log_chirp(0.2), ClipParams(prefix=b"\xab\xcd"))
    assert all(p[:2] == b"\xab\xcd" for p in clip.one_to_one_payloads)
    assert all(parse_packet(p).samples == 1920 for p in clip.group_packets)


@pytest.mark.parametrize("frame_ms", [10, 60])
def test_group_clips_are_always_20ms_pairs(frame_ms: int) -> None:
    source = log_chirp(1.0)
    clip = clip_from_pcm(source, ClipParams(opus=OpusParams(frame_ms=frame_ms)))
    assert clip.group_payloads == 25
    for packet in clip.group_packets:
        parsed = parse_packet(packet)
        assert packet[0] & 0x03 == 3
        assert len(parsed.frames) == 2 and parsed.info.frame_samples == 960
    assert audio_match(source, decode_group(clip.group_packets)) >= 0.9


def test_odd_frame_count_is_padded_with_one_silent_frame() -> None:
    source = log_chirp(0.06)  # 3 frames of 20 ms
    packets = encode_group(source, OpusParams())
    assert len(packets) == 2
    decoded = decode_group(packets)
    assert len(decoded) == 4 * 960
    assert audio_match(source, decoded) >= 0.9


def bursts(seconds: float = 4.0) -> np.ndarray:
    """Speech-like bursts separated by silence: makes libopus change mode and bandwidth often."""
    rng = np.random.default_rng(3)
    t = np.arange(int(48_000 * seconds)) / 48_000
    x = np.zeros_like(t)
    for k in range(int(seconds * 2)):
        on = (t >= k * 0.5) & (t < k * 0.5 + 0.3)
        x[on] = 0.3 * np.sin(2 * np.pi * (200 + 80 * k) * t[on]) + 0.05 * (k % 3) * rng.standard_normal(
            on.sum()
        )
    return np.round(x * 32767).astype(np.int16)


@pytest.mark.parametrize(
    "opus",
    [
        OpusParams(bitrate=16_000, signal="auto", vbr=True),
        OpusParams(bitrate=24_000, signal="auto"),
        OpusParams(bitrate=32_000, signal="voice"),
        OpusParams(bitrate=12_000, signal="music", vbr=True),
    ],
    ids=["16k-auto-vbr", "24k-auto", "32k-voice", "12k-music-vbr"],
)
def test_group_pairs_share_one_configuration_when_libopus_switches(opus: OpusParams) -> None:
    source = bursts()
    packets = encode_group(source, opus)
    configs = {p[0] >> 3 for p in packets}
    assert len(configs) > 1, "the signal should make libopus switch configuration"
    for packet in packets:
        assert len(parse_packet(packet).frames) == 2
    # The decoder follows every pair correctly: the audio matches the source.
    assert audio_match(source, decode_group(packets)) >= 0.9


def test_group_prefix_is_per_call_across_repeats() -> None:
    clip = clip_from_pcm(log_chirp(0.1))
    assert clip.group_payloads == 3
    call = GroupPrefixer()
    sent = [call.wrap(p) for _ in range(2) for p in clip.group_packets]
    assert [s[0] for s in sent] == [0x00, 0x00, 0x10, 0x10, 0x10, 0x10]
    assert [s[1:] for s in sent] == list(clip.group_packets) * 2


def test_gain_is_applied_and_saturates() -> None:
    source = (log_chirp(0.5) // 2).astype(np.int16)
    loud = clip_from_pcm(source, ClipParams(gain=8.0))
    quiet = clip_from_pcm(source, ClipParams(gain=1.0))
    assert loud.one_to_one_payloads == quiet.one_to_one_payloads  # gain acts in conditioning, not here
    with pytest.raises(ValueError, match="gain"):
        ClipParams(gain=0)
    with pytest.raises(ValueError, match="gain"):
        ClipParams(gain=float("nan"))


def test_gain_through_the_wav_path(tmp_path: Path) -> None:
    pcm = (log_chirp(0.5, peak=0.25)).astype(np.int16)
    path = write_wav(tmp_path / "g.wav", pcm)
    decoder = OpusDecoder()
    louder = load_clip(path, ClipParams(gain=2.0))
    decoded = np.concatenate([decoder.decode_payload(p) for p in louder.one_to_one_payloads])
    ratio = np.std(decoded.astype(np.float64)) / np.std(pcm.astype(np.float64))
    assert 1.7 < ratio < 2.3


def test_wav_conditioning_stereo_44k1(tmp_path: Path) -> None:
    mono48 = band_noise(1.0, seed=12)
    import soxr

    mono441 = soxr.resample(mono48.astype(np.float32) / 32768, 48_000, 44_100)
    stereo = np.round(np.stack([mono441, mono441], axis=1) * 32768).clip(-32768, 32767).astype("<i2")
    path = write_wav(tmp_path / "s.wav", stereo.ravel(), rate=44_100, channels=2)
    clip = load_clip(path)
    assert (clip.source_rate, clip.source_channels, clip.source_frames) == (44_100, 2, 44_100)
    decoder = OpusDecoder()
    decoded = np.concatenate([decoder.decode_payload(p) for p in clip.one_to_one_payloads])
    assert audio_match(mono48, decoded) >= 0.9


def test_cache_shares_one_clip_per_file_and_params(tmp_path: Path) -> None:
    cache = ClipCache()
    path = write_wav(tmp_path / "a.wav", log_chirp(0.3))
    first = cache.load(path)
    assert cache.load(str(path)) is first
    assert cache.load(path, ClipParams(opus=OpusParams(bitrate=24_000))) is not first
    # A rewritten file is a new clip.
    write_wav(path, band_noise(0.4, seed=1))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    second = cache.load(path)
    assert second is not first and second.samples != first.samples


def test_cache_by_content_and_lru_eviction(tmp_path: Path) -> None:
    cache = ClipCache(max_entries=2)
    blobs = [write_wav(tmp_path / f"{i}.wav", log_chirp(0.1, f0=100 + 50 * i)).read_bytes() for i in range(3)]
    a = cache.load_bytes(blobs[0], "upload-a")
    assert cache.load_bytes(bytes(blobs[0]), "same content, other name") is a
    cache.load_bytes(blobs[1], "b")
    cache.load_bytes(blobs[2], "c")
    assert len(cache) == 2
    assert cache.load_bytes(blobs[0], "a again") is not a  # evicted, encoded again
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError):
        ClipCache(max_entries=0)


def test_concurrent_loads_encode_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_wav(tmp_path / "c.wav", log_chirp(0.3))
    calls = 0
    real = clip_module.clip_from_wav
    gate = threading.Event()

    def slow(*args: object, **kwargs: object) -> Clip:
        nonlocal calls
        calls += 1
        gate.wait(timeout=5)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(clip_module, "clip_from_wav", slow)
    cache = ClipCache()
    results: list[Clip] = []
    threads = [threading.Thread(target=lambda: results.append(cache.load(path))) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(timeout=10)
    assert calls == 1
    assert len(results) == 4 and all(r is results[0] for r in results)


def test_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(WavError, match=r"missing\.wav"):
        load_clip(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + struct.pack("<I", 4) + b"WAVE")
    with pytest.raises(WavError, match=r"bad\.wav"):
        load_clip(bad)
    with pytest.raises(WavError, match=r"upload\.mp3"):
        load_clip_bytes(b"ID3\x03" + bytes(64), "upload.mp3")
    with pytest.raises(MediaError, match="no audio"):
        clip_from_pcm(np.zeros(0, dtype=np.int16))


async def test_load_clip_async_runs_off_the_event_loop(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "async.wav", log_chirp(0.2))
    clip = await load_clip_async(path)
    assert clip is load_clip(path)


def test_summary_lists_what_check_prints() -> None:
    clip = clip_from_pcm(
        log_chirp(0.5), ClipParams(prefix=b"\x00", opus=OpusParams(frame_ms=40, bitrate=32_000))
    )
    summary = clip.summary()
    assert summary["one_to_one_frame_ms"] == 40 and summary["group_frame_ms"] == 40
    assert summary["one_to_one_payloads"] == clip.one_to_one_frames == 13
    assert summary["group_frames_20ms"] == 26 and summary["group_payloads"] == 13
    assert summary["one_to_one_bytes"] == clip.one_to_one_bytes
    assert summary["opus_bitrate"] == 32_000 and summary["opus_bandwidth"] == "auto"
    assert summary["one_to_one_prefix_hex"] == "00"
