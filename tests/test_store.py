"""The SQLite store: TalkStorage semantics (same as the in-memory one), atomic commits, 0600, migrations."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from linecall.bot.store import MIGRATIONS, Store, StoreError
from linecall.protocol.talk.storage import MemoryTalkStorage, TalkStorage
from linecall.protocol.talk.sync import RevisionTriple
from linecall.protocol.talk.tokens import StoredToken


@pytest.fixture(params=["memory-store", "file-store", "memory-talk-storage"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> TalkStorage:
    if request.param == "memory-store":
        return Store.open(None)
    if request.param == "file-store":
        return Store.open(tmp_path / "s.sqlite3")
    return MemoryTalkStorage()


def test_implements_talk_storage(storage: TalkStorage) -> None:
    assert isinstance(storage, TalkStorage)


def test_revision_and_handled_ids(storage: TalkStorage) -> None:
    assert storage.get_revision() == RevisionTriple()
    rev = RevisionTriple(10, 20, 30)
    storage.commit_operation(rev, "m1")
    assert storage.get_revision() == rev
    assert storage.has_message("m1") and not storage.has_message("m2")
    storage.commit_operation(RevisionTriple(11, 20, 30), None)
    assert storage.get_revision().revision == 11
    storage.add_message("m2")
    storage.add_message("m2")
    assert storage.has_message("m2")
    storage.set_revision(RevisionTriple())
    assert storage.get_revision() == RevisionTriple()


def test_req_seq_monotonic(storage: TalkStorage) -> None:
    assert storage.get_req_seq() == 0
    assert [storage.next_req_seq() for _ in range(3)] == [0, 1, 2]
    assert storage.get_req_seq() == 3
    assert storage.next_req_seq("other") == 0


def test_token_round_trip(storage: TalkStorage) -> None:
    assert storage.load_token() is None
    token = StoredToken("acc", "hash", "refresh", 123.0)
    storage.save_token(token)
    assert storage.load_token() == token


def test_file_survives_reopen_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = Store.open(path)
    store.commit_operation(RevisionTriple(5, 6, 7), "m9")
    store.next_req_seq()
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for side in tmp_path.glob("s.sqlite3-*"):
        assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side
    again = Store.open(path)
    assert again.get_revision() == RevisionTriple(5, 6, 7)
    assert again.has_message("m9")
    assert again.get_req_seq() == 1
    assert again.query("PRAGMA user_version") == [(len(MIGRATIONS),)]


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite3")
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute("INSERT INTO kv(key, value) VALUES('a', 'b')")
        raise RuntimeError("crash mid-transaction")
    assert store.get("a") is None


def test_linejs_file_storage_refused_with_pointer_to_import(tmp_path: Path) -> None:
    path = tmp_path / "storage.json"
    path.write_text(json.dumps({"reqseq": '{"talk": 3}'}))
    with pytest.raises(StoreError, match="linecall keys import"):
        Store.open(path)


def test_not_sqlite_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"hello world, not a database")
    with pytest.raises(StoreError, match="not SQLite"):
        Store.open(path)


def test_missing_folder_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "nope" / "s.sqlite3")
