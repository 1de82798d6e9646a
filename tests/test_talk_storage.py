"""The TalkStorage interface through MemoryTalkStorage, and the exactly-once bookkeeping it enables
together with sync.plan_sync (crash between a handler and the commit, restart from the stored cursor)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from linecall.protocol.talk.storage import MemoryTalkStorage, TalkStorage
from linecall.protocol.talk.sync import RevisionTriple, plan_sync
from linecall.protocol.talk.tokens import RenewalSource, StoredToken, TokenRenewal, parse_token_input


def test_memory_storage_implements_the_protocol() -> None:
    assert isinstance(MemoryTalkStorage(), TalkStorage)


def test_revision_defaults_to_zero_and_round_trips() -> None:
    storage = MemoryTalkStorage()
    assert storage.get_revision() == RevisionTriple()
    storage.set_revision(RevisionTriple(1, 2, 3))
    assert storage.get_revision() == RevisionTriple(1, 2, 3)


def test_add_message_is_idempotent() -> None:
    storage = MemoryTalkStorage()
    storage.add_message("m0")
    storage.add_message("m0")
    assert storage.has_message("m0")
    assert storage.get_revision() == RevisionTriple()


def test_commit_operation_moves_cursor_and_marks_message() -> None:
    storage = MemoryTalkStorage()
    assert not storage.has_message("m1")
    storage.commit_operation(RevisionTriple(10), "m1")
    assert storage.has_message("m1")
    assert storage.get_revision() == RevisionTriple(10)
    storage.commit_operation(RevisionTriple(11), None)
    assert storage.get_revision() == RevisionTriple(11)


def test_req_seq_starts_at_zero_and_is_per_name() -> None:
    storage = MemoryTalkStorage()
    assert storage.get_req_seq() == 0
    assert [storage.next_req_seq() for _ in range(3)] == [0, 1, 2]
    assert storage.get_req_seq() == 3
    assert storage.get_req_seq("talk") == 3
    assert storage.next_req_seq("square") == 0


def test_token_round_trip() -> None:
    storage = MemoryTalkStorage()
    assert storage.load_token() is None
    configured = parse_token_input("opaque")
    token = StoredToken.first(configured, TokenRenewal("new", RenewalSource.NEXT_ACCESS_HEADER))
    storage.save_token(token)
    assert storage.load_token() == token


def test_handled_ids_are_bounded_oldest_first() -> None:
    storage = MemoryTalkStorage(handled_ids_kept=3)
    for i in range(5):
        storage.commit_operation(RevisionTriple(i), f"m{i}")
    assert [storage.has_message(f"m{i}") for i in range(5)] == [False, False, True, True, True]
    with pytest.raises(ValueError):
        MemoryTalkStorage(handled_ids_kept=0)


def test_repr_counts_without_listing_ids() -> None:
    storage = MemoryTalkStorage()
    storage.commit_operation(RevisionTriple(1), "secret-message-id")
    assert "secret-message-id" not in repr(storage)


# --- the listener's bookkeeping, without I/O --------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    revision: int
    message_id: str | None


class Crash(Exception):
    pass


def deliver(
    storage: TalkStorage,
    ops: list[Op],
    handled: list[str | None],
    *,
    crash_in_handler: int | None = None,
    crash_before_commit: int | None = None,
) -> None:
    """What the listener does with one reply: dedupe, handle, mark the id, commit cursor + id together."""
    plan = plan_sync(storage.get_revision(), operation_revisions=[op.revision for op in ops])
    if not ops:
        storage.set_revision(plan.final)
    for index, (op, after) in enumerate(zip(ops, plan.after_each, strict=True)):
        if op.message_id is None or not storage.has_message(op.message_id):
            handled.append(op.message_id)
            if crash_in_handler == index:
                raise Crash
            if op.message_id is not None:
                storage.add_message(op.message_id)
        if crash_before_commit == index:
            raise Crash
        storage.commit_operation(after, op.message_id)


def server_ops(since: int, log: list[Op]) -> list[Op]:
    return [op for op in log if op.revision > since]


def test_crash_between_handler_return_and_commit_handles_each_message_once() -> None:
    log = [Op(1, "a"), Op(2, None), Op(3, "b"), Op(4, "c")]
    storage = MemoryTalkStorage()
    handled: list[str | None] = []
    with pytest.raises(Crash):
        deliver(storage, server_ops(0, log), handled, crash_before_commit=2)
    # "b" was handled and marked, but the cursor stayed at revision 2.
    assert storage.get_revision() == RevisionTriple(2)
    deliver(storage, server_ops(storage.get_revision().revision, log), handled)
    assert storage.get_revision() == RevisionTriple(4)
    assert handled == ["a", None, "b", "c"]


def test_crash_inside_a_handler_redelivers_that_message() -> None:
    log = [Op(1, "a"), Op(2, "b")]
    storage = MemoryTalkStorage()
    handled: list[str | None] = []
    with pytest.raises(Crash):
        deliver(storage, server_ops(0, log), handled, crash_in_handler=1)
    deliver(storage, server_ops(storage.get_revision().revision, log), handled)
    assert handled == ["a", "b", "b"]  # at least once: the handler never returned the first time
    assert storage.get_revision() == RevisionTriple(2)


def test_redelivered_committed_messages_are_dropped() -> None:
    log = [Op(1, "a"), Op(2, "b")]
    storage = MemoryTalkStorage()
    handled: list[str | None] = []
    deliver(storage, server_ops(0, log), handled)
    # A server replaying from an older revision (e.g. after EXPIRED_REVISION reset to zero).
    storage.set_revision(storage.get_revision().after_expired_revision())
    deliver(storage, server_ops(0, log), handled)
    assert handled == ["a", "b"]
    assert storage.get_revision() == RevisionTriple(2)


def test_restart_resumes_from_the_stored_cursor() -> None:
    log = [Op(i, f"m{i}") for i in range(1, 6)]
    storage = MemoryTalkStorage()
    handled: list[str | None] = []
    deliver(storage, server_ops(0, log)[:3], handled)
    resumed_from = storage.get_revision().request()
    assert resumed_from.last_revision == 3
    deliver(storage, server_ops(resumed_from.last_revision, log), handled)
    assert handled == [f"m{i}" for i in range(1, 6)]
