"""The product's one storage file: SQLite (stdlib), one versioned schema, every write in a transaction.

Why SQLite and not a JSON file like linejs's FileStorage: the sync revision and the id of the message it
handled must change together (a crash between the two would re-dial a handled ``!call`` or miss a fresh one),
and call history grows; SQLite gives atomic multi-row commits and survives power loss in WAL mode.

The file is created with mode 0600 (it holds tokens and private keys). Later features add their tables as
new migrations at the end of :data:`MIGRATIONS`; a migration never changes once released.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from linecall.config.logging import mask_text
from linecall.protocol.talk.storage import DEFAULT_TALK_NAMESPACE, HANDLED_IDS_KEPT
from linecall.protocol.talk.sync import RevisionTriple
from linecall.protocol.talk.tokens import StoredToken

#: Schema migrations, applied in order; ``PRAGMA user_version`` records how many have run.
MIGRATIONS: list[str] = [
    # 1: key-value state of the talk client (revision triple, reqSeq, renewed token) and handled messages.
    """
    CREATE TABLE kv (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE handled_messages (
        message_id TEXT PRIMARY KEY,
        handled_at REAL NOT NULL
    );
    """,
    # 2: Letter Sealing keys (bot/keystore.py): every own key pair ever held, by key id, with the account MID
    # it belongs to (never deleted: old messages name old ids); peers' public keys by (MID, key id); group
    # keys by (chat, group key id). Which own key is current, and the account MID, live in kv.
    """
    CREATE TABLE e2ee_own_keys (
        key_id      INTEGER PRIMARY KEY,
        mid         TEXT NOT NULL,
        private_key BLOB NOT NULL,
        public_key  BLOB NOT NULL,
        source      TEXT NOT NULL,
        added_at    REAL NOT NULL
    );
    CREATE TABLE e2ee_peer_keys (
        mid        TEXT NOT NULL,
        key_id     INTEGER NOT NULL,
        public_key BLOB NOT NULL,
        fetched_at REAL NOT NULL,
        PRIMARY KEY (mid, key_id)
    );
    CREATE TABLE e2ee_group_keys (
        chat_mid    TEXT NOT NULL,
        key_id      INTEGER NOT NULL,
        private_key BLOB NOT NULL,
        added_at    REAL NOT NULL,
        PRIMARY KEY (chat_mid, key_id)
    );
    """,
    # 3: Audio Caller API (bot/api/): stored sources (WAV files under <storage dir>/sources/, metadata here),
    # every call request with its state transitions, and every callback with each delivery attempt.
    """
    CREATE TABLE api_sources (
        content_id    TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        file_name     TEXT NOT NULL,
        size          INTEGER NOT NULL,
        sha256        TEXT NOT NULL,
        duration_s    REAL NOT NULL,
        sample_rate   INTEGER NOT NULL,
        channels      INTEGER NOT NULL,
        sample_format TEXT NOT NULL,
        created_at    REAL NOT NULL
    );
    CREATE TABLE api_calls (
        sid             TEXT PRIMARY KEY,
        created_at      REAL NOT NULL,
        request         TEXT NOT NULL,
        to_user_id      TEXT NOT NULL,
        status_url      TEXT,
        event_url       TEXT,
        state           TEXT NOT NULL,
        result          TEXT,
        fail_reason     TEXT,
        setup_time      REAL,
        start_time      REAL,
        end_time        REAL,
        terminate       INTEGER,
        rel_code        INTEGER,
        rel_code_str    TEXT,
        packets_sent    INTEGER,
        detail          TEXT
    );
    CREATE INDEX api_calls_state ON api_calls(state);
    CREATE TABLE api_call_states (
        sid    TEXT NOT NULL REFERENCES api_calls(sid),
        state  TEXT NOT NULL,
        at     REAL NOT NULL,
        detail TEXT
    );
    CREATE INDEX api_call_states_sid ON api_call_states(sid);
    CREATE TABLE api_callbacks (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        sid        TEXT NOT NULL REFERENCES api_calls(sid),
        kind       TEXT NOT NULL,
        url        TEXT NOT NULL,
        state      TEXT NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_at    REAL NOT NULL,
        created_at REAL NOT NULL,
        done_at    REAL
    );
    CREATE INDEX api_callbacks_pending ON api_callbacks(state, next_at);
    CREATE TABLE api_callback_attempts (
        callback_id INTEGER NOT NULL REFERENCES api_callbacks(id),
        at          REAL NOT NULL,
        http_status INTEGER,
        error       TEXT,
        elapsed_ms  REAL NOT NULL
    );
    CREATE INDEX api_callback_attempts_id ON api_callback_attempts(callback_id);
    """,
]


class StoreError(Exception):
    """The storage file cannot be used; the message says which file and what to do."""


def _refuse_foreign_file(path: Path) -> None:
    """Refuse a linejs FileStorage JSON (or anything else that is not SQLite) before touching it."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(
            f"LINE_STORAGE_FILE={path}: cannot read it ({exc.strerror}); fix its permissions or choose another path"
        ) from None
    if not head:
        return
    if head.lstrip().startswith(b"{"):
        raise StoreError(
            f"LINE_STORAGE_FILE={path} is a linejs FileStorage JSON, not a linecall store; move your E2EE key "
            f"over with `linecall keys import {path}` and point LINE_STORAGE_FILE at a new file"
        )
    if not head.startswith(b"SQLite format 3\x00"):
        raise StoreError(
            f"LINE_STORAGE_FILE={path} is not a linecall storage file (not SQLite); point it at a new path"
        )


class Store:
    """A connection to the storage file (or to memory when no file is configured)."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None) -> None:
        self._db = connection
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | None) -> Store:
        """Open (creating with mode 0600) and migrate the store; ``None`` keeps everything in memory."""
        if path is None:
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            path = path.expanduser()
            _refuse_foreign_file(path)
            if not path.parent.is_dir():
                raise StoreError(
                    f"LINE_STORAGE_FILE={path}: the folder {path.parent} does not exist; create it or fix the path"
                )
            if not path.exists():
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            os.chmod(path, 0o600)
            try:
                old_umask = os.umask(0o077)  # the -wal and -shm side files get 0600 too
                try:
                    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
                    db.execute("PRAGMA journal_mode=WAL")
                finally:
                    os.umask(old_umask)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"LINE_STORAGE_FILE={path}: {exc}; point it at a new path") from None
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL" if path is not None else "PRAGMA synchronous=OFF")
        store = cls(db, path)
        store._migrate()
        return store

    @property
    def in_memory(self) -> bool:
        return self.path is None

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            raise StoreError(
                f"LINE_STORAGE_FILE={self.path} was written by a newer linecall (schema {version}); upgrade linecall"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction() as db:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={number}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: everything inside commits together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._db.execute(sql, params).fetchall())

    # --- key-value -----------------------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM kv WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def put(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                (key, value, value),
            )

    def delete(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM kv WHERE key = ?", (key,))

    # --- TalkStorage (protocol/talk/storage.py) ------------------------------------------------------------
    def get_revision(self) -> RevisionTriple:
        raw = self.get("sync.revision")
        if raw is None:
            return RevisionTriple()
        revision, global_revision, individual_revision = json.loads(raw)
        return RevisionTriple(revision, global_revision, individual_revision)

    @staticmethod
    def _revision_json(revision: RevisionTriple) -> str:
        return json.dumps([revision.revision, revision.global_revision, revision.individual_revision])

    def set_revision(self, revision: RevisionTriple) -> None:
        self.put("sync.revision", self._revision_json(revision))

    def has_message(self, message_id: str) -> bool:
        return bool(self.query("SELECT 1 FROM handled_messages WHERE message_id = ?", (message_id,)))

    def _mark(self, db: sqlite3.Connection, message_id: str) -> None:
        db.execute(
            "INSERT OR IGNORE INTO handled_messages(message_id, handled_at) VALUES(?, ?)",
            (message_id, time.time()),
        )
        db.execute(
            "DELETE FROM handled_messages WHERE message_id IN (SELECT message_id FROM handled_messages "
            "ORDER BY handled_at DESC LIMIT -1 OFFSET ?)",
            (HANDLED_IDS_KEPT,),
        )

    def add_message(self, message_id: str) -> None:
        with self.transaction() as db:
            self._mark(db, message_id)

    def commit_operation(self, revision: RevisionTriple, message_id: str | None) -> None:
        with self.transaction() as db:
            if message_id is not None:
                self._mark(db, message_id)
            value = self._revision_json(revision)
            db.execute(
                "INSERT INTO kv(key, value) VALUES('sync.revision', ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                (value, value),
            )

    def get_req_seq(self, name: str = DEFAULT_TALK_NAMESPACE) -> int:
        raw = self.get(f"reqseq.{name}")
        return int(raw) if raw is not None else 0

    def next_req_seq(self, name: str = DEFAULT_TALK_NAMESPACE) -> int:
        key = f"reqseq.{name}"
        with self.transaction() as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            current = int(row[0]) if row else 0
            db.execute(
                "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                (key, str(current + 1), str(current + 1)),
            )
        return current

    def load_token(self) -> StoredToken | None:
        raw = self.get("talk.token")
        if raw is None:
            return None
        data = json.loads(raw)
        return StoredToken(
            data["access_token"], data["configured_hash"], data.get("refresh_token"), data.get("expire")
        )

    def save_token(self, token: StoredToken) -> None:
        record = {
            "access_token": token.access_token,
            "configured_hash": token.configured_hash,
            "refresh_token": token.refresh_token,
            "expire": token.expire,
        }
        self.put("talk.token", json.dumps(record))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"Store({mask_text(str(self.path)) if self.path else ':memory:'})"
