"""The Letter Sealing key store over SQLite (bot/keystore.py): own keys kept by id forever, peers by
(MID, key id), group keys by (chat, id), one account per store, and the QR-login session."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from linecall.bot.keystore import (
    ConflictingOwnKey,
    ForeignAccountKeys,
    KeystoreError,
    LoginSession,
    StoreKeyring,
    load_login_certificate,
    load_login_session,
    save_login_certificate,
    save_login_session,
)
from linecall.bot.store import MIGRATIONS, Store
from linecall.protocol.talk.e2ee import errors
from linecall.protocol.talk.e2ee.keys import GroupKey, KeyPair
from linecall.protocol.talk.e2ee.keyservice import KeyService
from linecall.protocol.talk.e2ee.message import decrypt_message
from tests.e2ee_support import b64_chunks, group_key, mid, party_pair, vectors


def _open(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "linecall.db")


def test_migration_adds_the_key_tables(tmp_path: Path) -> None:
    store = _open(tmp_path)
    tables = {row[0] for row in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"e2ee_own_keys", "e2ee_peer_keys", "e2ee_group_keys", "kv", "handled_messages"} <= tables
    assert store.query("PRAGMA user_version") == [(len(MIGRATIONS),)]


def test_own_keys_survive_reopening_and_a_newer_key(tmp_path: Path) -> None:
    store = _open(tmp_path)
    ring = StoreKeyring(store, mid("alice"))
    alice = party_pair("alice")
    newer = KeyPair.from_private(bytes(range(32)), 777)
    ring.add_own(alice, source="qr-login")
    ring.add_own(newer)
    store.close()

    store = _open(tmp_path)
    ring = StoreKeyring(store, mid("alice"))
    assert ring.own_key(alice.key_id) == alice
    assert ring.own_key(newer.key_id) == newer
    assert ring.current_own_key() == newer
    assert ring.own_key_ids() == [alice.key_id, newer.key_id]
    ring.set_current(alice.key_id)
    assert ring.current_key_id == alice.key_id
    assert ring.own_key(4711) is None
    assert StoreKeyring(store).account_mid == mid("alice")


def test_adding_keys_without_current_keeps_the_current_one(tmp_path: Path) -> None:
    ring = StoreKeyring(_open(tmp_path), mid("alice"))
    ring.add_own(party_pair("alice"))
    ring.add_own(KeyPair.from_private(bytes(range(32)), 777), current=False)
    assert ring.current_key_id == party_pair("alice").key_id
    with pytest.raises(KeystoreError):
        ring.set_current(4711)


def test_an_own_key_id_is_never_replaced(tmp_path: Path) -> None:
    ring = StoreKeyring(_open(tmp_path), mid("alice"))
    alice = party_pair("alice")
    ring.add_own(alice)
    assert ring.add_own_keys([alice]) == []  # re-adding the same pair is idempotent
    impostor = KeyPair.from_private(bytes(range(32)), alice.key_id)
    other = KeyPair.from_private(bytes(range(1, 33)), 778)
    with pytest.raises(ConflictingOwnKey):
        ring.add_own_keys([other, impostor], current_key_id=other.key_id)
    assert ring.own_key(alice.key_id) == alice
    assert ring.own_key(778) is None  # the whole batch was refused
    assert ring.current_key_id == alice.key_id


def test_inconsistent_pairs_are_refused(tmp_path: Path) -> None:
    ring = StoreKeyring(_open(tmp_path), mid("alice"))
    alice, bob = party_pair("alice"), party_pair("bob")
    with pytest.raises(errors.InvalidKey):
        ring.add_own(KeyPair(alice.key_id, alice.private_key, bob.public_key))
    assert not ring.has_own_keys()


def test_keys_for_another_mid_are_refused_with_masked_mids(tmp_path: Path) -> None:
    store = _open(tmp_path)
    StoreKeyring(store, mid("alice")).add_own(party_pair("alice"))
    with pytest.raises(ForeignAccountKeys) as opened:
        StoreKeyring(store, mid("bob"))
    with pytest.raises(ForeignAccountKeys) as added:
        StoreKeyring(store).add_own(party_pair("bob"), mid=mid("bob"))
    for error in (opened.value, added.value):
        message = str(error)
        assert mid("alice") not in message and mid("bob") not in message
        assert mid("alice")[:9] in message and mid("bob")[:9] in message
        assert error.reason == "foreign_account_keys"
    assert StoreKeyring(store).own_key_ids() == [party_pair("alice").key_id]


def test_an_own_key_needs_an_account(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError):
        StoreKeyring(_open(tmp_path)).add_own(party_pair("alice"))


def test_peer_keys_are_cached_by_mid_and_key_id(tmp_path: Path) -> None:
    ring = StoreKeyring(_open(tmp_path), mid("alice"))
    bob, carol = party_pair("bob"), party_pair("carol")
    ring.add_peer(mid("bob"), 5, bob.public_key)
    ring.add_peer(mid("carol"), 5, carol.public_key)
    assert ring.peer_public_key(mid("bob"), 5) == bob.public_key
    assert ring.peer_public_key(mid("carol"), 5) == carol.public_key
    assert ring.peer_public_key(mid("bob"), 6) is None
    with pytest.raises(errors.InvalidKey):
        ring.add_peer(mid("bob"), 7, b"\x01" * 44)


def test_group_keys_are_kept_per_id(tmp_path: Path) -> None:
    ring = StoreKeyring(_open(tmp_path), mid("alice"))
    old = group_key()
    new = GroupKey(old.chat_mid, 5000, bytes(range(32)))
    ring.add_group(old)
    ring.add_groups([new])
    assert ring.group_key(old.chat_mid, 4242) == old
    assert ring.group_key(old.chat_mid, 5000) == new
    assert ring.group_key_ids(old.chat_mid) == [4242, 5000]
    assert ring.group_key("c" + "0" * 32, 4242) is None


def test_the_file_is_owner_only(tmp_path: Path) -> None:
    store = _open(tmp_path)
    StoreKeyring(store, mid("alice")).add_own(party_pair("alice"))
    assert stat.S_IMODE(os.stat(tmp_path / "linecall.db").st_mode) == 0o600


def test_repr_shows_no_key_material(tmp_path: Path) -> None:
    ring = StoreKeyring(_open(tmp_path), mid("alice"))
    ring.add_own(party_pair("alice"))
    text = repr(ring) + repr(ring.own_key(party_pair("alice").key_id))
    assert party_pair("alice").private_key.hex() not in text
    assert mid("alice") not in text


async def test_a_vector_message_decrypts_with_keys_from_the_store(tmp_path: Path) -> None:
    (case,) = [
        c
        for c in vectors()["cases"]
        if c["kind"] == "decrypt_v2" and c["name"].startswith("1:1 '!call' sent by alice")
    ]
    message = case["inputs"]["message"]
    ring = StoreKeyring(_open(tmp_path), mid("alice"))
    ring.add_own(party_pair("alice"))
    ring.add_peer(mid("bob"), party_pair("bob").key_id, party_pair("bob").public_key)
    result = decrypt_message(
        b64_chunks(message["chunks_b64"]),
        message["contentType"],
        from_mid=message["from"],
        to_mid=message["to"],
        to_type=message["toType"],
        self_mid=mid("alice"),
        keyring=ring,
        content_metadata=message["contentMetadata"],
    )
    assert result is not None and result.text == case["outputs"]["text"]
    KeyService(object(), ring, self_mid=mid("alice"))  # type: ignore[arg-type]  # a KeySink


def test_login_session_round_trip_and_refusal(tmp_path: Path) -> None:
    store = _open(tmp_path)
    assert load_login_session(store) is None
    session = LoginSession(
        mid("alice"), "eyJhbGciOiJIUzI1NiJ9.e30.sig", "refresh", 1_800_000_000.0, created_at=5.0
    )
    save_login_session(store, session)
    assert load_login_session(store) == session
    assert session.credential().refresh_token == "refresh"
    assert "eyJ" not in repr(session) and "refresh'" not in repr(session)
    save_login_certificate(store, "-----BEGIN CERT-----")
    assert load_login_certificate(store) == "-----BEGIN CERT-----"

    StoreKeyring(store, mid("alice")).add_own(party_pair("alice"))
    with pytest.raises(ForeignAccountKeys):
        save_login_session(store, LoginSession(mid("bob"), "token"))
    store.put("login.session", "{not json")
    assert load_login_session(store) is None
