"""Letter Sealing end to end against the loopback legy server (TalkClient over HTTP, the simulator's key
RPCs): encrypted ``!call`` messages in a 1:1 chat and in a group arrive through ``sync``, are decrypted with
keys fetched on demand, and answered with encrypted replies; an undecryptable message between them is
skipped without stopping anything."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from linecall.bot.keystore import StoreKeyring
from linecall.bot.store import Store
from linecall.protocol.talk.e2ee.keys import KeyPair, MemoryKeyring
from linecall.protocol.talk.e2ee.keyservice import KeyService
from linecall.protocol.talk.e2ee.message import decrypt_message
from linecall.protocol.talk.e2ee.messaging import decrypt_incoming, send_reply
from linecall.protocol.talk.events import MessageReceived, operation_to_event
from linecall.protocol.talk.structs import Message, RevisionTriple
from tests.sim.legy import LegyServer, running_legy_server
from tests.sim.legy_e2ee import E2EESim
from tests.talk_sim_support import GROUP_MID, OWN_MID, PEER_MID, V3, make_client

CAROL_MID = "u" + "4" * 32
OWN = KeyPair.from_private(bytes(range(1, 33)), 12345)
BOB = KeyPair.from_private(bytes(range(33, 65)), 12648430)
CAROL = KeyPair.from_private(bytes(range(65, 97)), 123456)


@pytest.fixture
async def server() -> AsyncIterator[LegyServer]:
    async with running_legy_server(sync_hold=0.2, mid=OWN_MID) as srv:
        srv.accept(V3, via="gateway")
        yield srv


async def test_encrypted_call_commands_are_decrypted_and_answered_encrypted(server: LegyServer) -> None:
    sim = E2EESim(server, OWN)
    sim.add_user(PEER_MID, BOB)
    sim.add_user(CAROL_MID, CAROL)
    group = sim.add_group(GROUP_MID, [OWN_MID, PEER_MID, CAROL_MID], creator=PEER_MID)
    sim.push_sealed("!call", sender=PEER_MID, message_id="m-1to1")
    sim.push_sealed("!call", sender=PEER_MID, message_id="m-tampered", tamper=True)
    sim.push_sealed("!call", sender=CAROL_MID, group=group, message_id="m-group")

    store = Store.open(None)
    ring = StoreKeyring(store, OWN_MID)
    ring.add_own(OWN)
    client = make_client(server, V3, store)
    keys = KeyService(client, ring, self_mid=OWN_MID)
    handled: list[str] = []
    async with client:
        response = await client.sync(RevisionTriple())
        for op in response.operations:
            event = operation_to_event(op, own_mid=OWN_MID)  # type: ignore[arg-type]
            assert isinstance(event, MessageReceived) and event.e2ee
            if await decrypt_incoming(event, keys) != "!call":
                continue
            handled.append(event.message_id or "")
            await send_reply(
                client,
                event.reply_target,
                "calling",
                event.message_id,
                event.e2ee,
                keys=keys,
                next_seq=store.next_req_seq,
            )
    assert handled == ["m-1to1", "m-group"]
    # keys fetched on demand: bob's (1:1 sender and group-key creator), the group key, carol's
    assert sim.calls.count("getLastE2EEGroupSharedKey") == 2  # receive, then the reply's refetch
    assert ring.group_key(GROUP_MID, group.key_id) == group
    assert ring.peer_public_key(CAROL_MID, CAROL.key_id) == CAROL.public_key

    one, grouped = (sent.message for sent in server.sent_messages)
    assert one.text is None and grouped.text is None
    assert one.related_message_id == "m-1to1" and grouped.related_message_id == "m-group"
    as_bob = MemoryKeyring()
    as_bob.add_own(BOB)
    as_bob.add_peer(OWN_MID, OWN.key_id, OWN.public_key)
    opened = decrypt_message(
        one.chunks,
        0,
        from_mid=OWN_MID,
        to_mid=PEER_MID,
        to_type=0,
        self_mid=PEER_MID,
        keyring=as_bob,
        content_metadata=one.content_metadata,
    )
    assert opened is not None and opened.text == "calling"
    as_carol = MemoryKeyring()
    as_carol.add_own(CAROL)
    as_carol.add_peer(OWN_MID, OWN.key_id, OWN.public_key)
    as_carol.add_group(group)
    opened = decrypt_message(
        grouped.chunks,
        0,
        from_mid=OWN_MID,
        to_mid=GROUP_MID,
        to_type=2,
        self_mid=CAROL_MID,
        keyring=as_carol,
        content_metadata=grouped.content_metadata,
    )
    assert opened is not None and opened.text == "calling"
    store.close()


async def test_plain_reply_refused_by_the_server_is_sent_encrypted(server: LegyServer) -> None:
    from tests.sim.legy import RaiseTalk

    sim = E2EESim(server, OWN)
    sim.add_user(PEER_MID, BOB)
    server.inject("sendMessage", RaiseTalk(82, "retry with e2ee"))
    store = Store.open(None)
    ring = StoreKeyring(store, OWN_MID)
    ring.add_own(OWN)
    async with make_client(server, V3, store) as client:
        keys = KeyService(client, ring, self_mid=OWN_MID)
        await send_reply(client, PEER_MID, "hello", None, False, keys=keys, next_seq=store.next_req_seq)
    sends = [r for r in server.requests if r.method == "sendMessage"]
    plain, sealed = (Message.from_thrift(r.args.opt_struct(2) or r.args) for r in sends)
    assert plain.text == "hello" and plain.chunks is None
    assert sealed.text is None and sealed.chunks is not None and len(sealed.chunks) == 5
    assert [r.args.opt_i32(1) for r in sends] == [0, 1]
    store.close()
