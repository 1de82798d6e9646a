"""WAV reader: RIFF/WAVE with integer or float PCM, in any rate and channel count.

linejs accepts only 16-bit PCM with format tag 1. We read every uncompressed layout people actually
produce (8/16/24/32-bit integer, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE, streamed files whose size
fields are placeholders) and turn everything else into one :class:`WavError` that says how to convert
the file, instead of failing later with silence or noise on the call.

Samples come out as float32 in [-1, 1) with shape ``(frames, channels)``: float32 holds every 8/16/24-bit
integer sample exactly, so a 16-bit 48 kHz mono file survives conditioning bit for bit.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from linecall.media.errors import WavError

__all__ = ["MAX_RATE", "MIN_RATE", "WavAudio", "WavError", "parse_wav", "read_wav"]

#: Sample rates outside this range are refused: below it a hostile header could make the resampler
#: allocate gigabytes (1 Hz -> 48 kHz multiplies the length by 48000); above it nothing real exists.
MIN_RATE = 1000
MAX_RATE = 768_000

_PCM = 0x0001
_IEEE_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE
# The 14 bytes every KSDATAFORMAT_SUBTYPE_* GUID shares after its leading 16-bit format code.
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
# Placeholder data sizes written by recorders that stream and never seek back to patch the header.
_STREAMED_SIZES = (0, 0xFFFFFFFF)

_FORMAT_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG audio",
    0x0055: "MP3",
    0x00FF: "AAC",
    0x1610: "HE-AAC",
    0x6750: "Ogg Vorbis",
    0xF1AC: "FLAC",
}

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFX", "a big-endian RIFX file"),
    (0, b"RF64", "an RF64 (64-bit RIFF) file"),
    (0, b"FORM", "an AIFF file"),
    (0, b"OggS", "an Ogg file (Vorbis/Opus)"),
    (0, b"fLaC", "a FLAC file"),
    (0, b"ID3", "an MP3 file (ID3 tag)"),
    (0, b"\xff\xfb", "an MP3 file"),
    (0, b"\xff\xf3", "an MP3 file"),
    (0, b"\xff\xf2", "an MP3 file"),
    (4, b"ftyp", "an MP4/M4A file"),
    (0, b"\x1aE\xdf\xa3", "a Matroska/WebM file"),
    (0, b"#!AMR", "an AMR file"),
)


@dataclass(frozen=True, slots=True)
class WavAudio:
    """Decoded WAV contents.

    ``samples`` is float32, shape ``(frames, channels)``, full scale at +-1.0. ``sample_format`` names the
    stored encoding (``"s16"``, ``"u8"``, ``"s24"``, ``"s32"``, ``"f32"``, ``"f64"``) for ``linecall check``.
    ``streamed`` is true when the data size was a placeholder and we read to the end of the file.
    """

    source: str
    samples: npt.NDArray[np.float32]
    rate: int
    channels: int
    sample_format: str
    streamed: bool = False

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate


@dataclass(frozen=True, slots=True)
class _Fmt:
    tag: int
    channels: int
    rate: int
    block_align: int
    bits: int


def read_wav(path: str | os.PathLike[str]) -> WavAudio:
    """Read and decode the WAV file at ``path``; every failure (I/O included) is a :class:`WavError`."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise WavError(name, f"the file cannot be read ({exc.strerror or exc})") from exc
    return parse_wav(data, name)


def parse_wav(data: bytes, source: str = "<bytes>") -> WavAudio:
    """Decode WAV bytes. ``source`` names the input in error messages."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError(source, _describe_foreign(data))
    fmt: _Fmt | None = None
    pos = 12
    end = len(data)
    while pos + 8 <= end:
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"data":
            if fmt is None:
                raise WavError(source, "a 'data' chunk before any 'fmt ' chunk")
            return _decode_data(source, fmt, data, body, size)
        if body + size > end:
            raise WavError(
                source,
                f"a truncated {_chunk_name(chunk_id)} chunk ({size} bytes declared, {end - body} present)",
            )
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(source, data[body : body + size])
        pos = body + size + (size & 1)
    if fmt is None:
        raise WavError(source, "no 'fmt ' chunk (the file is truncated or not a WAV)")
    raise WavError(source, "no 'data' chunk (the file is truncated or holds no audio)")


def _chunk_name(chunk_id: bytes) -> str:
    text = chunk_id.decode("latin-1")
    return repr(text) if text.isprintable() else f"0x{chunk_id.hex()}"


def _describe_foreign(data: bytes) -> str:
    if len(data) == 0:
        return "an empty file"
    for offset, magic, what in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return what
    if data[:4] == b"RIFF":
        if len(data) < 12:
            return f"a truncated RIFF header ({len(data)} bytes)"
        return f"a RIFF file of type {_chunk_name(data[8:12])}, not WAVE"
    if len(data) < 12:
        return f"only {len(data)} bytes, too short for a RIFF/WAVE header"
    return f"no RIFF/WAVE header (the file starts with 0x{data[:8].hex()})"


def _parse_fmt(source: str, body: bytes) -> _Fmt:
    if len(body) < 16:
        raise WavError(source, f"a 'fmt ' chunk of {len(body)} bytes (at least 16 needed)")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body, 0)
    if tag == _EXTENSIBLE:
        if len(body) < 40:
            raise WavError(source, f"a WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk of {len(body)} bytes (40 needed)")
        sub = body[24:40]
        (sub_tag,) = struct.unpack_from("<H", sub, 0)
        if sub[2:] != _GUID_TAIL:
            raise WavError(source, f"WAVE_FORMAT_EXTENSIBLE with the unknown sub-format GUID {sub.hex()}")
        tag = sub_tag
    if tag not in (_PCM, _IEEE_FLOAT):
        name = _FORMAT_NAMES.get(tag, "a compressed format")
        raise WavError(source, f"{name} audio (WAV format tag 0x{tag:04x}); only uncompressed PCM is read")
    allowed = (8, 16, 24, 32) if tag == _PCM else (32, 64)
    kind = "integer PCM" if tag == _PCM else "float PCM"
    if bits not in allowed:
        raise WavError(source, f"{bits}-bit {kind} (supported: {', '.join(f'{b}-bit' for b in allowed)})")
    if channels < 1:
        raise WavError(source, "a channel count of 0")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise WavError(source, f"a sample rate of {rate} Hz (supported: {MIN_RATE}..{MAX_RATE} Hz)")
    if block_align != channels * bits // 8:
        raise WavError(
            source,
            f"a block align of {block_align} bytes for {channels} channel(s) of {bits} bits "
            f"(expected {channels * bits // 8})",
        )
    return _Fmt(tag=tag, channels=channels, rate=rate, block_align=block_align, bits=bits)


def _decode_data(source: str, fmt: _Fmt, data: bytes, start: int, declared: int) -> WavAudio:
    available = len(data) - start
    streamed = declared in _STREAMED_SIZES
    if streamed:
        # Recorders that stream write a placeholder and never come back; the audio runs to the end of
        # the file, and a cut-off final sample frame is dropped.
        size = available - available % fmt.block_align
    else:
        if declared > available:
            raise WavError(
                source, f"a truncated 'data' chunk ({declared} bytes declared, {available} present)"
            )
        if declared % fmt.block_align:
            raise WavError(
                source,
                f"a 'data' chunk of {declared} bytes, "
                f"not a whole number of {fmt.block_align}-byte sample frames",
            )
        size = declared
    if size == 0:
        raise WavError(source, "no audio samples (the 'data' chunk is empty)")
    raw = data[start : start + size]
    samples = _to_float(raw, fmt).reshape(-1, fmt.channels)
    return WavAudio(
        source=source,
        samples=samples,
        rate=fmt.rate,
        channels=fmt.channels,
        sample_format=_format_label(fmt),
        streamed=streamed,
    )


def _format_label(fmt: _Fmt) -> str:
    if fmt.tag == _IEEE_FLOAT:
        return f"f{fmt.bits}"
    return "u8" if fmt.bits == 8 else f"s{fmt.bits}"


def _to_float(raw: bytes, fmt: _Fmt) -> npt.NDArray[np.float32]:
    if fmt.tag == _IEEE_FLOAT:
        values = np.frombuffer(raw, dtype="<f4" if fmt.bits == 32 else "<f8")
        # NaN or infinity in a float file would poison the resampler; treat them as silence / full scale.
        return np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    if fmt.bits == 8:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if fmt.bits == 16:
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if fmt.bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.uint32)
        # Put the three bytes in the top of a 32-bit word so the arithmetic shift sign-extends them.
        word = ((b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)).view(np.int32)
        return (word >> 8).astype(np.float32) / 8_388_608.0
    return (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2_147_483_648.0).astype(np.float32)
