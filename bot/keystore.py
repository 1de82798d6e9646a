"""Letter Sealing keys and the QR-login session in the product's storage file (LINE_STORAGE_FILE).

:class:`StoreKeyring` implements the decryptor's :class:`~linecall.protocol.talk.e2ee.keys.Keyring` (and the
writable extension the key service fills) over :class:`~linecall.bot.store.Store`, using the tables of
migration 2:

* own key pairs by key id, each tagged with the account MID it belongs to. They are never deleted or
  replaced: a message names the key id it was sealed for, so a key that was current last year still opens
  last year's messages. Which one we encrypt with is ``kv['e2ee.current_key_id']``;
* peers' public keys by (MID, key id), as fetched (linejs caches by key id alone, e2ee-map §10 item 7);
* group keys by (chat MID, group key id), every id kept for the same reason as own keys.

A store belongs to one account: the first own key claims it (``kv['e2ee.account_mid']``) and keys for any
other MID are refused with :class:`ForeignAccountKeys`, whose message shows both MIDs masked. Mixing two
accounts' keys would make every decryption failure ambiguous and could leak one account's key to the other's
operator.

The QR-login session (V3 token pair, MID, the login certificate that spares the PIN next time) is kept
beside the keys as :class:`LoginSession`. Everything here is a secret: the store file is 0600, nothing is
logged, and no ``repr`` shows key or token material.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from linecall.bot.store import Store
from linecall.config.logging import mask_mid
from linecall.protocol.talk.e2ee.errors import E2EEError, InvalidKey
from linecall.protocol.talk.e2ee.keys import GroupKey, KeyPair, PeerPublicKey
from linecall.protocol.talk.tokens import AccessToken, TokenCredential

__all__ = [
    "ConflictingOwnKey",
    "ForeignAccountKeys",
    "KeystoreError",
    "LoginSession",
    "StoreKeyring",
    "load_login_certificate",
    "load_login_session",
    "save_login_certificate",
    "save_login_session",
]

_ACCOUNT_KEY = "e2ee.account_mid"
_CURRENT_KEY = "e2ee.current_key_id"
_SESSION_KEY = "login.session"
_CERTIFICATE_KEY = "login.qr_certificate"


class KeystoreError(E2EEError):
    """The key store refused an operation (see the subclasses)."""

    reason = "keystore_refused"


class ForeignAccountKeys(KeystoreError):
    """Keys (or a session) of one account offered to a store that belongs to another."""

    reason = "foreign_account_keys"

    def __init__(self, store_mid: str, offered_mid: str) -> None:
        self.store_mid = store_mid
        self.offered_mid = offered_mid
        super().__init__(
            f"this storage file holds the Letter Sealing keys of {mask_mid(store_mid)}; keys of "
            f"{mask_mid(offered_mid)} are refused (use a separate LINE_STORAGE_FILE per account)"
        )


class ConflictingOwnKey(KeystoreError):
    """An own key id already stored with different key material (never overwritten)."""

    reason = "conflicting_own_key"

    def __init__(self, key_id: int) -> None:
        self.key_id = key_id
        super().__init__(
            f"own key id {key_id} is already stored with a different key pair; refusing to replace it"
        )


def _check_pair(pair: KeyPair) -> None:
    if not pair.is_consistent():
        raise InvalidKey(f"own key id {pair.key_id}: the public key is not derived from the private key")


class StoreKeyring:
    """A :class:`~linecall.protocol.talk.e2ee.keys.Keyring` over the SQLite store.

    ``account_mid`` is the account the caller runs as (the Profile's MID), or None when it is not known yet
    (``linecall keys import`` of a file that names no MID). When given and the store already belongs to
    another MID, construction raises :class:`ForeignAccountKeys`. ``clock`` stamps rows (Unix seconds).
    """

    def __init__(
        self, store: Store, account_mid: str | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._clock = clock
        stored = store.get(_ACCOUNT_KEY)
        if account_mid is not None and stored is not None and stored != account_mid:
            raise ForeignAccountKeys(stored, account_mid)
        self._account_mid = account_mid if account_mid is not None else stored

    # -- which account

    @property
    def account_mid(self) -> str | None:
        """The MID whose keys this store holds (None while it holds none and no MID was given)."""
        return self._store.get(_ACCOUNT_KEY) or self._account_mid

    def _claim(self, mid: str | None) -> str:
        """The MID to store own keys under; refuses a MID other than the store's."""
        owner = self._store.get(_ACCOUNT_KEY)
        wanted = mid if mid is not None else self._account_mid
        if wanted is None:
            if owner is None:
                raise KeystoreError("cannot store an own key without knowing the account MID")
            wanted = owner
        if owner is not None and owner != wanted:
            raise ForeignAccountKeys(owner, wanted)
        if self._account_mid is not None and self._account_mid != wanted:
            raise ForeignAccountKeys(self._account_mid, wanted)
        return wanted

    # -- own keys

    def add_own(
        self, pair: KeyPair, *, mid: str | None = None, current: bool = True, source: str = "manual"
    ) -> None:
        """Store an own pair (never replacing another under the same id); by default it becomes current."""
        self.add_own_keys([pair], mid=mid, current_key_id=pair.key_id if current else None, source=source)

    def add_own_keys(
        self,
        pairs: Sequence[KeyPair],
        *,
        mid: str | None = None,
        current_key_id: int | None = None,
        source: str = "manual",
    ) -> list[int]:
        """Store several own pairs in one transaction; returns the ids that were new.

        A pair already stored with identical material is accepted silently (re-importing is idempotent);
        the same id with other material raises :class:`ConflictingOwnKey` and nothing is written.
        ``current_key_id`` (one of ``pairs`` or an id already stored) becomes the current key; without it
        the current key only changes when none was set yet.
        """
        owner = self._claim(mid)
        for pair in pairs:
            _check_pair(pair)
        ids = {pair.key_id for pair in pairs}
        added: list[int] = []
        with self._store.transaction() as db:
            for pair in pairs:
                row = db.execute(
                    "SELECT private_key, public_key FROM e2ee_own_keys WHERE key_id = ?", (pair.key_id,)
                ).fetchone()
                if row is not None:
                    if bytes(row[0]) != pair.private_key or bytes(row[1]) != pair.public_key:
                        raise ConflictingOwnKey(pair.key_id)
                    continue
                db.execute(
                    "INSERT INTO e2ee_own_keys(key_id, mid, private_key, public_key, source, added_at) "
                    "VALUES(?, ?, ?, ?, ?, ?)",
                    (pair.key_id, owner, pair.private_key, pair.public_key, source, self._clock()),
                )
                added.append(pair.key_id)
            _kv_put(db, _ACCOUNT_KEY, owner)
            current = db.execute("SELECT value FROM kv WHERE key = ?", (_CURRENT_KEY,)).fetchone()
            if current_key_id is not None:
                known = (
                    current_key_id in ids
                    or db.execute(
                        "SELECT 1 FROM e2ee_own_keys WHERE key_id = ?", (current_key_id,)
                    ).fetchone()
                )
                if not known:
                    raise KeystoreError(f"current key id {current_key_id} is not among the stored own keys")
                _kv_put(db, _CURRENT_KEY, str(current_key_id))
            elif current is None and pairs:
                _kv_put(db, _CURRENT_KEY, str(pairs[-1].key_id))
        return added

    def set_current(self, key_id: int) -> None:
        """Make a stored own key the one we encrypt with."""
        if self.own_key(key_id) is None:
            raise KeystoreError(f"own key id {key_id} is not stored")
        self._store.put(_CURRENT_KEY, str(key_id))

    @property
    def current_key_id(self) -> int | None:
        raw = self._store.get(_CURRENT_KEY)
        return int(raw) if raw is not None else None

    def current_own_key(self) -> KeyPair | None:
        """The pair we encrypt with, or None when the store holds no own key."""
        key_id = self.current_key_id
        return None if key_id is None else self.own_key(key_id)

    def own_key(self, key_id: int) -> KeyPair | None:
        rows = self._store.query(
            "SELECT private_key, public_key FROM e2ee_own_keys WHERE key_id = ?", (key_id,)
        )
        if not rows:
            return None
        private, public = rows[0]
        return KeyPair(key_id=key_id, private_key=_blob(private), public_key=_blob(public))

    def own_key_ids(self) -> list[int]:
        """Every own key id held, oldest first."""
        rows = self._store.query("SELECT key_id FROM e2ee_own_keys ORDER BY added_at, key_id")
        return [_int(row[0]) for row in rows]

    def has_own_keys(self) -> bool:
        return bool(self._store.query("SELECT 1 FROM e2ee_own_keys LIMIT 1"))

    # -- peers' public keys

    def peer_public_key(self, mid: str, key_id: int) -> bytes | None:
        rows = self._store.query(
            "SELECT public_key FROM e2ee_peer_keys WHERE mid = ? AND key_id = ?", (mid, key_id)
        )
        return _blob(rows[0][0]) if rows else None

    def add_peer(self, mid: str, key_id: int, public_key: bytes) -> None:
        """Cache a peer's key as the server reported it (a later report for the same id replaces it)."""
        PeerPublicKey(mid, key_id, bytes(public_key))  # validates the length
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO e2ee_peer_keys(mid, key_id, public_key, fetched_at) VALUES(?, ?, ?, ?) "
                "ON CONFLICT(mid, key_id) DO UPDATE SET public_key = excluded.public_key, "
                "fetched_at = excluded.fetched_at",
                (mid, key_id, bytes(public_key), self._clock()),
            )

    def extend_peers(self, keys: Iterable[PeerPublicKey]) -> None:
        for key in keys:
            self.add_peer(key.mid, key.key_id, key.public_key)

    # -- group keys

    def group_key(self, chat_mid: str, key_id: int) -> GroupKey | None:
        rows = self._store.query(
            "SELECT private_key FROM e2ee_group_keys WHERE chat_mid = ? AND key_id = ?", (chat_mid, key_id)
        )
        return GroupKey(chat_mid, key_id, _blob(rows[0][0])) if rows else None

    def add_group(self, key: GroupKey) -> None:
        """Store a chat's group key under its id (other ids of the chat are kept)."""
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO e2ee_group_keys(chat_mid, key_id, private_key, added_at) VALUES(?, ?, ?, ?) "
                "ON CONFLICT(chat_mid, key_id) DO UPDATE SET private_key = excluded.private_key",
                (key.chat_mid, key.key_id, key.private_key, self._clock()),
            )

    def add_groups(self, keys: Iterable[GroupKey]) -> None:
        for key in keys:
            self.add_group(key)

    def group_key_ids(self, chat_mid: str) -> list[int]:
        rows = self._store.query(
            "SELECT key_id FROM e2ee_group_keys WHERE chat_mid = ? ORDER BY key_id", (chat_mid,)
        )
        return [_int(row[0]) for row in rows]

    def __repr__(self) -> str:
        owner = self.account_mid
        return (
            f"StoreKeyring(account={mask_mid(owner) if owner else None}, own_keys={len(self.own_key_ids())})"
        )


def _kv_put(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _blob(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise KeystoreError("the key store holds a key that is not a blob (file damaged?)")
    return bytes(value)


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise KeystoreError("the key store holds a key id that is not an integer (file damaged?)")
    return value


# --- the QR-login session ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginSession:
    """What ``linecall login`` obtained: the V3 token pair of a secondary-device login and its account.

    ``expire`` is Unix seconds (issue time + duration) when the server said; ``device`` is the device class
    the tokens were issued to (always ANDROIDSECONDARY for a QR login).
    """

    mid: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expire: float | None = None
    device: str = "ANDROIDSECONDARY"
    created_at: float | None = None

    def credential(self) -> TokenCredential:
        """The session as the Talk client's credential."""
        return TokenCredential(
            AccessToken.parse(self.access_token), refresh_token=self.refresh_token, expire=self.expire
        )


def save_login_session(store: Store, session: LoginSession) -> None:
    """Store the session; refuses one for another account than the store's keys belong to."""
    owner = store.get(_ACCOUNT_KEY)
    if owner is not None and owner != session.mid:
        raise ForeignAccountKeys(owner, session.mid)
    record = {
        "mid": session.mid,
        "access_token": session.access_token,
        "refresh_token": session.refresh_token,
        "expire": session.expire,
        "device": session.device,
        "created_at": session.created_at,
    }
    store.put(_SESSION_KEY, json.dumps(record))


def load_login_session(store: Store) -> LoginSession | None:
    """The stored QR-login session, or None (also for a record this version cannot read)."""
    raw = store.get(_SESSION_KEY)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        mid, access = data["mid"], data["access_token"]
        if not isinstance(mid, str) or not isinstance(access, str):
            return None
        refresh = data.get("refresh_token")
        expire = data.get("expire")
        created = data.get("created_at")
        return LoginSession(
            mid=mid,
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) else None,
            expire=float(expire) if isinstance(expire, int | float) else None,
            device=str(data.get("device") or "ANDROIDSECONDARY"),
            created_at=float(created) if isinstance(created, int | float) else None,
        )
    except (ValueError, KeyError, TypeError):
        return None


def save_login_certificate(store: Store, certificate: str) -> None:
    """The login certificate (PEM) the server issued: presented next time, it spares the PIN step."""
    store.put(_CERTIFICATE_KEY, certificate)


def load_login_certificate(store: Store) -> str | None:
    return store.get(_CERTIFICATE_KEY)
