"""Pacer under trio.testing.MockClock: exact schedules, catch-up after stalls, one timeline per call."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from linecall.media.pacer import Pacer, PacerStats, pace

FRAME = 0.02


class Recorder:
    """A send callback that notes the (mock) time each payload left."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.sent: list[tuple[bytes, float]] = []

    async def __call__(self, payload: bytes) -> None:
        self.sent.append((payload, trio.current_time() - self.t0))

    @property
    def offsets(self) -> list[float]:
        return [at for _, at in self.sent]


def payloads(n: int, tag: str = "p") -> list[bytes]:
    return [f"{tag}{i}".encode() for i in range(n)]


async def test_payload_i_leaves_at_exactly_i_times_20ms(autojump_clock: trio.testing.MockClock) -> None:
    t0 = trio.current_time()
    rec = Recorder(t0)
    stats = await pace(payloads(50), FRAME, rec, start=t0)
    assert [p for p, _ in rec.sent] == payloads(50)
    assert rec.offsets == pytest.approx([i * FRAME for i in range(50)], abs=1e-9)
    assert stats.sent == 50
    assert stats.max_lateness == pytest.approx(0, abs=1e-9)
    assert stats.end_drift == pytest.approx(0, abs=1e-9)
    assert stats.late == 0


async def test_schedule_resumes_without_drift_after_a_stall(autojump_clock: trio.testing.MockClock) -> None:
    t0 = trio.current_time()
    rec = Recorder(t0)

    async def send(payload: bytes) -> None:
        await rec(payload)
        if payload == b"p10":
            await trio.sleep(0.1)  # the sender is blocked for 100 ms (five frames)

    stats = PacerStats()
    await pace(payloads(40), FRAME, send, stats=stats, start=t0)
    at = rec.offsets
    # Payloads 11..15 were due during the stall: they leave at once when it ends.
    assert at[11:16] == pytest.approx([0.3] * 5, abs=1e-9)
    # Then the original schedule, not one shifted by the stall.
    assert at[16:] == pytest.approx([i * FRAME for i in range(16, 40)], abs=1e-9)
    assert stats.max_lateness == pytest.approx(0.08, abs=1e-9)
    assert stats.late == 4  # 11..14 were overdue; 15 was due exactly at 0.3 s
    assert stats.end_drift == pytest.approx(0, abs=1e-9)
    assert stats.p50 == pytest.approx(0, abs=1e-5)
    assert stats.summary()["max_ms"] == pytest.approx(80, abs=1e-6)


async def test_blocking_stall_without_yield_is_caught_up(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.autojump_threshold = 0
    t0 = trio.current_time()
    rec = Recorder(t0)

    def send(payload: bytes) -> None:  # a plain (sync) callback works too
        rec.sent.append((payload, trio.current_time() - t0))
        if payload == b"p3":
            mock_clock.jump(0.05)  # e.g. the process was descheduled

    pacer = Pacer(send, FRAME, start=t0)
    await pacer.play(payloads(10))
    assert rec.offsets[4:7] == pytest.approx([0.11, 0.11, 0.12], abs=1e-9)
    assert rec.offsets[7:] == pytest.approx([0.14, 0.16, 0.18], abs=1e-9)
    assert pacer.stats.max_lateness == pytest.approx(0.03, abs=1e-9)


async def test_sequence_with_repeats_and_waits_keeps_one_timeline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    t0 = trio.current_time()
    rec = Recorder(t0)
    offsets: list[float] = []

    async def send(payload: bytes) -> None:
        offsets.append(pacer.offset)
        await rec(payload)

    pacer = Pacer(send, FRAME, start=t0)
    await pacer.wait(1.0)  # play wait time before the first audio
    a, b = payloads(3, "a"), payloads(2, "b")
    for _ in range(2):  # the whole sequence, twice
        await pacer.play(a)
        await pacer.play(b)
        pacer.advance(0.5)  # gap between repeats
    await pacer.drain()
    expected = [1.0, 1.02, 1.04, 1.06, 1.08, 1.6, 1.62, 1.64, 1.66, 1.68]
    assert rec.offsets == pytest.approx(expected, abs=1e-9)
    assert offsets == pytest.approx(expected, abs=1e-9)  # what an RTP timestamp is derived from
    assert trio.current_time() - t0 == pytest.approx(1.7 + 0.5, abs=1e-9)
    assert pacer.next_offset == pytest.approx(2.2, abs=1e-9)
    assert pacer.stats.sent == 10 and pacer.stats.max_lateness == pytest.approx(0, abs=1e-9)


async def test_per_payload_duration_for_group_packets(autojump_clock: trio.testing.MockClock) -> None:
    t0 = trio.current_time()
    rec = Recorder(t0)
    pacer = Pacer(rec, 0.04, start=t0)
    await pacer.play(payloads(3, "g"))
    await pacer.send_next(b"short", duration=0.02)
    await pacer.send_next(b"after")
    assert rec.offsets == pytest.approx([0.0, 0.04, 0.08, 0.12, 0.14], abs=1e-9)


async def test_long_runs_do_not_accumulate_float_error(autojump_clock: trio.testing.MockClock) -> None:
    t0 = trio.current_time()
    rec = Recorder(t0)
    await pace(payloads(3000), FRAME, rec, start=t0)  # a 60 s clip
    assert rec.offsets[-1] == pytest.approx(2999 * FRAME, abs=1e-9)


async def test_timeline_starts_at_first_send_by_default(autojump_clock: trio.testing.MockClock) -> None:
    await trio.sleep(5)
    rec = Recorder(trio.current_time())
    pacer = Pacer(rec, FRAME)
    assert pacer.t0 is None
    await pacer.play(payloads(3))
    assert pacer.t0 == pytest.approx(rec.t0)
    assert rec.offsets == pytest.approx([0, 0.02, 0.04], abs=1e-9)


async def test_future_start(autojump_clock: trio.testing.MockClock) -> None:
    now = trio.current_time()
    rec = Recorder(now)
    await pace(payloads(2), FRAME, rec, start=now + 0.25)
    assert rec.offsets == pytest.approx([0.25, 0.27], abs=1e-9)


async def test_resync_after_drops_the_backlog_instead_of_bursting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    t0 = trio.current_time()
    rec = Recorder(t0)

    async def send(payload: bytes) -> None:
        await rec(payload)
        if payload == b"p2":
            await trio.sleep(1.0)

    pacer = Pacer(send, FRAME, start=t0, resync_after=0.2)
    await pacer.play(payloads(6))
    assert rec.offsets == pytest.approx([0, 0.02, 0.04, 1.04, 1.06, 1.08], abs=1e-9)
    assert pacer.stats.resyncs == 1


async def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        Pacer(lambda p: None, 0)
    pacer = Pacer(lambda p: None, FRAME)
    with pytest.raises(ValueError):
        pacer.advance(-1)


def test_stats_percentiles_and_merge() -> None:
    stats = PacerStats()
    for i in range(100):
        stats.record(i / 10_000, was_due=False)  # 0 .. 9.9 ms
    assert stats.sent == 100
    assert stats.max_lateness == pytest.approx(0.0099)
    assert stats.p50 == pytest.approx(0.0049, abs=2e-5)  # the 50th of 100 values
    assert stats.p99 == pytest.approx(0.0098, abs=2e-5)
    assert stats.mean_lateness == pytest.approx(0.00495)
    assert stats.percentile(1.0) == stats.max_lateness
    big = PacerStats()
    big.record(2.5, was_due=True)  # beyond the histogram range
    assert big.p99 == 2.5
    stats.merge(big)
    assert stats.sent == 101 and stats.late == 1 and stats.max_lateness == 2.5
    assert PacerStats().p99 == 0.0
    with pytest.raises(ValueError):
        stats.percentile(0)


def test_early_sends_are_reported_but_not_counted_as_lateness() -> None:
    stats = PacerStats()
    stats.record(-0.0003, was_due=False)
    stats.record(0.0004, was_due=False)
    assert stats.max_early == pytest.approx(0.0003)
    assert stats.max_lateness == pytest.approx(0.0004)
    assert stats.end_drift == pytest.approx(0.0004)
    assert stats.percentile(0.5) <= 1e-5  # the early send sits in the lowest bucket
