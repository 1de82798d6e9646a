"""Admission rules: one call per chat, global cap, allowlist and per-sender rate limit."""

from __future__ import annotations

from linecall.bot.admission import CallGate, Refusal, Slot, command_age_s, is_command


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_call_per_chat_and_release() -> None:
    gate = CallGate(rate_per_minute=0)
    slot = gate.try_acquire("chat-a", sender="u1")
    assert isinstance(slot, Slot)
    assert gate.try_acquire("chat-a", sender="u2") is Refusal.CHAT_BUSY
    with gate.held(slot):
        assert gate.is_busy("chat-a")
    assert not gate.is_busy("chat-a")
    assert isinstance(gate.try_acquire("chat-a", sender="u2"), Slot)


def test_global_cap_applies_to_every_trigger() -> None:
    gate = CallGate(max_concurrent=2, rate_per_minute=0)
    assert isinstance(gate.try_acquire("a", sender="u1"), Slot)
    assert isinstance(gate.try_acquire("callee-b", trigger="api"), Slot)
    assert gate.try_acquire("c", sender="u3") is Refusal.CAPACITY
    assert gate.try_acquire("callee-d", trigger="api") is Refusal.CAPACITY


def test_allowlist_only_for_chat_commands() -> None:
    gate = CallGate(allowed_mids=frozenset({"u-ok"}))
    assert gate.try_acquire("a", sender="u-no") is Refusal.NOT_ALLOWED
    assert isinstance(gate.try_acquire("b", sender="u-ok"), Slot)
    assert isinstance(gate.try_acquire("c", trigger="api"), Slot)  # the API is not subject to the allowlist


def test_rate_limit_sliding_minute() -> None:
    clock = Clock()
    gate = CallGate(rate_per_minute=2, clock=clock)
    for chat in ("a", "b"):
        slot = gate.try_acquire(chat, sender="u1")
        assert isinstance(slot, Slot)
        gate.release(slot)
    assert gate.try_acquire("c", sender="u1") is Refusal.RATE_LIMITED
    assert isinstance(gate.try_acquire("c", sender="u2"), Slot)  # per sender
    clock.now += 60
    assert isinstance(gate.try_acquire("d", sender="u1"), Slot)


def test_rate_zero_is_off() -> None:
    gate = CallGate(rate_per_minute=0)
    for i in range(10):
        slot = gate.try_acquire(f"c{i}", sender="u1")
        assert isinstance(slot, Slot)
        gate.release(slot)


def test_command_matching_and_age() -> None:
    assert is_command("  !call \n", "!call")
    assert not is_command("!call now", "!call")
    assert not is_command(None, "!call")
    assert command_age_s(1_000_000, 1_130.0) == 130.0
    assert command_age_s(None, 5.0) == 0.0
