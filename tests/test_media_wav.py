"""WAV reader: every supported layout decodes to the right samples; everything else is one WavError."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linecall.media.errors import MediaError
from linecall.media.wav import WavAudio, WavError, parse_wav, read_wav

FFMPEG = "-ac 1 -ar 48000 -sample_fmt s16"
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def chunk(cid: bytes, body: bytes, size: int | None = None) -> bytes:
    pad = b"\x00" if len(body) % 2 else b""
    return cid + struct.pack("<I", len(body) if size is None else size) + body + pad


def fmt_body(
    tag: int, channels: int, rate: int, bits: int, *, extensible: bool = False, sub: int = 1
) -> bytes:
    align = channels * bits // 8
    head = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * align, align, bits)
    if not extensible:
        return head
    return head + struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", sub) + GUID_TAIL


def wav_bytes(
    data: bytes,
    *,
    tag: int = 1,
    channels: int = 1,
    rate: int = 48_000,
    bits: int = 16,
    extensible: bool = False,
    data_size: int | None = None,
    riff_size: int | None = None,
    before: bytes = b"",
) -> bytes:
    fmt = chunk(b"fmt ", fmt_body(tag, channels, rate, bits, extensible=extensible, sub=tag))
    body = b"WAVE" + before + fmt + chunk(b"data", data, data_size)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def encode_samples(x: np.ndarray, fmt: str) -> bytes:
    """Full-scale float samples (frames, channels) -> interleaved bytes in ``fmt``."""
    flat = x.ravel()
    if fmt == "u8":
        return (np.clip(np.round(flat * 128), -128, 127) + 128).astype(np.uint8).tobytes()
    if fmt == "s16":
        return np.clip(np.round(flat * 32768), -32768, 32767).astype("<i2").tobytes()
    if fmt == "s24":
        v = np.clip(np.round(flat * 2**23), -(2**23), 2**23 - 1).astype(np.int64) & 0xFFFFFF
        return np.stack([v & 0xFF, (v >> 8) & 0xFF, v >> 16], axis=1).astype(np.uint8).tobytes()
    if fmt == "s32":
        return np.clip(np.round(flat * 2**31), -(2**31), 2**31 - 1).astype("<i4").tobytes()
    if fmt == "f32":
        return flat.astype("<f4").tobytes()
    return flat.astype("<f8").tobytes()


FORMATS = {"u8": (1, 8), "s16": (1, 16), "s24": (1, 24), "s32": (1, 32), "f32": (3, 32), "f64": (3, 64)}
STEP = {"u8": 1 / 128, "s16": 1 / 32768, "s24": 2**-23, "s32": 2**-31, "f32": 1e-7, "f64": 1e-7}


def stereo_signal(frames: int = 480) -> np.ndarray:
    t = np.arange(frames) / 44_100
    left = 0.6 * np.sin(2 * np.pi * 440 * t)
    right = -0.4 * np.sin(2 * np.pi * 1234 * t + 0.3)
    return np.stack([left, right], axis=1)


@pytest.mark.parametrize("extensible", [False, True], ids=["plain", "extensible"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_pcm_layout_decodes(fmt: str, extensible: bool) -> None:
    tag, bits = FORMATS[fmt]
    x = stereo_signal()
    audio = parse_wav(
        wav_bytes(encode_samples(x, fmt), tag=tag, channels=2, rate=44_100, bits=bits, extensible=extensible),
        "t.wav",
    )
    assert (audio.rate, audio.channels, audio.frames, audio.sample_format) == (44_100, 2, 480, fmt)
    assert audio.samples.dtype == np.float32
    assert audio.samples.shape == (480, 2)
    assert np.max(np.abs(audio.samples - x)) <= STEP[fmt] * 1.01 + 1e-7
    assert not audio.streamed


def test_s16_samples_are_exact() -> None:
    pcm = np.array([-32768, -1, 0, 1, 32767, 12345], dtype="<i2")
    audio = parse_wav(wav_bytes(pcm.tobytes()))
    assert np.array_equal(np.round(audio.samples[:, 0] * 32768).astype(np.int16), pcm)


def test_s24_sign_extension() -> None:
    raw = bytes.fromhex("ffff7f000080ffffff010000")  # max, min, -1, +1
    audio = parse_wav(wav_bytes(raw, bits=24))
    assert list(np.round(audio.samples[:, 0] * 2**23).astype(int)) == [2**23 - 1, -(2**23), -1, 1]


def test_u8_midpoint_is_silence() -> None:
    audio = parse_wav(wav_bytes(bytes([128, 0, 255]), bits=8))
    assert audio.samples[:, 0].tolist() == [0.0, -1.0, 127 / 128]


def test_float_nan_and_inf_are_tamed() -> None:
    raw = np.array([np.nan, np.inf, -np.inf, 0.25], dtype="<f4").tobytes()
    audio = parse_wav(wav_bytes(raw, tag=3, bits=32))
    assert audio.samples[:, 0].tolist() == [0.0, 1.0, -1.0, 0.25]


def test_any_rate_and_channel_count() -> None:
    x = np.tile(np.linspace(-0.5, 0.5, 6), (100, 1))
    audio = parse_wav(wav_bytes(encode_samples(x, "s16"), channels=6, rate=8_000))
    assert (audio.rate, audio.channels, audio.frames) == (8_000, 6, 100)
    assert audio.duration_s == pytest.approx(100 / 8000)


@pytest.mark.parametrize("placeholder", [0, 0xFFFFFFFF], ids=["zero", "ffffffff"])
def test_streamed_wav_reads_to_end_of_file(placeholder: int) -> None:
    pcm = np.arange(-50, 50, dtype="<i2")
    blob = wav_bytes(pcm.tobytes(), data_size=placeholder, riff_size=placeholder)
    audio = parse_wav(blob + b"\x07")  # a cut-off half sample at the end is dropped
    assert audio.streamed
    assert audio.frames == 100
    assert np.array_equal(np.round(audio.samples[:, 0] * 32768).astype(np.int16), pcm)


def test_odd_sized_chunks_are_padded_and_skipped() -> None:
    pcm = np.array([1, 2, 3], dtype="<i2")
    blob = wav_bytes(pcm.tobytes(), before=chunk(b"LIST", b"INFOabc"))
    assert parse_wav(blob).frames == 3


def test_data_longer_than_declared_is_ignored_after_the_chunk() -> None:
    pcm = np.array([1, 2, 3, 4], dtype="<i2").tobytes()
    blob = wav_bytes(pcm, data_size=4) + chunk(b"LIST", b"trailing")
    assert parse_wav(blob).frames == 2


def test_read_wav_from_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_bytes(np.zeros(480, dtype="<i2").tobytes()))
    audio = read_wav(path)
    assert isinstance(audio, WavAudio)
    assert audio.source == str(path)


def _junk_file(size: int) -> bytes:
    return b"RIFF" + struct.pack("<I", 4) + b"WAVE" + b"x" * size


BAD = {
    "empty file": (b"", "an empty file"),
    "mp3 id3": (b"ID3\x04\x00" + b"\x00" * 40, "an MP3 file"),
    "ogg": (b"OggS" + b"\x00" * 40, "an Ogg file"),
    "flac": (b"fLaC" + b"\x00" * 40, "a FLAC file"),
    "m4a": (b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 40, "an MP4/M4A file"),
    "aiff": (b"FORM" + b"\x00" * 40, "an AIFF file"),
    "rf64": (b"RF64" + b"\x00" * 40, "RF64"),
    "text": (b"hello, this is not audio at all", "no RIFF/WAVE header"),
    "riff avi": (b"RIFF\x10\x00\x00\x00AVI LIST", "RIFF file of type 'AVI '"),
    "short": (b"RIFF", "a truncated RIFF header (4 bytes)"),
    "tiny": (b"RI", "only 2 bytes, too short"),
    "ms adpcm": (wav_bytes(b"\x00" * 8, tag=2, bits=4), "Microsoft ADPCM audio (WAV format tag 0x0002)"),
    "mu-law": (wav_bytes(b"\x00" * 8, tag=7, bits=8), "mu-law audio"),
    "extensible mp3": (wav_bytes(b"\x00" * 8, tag=0x55, bits=16, extensible=True), "MP3 audio"),
    "12-bit pcm": (wav_bytes(b"\x00" * 8, bits=12), "12-bit integer PCM"),
    "16-bit float": (wav_bytes(b"\x00" * 8, tag=3, bits=16), "16-bit float PCM"),
    "truncated data": (
        wav_bytes(b"\x00" * 100)[:-10],
        "truncated 'data' chunk (100 bytes declared, 90 present)",
    ),
    "truncated fmt": (
        wav_bytes(b"\x00" * 100)[:30],
        "a truncated 'fmt ' chunk (16 bytes declared, 10 present)",
    ),
    "no data chunk": (wav_bytes(b"\x00" * 100)[:40], "no 'data' chunk"),
    "no fmt": (b"RIFF\x0c\x00\x00\x00WAVE" + chunk(b"LIST", b"abcd"), "no 'fmt ' chunk"),
    "data before fmt": (
        b"RIFF\x20\x00\x00\x00WAVE" + chunk(b"data", b"\x00\x00") + chunk(b"fmt ", fmt_body(1, 1, 48000, 16)),
        "'data' chunk before any 'fmt ' chunk",
    ),
    "fmt too short": (b"RIFF\x20\x00\x00\x00WAVE" + chunk(b"fmt ", b"\x01\x00\x01\x00"), "'fmt ' chunk of 4"),
    "chunk past end": (_junk_file(0) + b"LIST\xff\x00\x00\x00ab", "truncated 'LIST' chunk"),
    "unknown guid": (
        b"RIFF\x40\x00\x00\x00WAVE"
        + chunk(b"fmt ", fmt_body(1, 1, 48000, 16, extensible=True)[:-1] + b"\x00"),
        "unknown sub-format GUID",
    ),
    "short extensible": (
        b"RIFF\x30\x00\x00\x00WAVE" + chunk(b"fmt ", fmt_body(1, 1, 48000, 16, extensible=True)[:30]),
        "WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk of 30 bytes",
    ),
    "zero channels": (wav_bytes(b"\x00" * 8, channels=0), "channel count of 0"),
    "rate too low": (wav_bytes(b"\x00" * 8, rate=1), "sample rate of 1 Hz"),
    "rate too high": (wav_bytes(b"\x00" * 8, rate=5_000_000), "sample rate of 5000000 Hz"),
    "empty data": (wav_bytes(b""), "no audio samples"),
    "streamed but empty": (wav_bytes(b"", data_size=0xFFFFFFFF), "no audio samples"),
    "ragged data": (wav_bytes(b"\x00" * 5, channels=2), "not a whole number of 4-byte sample frames"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_inputs_name_file_problem_and_fix(case: str) -> None:
    blob, found = BAD[case]
    with pytest.raises(WavError) as info:
        parse_wav(blob, "/music/my song.mp3")
    message = str(info.value)
    assert message.startswith("/music/my song.mp3: ")
    assert found in message
    assert f"ffmpeg -i '/music/my song.mp3' {FFMPEG} '/music/my song-48k.wav'" in message
    assert info.value.source == "/music/my song.mp3"
    assert isinstance(info.value, MediaError)
    assert isinstance(info.value, ValueError)


def test_block_align_mismatch() -> None:
    body = bytearray(fmt_body(1, 2, 48000, 16))
    body[12:14] = struct.pack("<H", 3)
    blob = b"RIFF\x30\x00\x00\x00WAVE" + chunk(b"fmt ", bytes(body)) + chunk(b"data", b"\x00" * 12)
    with pytest.raises(WavError, match="block align of 3 bytes"):
        parse_wav(blob, "x.wav")


def test_missing_file_is_a_wav_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    with pytest.raises(WavError, match=r"nope\.wav: not a playable WAV: the file cannot be read"):
        read_wav(missing)


VALID = wav_bytes(
    encode_samples(stereo_signal(64), "s24"), channels=2, bits=24, before=chunk(b"LIST", b"abc")
)


def _parse_only_typed(blob: bytes) -> None:
    try:
        audio = parse_wav(blob, "fuzz.wav")
    except WavError:
        return
    assert audio.frames > 0
    assert audio.samples.shape == (audio.frames, audio.channels)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=256))
def test_random_bytes_raise_wav_error_only(blob: bytes) -> None:
    _parse_only_typed(blob)


@settings(max_examples=200)
@given(st.binary(max_size=200).map(lambda tail: b"RIFF\x00\x00\x00\x00WAVE" + tail))
def test_random_chunks_raise_wav_error_only(blob: bytes) -> None:
    _parse_only_typed(blob)


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=len(VALID)))
def test_truncations_raise_wav_error_only(cut: int) -> None:
    _parse_only_typed(VALID[:cut])


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=len(VALID) * 8 - 1), st.integers(min_value=0, max_value=80))
def test_bit_flips_raise_wav_error_only(bit: int, header_bit: int) -> None:
    blob = bytearray(VALID)
    blob[bit // 8] ^= 1 << (bit % 8)
    blob[header_bit // 8 + 12] ^= 1 << (header_bit % 8)  # also hit the chunk headers often
    _parse_only_typed(bytes(blob))
