"""The key RPCs of e2ee-map §3 and the encrypted sends, byte for byte against e2ee.json's wire cases.

Each case replays linejs's exchange: our request bodies (key RPCs from ``e2ee.rpc``, the sendMessage from
``talk.service`` around chunks made by ``e2ee.message``) must equal linejs's, and the scripted answers
must parse into the keys the next step needs. registerE2EEPublicKey is the one deliberate difference: raw
32-byte keyData instead of linejs's base64 text. /ECA5 (compact E2EE send) is not built.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.talk import service
from linecall.protocol.talk.e2ee import rpc
from linecall.protocol.talk.e2ee.group import create_group_key, open_group_shared_key
from linecall.protocol.talk.e2ee.keys import KeyPair, PeerPublicKey
from linecall.protocol.talk.e2ee.message import decrypt_message, encrypt_text_reply
from linecall.protocol.talk.structs import Operation
from linecall.protocol.thrift.codec import encode_message
from linecall.protocol.thrift.errors import ErrorCode, TalkException, ThriftError
from linecall.protocol.thrift.values import MessageType, Protocol, Struct, TList, TMessage, TType
from tests.e2ee_support import draws, group_key, mid, party_keyring, party_pair, vectors

h = bytes.fromhex


def _wire(prefix: str) -> dict[str, Any]:
    (case,) = [c for c in vectors()["cases"] if c["kind"] == "wire" and c["name"].startswith(prefix)]
    return case


def _exchange(case: dict[str, Any], index: int, method: str) -> tuple[bytes, bytes]:
    exchange = case["exchanges"][index]
    assert exchange["method"] == method
    assert exchange["path"] == "/S4"
    return h(exchange["request_body_hex"]), h(exchange["response_body_hex"])


def _negotiate(case: dict[str, Any], index: int) -> PeerPublicKey:
    request, response = _exchange(case, index, "negotiateE2EEPublicKey")
    call = rpc.negotiate_e2ee_public_key(mid("bob"))
    assert (call.method, call.path, call.body) == ("negotiateE2EEPublicKey", "/S4", request)
    result = call.parse(response)
    assert result.supports_e2ee
    assert result.spec_version == 2
    assert result.allowed_types == frozenset({1, 2, 15})
    assert result.public_key is not None
    peer = result.public_key.for_peer(mid("bob"))
    assert (peer.key_id, peer.public_key) == (party_pair("bob").key_id, party_pair("bob").public_key)
    return peer


def _encrypted_send(
    case: dict[str, Any], index: int, *, recipient: Any, seq: int = 0, related: str | None = None
) -> None:
    request, _ = _exchange(case, index, "sendMessage")
    to = recipient.mid if isinstance(recipient, PeerPublicKey) else recipient.chat_mid
    sent = encrypt_text_reply(
        _sent_text(case),
        self_mid=mid("alice"),
        own_key=party_pair("alice"),
        recipient=recipient,
        random=draws(case),
    )
    assert [base64.b64encode(c).decode() for c in sent.chunks] == case["encrypted_chunks_b64"][0]
    call = service.send_message(
        seq,
        to,
        content_type=0,
        content_metadata=sent.content_metadata,
        chunks=sent.chunks,
        related_message_id=related,
    )
    assert call.body == request


def _sent_text(case: dict[str, Any]) -> str:
    """The text linejs encrypted, recovered by decrypting its chunks as the recipient."""
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


def test_send_message_one_to_one() -> None:
    case = _wire("sendMessage 1:1 with e2ee")
    peer = _negotiate(case, 0)
    _encrypted_send(case, 1, recipient=peer)


def test_reply_to_an_encrypted_message() -> None:
    case = _wire("reply as TalkMessage.reply")
    peer = _negotiate(case, 0)
    _encrypted_send(case, 1, recipient=peer, related="600000000000000001")


def test_group_send_with_an_existing_group_key() -> None:
    case = _wire("sendMessage to a group with e2ee")
    request, response = _exchange(case, 0, "getLastE2EEGroupSharedKey")
    call = rpc.get_last_e2ee_group_shared_key(group_key().chat_mid)
    assert call.body == request
    shared = call.parse(response)
    assert (shared.group_key_id, shared.receiver, shared.receiver_key_id) == (4242, mid("alice"), 12345)
    opened = open_group_shared_key(shared, group_key().chat_mid, party_keyring("alice", with_group=False))
    assert opened == group_key()
    _encrypted_send(case, 1, recipient=opened)


def test_plain_send_refused_with_e2ee_code_is_retried_encrypted() -> None:
    case = _wire("plain sendMessage answered with TalkException E2EE_RETRY_ENCRYPT")
    request, response = _exchange(case, 0, "sendMessage")
    plain = service.send_message(0, mid("bob"), "!call ok")
    assert plain.body == request
    with pytest.raises(TalkException) as refused:
        plain.parse(response)
    assert refused.value.code == ErrorCode.E2EE_RETRY_ENCRYPT == 82
    assert "E2EE" in refused.value.code_name
    peer = _negotiate(case, 1)
    _encrypted_send(case, 2, recipient=peer, seq=1)


def test_register_public_key_sends_raw_key_bytes() -> None:
    case = _wire("registerE2EEKeyPair")
    linejs_request, response = _exchange(case, 0, "registerE2EEPublicKey")
    pair = KeyPair.from_private(h(case["random_draws"][0]["bytes_hex"]), 0)
    assert pair.public_key.hex() == case["result"]["returned"]["pubKey"]
    as_text = base64.b64encode(pair.public_key)  # what linejs put into keyData (44 bytes)
    assert (b"\x28\x2c" + as_text) in linejs_request
    expected = linejs_request.replace(b"\x28\x2c" + as_text, b"\x28\x20" + pair.public_key)
    call = rpc.register_e2ee_public_key(pair.public_key)
    assert call.body == expected
    registered = call.parse(response)
    assert registered.key_id == case["result"]["returned"]["keyId"] == 777
    with pytest.raises(ValueError):
        rpc.register_e2ee_public_key(as_text)


def test_group_send_creates_the_group_key_first() -> None:
    case = _wire("group send with no group key yet")
    chat = group_key().chat_mid
    request, response = _exchange(case, 0, "getLastE2EEGroupSharedKey")
    call = rpc.get_last_e2ee_group_shared_key(chat)
    assert call.body == request
    with pytest.raises(TalkException) as missing:
        call.parse(response)
    assert missing.value.code == ErrorCode.NOT_FOUND

    request, response = _exchange(case, 1, "getLastE2EEPublicKeys")
    keys_call = rpc.get_last_e2ee_public_keys(chat)
    assert keys_call.body == request
    keys = keys_call.parse(response)
    assert list(keys) == [mid("alice"), mid("bob"), mid("carol")]
    members = rpc.member_keys(keys)
    assert [(m.key_id, m.public_key) for m in members] == [
        (party_pair(n).key_id, party_pair(n).public_key) for n in ("alice", "bob", "carol")
    ]

    request, response = _exchange(case, 2, "registerE2EEGroupKey")
    random = draws(case)
    registration = create_group_key(chat, party_pair("alice"), members, random)
    register = rpc.register_e2ee_group_key(registration)
    assert register.body == request
    shared = register.parse(response)
    opened = open_group_shared_key(shared, chat, party_keyring("alice", with_group=False))
    assert opened == group_key()

    request, _ = _exchange(case, 3, "sendMessage")
    sent = encrypt_text_reply(
        _sent_text(case), self_mid=mid("alice"), own_key=party_pair("alice"), recipient=opened, random=random
    )
    assert [base64.b64encode(c).decode() for c in sent.chunks] == case["encrypted_chunks_b64"][0]
    assert (
        service.send_message(0, chat, content_metadata=sent.content_metadata, chunks=sent.chunks).body
        == request
    )


def test_received_encrypted_call_from_sync() -> None:
    case = _wire("receive: sync op RECEIVE_MESSAGE")
    (exchange, negotiate) = case["exchanges"]
    response = service.parse_sync(h(exchange["response_body_hex"]))
    (op,) = response.operations
    assert isinstance(op, Operation)
    message = op.message
    assert message is not None and message.is_e2ee
    assert message.chunks == tuple(base64.b64decode(c) for c in case["chunks_b64"])
    result = decrypt_message(
        message.chunks,
        message.content_type,
        from_mid=message.from_ or "",
        to_mid=message.to or "",
        to_type=message.to_type,
        self_mid=mid("alice"),
        keyring=party_keyring("alice"),
        content_metadata=message.content_metadata,
    )
    assert result is not None
    assert result.text == case["result"]["decrypted"]["text"] == "!call"
    # linejs negotiated bob's key here because its cache was empty; ours asks by (mid, key id) instead.
    assert negotiate["method"] == "negotiateE2EEPublicKey"
    by_id = rpc.get_e2ee_public_key(mid("bob"), party_pair("bob").key_id)
    assert by_id.body == bytes.fromhex(
        "822100106765744532454550"
        + "75626c69634b6579"
        + "2821"
        + mid("bob").encode().hex()
        + "1502"
        + "15dcff870c"
        + "0000"
    )


def test_own_key_list_for_the_qr_check() -> None:
    call = rpc.get_e2ee_public_keys()
    assert call.body == bytes.fromhex("82210011") + b"getE2EEPublicKeys" + b"\x00"
    alice = party_pair("alice")
    key = rpc.E2EEPublicKey(1, alice.key_id, alice.public_key, 1767225600000)
    result = Struct({0: TList(TType.STRUCT, (key.to_thrift(),))})
    reply = encode_message(Protocol.COMPACT, TMessage("getE2EEPublicKeys", MessageType.REPLY, 0, result))
    assert call.parse(reply) == (key,)
    assert rpc.registered_key_map(call.parse(reply)) == {alice.key_id: alice.public_key}


def test_group_key_by_id_request() -> None:
    call = rpc.get_e2ee_group_shared_key(group_key().chat_mid, 4241)
    assert call.method == "getE2EEGroupSharedKey"
    assert call.body.endswith(b"\x25\x04\x18\x21" + group_key().chat_mid.encode() + b"\x15\xa2\x42\x00\x00")


_PARSERS = {
    "negotiateE2EEPublicKey": rpc.parse_negotiate_e2ee_public_key,
    "getLastE2EEGroupSharedKey": rpc.parse_get_last_e2ee_group_shared_key,
    "getLastE2EEPublicKeys": rpc.parse_get_last_e2ee_public_keys,
    "registerE2EEGroupKey": rpc.parse_register_e2ee_group_key,
    "registerE2EEPublicKey": rpc.parse_register_e2ee_public_key,
}


def _replies() -> list[tuple[str, bytes]]:
    try:
        cases = vectors()["cases"]
    except pytest.skip.Exception:
        return []
    return [
        (ex["method"], h(ex["response_body_hex"]))
        for case in cases
        if case["kind"] == "wire"
        for ex in case.get("exchanges", [])
        if ex["method"] in _PARSERS
    ]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_reply_parsers_only_raise_thrift_errors(data: st.DataObject) -> None:
    """Real replies, truncated or bit-flipped, and random bytes: ThriftError subclasses only."""
    replies = _replies()
    method, body = data.draw(st.sampled_from(replies))
    mutated = bytearray(body)
    action = data.draw(st.sampled_from(["cut", "flip", "random"]))
    if action == "cut":
        del mutated[data.draw(st.integers(0, len(mutated))) :]
    elif action == "flip":
        mutated[data.draw(st.integers(0, len(mutated) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    else:
        mutated = bytearray(data.draw(st.binary(max_size=120)))
    with contextlib.suppress(ThriftError):
        _PARSERS[method](bytes(mutated))
