"""Typed events from sync operations: messages sent/received and incoming/cancelled calls.

linejs's ``Client.listen`` turns SEND_MESSAGE (25) and RECEIVE_MESSAGE (26) into ``message`` events, and
NOTIFIED_RECEIVED_CALL (50) / CANCEL_CALL (51) into ``call:incoming`` / ``call:cancel`` with
``callMid = param1, from = param2, kind|reason = param3`` (talk-map §4.7, §7). That parameter mapping is
linejs's unverified assumption; it is kept because nothing better is known.

For messages, the chat kind and the reply target follow talk-map §4.9: ``toType`` USER is a 1:1 chat,
GROUP or ROOM a group chat (the MID's first letter stands in when ``toType`` is absent); a reply goes to
``to`` in a group, and in a 1:1 chat to ``to`` when the message is ours and to ``from`` otherwise.

:func:`operation_to_event` is pure. It returns ``None`` for operations linecall does not act on and raises
:class:`MalformedOperationError` for one it should act on but cannot (so the listener logs and skips that
single operation instead of stopping; linejs's listener dies there, §8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TypeAlias

from linecall.protocol.talk.structs import (
    ContentType,
    Message,
    MessageRelationType,
    MidType,
    Operation,
    OpType,
    UndecodableOperation,
)


class MalformedOperationError(ValueError):
    """An operation of a kind linecall handles whose content does not fit (no message, no sender, ...)."""


class ChatKind(Enum):
    """Where a message was said, as far as calling is concerned."""

    DIRECT = "direct"  # 1:1 chat (toType USER): a 1:1 call goes to the peer
    GROUP = "group"  # group or room chat (toType GROUP / ROOM): a group call in that chat
    OTHER = "other"  # squares, bots, threads: linejs's example refuses these


# First letter of a MID -> its MIDType (talk-map §4.9; linejs's getToType).
_MID_PREFIXES: dict[str, MidType] = {
    "u": MidType.USER,
    "r": MidType.ROOM,
    "c": MidType.GROUP,
    "s": MidType.SQUARE,
    "m": MidType.SQUARE_CHAT,
    "p": MidType.SQUARE_MEMBER,
    "v": MidType.BOT,
    "t": MidType.SQUARE_THREAD,
}


def mid_type_of(mid: str) -> MidType | None:
    """The MIDType a MID's first letter stands for, or None for an unknown prefix."""
    return _MID_PREFIXES.get(mid[:1])


def chat_kind_of(to_type: MidType | int | None) -> ChatKind:
    if to_type == MidType.USER:
        return ChatKind.DIRECT
    if to_type in (MidType.GROUP, MidType.ROOM):
        return ChatKind.GROUP
    return ChatKind.OTHER


@dataclass(frozen=True, slots=True)
class _MessageEvent:
    """Fields shared by :class:`MessageReceived` and :class:`MessageSent`.

    ``reply_target`` is the MID a reply (or a 1:1 call) goes to: the chat MID in a group/room, the peer in
    a 1:1 chat. ``message_id`` is what a reply names as its ``relatedMessageId``. ``related_message_id`` is
    the message this one itself replies to, when it is a reply. ``text`` is None for E2EE messages
    (``e2ee`` True; the ciphertext is in ``message.chunks``).
    """

    revision: int | None
    message_id: str | None
    sender: str
    to: str
    to_type: MidType | int | None
    chat_kind: ChatKind
    reply_target: str
    text: str | None = field(repr=False)
    content_type: ContentType | int | None
    related_message_id: str | None
    e2ee: bool
    message: Message = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class MessageReceived(_MessageEvent):
    """RECEIVE_MESSAGE (26): someone else's message in a chat we are in."""


@dataclass(frozen=True, slots=True)
class MessageSent(_MessageEvent):
    """SEND_MESSAGE (25): a message of this account, from any of its devices (including our own replies)."""


@dataclass(frozen=True, slots=True)
class CallIncoming:
    """NOTIFIED_RECEIVED_CALL (50): someone is calling us. ``kind`` is param3 (e.g. "AUDIO")."""

    revision: int | None
    call_mid: str
    sender: str
    kind: str | None


@dataclass(frozen=True, slots=True)
class CallCancel:
    """CANCEL_CALL (51): a call to us was cancelled. ``reason`` is param3 (e.g. "CANCEL")."""

    revision: int | None
    call_mid: str
    sender: str
    reason: str | None


Event: TypeAlias = MessageReceived | MessageSent | CallIncoming | CallCancel


def operation_to_event(op: Operation | UndecodableOperation, *, own_mid: str | None = None) -> Event | None:
    """The typed event for ``op``, ``None`` if linecall does not act on its type.

    ``own_mid`` (the Profile's MID) decides a 1:1 reply target as talk-map §4.9 does (``from == own``);
    without it the operation type decides (SEND_MESSAGE is ours, RECEIVE_MESSAGE is not).
    Raises :class:`MalformedOperationError` for an undecodable operation or a message/call operation whose
    required parts are missing.
    """
    if isinstance(op, UndecodableOperation):
        raise MalformedOperationError(f"operation type {op.type} at revision {op.revision}: {op.error}")
    if op.type in (OpType.SEND_MESSAGE, OpType.RECEIVE_MESSAGE):
        return _message_event(op, own_mid)
    if op.type == OpType.NOTIFIED_RECEIVED_CALL:
        # linejs substitutes "" for a missing param1/param2 (MO:365-372); so do we.
        return CallIncoming(op.revision, op.param1 or "", op.param2 or "", op.param3)
    if op.type == OpType.CANCEL_CALL:
        return CallCancel(op.revision, op.param1 or "", op.param2 or "", op.param3)
    return None


def _message_event(op: Operation, own_mid: str | None) -> MessageReceived | MessageSent:
    message = op.message
    if message is None:
        raise MalformedOperationError(f"message operation at revision {op.revision} carries no message")
    sender, to = message.from_, message.to
    if not sender or not to:
        raise MalformedOperationError(f"message at revision {op.revision} lacks its sender or recipient")
    to_type = message.to_type if message.to_type is not None else mid_type_of(to)
    kind = chat_kind_of(to_type)
    sent = op.type == OpType.SEND_MESSAGE
    ours = sender == own_mid if own_mid is not None else sent
    # Group/room: the chat itself. 1:1: the peer, i.e. `to` for our own message and `from` otherwise.
    reply_target = (to if ours else sender) if kind == ChatKind.DIRECT else to
    related = message.related_message_id
    if message.message_relation_type not in (None, MessageRelationType.REPLY):
        related = None  # a forward or auto-reply link is not a reply target
    cls = MessageSent if sent else MessageReceived
    return cls(
        revision=op.revision,
        message_id=message.id,
        sender=sender,
        to=to,
        to_type=to_type,
        chat_kind=kind,
        reply_target=reply_target,
        text=message.text,
        content_type=message.content_type,
        related_message_id=related,
        e2ee=message.is_e2ee,
        message=message,
    )
