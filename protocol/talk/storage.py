"""What the Talk layer needs to remember across restarts, as an interface (talk-map §6).

linejs keeps the sync cursor only in memory and never stores the access token; after a restart it
re-reads old operations and forgets renewed tokens. linecall persists four things instead:

* the ``sync`` revision triple, written in the same transaction as the id of the message whose handlers
  just returned (:meth:`TalkStorage.commit_operation`), so the cursor never moves past a message that
  is not marked handled;
* the ids of handled messages, so an operation re-delivered after a crash is dropped. The listener
  marks an id (:meth:`TalkStorage.add_message`) the moment the handlers return and then commits the
  cursor: a crash between the two re-delivers the operation, and the stored id drops it. Only a crash
  *inside* a handler, before it returned, leads to that message being handled again;
* the ``reqSeq`` counters of ``sendMessage`` (per name; linejs's ``{"talk": n}``), handed out
  monotonically, starting at 0 like linejs;
* the latest renewed token, tagged with the hash of the configured token it descends from.

The product's SQLite store (``bot/``) implements :class:`TalkStorage`; :class:`MemoryTalkStorage` is the
in-memory implementation used when LINE_STORAGE_FILE is unset, and in tests. Implementations are
synchronous: every call is one small local transaction.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, Protocol, runtime_checkable

from .sync import RevisionTriple
from .tokens import StoredToken

__all__ = ["DEFAULT_TALK_NAMESPACE", "HANDLED_IDS_KEPT", "MemoryTalkStorage", "TalkStorage"]

#: The reqSeq counter linejs uses for sendMessage.
DEFAULT_TALK_NAMESPACE: Final = "talk"
#: How many handled message ids an implementation must remember at least. Re-deliveries only replay
#: the batch in hand (at most 100 operations), so this is generous.
HANDLED_IDS_KEPT: Final = 10_000


@runtime_checkable
class TalkStorage(Protocol):
    """The persistent state of the Talk layer. Every write is atomic on its own."""

    def get_revision(self) -> RevisionTriple:
        """The stored sync cursor; the zero triple when nothing was stored yet."""
        ...

    def set_revision(self, revision: RevisionTriple) -> None:
        """Store the cursor alone (an empty reply, a reset after EXPIRED_REVISION)."""
        ...

    def has_message(self, message_id: str) -> bool:
        """Whether the message with this id was already handled."""
        ...

    def add_message(self, message_id: str) -> None:
        """Mark a message handled (idempotent)."""
        ...

    def commit_operation(self, revision: RevisionTriple, message_id: str | None) -> None:
        """In one transaction: store the cursor and, if given, mark ``message_id`` handled (idempotent)."""
        ...

    def get_req_seq(self, name: str = DEFAULT_TALK_NAMESPACE) -> int:
        """The reqSeq that :meth:`next_req_seq` would hand out next (0 for a fresh store)."""
        ...

    def next_req_seq(self, name: str = DEFAULT_TALK_NAMESPACE) -> int:
        """Hand out the current reqSeq of ``name`` and store its successor, atomically."""
        ...

    def load_token(self) -> StoredToken | None:
        """The stored renewed token, if any (see ``tokens.effective_token``)."""
        ...

    def save_token(self, token: StoredToken) -> None:
        """Replace the stored renewed token."""
        ...


class MemoryTalkStorage:
    """:class:`TalkStorage` in memory: state lives as long as the process.

    Handled ids are kept in insertion order and the oldest are forgotten beyond ``handled_ids_kept``.
    """

    def __init__(self, *, handled_ids_kept: int = HANDLED_IDS_KEPT) -> None:
        if handled_ids_kept < 1:
            raise ValueError("handled_ids_kept must be positive")
        self._revision = RevisionTriple()
        self._handled: OrderedDict[str, None] = OrderedDict()
        self._handled_kept = handled_ids_kept
        self._req_seq: dict[str, int] = {}
        self._token: StoredToken | None = None

    def get_revision(self) -> RevisionTriple:
        return self._revision

    def set_revision(self, revision: RevisionTriple) -> None:
        self._revision = revision

    def has_message(self, message_id: str) -> bool:
        return message_id in self._handled

    def add_message(self, message_id: str) -> None:
        self._handled[message_id] = None
        self._handled.move_to_end(message_id)
        while len(self._handled) > self._handled_kept:
            self._handled.popitem(last=False)

    def commit_operation(self, revision: RevisionTriple, message_id: str | None) -> None:
        if message_id is not None:
            self.add_message(message_id)
        self._revision = revision

    def get_req_seq(self, name: str = DEFAULT_TALK_NAMESPACE) -> int:
        return self._req_seq.get(name, 0)

    def next_req_seq(self, name: str = DEFAULT_TALK_NAMESPACE) -> int:
        current = self._req_seq.get(name, 0)
        self._req_seq[name] = current + 1
        return current

    def load_token(self) -> StoredToken | None:
        return self._token

    def save_token(self, token: StoredToken) -> None:
        self._token = token

    def __repr__(self) -> str:
        return f"MemoryTalkStorage(revision={self._revision!r}, handled={len(self._handled)})"
