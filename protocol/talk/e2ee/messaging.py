"""What the daemon calls for Letter Sealing: read one incoming message safely, send a reply the right way.

:func:`decrypt_incoming` is the per-message error boundary of e2ee-map §8.3. linejs's listener dies on the
first message it cannot decrypt (§8.2); here every failure is classified by its
:class:`~.errors.E2EEError` subclass, logged with ids only (message id, key ids, shortened MIDs; never keys,
never text) and turned into ``None``: the message is skipped, is never treated as a command, and the
listener and its revision cursor carry on.

:func:`send_reply` encrypts a reply to an encrypted message (v2, fresh salt and nonce, the metadata of
§4.8) and retries a plain send once, encrypted, when the server refuses it with an E2EE error code (82
E2EE_RETRY_ENCRYPT and the other E2EE_* codes, as linejs does, TS:172-183). It never falls back from
encrypted to plain.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

import structlog

from linecall.protocol.talk import service
from linecall.protocol.talk.events import MessageReceived, MessageSent
from linecall.protocol.talk.structs import Message
from linecall.protocol.thrift.errors import ErrorCode, TalkException

from .errors import E2EEError, log_fields, short_mid
from .keys import Random
from .keyservice import KeyService, TalkCaller
from .message import encrypt_text_reply, is_e2ee_message

__all__ = ["E2EE_ERROR_CODES", "decrypt_incoming", "is_e2ee_refusal", "send_reply"]

log = structlog.get_logger(__name__)

#: TalkException codes that say "this chat wants Letter Sealing" (every ErrorCode named E2EE_*).
E2EE_ERROR_CODES: Final = frozenset(int(code) for code in ErrorCode if "E2EE" in code.name)


def is_e2ee_refusal(exc: BaseException) -> bool:
    """True for a TalkException whose code is one of the E2EE_* codes (81-100)."""
    return isinstance(exc, TalkException) and exc.code in E2EE_ERROR_CODES


def _message_of(event: MessageReceived | MessageSent | Message) -> Message:
    return event if isinstance(event, Message) else event.message


async def decrypt_incoming(event: MessageReceived | MessageSent | Message, keys: KeyService) -> str | None:
    """The text the dispatcher should see for one incoming message, or None to skip it.

    Plain messages give their ``text`` unchanged. Encrypted text messages (chunks, contentType text) are
    decrypted, fetching missing peer and group keys through ``keys`` (bounded, cached). Anything that
    cannot be read -- and encrypted content that is not text, such as a location -- gives None. Never
    raises (short of cancellation): one bad message must not stop the listener.
    """
    message = _message_of(event)
    if not is_e2ee_message(message.chunks, message.content_type):
        return message.text
    chat = message.to or ""
    try:
        if not message.from_ or not message.to:
            log.warning("e2ee.undecryptable", reason="malformed_message", message_id=message.id)
            return None
        content = await keys.open_message(
            message.chunks,
            message.content_type,
            from_mid=message.from_,
            to_mid=message.to,
            to_type=message.to_type,
            content_metadata=message.content_metadata,
        )
    except E2EEError as exc:
        log.warning("e2ee.undecryptable", message_id=message.id, chat=short_mid(chat), **log_fields(exc))
        return None
    except Exception as exc:  # a bug or an unexpected answer: still only this message is lost
        log.error(
            "e2ee.undecryptable",
            reason="internal_error",
            error=type(exc).__name__,
            message_id=message.id,
            chat=short_mid(chat),
        )
        return None
    if content is None:
        return message.text
    if content.text is None:
        log.info("e2ee.not_text", message_id=message.id, content_type=content.content_type)
        return None
    log.debug(
        "e2ee.decrypted",
        message_id=message.id,
        version=content.version,
        sender_key_id=content.sender_key_id,
        receiver_key_id=content.receiver_key_id,
    )
    return content.text


async def send_reply(
    client: TalkCaller,
    to: str,
    text: str,
    related_message_id: str | None,
    encrypted: bool,
    *,
    keys: KeyService,
    next_seq: Callable[[], int],
    random: Random = os.urandom,
) -> Message:
    """Send ``text`` to ``to`` (a user, group or room MID), as a reply to ``related_message_id`` if given.

    ``encrypted``: the message answered was encrypted (``event.e2ee``), so the reply is sealed with v2 for
    the peer's current key or the chat's group key. A plain send refused with an E2EE code is retried once,
    encrypted. ``next_seq`` hands out the persisted reqSeq (``store.next_req_seq``); every attempt takes
    its own. Raises the TalkException / transport error of the last attempt, or an
    :class:`~.errors.E2EEError` when a reply cannot be sealed (no own key, peer without Letter Sealing):
    never sent in the clear instead.
    """
    if not encrypted:
        try:
            sent = await client.call(
                service.send_message(next_seq(), to, text, related_message_id=related_message_id)
            )
        except TalkException as exc:
            if not is_e2ee_refusal(exc):
                raise
            log.info("e2ee.plain_send_refused", code=exc.code_name, to=short_mid(to))
        else:
            return sent
    return await _send_sealed(
        client, to, text, related_message_id, keys=keys, next_seq=next_seq, random=random
    )


async def _send_sealed(
    client: TalkCaller,
    to: str,
    text: str,
    related_message_id: str | None,
    *,
    keys: KeyService,
    next_seq: Callable[[], int],
    random: Random,
) -> Message:
    own = keys.own_key()
    recipient, spec_version = await keys.send_target(to)
    sealed = encrypt_text_reply(
        text,
        self_mid=keys.self_mid,
        own_key=own,
        recipient=recipient,
        random=random,
        spec_version=spec_version,
    )
    call = service.send_message(
        next_seq(),
        to,
        None,
        related_message_id=related_message_id,
        content_type=0,
        content_metadata=sealed.content_metadata,
        chunks=sealed.chunks,
    )
    sent = await client.call(call)
    log.info("e2ee.reply_sent", to=short_mid(to), sender_key_id=own.key_id, receiver_key_id=recipient.key_id)
    return sent
