"""From settings to encoded clips: which WAV a call plays and with which encoder parameters.

The media plane knows nothing of environment variables; this module is the one place that turns
LINE_CALL_* settings into :class:`~linecall.media.clip.ClipParams`, and that words what ``linecall check``
prints.
"""

from __future__ import annotations

from pathlib import Path

from linecall.config.settings import Settings
from linecall.media.clip import Clip, ClipParams, default_clip_path, load_clip, load_clip_async
from linecall.media.errors import MediaError
from linecall.media.opus import OpusParams


class ClipLoadError(Exception):
    """The configured WAV cannot be played; the message names the file and the fix."""


def clip_params(settings: Settings) -> ClipParams:
    """ClipParams for LINE_CALL_FRAME_MS, _PAYLOAD_PREFIX_HEX, _GAIN and the LINE_CALL_OPUS_* settings."""
    opus = OpusParams(
        bitrate=settings.line_call_opus_bitrate,
        bandwidth=settings.line_call_opus_bandwidth,
        signal=settings.line_call_opus_signal,
        vbr=settings.line_call_opus_vbr,
        frame_ms=settings.line_call_frame_ms,
    )
    return ClipParams(opus=opus, gain=settings.line_call_gain, prefix=settings.payload_prefix)


def clip_path(settings: Settings, override: Path | None = None) -> Path:
    """The WAV to play: the command-line argument, else LINE_CALL_WAV, else the bundled clip."""
    if override is not None:
        return override
    if settings.line_call_wav is not None:
        return settings.line_call_wav
    return default_clip_path()


def _wrap(path: Path, override: Path | None, exc: Exception) -> ClipLoadError:
    source = "the WAV argument" if override is not None else "LINE_CALL_WAV"
    if isinstance(exc, FileNotFoundError):
        return ClipLoadError(f"{path}: no such file; fix {source} or put the WAV there")
    if isinstance(exc, PermissionError | IsADirectoryError):
        return ClipLoadError(
            f"{path}: cannot read it ({exc.strerror}); fix {source} or the file's permissions"
        )
    return ClipLoadError(str(exc))


def _existing(settings: Settings, override: Path | None) -> Path:
    path = clip_path(settings, override)
    if not path.exists():
        raise _wrap(path, override, FileNotFoundError(path))
    return path


def load_configured_clip(settings: Settings, override: Path | None = None) -> Clip:
    """The encoded clip a call plays (cached and shared; blocking on first use)."""
    path = _existing(settings, override)
    try:
        return load_clip(path, clip_params(settings))
    except (MediaError, OSError) as exc:
        raise _wrap(path, override, exc) from None


async def load_configured_clip_async(settings: Settings, override: Path | None = None) -> Clip:
    """:func:`load_configured_clip` without stalling the event loop."""
    path = _existing(settings, override)
    try:
        return await load_clip_async(path, clip_params(settings))
    except (MediaError, OSError) as exc:
        raise _wrap(path, override, exc) from None


def describe_clip(settings: Settings, override: Path | None = None) -> str:
    """What ``linecall check`` prints: the source, and what a 1:1 and a group call would send."""
    clip = load_configured_clip(settings, override)
    channels = {1: "mono", 2: "stereo"}.get(clip.source_channels, f"{clip.source_channels} channels")
    repeat = settings.line_call_repeat_count
    lines = [
        f"WAV       {clip.source}",
        f"source    {clip.source_format}, {clip.source_rate} Hz, {channels}, {clip.duration_s:.2f} s",
        f"encoded   48000 Hz mono Opus, signal={settings.line_call_opus_signal}, "
        f"bitrate={settings.line_call_opus_bitrate or 'auto'}, "
        f"bandwidth={settings.line_call_opus_bandwidth or 'auto'}, vbr={settings.line_call_opus_vbr}, "
        f"gain={settings.line_call_gain:g}",
        f"1:1       {clip.one_to_one_frames} payloads of {clip.frame_ms} ms (prefix "
        f"{settings.line_call_payload_prefix_hex or 'none'}, RTP step {clip.one_to_one_timestamp_step}), "
        f"{clip.one_to_one_bytes} bytes, {clip.one_to_one_duration_s:.2f} s",
        f"group     {clip.group_payloads} payloads of 40 ms (two 20 ms frames, native 00/10 prefix, "
        f"RTP step 1920), {clip.group_bytes} bytes, {clip.group_duration_s:.2f} s",
        "          group calls always use 20 ms pairs: LINE_CALL_FRAME_MS and LINE_CALL_PAYLOAD_PREFIX_HEX "
        "apply to 1:1 only",
        f"per call  played {repeat}× then held {settings.line_call_hold_ms} ms; "
        f"media key mode {settings.media_key_mode_1to1} (1:1), {settings.media_key_mode_group} (group)",
    ]
    return "\n".join(lines)
