"""Key fetching, the per-message decryption boundary and encrypted replies (e2ee keyservice / messaging).

Two fake callers stand in for the Talk client: :class:`ReplayCaller` replays e2ee.json's wire exchanges and
insists on linejs's exact request bytes (so the sequences of RPCs we send are the ones linejs sends), and
:class:`FakeServer` answers by method with typed results or errors (retry bounds, caching, failures).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from linecall.protocol.talk import service
from linecall.protocol.talk.e2ee import crypto, errors, rpc
from linecall.protocol.talk.e2ee.group import GroupSharedKey
from linecall.protocol.talk.e2ee.keys import GroupKey, KeyPair, MemoryKeyring, PeerPublicKey, x25519
from linecall.protocol.talk.e2ee.keyservice import FetchPolicy, KeyService
from linecall.protocol.talk.e2ee.message import EncryptedMessage, decrypt_message, encrypt_text_reply
from linecall.protocol.talk.e2ee.messaging import E2EE_ERROR_CODES, decrypt_incoming, send_reply
from linecall.protocol.talk.events import MessageReceived, operation_to_event
from linecall.protocol.talk.service import TalkCall
from linecall.protocol.talk.structs import Message, Operation
from linecall.protocol.thrift.errors import ErrorCode, TalkException
from tests.e2ee_support import draws, group_key, mid, party_keyring, party_pair, vectors

h = bytes.fromhex


# --- fakes ------------------------------------------------------------------------------------------------


class ReplayCaller:
    """Answers each call with the next recorded exchange, after checking method, path and body bytes."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.exchanges = list(exchanges)

    async def call(self, call: TalkCall[Any], /) -> Any:
        assert self.exchanges, f"unexpected call {call.method}"
        exchange = self.exchanges.pop(0)
        assert (call.method, call.path) == (exchange["method"], exchange["path"])
        assert call.body.hex() == exchange["request_body_hex"], call.method
        return call.parse(h(exchange["response_body_hex"]))


Handler = Callable[[TalkCall[Any]], Any]


class FakeServer:
    """Answers by method name: a handler returns the typed result, or an exception to raise."""

    def __init__(self, **handlers: Handler) -> None:
        self.handlers = dict(handlers)
        self.calls: list[str] = []
        self.sent: list[Message] = []

    async def call(self, call: TalkCall[Any], /) -> Any:
        self.calls.append(call.method)
        handler = self.handlers.get(call.method)
        if handler is None:
            raise AssertionError(f"unexpected call {call.method}")
        result = handler(call)
        if isinstance(result, BaseException):
            raise result
        return result


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pub(name: str) -> rpc.E2EEPublicKey:
    pair = party_pair(name)
    return rpc.E2EEPublicKey(1, pair.key_id, pair.public_key, 0)


def _negotiated(name: str, spec: int = 2) -> Handler:
    return lambda call: rpc.NegotiationResult(_pub(name), spec, frozenset({1, 2, 15}))


def _alice_ring(*, peers: tuple[str, ...] = (), group: bool = False) -> MemoryKeyring:
    ring = MemoryKeyring()
    ring.add_own(party_pair("alice"))
    for name in peers:
        pair = party_pair(name)
        ring.add_peer(mid(name), pair.key_id, pair.public_key)
    if group:
        ring.add_group(group_key())
    return ring


def _service(caller: Any, ring: MemoryKeyring, clock: Clock | None = None, **policy: Any) -> KeyService:
    return KeyService(
        caller, ring, self_mid=mid("alice"), clock=clock or Clock(), policy=FetchPolicy(**policy)
    )


def _sealed(
    text: str, *, sender: str = "bob", to: str = "alice", group: GroupKey | None = None
) -> EncryptedMessage:
    recipient: PeerPublicKey | GroupKey
    if group is not None:
        recipient = group
    else:
        pair = party_pair(to)
        recipient = PeerPublicKey(mid(to), pair.key_id, pair.public_key)
    return encrypt_text_reply(
        text, self_mid=mid(sender), own_key=party_pair(sender), recipient=recipient, random=os.urandom
    )


def _message(
    sealed: EncryptedMessage, *, sender: str = "bob", to: str | None = None, message_id: str = "m1"
) -> Message:
    target = to or mid("alice")
    return Message(
        from_=mid(sender),
        to=target,
        to_type=0 if target.startswith("u") else 2,
        id=message_id,
        content_type=0,
        content_metadata=sealed.content_metadata,
        chunks=tuple(sealed.chunks),
    )


def _wire(prefix: str) -> dict[str, Any]:
    (case,) = [c for c in vectors()["cases"] if c["kind"] == "wire" and c["name"].startswith(prefix)]
    return case


def _seq() -> Callable[[], int]:
    counter = iter(range(100))
    return lambda: next(counter)


# --- linejs's exchanges, byte for byte ----------------------------------------------------------------------


async def test_received_call_from_sync_fetches_the_peer_key_like_linejs() -> None:
    case = _wire("receive: sync op RECEIVE_MESSAGE")
    sync_exchange, negotiate = case["exchanges"]
    (op,) = service.parse_sync(h(sync_exchange["response_body_hex"])).operations
    assert isinstance(op, Operation)
    event = operation_to_event(op, own_mid=mid("alice"))
    assert isinstance(event, MessageReceived) and event.e2ee and event.text is None
    ring = _alice_ring()
    caller = ReplayCaller([negotiate])
    keys = _service(caller, ring)
    assert await decrypt_incoming(event, keys) == case["result"]["decrypted"]["text"] == "!call"
    assert not caller.exchanges
    assert ring.peer_public_key(mid("bob"), party_pair("bob").key_id) == party_pair("bob").public_key
    assert await decrypt_incoming(event, keys) == "!call"  # cached: no second negotiation


async def test_reply_to_an_encrypted_message_is_sealed_like_linejs() -> None:
    case = _wire("reply as TalkMessage.reply")
    caller = ReplayCaller(case["exchanges"])
    keys = _service(caller, _alice_ring())
    sent = await send_reply(
        caller,
        mid("bob"),
        _text_of(case),
        "600000000000000001",
        True,
        keys=keys,
        next_seq=_seq(),
        random=draws(case),
    )
    assert not caller.exchanges
    assert sent.id == case["result"]["id"]


async def test_plain_send_refused_with_e2ee_code_is_retried_encrypted_once() -> None:
    case = _wire("plain sendMessage answered with TalkException E2EE_RETRY_ENCRYPT")
    caller = ReplayCaller(case["exchanges"])
    keys = _service(caller, _alice_ring())
    sent = await send_reply(
        caller, mid("bob"), "!call ok", None, False, keys=keys, next_seq=_seq(), random=draws(case)
    )
    assert not caller.exchanges  # plain (seq 0) -> 82 -> negotiate -> sealed (seq 1)
    assert sent.id == case["result"]["id"]


async def test_group_reply_uses_the_last_group_key_like_linejs() -> None:
    case = _wire("sendMessage to a group with e2ee")
    caller = ReplayCaller(case["exchanges"])
    ring = _alice_ring()
    keys = _service(caller, ring)
    await send_reply(
        caller,
        group_key().chat_mid,
        _text_of(case),
        None,
        True,
        keys=keys,
        next_seq=_seq(),
        random=draws(case),
    )
    assert not caller.exchanges
    assert ring.group_key(group_key().chat_mid, 4242) == group_key()


async def test_group_without_a_key_gets_one_created_like_linejs() -> None:
    case = _wire("group send with no group key yet")
    caller = ReplayCaller(case["exchanges"])
    ring = _alice_ring()
    random = draws(case)
    keys = KeyService(caller, ring, self_mid=mid("alice"), random=random)
    await send_reply(
        caller, group_key().chat_mid, _text_of(case), None, True, keys=keys, next_seq=_seq(), random=random
    )
    assert not caller.exchanges  # NOT_FOUND -> getLastE2EEPublicKeys -> registerE2EEGroupKey -> sendMessage
    assert ring.group_key(group_key().chat_mid, 4242) == group_key()
    assert ring.peer_public_key(mid("carol"), party_pair("carol").key_id) == party_pair("carol").public_key


def _text_of(case: dict[str, Any]) -> str:
    """The text linejs sealed, read back as its recipient would."""
    chunks = [base64.b64decode(c) for c in case["encrypted_chunks_b64"][0]]
    to = case["result"]["to"]
    reader = "bob" if to == mid("bob") else "alice"
    result = decrypt_message(
        chunks,
        0,
        from_mid=mid("alice"),
        to_mid=to,
        to_type=case["result"]["toType"],
        self_mid=mid(reader),
        keyring=party_keyring(reader),
        content_metadata={"e2eeVersion": "2"},
    )
    assert result is not None and result.text is not None
    return result.text


# --- caching and bounded retries ------------------------------------------------------------------------------


def _not_found(call: TalkCall[Any]) -> TalkException:
    return TalkException(ErrorCode.NOT_FOUND, "no such key")


async def test_peer_key_is_fetched_once_and_cached() -> None:
    server = FakeServer(negotiateE2EEPublicKey=_negotiated("bob"))
    keys = _service(server, _alice_ring())
    for index in range(3):
        event = _message(_sealed(f"!call {index}"), message_id=f"m{index}")
        assert await decrypt_incoming(event, keys) == f"!call {index}"
    assert server.calls == ["negotiateE2EEPublicKey"]


async def test_rotated_peer_key_is_fetched_by_id() -> None:
    old_bob = party_pair("bob")
    new_bob = KeyPair.from_private(bytes(range(32)), 999)
    server = FakeServer(
        negotiateE2EEPublicKey=lambda call: rpc.NegotiationResult(
            rpc.E2EEPublicKey(1, new_bob.key_id, new_bob.public_key), 2
        ),
        getE2EEPublicKey=lambda call: _pub("bob"),
    )
    ring = _alice_ring()
    keys = _service(server, ring)
    assert await decrypt_incoming(_message(_sealed("old key")), keys) == "old key"
    assert server.calls == ["negotiateE2EEPublicKey", "getE2EEPublicKey"]
    assert ring.peer_public_key(mid("bob"), old_bob.key_id) == old_bob.public_key
    assert ring.peer_public_key(mid("bob"), new_bob.key_id) == new_bob.public_key  # current one kept too


async def test_missing_peer_key_is_retried_a_bounded_number_of_times() -> None:
    clock = Clock()
    server = FakeServer(
        negotiateE2EEPublicKey=lambda call: rpc.NegotiationResult(
            rpc.E2EEPublicKey(1, 1, bytes(range(1, 33))), 2
        ),
        getE2EEPublicKey=_not_found,
    )
    keys = _service(server, _alice_ring(), clock, max_attempts=3, cooldown=300.0)
    message = _message(_sealed("!call"))
    with structlog.testing.capture_logs() as logs:
        for _ in range(10):
            assert await decrypt_incoming(message, keys) is None
    assert server.calls == ["negotiateE2EEPublicKey", "getE2EEPublicKey"] * 3  # then cooling down
    assert [e["event"] for e in logs].count("e2ee.key_fetch_cooling_down") >= 1
    assert all(e.get("reason") == "unknown_peer_key" for e in logs if e["event"] == "e2ee.undecryptable")

    clock.now += 299.0
    assert await decrypt_incoming(message, keys) is None
    assert len(server.calls) == 6
    clock.now += 2.0  # cool-down over: another bounded set of attempts
    assert await decrypt_incoming(message, keys) is None
    assert len(server.calls) == 8


async def test_transport_failures_count_as_attempts() -> None:
    server = FakeServer(negotiateE2EEPublicKey=lambda call: OSError("connection reset"))
    keys = _service(server, _alice_ring(), max_attempts=2)
    message = _message(_sealed("!call"))
    for _ in range(5):
        assert await decrypt_incoming(message, keys) is None
    assert server.calls == ["negotiateE2EEPublicKey"] * 2


def _shared_for_alice(key: GroupKey, *, creator: str = "bob") -> GroupSharedKey:
    creator_pair, alice = party_pair(creator), party_pair("alice")
    wrapped = crypto.wrap(x25519(creator_pair.private_key, alice.public_key), key.private_key)
    return GroupSharedKey(
        2, key.key_id, mid(creator), creator_pair.key_id, mid("alice"), alice.key_id, wrapped
    )


async def test_group_key_is_fetched_with_its_creator_key_and_cached() -> None:
    server = FakeServer(
        getLastE2EEGroupSharedKey=lambda call: _shared_for_alice(group_key()),
        negotiateE2EEPublicKey=lambda call: rpc.NegotiationResult(_pub(_name_of(call)), 2),
    )
    ring = _alice_ring()
    keys = _service(server, ring)
    chat = group_key().chat_mid
    first = _message(_sealed("!call", sender="carol", group=group_key()), sender="carol", to=chat)
    assert await decrypt_incoming(first, keys) == "!call"
    # group key, its creator (bob), then the sender (carol)
    assert server.calls == ["getLastE2EEGroupSharedKey", "negotiateE2EEPublicKey", "negotiateE2EEPublicKey"]
    second = _message(
        _sealed("again", sender="bob", group=group_key()), sender="bob", to=chat, message_id="m2"
    )
    assert await decrypt_incoming(second, keys) == "again"
    assert len(server.calls) == 3


def _name_of(call: TalkCall[Any]) -> str:
    for name in ("alice", "bob", "carol"):
        if mid(name).encode() in call.body:
            return name
    raise AssertionError("unknown mid")


async def test_older_group_key_is_fetched_by_id() -> None:
    newer = GroupKey(group_key().chat_mid, 5000, bytes(range(32)))
    server = FakeServer(
        getLastE2EEGroupSharedKey=lambda call: _shared_for_alice(newer),
        getE2EEGroupSharedKey=lambda call: _shared_for_alice(group_key()),
    )
    ring = _alice_ring(peers=("bob",))
    keys = _service(server, ring)
    chat = group_key().chat_mid
    message = _message(_sealed("old group key", group=group_key()), to=chat)
    assert await decrypt_incoming(message, keys) == "old group key"
    assert server.calls == ["getLastE2EEGroupSharedKey", "getE2EEGroupSharedKey"]
    assert ring.group_key(chat, 4242) == group_key() and ring.group_key(chat, 5000) == newer


async def test_group_without_key_is_skipped_and_bounded() -> None:
    server = FakeServer(getLastE2EEGroupSharedKey=_not_found)
    keys = _service(server, _alice_ring(peers=("bob",)), max_attempts=3)
    chat = group_key().chat_mid
    message = _message(_sealed("!call", group=group_key()), to=chat)
    with structlog.testing.capture_logs() as logs:
        for _ in range(6):
            assert await decrypt_incoming(message, keys) is None
    assert server.calls == ["getLastE2EEGroupSharedKey"] * 3
    reasons = {e["reason"] for e in logs if e["event"] == "e2ee.undecryptable"}
    assert reasons == {"no_group_key"}


# --- the error boundary --------------------------------------------------------------------------------------


def _tampered(sealed: EncryptedMessage) -> EncryptedMessage:
    chunks = list(sealed.chunks)
    chunks[1] = bytes([chunks[1][0] ^ 1]) + chunks[1][1:]
    return EncryptedMessage(chunks, sealed.content_metadata)


def _bad_plaintext() -> EncryptedMessage:
    alice, bob = party_pair("alice"), party_pair("bob")
    chunks = crypto.encrypt_v2(
        x25519(bob.private_key, alice.public_key),
        b"not json {",
        to=mid("alice"),
        from_=mid("bob"),
        sender_key_id=bob.key_id,
        receiver_key_id=alice.key_id,
        random=os.urandom,
    )
    return EncryptedMessage(chunks.to_list(), {"e2eeVersion": "2", "contentType": "0", "e2eeMark": "2"})


def _wrong_own_key_id() -> EncryptedMessage:
    bob = party_pair("bob")
    alice = party_pair("alice")
    return encrypt_text_reply(
        "!call",
        self_mid=mid("bob"),
        own_key=bob,
        recipient=PeerPublicKey(mid("alice"), 4711, alice.public_key),
        random=os.urandom,
    )


FAILURES: dict[str, Callable[[], EncryptedMessage]] = {
    "unknown_own_key_id": _wrong_own_key_id,
    "authentication_failed": lambda: _tampered(_sealed("!call")),
    "malformed_chunks": lambda: EncryptedMessage(
        _sealed("!call").chunks[:4], _sealed("!call").content_metadata
    ),
    "unsupported_version": lambda: EncryptedMessage(_sealed("!call").chunks, {"e2eeVersion": "3"}),
    "bad_plaintext": _bad_plaintext,
}


@pytest.mark.parametrize("reason", sorted(FAILURES))
async def test_failures_are_classified_logged_with_ids_only_and_skipped(reason: str) -> None:
    server = FakeServer()
    keys = _service(server, _alice_ring(peers=("bob",)))
    sealed = FAILURES[reason]()
    with structlog.testing.capture_logs() as logs:
        assert await decrypt_incoming(_message(sealed, message_id="m-bad"), keys) is None
    (entry,) = [e for e in logs if e["event"] == "e2ee.undecryptable"]
    assert entry["reason"] == reason
    assert entry["message_id"] == "m-bad"
    _assert_no_secrets(logs)
    assert server.calls == []


def _assert_no_secrets(logs: list[dict[str, Any]]) -> None:
    text = repr(logs)
    for name in ("alice", "bob", "carol"):
        pair = party_pair(name)
        assert mid(name) not in text
        for secret in (pair.private_key, pair.public_key):
            assert secret.hex() not in text and base64.b64encode(secret).decode() not in text
    assert "!call" not in text


async def test_undecryptable_message_between_two_good_ones_is_skipped() -> None:
    server = FakeServer(negotiateE2EEPublicKey=_negotiated("bob"))
    keys = _service(server, _alice_ring())
    messages = [
        _message(_sealed("!call"), message_id="m1"),
        _message(_tampered(_sealed("!call")), message_id="m2"),
        _message(_sealed("!call now"), message_id="m3"),
    ]
    assert [await decrypt_incoming(m, keys) for m in messages] == ["!call", None, "!call now"]


async def test_unexpected_errors_stay_inside_the_boundary() -> None:
    server = FakeServer(negotiateE2EEPublicKey=lambda call: RuntimeError("bug"))
    keys = _service(server, _alice_ring())
    assert await decrypt_incoming(_message(_sealed("!call")), keys) is None

    class Broken(MemoryKeyring):
        def own_key(self, key_id: int) -> KeyPair | None:
            raise RuntimeError("store damaged")

    keys = _service(server, Broken())
    with structlog.testing.capture_logs() as logs:
        assert await decrypt_incoming(_message(_sealed("!call")), keys) is None
    assert [e["reason"] for e in logs if e["event"] == "e2ee.undecryptable"] == ["internal_error"]


async def test_plain_messages_pass_through_and_locations_give_no_text() -> None:
    keys = _service(FakeServer(), _alice_ring(peers=("bob",)))
    plain = Message(from_=mid("bob"), to=mid("alice"), to_type=0, id="p", text="!call", content_type=0)
    assert await decrypt_incoming(plain, keys) == "!call"
    from linecall.protocol.talk.e2ee.message import encrypt_location

    alice = party_pair("alice")
    located = encrypt_location(
        {"title": "here", "latitude": 1.0, "longitude": 2.0},
        self_mid=mid("bob"),
        own_key=party_pair("bob"),
        recipient=PeerPublicKey(mid("alice"), alice.key_id, alice.public_key),
        random=os.urandom,
    )
    message = Message(
        from_=mid("bob"),
        to=mid("alice"),
        to_type=0,
        id="loc",
        content_type=15,
        content_metadata=located.content_metadata,
        chunks=tuple(located.chunks),
    )
    assert await decrypt_incoming(message, keys) is None


# --- replies ---------------------------------------------------------------------------------------------------


def _echo(call: TalkCall[Any]) -> Message:
    decoded = service.decode_call(call.body)
    sent = Message.from_thrift(decoded.body.opt_struct(2) or decoded.body)
    return Message(
        from_=mid("alice"),
        to=sent.to,
        id="sent",
        text=sent.text,
        chunks=sent.chunks,
        content_metadata=sent.content_metadata,
        related_message_id=sent.related_message_id,
    )


async def test_reply_to_an_encrypted_message_arrives_encrypted_with_fresh_randomness() -> None:
    server = FakeServer(negotiateE2EEPublicKey=_negotiated("bob"), sendMessage=_echo)
    keys = _service(server, _alice_ring())
    first = await send_reply(server, mid("bob"), "calling you", "m1", True, keys=keys, next_seq=_seq())
    second = await send_reply(server, mid("bob"), "calling you", "m1", True, keys=keys, next_seq=_seq())
    for sent in (first, second):
        assert sent.text is None and sent.chunks is not None
        assert dict(sent.content_metadata or {}) == {"e2eeVersion": "2", "contentType": "0", "e2eeMark": "2"}
        assert sent.related_message_id == "m1"
        as_bob = decrypt_message(
            sent.chunks,
            0,
            from_mid=mid("alice"),
            to_mid=mid("bob"),
            to_type=0,
            self_mid=mid("bob"),
            keyring=party_keyring("bob"),
            content_metadata=sent.content_metadata,
        )
        assert as_bob is not None and as_bob.text == "calling you"
    assert first.chunks is not None and second.chunks is not None
    assert first.chunks[0] != second.chunks[0] and first.chunks[2] != second.chunks[2]  # salt, nonce


async def test_plain_send_is_retried_encrypted_only_once() -> None:
    refusals = iter(
        [TalkException(ErrorCode.E2EE_RETRY_ENCRYPT, "x"), TalkException(ErrorCode.E2EE_RETRY_ENCRYPT, "x")]
    )
    server = FakeServer(negotiateE2EEPublicKey=_negotiated("bob"), sendMessage=lambda call: next(refusals))
    keys = _service(server, _alice_ring())
    with pytest.raises(TalkException):
        await send_reply(server, mid("bob"), "hi", None, False, keys=keys, next_seq=_seq())
    assert server.calls == ["sendMessage", "negotiateE2EEPublicKey", "sendMessage"]


async def test_other_refusals_are_not_retried_and_sealed_sends_never_go_plain() -> None:
    server = FakeServer(sendMessage=lambda call: TalkException(ErrorCode.NOT_A_MEMBER, "x"))
    keys = _service(server, _alice_ring())
    with pytest.raises(TalkException):
        await send_reply(server, mid("bob"), "hi", None, False, keys=keys, next_seq=_seq())
    assert server.calls == ["sendMessage"]

    no_e2ee = FakeServer(
        negotiateE2EEPublicKey=lambda call: rpc.NegotiationResult(None, -1), sendMessage=_echo
    )
    keys = _service(no_e2ee, _alice_ring())
    with pytest.raises(errors.UnsupportedVersion):
        await send_reply(no_e2ee, mid("bob"), "hi", "m1", True, keys=keys, next_seq=_seq())
    assert "sendMessage" not in no_e2ee.calls

    keys = _service(no_e2ee, MemoryKeyring())  # no own key at all
    with pytest.raises(errors.UnknownOwnKeyId):
        await send_reply(no_e2ee, mid("bob"), "hi", "m1", True, keys=keys, next_seq=_seq())


def test_e2ee_codes_are_the_e2ee_error_codes() -> None:
    assert 82 in E2EE_ERROR_CODES and 99 in E2EE_ERROR_CODES and 81 in E2EE_ERROR_CODES
    assert ErrorCode.NOT_FOUND not in E2EE_ERROR_CODES and ErrorCode.SUCCESS not in E2EE_ERROR_CODES
