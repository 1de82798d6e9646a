"""Typed errors of the media plane.

Every failure a caller can act on has its own class under :class:`MediaError`, so the bot can report a bad
WAV to a person (with the fix) without catching unrelated exceptions, and parsers of untrusted bytes never
leak ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import shlex
from pathlib import PurePath

__all__ = ["MediaError", "OpusCodecError", "OpusPacketError", "WavError", "ffmpeg_hint"]


class MediaError(Exception):
    """Base class of everything the media plane raises on purpose."""


def ffmpeg_hint(source: str) -> str:
    """The ffmpeg command that turns ``source`` into a WAV we read natively (48 kHz mono s16)."""
    path = PurePath(source)
    stem = path.stem or "audio"
    out = str(path.with_name(f"{stem}-48k.wav")) if path.name else f"{stem}-48k.wav"
    return f"ffmpeg -i {shlex.quote(source)} -ac 1 -ar 48000 -sample_fmt s16 {shlex.quote(out)}"


class WavError(MediaError, ValueError):
    """The input is not a WAV file we can play.

    The message names the file, says what was found instead, and gives the ffmpeg line that converts it,
    because the person reading it usually just wants their clip to play.
    """

    def __init__(self, source: str, found: str) -> None:
        self.source = source
        self.found = found
        self.ffmpeg = ffmpeg_hint(source)
        super().__init__(f"{source}: not a playable WAV: {found}. Convert it with: {self.ffmpeg}")


class OpusCodecError(MediaError):
    """libopus refused a request (bad parameters, corrupt packet handed to the decoder, ...)."""


class OpusPacketError(MediaError, ValueError):
    """Bytes that do not form a valid Opus packet (RFC 6716 section 3)."""
