#!/usr/bin/env python3
"""Synthesise linecall's default clip: a short chime figure over a soft sweep (48 kHz mono s16).

The clip is ours (nothing comes from linejs or elsewhere) and deliberately non-periodic: bell-like
inharmonic partials, a slow vibrato and glide on every note, a log sweep and a touch of seeded noise
underneath. So a test that decodes what a call sent lines it up with the source at exactly one lag,
and a lost or repeated frame costs score. Deterministic: the same bytes on every run.

    python scripts/make_default_clip.py [--out media/assets/linecall-default.wav]
"""

from __future__ import annotations

import argparse
import wave
from pathlib import Path

import numpy as np

RATE = 48_000
SECONDS = 2.6
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "media" / "assets" / "linecall-default.wav"

# Eight struck notes, 0.3 s apart: up a pentatonic figure and back down. Evenly spread energy means a
# frame lost anywhere in the middle shows up in a comparison with the source.
NOTES = tuple(
    (0.05 + 0.3 * k, f0, 0.5)
    for k, f0 in enumerate((659.26, 783.99, 880.00, 1046.50, 1318.51, 1174.66, 1046.50, 880.00))
)
# Partial ratio, relative level, decay time constant (s): the inharmonic ratios of a small metal bar.
PARTIALS = ((1.0, 1.0, 0.35), (2.756, 0.5, 0.25), (5.404, 0.25, 0.15), (8.933, 0.1, 0.08))
VIBRATO_DEPTH = 0.006  # about 10 cents: the pitch never settles into an exact period
GLIDE = 0.01  # each note sinks about 17 cents as it rings


def synthesise() -> np.ndarray:
    n = int(SECONDS * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(20240601)
    out = np.zeros(n)
    for index, (onset, f0, level) in enumerate(NOTES):
        on = t >= onset
        lt = t[on] - onset
        attack = np.minimum(lt / 0.004, 1.0)  # 4 ms attack: a soft strike, no click
        vibrato = VIBRATO_DEPTH * np.sin(2 * np.pi * (4.5 + 0.7 * index) * lt + rng.uniform(0, 2 * np.pi))
        pitch = 1 + vibrato - GLIDE * (1 - np.exp(-lt / 0.6))
        phase = 2 * np.pi * f0 * np.cumsum(pitch) / RATE
        note = np.zeros_like(lt)
        for ratio, rel, tau in PARTIALS:
            note += rel * np.exp(-lt / tau) * np.sin(ratio * phase)
        out[on] += level * attack * note
    # A soft logarithmic sweep underneath, swelling in the middle.
    k = np.log(1200 / 220) / SECONDS
    sweep = np.sin(2 * np.pi * 220 * (np.exp(k * t) - 1) / k)
    out += 0.1 * sweep * np.sin(np.pi * t / SECONDS) ** 2
    # A breath of seeded, low-passed noise.
    noise = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")
    out += 0.03 * noise
    # Fade the edges and normalise to -3 dBFS.
    fade = int(0.02 * RATE)
    ramp = np.linspace(0.0, 1.0, fade)
    out[:fade] *= ramp
    out[-fade:] *= ramp[::-1]
    out *= (10 ** (-3 / 20)) / np.max(np.abs(out))
    return np.round(out * 32767).astype("<i2")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output WAV (default {DEFAULT_OUT})")
    args = parser.parse_args()
    pcm = synthesise()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(args.out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm.tobytes())
    print(f"wrote {args.out} ({len(pcm) / RATE:.2f} s, {args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
