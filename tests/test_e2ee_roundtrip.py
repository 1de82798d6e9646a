"""Letter Sealing round trips (1:1 and group, v2 and v1) and every failure class, plus property tests
over the parsers of untrusted bytes (chunks, decrypted payloads, the QR key chain)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linecall.protocol.talk.e2ee import crypto, errors
from linecall.protocol.talk.e2ee.group import GroupSharedKey, create_group_key, open_group_shared_key
from linecall.protocol.talk.e2ee.keys import (
    GroupKey,
    KeyPair,
    MemoryKeyring,
    PeerPublicKey,
    generate_key_pair,
    key_id_from_bytes,
    parse_key_id,
    x25519,
)
from linecall.protocol.talk.e2ee.message import (
    decrypt_message,
    encrypt_location,
    encrypt_payload,
    encrypt_text_reply,
    is_e2ee_message,
)
from linecall.protocol.talk.e2ee.qr import (
    E2EEInfo,
    parse_e2ee_info,
    parse_key_chain,
    read_compact_struct,
    unwrap_key_chain,
)

ALICE = "u" + "a1" * 16
BOB = "u" + "b2" * 16
CAROL = "u" + "c3" * 16
GROUP = "c" + "d4" * 16
ROOM = "r" + "e5" * 16


def _counter_random(seed: int = 1) -> crypto.Random:
    counter = itertools.count(seed)

    def random(n: int) -> bytes:
        return bytes((next(counter) * 37 + i) & 0xFF for i in range(n))

    return random


def _pair(key_id: int) -> KeyPair:
    return generate_key_pair(lambda n: os.urandom(n), key_id)


@pytest.fixture(scope="module")
def world() -> dict[str, KeyPair]:
    return {ALICE: _pair(1001), BOB: _pair(2002), CAROL: _pair(3003)}


def _ring(world: dict[str, KeyPair], me: str, *groups: GroupKey) -> MemoryKeyring:
    ring = MemoryKeyring()
    ring.add_own(world[me])
    for who, pair in world.items():
        ring.add_peer(who, pair.key_id, pair.public_key)
    for key in groups:
        ring.add_group(key)
    return ring


def _read(
    chunks: list[bytes],
    *,
    sender: str,
    to: str,
    reader: str,
    ring: MemoryKeyring,
    version: str = "2",
    content_type: int | str = 0,
) -> str | None:
    to_type = "USER" if to.startswith("u") else ("ROOM" if to.startswith("r") else "GROUP")
    result = decrypt_message(
        chunks,
        content_type,
        from_mid=sender,
        to_mid=to,
        to_type=to_type,
        self_mid=reader,
        keyring=ring,
        content_metadata={"e2eeVersion": version, "contentType": "0", "e2eeMark": "2"},
    )
    return None if result is None else result.text


def _peer(world: dict[str, KeyPair], who: str) -> PeerPublicKey:
    return PeerPublicKey(who, world[who].key_id, world[who].public_key)


def _group(world: dict[str, KeyPair], chat: str = GROUP, key_id: int = 77) -> GroupKey:
    registration = create_group_key(chat, world[ALICE], [_peer(world, m) for m in world], _counter_random())
    # Every member opens the wrap addressed to it (as the server's Pb1_U3 answers would carry them).
    keys = set()
    for member, member_key_id, wrapped in zip(
        registration.members, registration.key_ids, registration.encrypted_shared_keys, strict=True
    ):
        shared = GroupSharedKey(1, key_id, ALICE, world[ALICE].key_id, member, member_key_id, wrapped)
        keys.add(open_group_shared_key(shared, chat, _ring(world, member)).private_key)
    assert keys == {registration.group_private_key}
    return GroupKey(chat, key_id, registration.group_private_key)


TEXTS = ["!call", "", "こんにちは 📞", 'quote " backslash \\ newline \n', "x" * 3000]


# --- round trips --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", TEXTS)
def test_one_to_one_v2_round_trip(world: dict[str, KeyPair], text: str) -> None:
    sent = encrypt_text_reply(
        text, self_mid=ALICE, own_key=world[ALICE], recipient=_peer(world, BOB), random=_counter_random()
    )
    assert sent.content_metadata == {"e2eeVersion": "2", "contentType": "0", "e2eeMark": "2"}
    assert _read(sent.chunks, sender=ALICE, to=BOB, reader=BOB, ring=_ring(world, BOB)) == text
    # our own copy (SEND_MESSAGE seen by another of our devices)
    assert _read(sent.chunks, sender=ALICE, to=BOB, reader=ALICE, ring=_ring(world, ALICE)) == text


@pytest.mark.parametrize("text", TEXTS)
def test_one_to_one_v1_round_trip(world: dict[str, KeyPair], text: str) -> None:
    salt = os.urandom(16)
    secret = x25519(world[BOB].private_key, world[ALICE].public_key)
    body = crypto.encrypt_v1(secret, json.dumps({"text": text}).encode(), salt)
    chunks = crypto.Chunks(salt, body, os.urandom(16), world[BOB].key_id, world[ALICE].key_id).to_list()
    assert _read(chunks, sender=BOB, to=ALICE, reader=ALICE, ring=_ring(world, ALICE), version="1") == text
    assert _read(chunks, sender=BOB, to=ALICE, reader=BOB, ring=_ring(world, BOB), version="1") == text


@pytest.mark.parametrize("chat", [GROUP, ROOM])
@pytest.mark.parametrize("text", TEXTS[:3])
def test_group_v2_round_trip(world: dict[str, KeyPair], chat: str, text: str) -> None:
    key = _group(world, chat)
    sent = encrypt_text_reply(
        text, self_mid=CAROL, own_key=world[CAROL], recipient=key, random=_counter_random()
    )
    assert crypto.parse_chunks(sent.chunks).receiver_key_id == key.key_id
    for reader in world:
        assert (
            _read(sent.chunks, sender=CAROL, to=chat, reader=reader, ring=_ring(world, reader, key)) == text
        )


def test_group_v1_round_trip(world: dict[str, KeyPair]) -> None:
    key = _group(world)
    salt = os.urandom(16)
    secret = x25519(key.private_key, world[BOB].public_key)
    body = crypto.encrypt_v1(secret, b'{"text":"!call"}', salt)
    chunks = crypto.Chunks(salt, body, os.urandom(16), world[BOB].key_id, key.key_id).to_list()
    for reader in world:
        ring = _ring(world, reader, key)
        assert _read(chunks, sender=BOB, to=GROUP, reader=reader, ring=ring, version="1") == "!call"


@pytest.mark.parametrize("to_group", [False, True])
def test_location_round_trip(world: dict[str, KeyPair], to_group: bool) -> None:
    key = _group(world)
    place = {"title": "Tokyo Station", "address": "Marunouchi", "latitude": 35.68, "longitude": 139.76}
    recipient: PeerPublicKey | GroupKey = key if to_group else _peer(world, BOB)
    sent = encrypt_location(
        place, self_mid=ALICE, own_key=world[ALICE], recipient=recipient, random=_counter_random()
    )
    to = GROUP if to_group else BOB
    for content_type in (15, "LOCATION"):
        result = decrypt_message(
            sent.chunks,
            content_type,
            from_mid=ALICE,
            to_mid=to,
            to_type="GROUP" if to_group else "USER",
            self_mid=BOB,
            keyring=_ring(world, BOB, key),
            content_metadata=sent.content_metadata,
        )
        assert result is not None and result.location is not None
        assert dict(result.location.fields) == place
        assert (result.location.latitude, result.location.longitude) == (35.68, 139.76)


def test_extra_payload_keys_are_merged_into_metadata(world: dict[str, KeyPair]) -> None:
    sent = encrypt_payload(
        {"text": "hi", "MENTION": {"MENTIONEES": [{"S": "0", "E": "2"}]}, "REPLACE": "{}"},
        content_type=0,
        self_mid=ALICE,
        own_key=world[ALICE],
        recipient=_peer(world, BOB),
        random=_counter_random(),
        extra_metadata={"caller": "x"},
    )
    assert sent.content_metadata == {"caller": "x", "e2eeVersion": "2", "contentType": "0", "e2eeMark": "2"}
    result = decrypt_message(
        sent.chunks,
        "NONE",
        from_mid=ALICE,
        to_mid=BOB,
        to_type=0,
        self_mid=BOB,
        keyring=_ring(world, BOB),
        content_metadata={"e2eeVersion": "2"},
    )
    assert result is not None
    assert result.metadata == {
        "e2eeVersion": "2",
        "MENTION": '{"MENTIONEES":[{"S":"0","E":"2"}]}',
        "REPLACE": "{}",
    }


def test_old_own_keys_stay_readable(world: dict[str, KeyPair]) -> None:
    """A message to our previous key id still opens after a newer key became current."""
    sent = encrypt_text_reply(
        "old", self_mid=BOB, own_key=world[BOB], recipient=_peer(world, ALICE), random=_counter_random()
    )
    ring = _ring(world, ALICE)
    ring.add_own(_pair(1002))
    assert ring.current_own_key() is not None and ring.current_own_key().key_id == 1002  # type: ignore[union-attr]
    assert _read(sent.chunks, sender=BOB, to=ALICE, reader=ALICE, ring=ring) == "old"


# --- what is not decrypted -----------------------------------------------------------------------------


def test_messages_without_chunks_or_of_other_types_are_left_alone(world: dict[str, KeyPair]) -> None:
    sent = encrypt_text_reply(
        "!call", self_mid=ALICE, own_key=world[ALICE], recipient=_peer(world, BOB), random=_counter_random()
    )
    ring = _ring(world, BOB)
    assert _read([], sender=ALICE, to=BOB, reader=BOB, ring=ring) is None
    for content_type in (1, "IMAGE", "STICKER", 14, "NOT_A_TYPE"):
        assert not is_e2ee_message(sent.chunks, content_type)
        assert (
            _read(sent.chunks, sender=ALICE, to=BOB, reader=BOB, ring=ring, content_type=content_type) is None
        )


# --- failures -> typed errors ------------------------------------------------------------------------


@pytest.fixture
def sent_to_bob(world: dict[str, KeyPair]) -> list[bytes]:
    return encrypt_text_reply(
        "!call", self_mid=ALICE, own_key=world[ALICE], recipient=_peer(world, BOB), random=_counter_random()
    ).chunks


@pytest.mark.parametrize("index", [0, 1, 2])
def test_tampered_chunks_fail_authentication(
    world: dict[str, KeyPair], sent_to_bob: list[bytes], index: int
) -> None:
    for position in range(len(sent_to_bob[index])):
        chunks = list(sent_to_bob)
        body = bytearray(chunks[index])
        body[position] ^= 0x01
        chunks[index] = bytes(body)
        with pytest.raises(errors.AuthenticationFailed):
            _read(chunks, sender=ALICE, to=BOB, reader=BOB, ring=_ring(world, BOB))


def test_envelope_differences_fail_authentication(
    world: dict[str, KeyPair], sent_to_bob: list[bytes]
) -> None:
    ring = _ring(world, BOB)
    with pytest.raises(errors.AuthenticationFailed):
        _read(sent_to_bob, sender=ALICE, to=BOB, reader=BOB, ring=ring, content_type=15)
    # a different receiver key id that bob also holds: the AAD no longer matches
    other = _pair(2003)
    ring.add_own(KeyPair(2003, world[BOB].private_key, world[BOB].public_key))
    chunks = [*sent_to_bob[:4], (2003).to_bytes(4, "big")]
    with pytest.raises(errors.AuthenticationFailed):
        _read(chunks, sender=ALICE, to=BOB, reader=BOB, ring=ring)
    assert other.key_id == 2003


def test_wrong_key_ids(world: dict[str, KeyPair], sent_to_bob: list[bytes]) -> None:
    ring = _ring(world, BOB)
    with pytest.raises(errors.UnknownOwnKeyId) as own:
        _read([*sent_to_bob[:4], (9999).to_bytes(4, "big")], sender=ALICE, to=BOB, reader=BOB, ring=ring)
    assert own.value.key_id == 9999
    with pytest.raises(errors.UnknownPeerKey) as peer:
        _read(
            [*sent_to_bob[:3], (8888).to_bytes(4, "big"), sent_to_bob[4]],
            sender=ALICE,
            to=BOB,
            reader=BOB,
            ring=ring,
        )
    assert (peer.value.mid, peer.value.key_id) == (ALICE, 8888)
    assert ALICE not in str(peer.value)  # error texts never carry a whole MID


def test_missing_group_key(world: dict[str, KeyPair]) -> None:
    key = _group(world)
    sent = encrypt_text_reply(
        "!call", self_mid=BOB, own_key=world[BOB], recipient=key, random=_counter_random()
    )
    with pytest.raises(errors.NoGroupKey) as info:
        _read(sent.chunks, sender=BOB, to=GROUP, reader=ALICE, ring=_ring(world, ALICE))
    assert info.value.key_id == key.key_id
    # held under another id: still the named id that is missing
    stale = GroupKey(GROUP, key.key_id - 1, key.private_key)
    with pytest.raises(errors.NoGroupKey):
        _read(sent.chunks, sender=BOB, to=GROUP, reader=ALICE, ring=_ring(world, ALICE, stale))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c[:4],
        lambda c: [*c, b"\x00"],
        lambda c: [c[0][:15], *c[1:]],
        lambda c: [c[0], c[1][:15], *c[2:]],
        lambda c: [c[0], c[1], c[2][:11], *c[3:]],
        lambda c: [*c[:3], c[3][:3], c[4]],
        lambda c: [*c[:4], c[4] + b"\x00"],
        lambda c: [*c[:4], "0009"],
    ],
    ids=[
        "4 chunks",
        "6 chunks",
        "short salt",
        "short ciphertext",
        "short nonce",
        "3-byte key id",
        "5-byte key id",
        "str chunk",
    ],
)
def test_truncated_or_malformed_chunks(
    world: dict[str, KeyPair], sent_to_bob: list[bytes], mutate: object
) -> None:
    assert callable(mutate)
    with pytest.raises(errors.MalformedChunks):
        _read(mutate(sent_to_bob), sender=ALICE, to=BOB, reader=BOB, ring=_ring(world, BOB))


@pytest.mark.parametrize(
    "plaintext",
    [b"not json", b"[1,2]", b'"text"', b"\xff\xfe{}", b'{"text": 5}', b"[" * 5000 + b"]" * 5000],
    ids=["not JSON", "array", "string", "not UTF-8", "text not a string", "deep nesting"],
)
def test_bad_plaintext(world: dict[str, KeyPair], plaintext: bytes) -> None:
    secret = x25519(world[ALICE].private_key, world[BOB].public_key)
    chunks = crypto.encrypt_v2(
        secret,
        plaintext,
        to=BOB,
        from_=ALICE,
        sender_key_id=world[ALICE].key_id,
        receiver_key_id=world[BOB].key_id,
        random=_counter_random(),
    ).to_list()
    with pytest.raises(errors.BadPlaintext):
        _read(chunks, sender=ALICE, to=BOB, reader=BOB, ring=_ring(world, BOB))


def test_location_without_location_object_is_bad_plaintext(world: dict[str, KeyPair]) -> None:
    sent = encrypt_payload(
        {"text": "x"},
        content_type=15,
        self_mid=ALICE,
        own_key=world[ALICE],
        recipient=_peer(world, BOB),
        random=_counter_random(),
    )
    with pytest.raises(errors.BadPlaintext):
        _read(sent.chunks, sender=ALICE, to=BOB, reader=BOB, ring=_ring(world, BOB), content_type=15)


@pytest.mark.parametrize("version", ["3", "v2", "0"])
def test_unknown_version(world: dict[str, KeyPair], sent_to_bob: list[bytes], version: str) -> None:
    with pytest.raises(errors.UnsupportedVersion):
        _read(sent_to_bob, sender=ALICE, to=BOB, reader=BOB, ring=_ring(world, BOB), version=version)


def test_v1_wrong_key_fails_on_padding(world: dict[str, KeyPair]) -> None:
    salt = os.urandom(16)
    secret = x25519(world[BOB].private_key, world[ALICE].public_key)
    body = crypto.encrypt_v1(secret, b'{"text":"!call"}', salt)
    chunks = crypto.Chunks(salt, body, bytes(16), world[BOB].key_id, world[ALICE].key_id).to_list()
    ring = _ring(world, ALICE)
    ring.add_own(KeyPair(world[ALICE].key_id, world[CAROL].private_key, world[CAROL].public_key))
    with pytest.raises((errors.AuthenticationFailed, errors.BadPlaintext)):
        _read(chunks, sender=BOB, to=ALICE, reader=ALICE, ring=ring, version="1")


def test_sending_refusals(world: dict[str, KeyPair]) -> None:
    for spec in (-1, 1, 3):
        with pytest.raises(errors.UnsupportedVersion):
            encrypt_text_reply(
                "x",
                self_mid=ALICE,
                own_key=world[ALICE],
                recipient=_peer(world, BOB),
                random=_counter_random(),
                spec_version=spec,
            )
    for bad in ("x123", GROUP):
        with pytest.raises(errors.InvalidMid):
            encrypt_text_reply(
                "x",
                self_mid=ALICE,
                own_key=world[ALICE],
                recipient=PeerPublicKey(bad, 1, world[BOB].public_key),
                random=_counter_random(),
            )
    with pytest.raises(errors.InvalidMid):
        encrypt_text_reply(
            "x",
            self_mid=ALICE,
            own_key=world[ALICE],
            recipient=GroupKey(BOB, 1, bytes(32)),
            random=_counter_random(),
        )
    with pytest.raises(errors.BadPlaintext):
        encrypt_text_reply(
            "\ud800",
            self_mid=ALICE,
            own_key=world[ALICE],
            recipient=_peer(world, BOB),
            random=_counter_random(),
        )


def test_low_order_peer_key_is_invalid(world: dict[str, KeyPair], sent_to_bob: list[bytes]) -> None:
    ring = _ring(world, BOB)
    ring.add_peer(ALICE, world[ALICE].key_id, bytes(32))
    with pytest.raises(errors.InvalidKey):
        _read(sent_to_bob, sender=ALICE, to=BOB, reader=BOB, ring=ring)


def test_every_error_is_a_value_error_with_a_reason() -> None:
    classes = [
        errors.UnknownOwnKeyId,
        errors.UnknownPeerKey,
        errors.NoGroupKey,
        errors.AuthenticationFailed,
        errors.MalformedChunks,
        errors.UnsupportedVersion,
        errors.BadPlaintext,
    ]
    reasons = {cls.reason for cls in classes}
    assert len(reasons) == len(classes)
    for cls in classes:
        assert issubclass(cls, errors.E2EEError) and issubclass(cls, ValueError)


def test_key_id_rules() -> None:
    assert parse_key_id("12345") == parse_key_id(12345) == 12345
    assert parse_key_id(2**32 - 2) == parse_key_id("4294967294") == -2
    assert key_id_from_bytes(b"\xff\xff\xff\xfe") == -2
    for bad in (True, 1.5, "12a", "", None, 2**32, -(2**31) - 1, "99999999999"):
        with pytest.raises(errors.InvalidKeyId):
            parse_key_id(bad)


# --- property tests over parsers of untrusted bytes --------------------------------------------------

chunk_lists = st.lists(st.binary(max_size=40), max_size=7)


@settings(max_examples=200, deadline=None)
@given(chunks=chunk_lists, version=st.sampled_from([1, 2]))
def test_parse_chunks_only_raises_malformed(chunks: list[bytes], version: int) -> None:
    try:
        parsed = crypto.parse_chunks(chunks, version)
    except errors.MalformedChunks:
        return
    assert parsed.to_list() == chunks


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    version=st.sampled_from(["1", "2", "", "7"]),
    to_type=st.sampled_from(["USER", "GROUP", "ROOM", 3, "NOPE"]),
)
def test_decrypt_message_only_raises_typed_errors(
    world: dict[str, KeyPair], sent_to_bob: list[bytes], data: st.DataObject, version: str, to_type: object
) -> None:
    """Random chunk lists, and the real chunks with random bit flips / truncations: typed errors only."""
    if data.draw(st.booleans()):
        chunks = data.draw(chunk_lists)
    else:
        chunks = list(sent_to_bob)
        index = data.draw(st.integers(0, 4))
        body = bytearray(chunks[index])
        if body and data.draw(st.booleans()):
            body[data.draw(st.integers(0, len(body) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        else:
            del body[data.draw(st.integers(0, len(body))) :]
        chunks[index] = bytes(body)
    ring = _ring(world, BOB, _group(world))
    with contextlib.suppress(errors.E2EEError):
        decrypt_message(
            chunks,
            0,
            from_mid=ALICE,
            to_mid=BOB if to_type == "USER" else GROUP,
            to_type=to_type,  # type: ignore[arg-type]
            self_mid=BOB,
            keyring=ring,
            content_metadata={"e2eeVersion": version},
        )


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=200))
def test_key_chain_parser_only_raises_key_chain_errors(blob: bytes) -> None:
    with contextlib.suppress(errors.KeyChainError):
        read_compact_struct(blob)
    with contextlib.suppress(errors.KeyChainError):
        parse_key_chain(blob)


@settings(max_examples=100, deadline=None)
@given(prefix=st.binary(max_size=80), cut=st.integers(0, 120))
def test_key_chain_parser_on_truncated_real_chains(prefix: bytes, cut: int) -> None:
    private = bytes(range(32))
    pair = KeyPair.from_private(private, 5)
    chain = (
        b"\x19\x1c\x15\x02\x15\x0a\x28\x20"
        + pair.public_key
        + b"\x18\x20"
        + pair.private_key
        + b"\x16\x02\x00\x00"
    )
    assert parse_key_chain(chain + prefix)[0].private_key == private
    with contextlib.suppress(errors.KeyChainError):
        parse_key_chain(chain[:cut])


@settings(max_examples=100, deadline=None)
@given(
    info=st.dictionaries(
        st.sampled_from(["encryptedKeyChain", "publicKey", "keyId", "e2eeVersion"]),
        st.one_of(st.text(max_size=60), st.integers(), st.none(), st.binary(max_size=40)),
    )
)
def test_e2ee_info_parser_only_raises_key_chain_errors(info: dict[str, object]) -> None:
    with contextlib.suppress(errors.KeyChainError):
        parse_e2ee_info(info)


@settings(max_examples=100, deadline=None)
@given(blob=st.binary(min_size=0, max_size=96))
def test_unwrap_key_chain_on_random_ciphertext(blob: bytes) -> None:
    qr = bytes(range(1, 33))
    phone = KeyPair.from_private(bytes(range(2, 34)), 0)
    info = E2EEInfo(blob, phone.public_key, 12345, 1)
    with contextlib.suppress(errors.KeyChainError):
        unwrap_key_chain(qr, info, None)


def test_missing_to_type_is_taken_from_the_mid(world: dict[str, KeyPair], sent_to_bob: list[bytes]) -> None:
    result = decrypt_message(
        sent_to_bob, None, from_mid=ALICE, to_mid=BOB, to_type=None, self_mid=BOB, keyring=_ring(world, BOB)
    )
    assert result is not None and result.text == "!call"
    with pytest.raises(errors.InvalidMid):
        decrypt_message(
            sent_to_bob,
            None,
            from_mid=ALICE,
            to_mid="x1",
            to_type=None,
            self_mid=BOB,
            keyring=_ring(world, BOB),
        )


def test_log_fields_carry_ids_only() -> None:
    fields = errors.log_fields(errors.UnknownPeerKey(ALICE, 7))
    assert fields == {"reason": "unknown_peer_key", "key_id": 7, "mid": ALICE[:5] + "…"}
    assert errors.log_fields(errors.AuthenticationFailed("GCM tag mismatch")) == {
        "reason": "authentication_failed"
    }
