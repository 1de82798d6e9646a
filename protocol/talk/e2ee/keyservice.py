"""Fetching the Letter Sealing keys a message needs, with a cache and bounded retries (e2ee-map §3, §8.3).

The crypto (``message.py``, ``group.py``) only looks keys up; this module is the thin async driver that
fills the gaps over the Talk RPCs of ``rpc.py``, through anything with ``async call(TalkCall[T]) -> T``
(:class:`TalkCaller`: the product's TalkClient, or a fake in tests):

* a peer's public key by (MID, key id): ``negotiateE2EEPublicKey`` first (what linejs does, and the only
  answer known to work), then ``getE2EEPublicKey`` by id when the peer has rotated since;
* a group key by (chat, group key id): ``getLastE2EEGroupSharedKey`` first, ``getE2EEGroupSharedKey`` by id
  when the message names an older key; the wrap is opened with our key pair by the receiver key id and the
  creator's public key (fetched like any peer key);
* for sending: the peer's *current* key and spec version (negotiated on every 1:1 send, as linejs does, so a
  rotated peer key is never used stale), or the chat's last group key, created and registered when the
  server has none (NOT_FOUND, e2ee-map §6.3).

Every fetched key is written to the keyring (the product's SQLite store), so each key is fetched once.
Failures are counted per key: after ``max_attempts`` failed fetches of one key it cools down for
``cooldown`` seconds, during which messages naming it fail at once without touching the network. A flood of
messages under an unknown key id can therefore cost at most ``max_attempts`` round trips per cool-down.
Fetch failures are logged with key ids and shortened MIDs only.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import structlog

from linecall.protocol.talk.service import TalkCall
from linecall.protocol.thrift.errors import ErrorCode, TalkException

from . import rpc
from .errors import (
    E2EEError,
    InvalidMid,
    NoGroupKey,
    UnknownOwnKeyId,
    UnknownPeerKey,
    UnsupportedVersion,
    short_mid,
)
from .group import GroupSharedKey, create_group_key, open_group_shared_key
from .keys import KEY_LENGTH, GroupKey, KeyPair, Keyring, PeerPublicKey, Random
from .message import DecryptedContent, decrypt_message

__all__ = [
    "FetchPolicy",
    "KeyService",
    "KeySink",
    "TalkCaller",
]

T = TypeVar("T")
K = TypeVar("K")
log = structlog.get_logger(__name__)


class TalkCaller(Protocol):
    """Sends one Talk RPC and returns its parsed result (``TalkClient.call`` has this shape)."""

    async def call(self, call: TalkCall[T], /) -> T: ...


class KeySink(Keyring, Protocol):
    """A :class:`~.keys.Keyring` that can also be filled and names the key we encrypt with."""

    def add_peer(self, mid: str, key_id: int, public_key: bytes) -> None: ...

    def add_group(self, key: GroupKey) -> None: ...

    def current_own_key(self) -> KeyPair | None: ...


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How hard to try for one missing key.

    ``max_attempts`` failed fetches of the same key start a ``cooldown`` (seconds) during which it is not
    fetched again; ``max_rounds`` bounds the fetch-and-retry rounds for one message (a group message may
    need its group key, then the group key creator's public key, then the sender's).
    """

    max_attempts: int = 3
    cooldown: float = 300.0
    max_rounds: int = 4
    max_tracked: int = 4096


@dataclass(slots=True)
class _Attempts:
    failures: int = 0
    blocked_until: float = -math.inf


@dataclass(slots=True)
class _FetchGate:
    """Per-key failure counts and cool-downs (keys are ("peer", mid, id) / ("group", chat, id))."""

    policy: FetchPolicy
    entries: dict[tuple[str, str, int], _Attempts] = field(default_factory=dict)

    def allowed(self, key: tuple[str, str, int], now: float) -> bool:
        entry = self.entries.get(key)
        if entry is None:
            return True
        if entry.blocked_until > now:
            return False
        if entry.failures >= self.policy.max_attempts:  # cool-down over: a fresh set of attempts
            entry.failures = 0
        return True

    def failed(self, key: tuple[str, str, int], now: float) -> bool:
        """Count a failure; True when it starts a cool-down."""
        if key not in self.entries and len(self.entries) >= self.policy.max_tracked:
            self._prune(now)
        entry = self.entries.setdefault(key, _Attempts())
        entry.failures += 1
        if entry.failures >= self.policy.max_attempts:
            entry.blocked_until = now + self.policy.cooldown
            return True
        return False

    def succeeded(self, key: tuple[str, str, int]) -> None:
        self.entries.pop(key, None)

    def _prune(self, now: float) -> None:
        expired = [k for k, e in self.entries.items() if e.blocked_until <= now]
        for k in expired or list(self.entries)[: len(self.entries) // 2]:
            del self.entries[k]


class KeyService:
    """Finds, fetches and caches the keys for one account (``self_mid``) in ``keyring``.

    ``clock`` (seconds, monotonic) times the cool-downs; ``random`` draws a new group key when a group
    without one must be written to.
    """

    def __init__(
        self,
        caller: TalkCaller,
        keyring: KeySink,
        *,
        self_mid: str,
        policy: FetchPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        random: Random = os.urandom,
    ) -> None:
        self.caller = caller
        self.keyring = keyring
        self.self_mid = self_mid
        self.policy = policy if policy is not None else FetchPolicy()
        self._clock = clock
        self._random = random
        self._gate = _FetchGate(self.policy)

    # -- receiving

    async def open_message(
        self,
        chunks: Sequence[bytes] | None,
        content_type: int | str | None,
        *,
        from_mid: str,
        to_mid: str,
        to_type: int | str | None,
        content_metadata: Mapping[str, str] | None = None,
    ) -> DecryptedContent | None:
        """Decrypt one message, fetching missing peer and group keys (bounded) on the way.

        Returns None when the message is not one we decrypt (no chunks, or not text/location). Raises the
        :class:`~.errors.E2EEError` that finally stopped it (after fetching failed or was cooling down).
        """
        rounds = max(1, self.policy.max_rounds)
        for attempt in range(1, rounds + 1):
            final = attempt == rounds
            try:
                return decrypt_message(
                    chunks,
                    content_type,
                    from_mid=from_mid,
                    to_mid=to_mid,
                    to_type=to_type,
                    self_mid=self.self_mid,
                    keyring=self.keyring,
                    content_metadata=content_metadata,
                )
            except UnknownPeerKey as exc:
                if final or await self.peer_key(exc.mid, exc.key_id) is None:
                    raise
            except NoGroupKey as exc:
                if final or exc.key_id is None or await self.group_key(exc.chat_mid, exc.key_id) is None:
                    raise
        raise AssertionError("unreachable: the last round returns or raises")

    async def peer_key(self, mid: str, key_id: int) -> bytes | None:
        """``mid``'s public key ``key_id``: from the keyring, else fetched (None when that failed)."""
        cached = self.keyring.peer_public_key(mid, key_id)
        if cached is not None:
            return cached
        public = await self._fetch_through_gate("peer", mid, key_id, self._fetch_peer)
        if public is not None:
            log.info("e2ee.peer_key_fetched", key_id=key_id, mid=short_mid(mid))
        return public

    async def _fetch_peer(self, mid: str, key_id: int) -> bytes:
        negotiated = await self.caller.call(rpc.negotiate_e2ee_public_key(mid))
        current = negotiated.public_key
        if current is not None and len(current.key_data) == KEY_LENGTH:
            self.keyring.add_peer(mid, current.key_id, current.key_data)
            if current.key_id == key_id:
                return current.key_data
        by_id = await self.caller.call(rpc.get_e2ee_public_key(mid, key_id))
        if by_id.key_id != key_id:
            raise UnknownPeerKey(mid, key_id)
        peer = by_id.for_peer(mid)  # InvalidKey unless 32 raw bytes
        self.keyring.add_peer(mid, key_id, peer.public_key)
        return peer.public_key

    async def group_key(self, chat_mid: str, key_id: int) -> GroupKey | None:
        """The chat's group key ``key_id``: from the keyring, else fetched and opened (None on failure)."""
        cached = self.keyring.group_key(chat_mid, key_id)
        if cached is not None:
            return cached
        key = await self._fetch_through_gate("group", chat_mid, key_id, self._fetch_group)
        if key is not None:
            log.info("e2ee.group_key_fetched", key_id=key_id, mid=short_mid(chat_mid))
        return key

    async def _fetch_group(self, chat_mid: str, key_id: int) -> GroupKey:
        last = await self.caller.call(rpc.get_last_e2ee_group_shared_key(chat_mid))
        if last.group_key_id == key_id:
            return await self._open_shared(chat_mid, last)
        try:  # cache the newest key too: the next message will most likely use it
            await self._open_shared(chat_mid, last)
        except E2EEError as exc:
            log.info("e2ee.last_group_key_unusable", key_id=last.group_key_id, reason=exc.reason)
        shared = await self.caller.call(rpc.get_e2ee_group_shared_key(chat_mid, key_id))
        if shared.group_key_id != key_id:
            raise NoGroupKey(chat_mid, key_id)
        return await self._open_shared(chat_mid, shared)

    async def _open_shared(self, chat_mid: str, shared: GroupSharedKey) -> GroupKey:
        """Unwrap a ``Pb1_U3`` (fetching its creator's public key if needed) and store the group key."""
        cached = self.keyring.group_key(chat_mid, shared.group_key_id)
        if cached is not None:
            return cached
        try:
            key = open_group_shared_key(shared, chat_mid, self.keyring)
        except UnknownPeerKey as exc:
            if await self.peer_key(exc.mid, exc.key_id) is None:
                raise
            key = open_group_shared_key(shared, chat_mid, self.keyring)
        self.keyring.add_group(key)
        return key

    async def _fetch_through_gate(
        self, kind: str, mid: str, key_id: int, fetch: Callable[[str, int], Awaitable[K]]
    ) -> K | None:
        """``fetch(mid, key_id)`` unless that key is cooling down; None when it is, or when the fetch fails
        (counted against the key)."""
        gate_key = (kind, mid, key_id)
        if not self._gate.allowed(gate_key, self._clock()):
            log.debug("e2ee.key_fetch_cooling_down", kind=kind, key_id=key_id, mid=short_mid(mid))
            return None
        try:
            value = await fetch(mid, key_id)
        except Exception as exc:  # any failure of the round trip or of the answer counts as one attempt
            self._failed(gate_key, exc)
            return None
        self._gate.succeeded(gate_key)
        return value

    def _failed(self, gate_key: tuple[str, str, int], exc: Exception) -> None:
        kind, mid, key_id = gate_key
        cooling = self._gate.failed(gate_key, self._clock())
        fields: dict[str, object] = {"kind": kind, "key_id": key_id, "mid": short_mid(mid)}
        fields["error"] = type(exc).__name__
        if isinstance(exc, TalkException):
            fields["code"] = exc.code_name
        elif isinstance(exc, E2EEError):
            fields["reason"] = exc.reason
        if cooling:
            log.warning("e2ee.key_fetch_cooling_down", cooldown_s=self.policy.cooldown, **fields)
        else:
            log.info("e2ee.key_fetch_failed", **fields)

    # -- sending

    def own_key(self) -> KeyPair:
        """The key pair we encrypt with; :class:`UnknownOwnKeyId` (None) when none is stored."""
        pair = self.keyring.current_own_key()
        if pair is None:
            raise UnknownOwnKeyId(None)
        return pair

    async def send_target(self, to: str) -> tuple[PeerPublicKey | GroupKey, int]:
        """What to encrypt a message to ``to`` for, and the spec version to seal with.

        A user: their *current* key, negotiated now (raises :class:`UnsupportedVersion` when they have no
        Letter Sealing). A group or room: its last group key, created first when it has none. RPC failures
        propagate (the send fails; nothing is sent in the clear instead).
        """
        if to.startswith("u"):
            result = await self.caller.call(rpc.negotiate_e2ee_public_key(to))
            if result.public_key is None or not result.supports_e2ee:
                raise UnsupportedVersion("the recipient has no Letter Sealing key (spec version -1)")
            peer = result.public_key.for_peer(to)
            self.keyring.add_peer(to, peer.key_id, peer.public_key)
            spec = result.spec_version if result.spec_version is not None else 2
            return peer, spec
        if to.startswith(("c", "r")):
            return await self._group_for_send(to), 2
        raise InvalidMid("Letter Sealing needs a user, group or room MID")

    async def _group_for_send(self, chat_mid: str) -> GroupKey:
        try:
            shared = await self.caller.call(rpc.get_last_e2ee_group_shared_key(chat_mid))
        except TalkException as exc:
            if exc.code != ErrorCode.NOT_FOUND:
                raise
            log.info("e2ee.group_key_missing", mid=short_mid(chat_mid))
            return await self._create_group_key(chat_mid)
        return await self._open_shared(chat_mid, shared)

    async def _create_group_key(self, chat_mid: str) -> GroupKey:
        """Draw a group key, wrap it for every member's current key, register it (e2ee-map §6.3)."""
        own = self.own_key()
        members = await self.caller.call(rpc.get_last_e2ee_public_keys(chat_mid))
        peers = rpc.member_keys(members)
        for peer in peers:
            if peer.mid != self.self_mid:
                self.keyring.add_peer(peer.mid, peer.key_id, peer.public_key)
        registration = create_group_key(chat_mid, own, peers, self._random)
        shared = await self.caller.call(rpc.register_e2ee_group_key(registration))
        key = await self._open_shared(chat_mid, shared)
        log.info("e2ee.group_key_created", key_id=key.key_id, mid=short_mid(chat_mid), members=len(peers))
        return key
