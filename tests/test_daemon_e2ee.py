"""Letter Sealing through the real daemon (in-process ``run_daemon``) against the product's LINE simulator.

The account's own E2EE key pair sits in the daemon's storage file (as ``linecall login`` / ``keys import``
leave it); everybody else's keys and the group key are served by :class:`E2EESim`'s key RPCs, fetched by
the daemon on demand. Alice and Bob seal their ``!call`` messages as their phones would; what the daemon
sends back is checked by decrypting it as the recipient would. Calls are real time with 1 s clips.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import structlog
import trio

from linecall.bot.calls import CallOutcome
from linecall.bot.daemon import Daemon
from linecall.bot.dispatch import REPLY_CALLING, REPLY_GROUP_JOIN, REPLY_GROUP_START
from linecall.bot.keystore import StoreKeyring
from linecall.bot.simulator.legy import RaiseTalk
from linecall.bot.simulator.legy_e2ee import E2EESim
from linecall.bot.simulator.line import (
    ACCOUNT_MID,
    ALICE_MID,
    BOB_MID,
    GROUP_MID,
    LineSimulator,
    running_line_simulator,
)
from linecall.bot.simulator.planet_relay import PeerScript
from linecall.bot.simulator.planet_relay import Refusal as PeerRefusal
from linecall.bot.store import Store
from linecall.protocol.talk.e2ee.keys import GroupKey, KeyPair, MemoryKeyring
from linecall.protocol.talk.e2ee.message import decrypt_message
from linecall.protocol.talk.structs import Message
from linecall.protocol.thrift.errors import ErrorCode
from tests.audio_match import audio_match
from tests.daemon_support import clean_env, daemon_settings, noise_wav, running_daemon

__all__ = ["clean_env"]

pytestmark = pytest.mark.realtime

OWN = KeyPair.from_private(bytes(range(1, 33)), 12345)
ALICE = KeyPair.from_private(bytes(range(33, 65)), 12648430)
BOB = KeyPair.from_private(bytes(range(65, 97)), 123456)
PAIRS = {ALICE_MID: ALICE, BOB_MID: BOB}
#: Fields an ``e2ee.undecryptable`` line may carry: ids, key ids, shortened MIDs, the reason. No text, no keys.
UNDECRYPTABLE_FIELDS = {"event", "log_level", "message_id", "chat", "reason", "key_id", "mid", "chat_mid"}


def storage_with_own_key(directory: Path) -> Path:
    """A storage file holding the account's key pair, as ``linecall login`` leaves it."""
    path = directory / "linecall.sqlite3"
    store = Store.open(path)
    try:
        StoreKeyring(store, ACCOUNT_MID).add_own(OWN)
    finally:
        store.close()
    return path


def letter_sealing(sim: LineSimulator) -> tuple[E2EESim, GroupKey]:
    """LINE's key server for the simulator: Alice, Bob and the account, and their group's key."""
    keys = E2EESim(sim.legy, OWN)
    keys.add_user(ALICE_MID, ALICE)
    keys.add_user(BOB_MID, BOB)
    group = keys.add_group(GROUP_MID, [ACCOUNT_MID, ALICE_MID, BOB_MID], creator=ALICE_MID)
    return keys, group


def open_as(reader: str, message: Message, group: GroupKey | None = None) -> str | None:
    """What ``reader``'s phone reads in a message the account sent (None: not encrypted text)."""
    ring = MemoryKeyring()
    ring.add_own(PAIRS[reader])
    ring.add_peer(ACCOUNT_MID, OWN.key_id, OWN.public_key)
    if group is not None:
        ring.add_group(group)
    opened = decrypt_message(
        message.chunks,
        message.content_type,
        from_mid=ACCOUNT_MID,
        to_mid=message.to or "",
        to_type=message.to_type if message.to_type is not None else (2 if group else 0),
        self_mid=reader,
        keyring=ring,
        content_metadata=message.content_metadata,
    )
    return None if opened is None else opened.text


def assert_sealed(message: Message, reader: str, text: str, group: GroupKey | None = None) -> None:
    assert message.text is None, "an encrypted chat's reply went out in the clear"
    assert message.chunks is not None and len(message.chunks) == 5
    assert open_as(reader, message, group) == text


async def wait_outcomes(daemon: Daemon, count: int) -> list[CallOutcome]:
    """The first ``count`` outcomes of chat-triggered calls, once they are in."""
    while daemon.dispatcher is None or len(daemon.dispatcher.outcomes) < count:
        await trio.sleep(0.01)
    return daemon.dispatcher.outcomes[:count]


async def test_encrypted_call_in_a_one_to_one_chat_is_dialled_and_answered_sealed(clean_env: Path) -> None:
    wav, pcm = noise_wav(clean_env)
    with trio.fail_after(15):
        async with running_line_simulator() as sim:
            keys, _group = letter_sealing(sim)
            sim.peer_script = PeerScript(ring_delay_s=0.1)
            settings = daemon_settings(sim, wav, line_storage_file=storage_with_own_key(clean_env))
            async with running_daemon(settings) as daemon:
                command = keys.push_sealed("!call", sender=ALICE_MID, message_id="m-alice")
                call = await sim.wait_call()
                await call.wait_for("cc/rel_req")
                (outcome,) = await wait_outcomes(daemon, 1)
    assert command.message is not None and command.message.text is None  # the server never saw "!call"
    assert call.peer == ALICE_MID and [r.to for r in sim.legy.call_route_requests] == [ALICE_MID]
    assert outcome.answered and outcome.packets_sent == 50
    assert audio_match(pcm, call.heard_pcm()) >= 0.9
    (reply,) = sim.sent_messages
    assert reply.message.to == ALICE_MID and reply.message.related_message_id == "m-alice"
    assert_sealed(reply.message, ALICE_MID, REPLY_CALLING)
    assert "negotiateE2EEPublicKey" in keys.calls  # Alice's key came from the server, on demand


async def test_own_encrypted_call_from_the_phone_rings_the_peer_and_every_reply_is_sealed(
    clean_env: Path,
) -> None:
    """The account types ``!call`` on its phone in its 1:1 chat with Bob: a SEND_MESSAGE sealed with the
    account's own key for Bob's. The daemon reads it (its own key and Bob's public key), rings Bob, and
    both replies (``calling`` and the failure) are sealed; their echoes are read and ignored."""
    wav, _pcm = noise_wav(clean_env)
    with trio.fail_after(15):
        async with running_line_simulator() as sim:
            keys, _group = letter_sealing(sim)
            sim.peer_script = PeerScript(refuse=PeerRefusal(result=486))
            settings = daemon_settings(sim, wav, line_storage_file=storage_with_own_key(clean_env))
            with structlog.testing.capture_logs() as logs:
                async with running_daemon(settings) as daemon:
                    keys.push_sealed("!call", sender=ACCOUNT_MID, to=BOB_MID, message_id="m-own")
                    await sim.wait_call()
                    while len(sim.sent_messages) < 2:
                        await trio.sleep(0.01)
                    echoes = sim.legy.head_revision
                    while daemon.store.get_revision().revision < echoes:
                        await trio.sleep(0.01)
    assert [r.to for r in sim.legy.call_route_requests] == [BOB_MID]
    calling, failed = (m.message for m in sim.sent_messages)
    assert calling.to == failed.to == BOB_MID
    assert_sealed(calling, BOB_MID, REPLY_CALLING)
    assert_sealed(failed, BOB_MID, "LINE refused the call (code 486)")
    assert not [e for e in logs if e["event"] in ("e2ee.undecryptable", "talk.handler_failed")]
    assert [e["event"] for e in logs].count("dispatch.call_accepted") == 1


@pytest.mark.parametrize("running", [False, True], ids=["start", "join"])
async def test_encrypted_call_in_a_group_joins_and_answers_with_the_group_key(
    clean_env: Path, running: bool
) -> None:
    wav, pcm = noise_wav(clean_env, seed=11)
    with trio.fail_after(15):
        async with running_line_simulator() as sim:
            keys, group = letter_sealing(sim)
            sim.set_group_call_online(GROUP_MID, running)
            settings = daemon_settings(sim, wav, line_storage_file=storage_with_own_key(clean_env))
            async with running_daemon(settings) as daemon:
                keys.push_sealed("!call", sender=BOB_MID, group=group, message_id="m-group")
                call = await sim.wait_call()
                await call.wait_ended()
                (outcome,) = await wait_outcomes(daemon, 1)
    assert call.is_group and call.peer == GROUP_MID and call.released_by_client
    assert sim.legy.group_route_requests[0].is_initial_host is (not running)
    assert outcome.joined_existing is running
    assert audio_match(pcm, call.heard_pcm()) >= 0.9
    (reply,) = sim.sent_messages
    assert reply.message.to == GROUP_MID and reply.message.related_message_id == "m-group"
    expected = REPLY_GROUP_JOIN if running else REPLY_GROUP_START
    assert_sealed(reply.message, ALICE_MID, expected, group)  # every member reads it, not only the sender
    assert_sealed(reply.message, BOB_MID, expected, group)


def _secrets() -> list[str]:
    """Strings that must never appear in a log line: plaintext, key material, whole MIDs."""
    out = ["!call", ACCOUNT_MID, ALICE_MID, BOB_MID, GROUP_MID]
    for pair in (OWN, ALICE, BOB):
        for key in (pair.private_key, pair.public_key):
            out += [key.hex(), base64.b64encode(key).decode(), repr(key)]
    return out


async def test_undecryptable_message_between_two_good_ones_is_skipped_and_never_handled_again(
    clean_env: Path,
) -> None:
    wav, pcm = noise_wav(clean_env, seed=5)
    store = storage_with_own_key(clean_env)
    with trio.fail_after(20):
        async with running_line_simulator() as sim:
            keys, group = letter_sealing(sim)
            sim.set_group_call_online(GROUP_MID, True)
            settings = daemon_settings(sim, wav, line_storage_file=store)
            with structlog.testing.capture_logs() as logs:
                async with running_daemon(settings) as daemon:
                    keys.push_sealed("!call", sender=ALICE_MID, message_id="m-good-1")
                    bad = keys.push_sealed("!call", sender=BOB_MID, message_id="m-bad", tamper=True)
                    last = keys.push_sealed("!call", sender=BOB_MID, group=group, message_id="m-good-2")
                    calls = [await sim.wait_call(0), await sim.wait_call(1)]
                    for call in calls:
                        await call.wait_ended()
                    await wait_outcomes(daemon, 2)
                    while daemon.listener_health.last_sync_ok is None:
                        await trio.sleep(0.01)
                    errors = daemon.listener_health.consecutive_failures
                first_run = list(logs)
                replies_before = len(sim.sent_messages)
                saved = Store.open(store)
                revision = saved.get_revision()
                saved.close()
                # Restarted on the same storage: none of the three is delivered, dialled or logged again.
                async with running_daemon(settings) as second:
                    synced_at = second.listener_health.last_sync_ok
                    while second.listener_health.last_sync_ok in (None, synced_at):
                        await trio.sleep(0.02)
                    await trio.sleep(0.3)
                second_run = logs[len(first_run) :]

    assert errors == 0
    assert sorted(c.peer for c in calls) == sorted([ALICE_MID, GROUP_MID])
    assert all(audio_match(pcm, c.heard_pcm()) >= 0.9 for c in calls)
    assert [r.to for r in sim.legy.call_route_requests] == [ALICE_MID]  # never Bob: his 1:1 command was bad
    assert [r.chat_mid for r in sim.legy.group_route_requests] == [GROUP_MID]
    by_chat = {m.message.to or "": m.message for m in sim.sent_messages}
    assert sorted(by_chat) == sorted([ALICE_MID, GROUP_MID])  # nothing into Bob's 1:1 chat
    assert_sealed(by_chat[ALICE_MID], ALICE_MID, REPLY_CALLING)
    assert_sealed(by_chat[GROUP_MID], ALICE_MID, REPLY_GROUP_JOIN, group)

    skipped = [e for e in first_run if e["event"] == "e2ee.undecryptable"]
    assert len(skipped) == 1, skipped
    (line,) = skipped
    assert line["message_id"] == "m-bad" and line["reason"] == "authentication_failed"
    assert set(line) <= UNDECRYPTABLE_FIELDS, sorted(set(line) - UNDECRYPTABLE_FIELDS)
    assert not [s for s in _secrets() if s in repr(line)]
    assert bad.message is not None and bad.message.id == "m-bad"

    # the cursor moved past all three; the restart handled nothing
    assert last.revision is not None and revision.revision >= last.revision
    assert len(sim.sent_messages) == replies_before and len(sim.calls) == 2
    assert not [e for e in second_run if e["event"] in ("e2ee.undecryptable", "dispatch.call_accepted")]


@pytest.mark.parametrize("refusals", [1, 2], ids=["sealed-accepted", "sealed-refused-too"])
async def test_plain_reply_refused_for_letter_sealing_is_resent_sealed_once(
    clean_env: Path, refusals: int
) -> None:
    wav, _pcm = noise_wav(clean_env)
    refused_call = "LINE refused the call (code 486)"
    with trio.fail_after(15):
        async with running_line_simulator() as sim:
            letter_sealing(sim)
            sim.peer_script = PeerScript(refuse=PeerRefusal(result=486))  # the call ends at once
            refusal = RaiseTalk(ErrorCode.E2EE_RETRY_ENCRYPT, "encrypt this chat")
            sim.inject("sendMessage", *[refusal] * refusals)
            settings = daemon_settings(sim, wav, line_storage_file=storage_with_own_key(clean_env))
            with structlog.testing.capture_logs() as logs:
                async with running_daemon(settings):
                    sim.say("!call")  # a plain command: its reply is tried plain first
                    await sim.wait_reply(refused_call, chat=ALICE_MID)
    sends = [
        Message.from_thrift(r.args.opt_struct(2) or r.args)
        for r in sim.legy.requests
        if r.method == "sendMessage"
    ]
    plain, sealed, after = sends  # one retry, never a third attempt
    assert plain.text == REPLY_CALLING and plain.chunks is None
    assert_sealed(sealed, ALICE_MID, REPLY_CALLING)
    # only the refused send is resealed; the next reply in this (plain) chat goes out plain as usual
    assert after.text == refused_call and after.chunks is None
    assert [m.message for m in sim.sent_messages] == ([sealed, after] if refusals == 1 else [after])
    seqs = [r.args.opt_i32(1) for r in sim.legy.requests if r.method == "sendMessage"]
    assert len(set(seqs)) == 3  # every attempt takes its own reqSeq
    assert sim.legy.pending_faults == 0 and len(sim.legy.call_route_requests) == 1
    failed = [e for e in logs if e["event"] == "dispatch.reply_failed"]
    assert [e.get("code") for e in failed] == ([] if refusals == 1 else ["E2EE_RETRY_ENCRYPT"])
