"""Pacing benchmark: N concurrent calls stream a clip through the pacer into a loopback UDP socket.

    python -m bench.pacing [--calls N] [--seconds S] [--frame-ms 20] [--aligned]

One synthesised clip (chirp + noise, 48 kHz mono) is encoded once and shared by every call, as the
daemon does. Each call owns a UDP socket and a :class:`~linecall.media.pacer.Pacer`; a receiver task
drains the loopback socket and counts datagrams. Calls start staggered across one frame (as calls that
begin at unrelated moments would) unless ``--aligned`` starts them all on the same instant (the worst
case: every call's deadline coincides). Prints end drift, p50/p99/max lateness over every payload
sent, and the CPU seconds the streaming took (time.process_time, all threads of this process).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np
import trio

from linecall.media.clip import Clip, ClipParams, clip_from_pcm
from linecall.media.opus import OpusParams
from linecall.media.pacer import Pacer, PacerStats

RATE = 48_000


def synth_clip(seconds: float, frame_ms: int) -> Clip:
    """A non-periodic test clip: a slow log chirp over seeded noise."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    k = np.log(4000 / 200) / seconds
    chirp = np.sin(2 * np.pi * 200 * (np.exp(k * t) - 1) / k)
    noise = np.random.default_rng(1).standard_normal(n) * 0.1
    pcm = np.round((0.4 * chirp + noise).clip(-1, 1) * 32767).astype(np.int16)
    return clip_from_pcm(pcm, ClipParams(opus=OpusParams(frame_ms=frame_ms)), source="<bench>")


@dataclass
class Result:
    calls: int
    seconds: float
    payloads: int
    received: int
    stats: PacerStats
    worst_end_drift: float
    mean_end_drift: float
    cpu_s: float
    wall_s: float


async def run(clip: Clip, calls: int, aligned: bool) -> Result:
    receiver = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await receiver.bind(("127.0.0.1", 0))
    target = receiver.getsockname()
    received = 0
    per_call: list[PacerStats] = []

    async def drain() -> None:
        nonlocal received
        while True:
            await receiver.recv(2048)
            received += 1

    async def call(start: float) -> None:
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        await sock.connect(target)
        with sock:
            pacer = Pacer(sock.send, clip.frame_s, start=start)
            await pacer.play(clip.one_to_one_payloads)
        per_call.append(pacer.stats)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    async with trio.open_nursery() as outer:
        outer.start_soon(drain)
        t0 = trio.current_time() + 0.1
        async with trio.open_nursery() as nursery:
            for i in range(calls):
                offset = 0.0 if aligned else clip.frame_s * i / calls
                nursery.start_soon(call, t0 + offset)
        await trio.sleep(0.05)  # let the last datagrams arrive
        outer.cancel_scope.cancel()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    receiver.close()

    total = PacerStats()
    for stats in per_call:
        total.merge(stats)
    drifts = [s.end_drift for s in per_call]
    return Result(
        calls=calls,
        seconds=clip.one_to_one_duration_s,
        payloads=total.sent,
        received=received,
        stats=total,
        worst_end_drift=max(drifts),
        mean_end_drift=sum(drifts) / len(drifts),
        cpu_s=cpu,
        wall_s=wall,
    )


def report(r: Result, aligned: bool) -> str:
    s = r.stats
    lines = [
        f"calls={r.calls} clip={r.seconds:.1f}s start={'aligned' if aligned else 'staggered'} "
        f"payloads={r.payloads} received={r.received}",
        f"end drift: worst {r.worst_end_drift * 1000:.3f} ms, mean {r.mean_end_drift * 1000:.3f} ms",
        f"lateness: p50 {s.p50 * 1000:.3f} ms, p99 {s.p99 * 1000:.3f} ms, max {s.max_lateness * 1000:.3f} ms "
        f"(late sends {s.late})",
        f"cpu: {r.cpu_s:.2f} s over {r.wall_s:.1f} s wall ({100 * r.cpu_s / r.wall_s:.1f} % of one core)",
        "| calls | end drift (worst) | p50 | p99 | max | CPU s |",
        f"| {r.calls} | {r.worst_end_drift * 1000:.2f} ms | {s.p50 * 1000:.2f} ms | {s.p99 * 1000:.2f} ms "
        f"| {s.max_lateness * 1000:.2f} ms | {r.cpu_s:.2f} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1, help="concurrent streams (default 1)")
    parser.add_argument("--seconds", type=float, default=60.0, help="clip length in seconds (default 60)")
    parser.add_argument("--frame-ms", type=int, default=20, choices=(10, 20, 40, 60))
    parser.add_argument("--aligned", action="store_true", help="start every call on the same instant")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.seconds <= 0:
        parser.error("--calls must be >= 1 and --seconds > 0")
    cpu0 = time.process_time()
    clip = synth_clip(args.seconds, args.frame_ms)
    print(
        f"encoded {clip.one_to_one_frames} frames once in {time.process_time() - cpu0:.2f} CPU s", flush=True
    )
    result = trio.run(run, clip, args.calls, args.aligned)
    print(report(result, args.aligned))
    return 0


if __name__ == "__main__":
    sys.exit(main())
