"""The command line: help, `check` output, and bad settings reported as lines with exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from linecall.bot.cli import main


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("LINE_", "LOG_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_wav(path: Path, rate: int, channels: int, seconds: float) -> None:
    import wave

    samples = (np.random.default_rng(1).standard_normal(int(rate * seconds) * channels) * 3000).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())


def test_help_lists_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "linecall.bot.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "check" in result.stdout and "run" in result.stdout


def test_check_default_clip(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "linecall-default.wav" in out
    assert "payloads of 20 ms" in out and "payloads of 40 ms" in out
    assert "apply to 1:1 only" in out


def test_check_argument_overrides_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = tmp_path / "stereo.wav"
    write_wav(wav, 44100, 2, 1.0)
    monkeypatch.setenv("LINE_CALL_WAV", str(tmp_path / "missing.wav"))
    monkeypatch.setenv("LINE_CALL_FRAME_MS", "40")
    assert main(["check", str(wav)]) == 0
    out = capsys.readouterr().out
    assert "44100 Hz, stereo, 1.00 s" in out
    assert "25 payloads of 40 ms" in out


def test_check_missing_wav_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LINE_CALL_WAV", str(tmp_path / "missing.wav"))
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "no such file; fix LINE_CALL_WAV" in err


def test_check_not_a_wav_gives_ffmpeg_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "song.mp3"
    bogus.write_bytes(b"ID3\x03\x00" + bytes(100))
    assert main(["check", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert "ffmpeg -i" in err and "song.mp3" in err


def test_bad_settings_exit_2_one_line_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LINE_CALL_FRAME_MS", "15")
    monkeypatch.setenv("LINE_CALL_GAIN", "0")
    assert main(["check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert all(line.startswith("linecall: LINE_CALL_") for line in err)
    assert "Traceback" not in "".join(err)
