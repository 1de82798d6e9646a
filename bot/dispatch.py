"""The dispatcher: one sync event in, at most a call worker started and a reply on its way out.

The listener runs handlers inline, one operation at a time, and stores the revision only after a handler
returned, so :meth:`Dispatcher.handle` decides quickly and hands everything slow (replies, route requests,
the call itself) to a task in the daemon's call nursery. What it decides, for a message whose text is the
chat command (LINE_CALL_COMMAND, exact match after trimming):

* older than LINE_CALL_MAX_COMMAND_AGE_S by its createdTime: one reply, "missed while offline — send !call
  again", never dialled (an outage must not ring people hours later);
* a chat that is neither 1:1 nor group/room: "calls work in 1:1 and group chats";
* refused by the :class:`~linecall.bot.admission.CallGate` (allowlist, one call per chat, global cap,
  per-sender rate): the gate's polite reply;
* otherwise a call worker: 1:1 (reply "calling", ring the peer) or group ("starting group call" /
  "joining group call", join), and a short reply when it fails.

Two seams stay open for Letter Sealing: :class:`ChatIO` turns an event into its plain text and sends a
reply. :class:`PlainChatIO` reads ``text`` and sends plain messages; :class:`SealedChatIO` decrypts and
seals through the E2EE key service. Call events (call:incoming / call:cancel) are logged and published to
the daemon's :class:`~linecall.bot.call_events.CallEventHub`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog
import trio

from linecall.bot.admission import CallGate, Refusal, Slot, command_age_s, is_command
from linecall.bot.call_events import CallEventHub
from linecall.bot.calls import (
    CallEnd,
    CallHooks,
    CallOptions,
    CallOutcome,
    Step,
    place_group_call,
    place_one_to_one_call,
)
from linecall.bot.metrics import Metrics
from linecall.config.logging import mask_mid
from linecall.protocol.talk import structs
from linecall.protocol.talk.e2ee.keyservice import KeyService
from linecall.protocol.talk.e2ee.messaging import decrypt_incoming, send_reply
from linecall.protocol.talk.events import (
    CallCancel,
    CallIncoming,
    ChatKind,
    Event,
    MessageReceived,
    MessageSent,
)

__all__ = [
    "REPLY_CALLING",
    "REPLY_GROUP_JOIN",
    "REPLY_GROUP_START",
    "REPLY_STALE",
    "REPLY_WRONG_CHAT",
    "CallClient",
    "ChatIO",
    "DispatchConfig",
    "Dispatcher",
    "MessageEvent",
    "PlainChatIO",
    "SealedChatIO",
]

log = structlog.get_logger(__name__)

MessageEvent = MessageReceived | MessageSent

REPLY_CALLING = "calling"
REPLY_GROUP_START = "starting group call"
REPLY_GROUP_JOIN = "joining group call"
REPLY_WRONG_CHAT = "calls work in 1:1 and group chats"
REPLY_STALE = "missed while offline — send {command} again"
REPLY_INTERNAL = "the call failed (internal error; the log has details)"


class ChatIO(Protocol):
    """How the dispatcher reads a message and answers it (the E2EE seam)."""

    async def text_of(self, event: MessageEvent) -> str | None:
        """The message's plain text, or None when there is none to read (undecryptable, not text)."""
        ...

    async def reply(self, event: MessageEvent, text: str) -> None:
        """Send ``text`` into the event's chat (raises the send's error; the dispatcher logs it)."""
        ...


class _Sender(Protocol):
    async def send_message(
        self, to: str, text: str, *, related_message_id: str | None = None
    ) -> structs.Message: ...


class PlainChatIO:
    """Plain text only: encrypted messages have no text (they are skipped), replies go out unencrypted."""

    def __init__(self, client: _Sender) -> None:
        self._client = client

    async def text_of(self, event: MessageEvent) -> str | None:
        return None if event.e2ee else event.text

    async def reply(self, event: MessageEvent, text: str) -> None:
        await self._client.send_message(event.reply_target, text, related_message_id=event.message_id)


class SealedChatIO:
    """Letter Sealing: encrypted messages are decrypted (keys fetched on demand), replies to encrypted
    messages are sealed, and a plain reply refused with an E2EE code is resent sealed once."""

    def __init__(self, keys: KeyService, next_seq: Callable[[], int]) -> None:
        self._keys = keys
        self._next_seq = next_seq

    async def text_of(self, event: MessageEvent) -> str | None:
        return await decrypt_incoming(event, self._keys)

    async def reply(self, event: MessageEvent, text: str) -> None:
        await send_reply(
            self._keys.caller,
            event.reply_target,
            text,
            event.message_id,
            event.e2ee,
            keys=self._keys,
            next_seq=self._next_seq,
        )


class CallClient(Protocol):
    """Everything the call workers ask Talk for (:class:`~linecall.protocol.talk.client.TalkClient`)."""

    async def acquire_call_route(
        self, to: str, from_env_info: Mapping[str, str] | None = None
    ) -> structs.CallRoute: ...

    async def get_group_call(self, chat_mid: str) -> structs.GroupCall: ...

    async def acquire_group_call_route(
        self, chat_mid: str, *, is_initial_host: bool
    ) -> structs.GroupCallRoute: ...


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """What the dispatcher needs from the settings (LINE_CALL_COMMAND, LINE_CALL_MAX_COMMAND_AGE_S)."""

    command: str = "!call"
    max_command_age_s: float = 120.0


class Dispatcher:
    """Turns sync events into call workers and replies; see the module docstring.

    ``steps`` is what every chat-triggered call plays (the cached clip, LINE_CALL_REPEAT_COUNT times).
    ``nursery`` runs the workers; it is the daemon's call nursery, so shutting the daemon down cancels them
    (each hangs up on the way out) and a revoked token lets them finish.
    """

    def __init__(
        self,
        *,
        own_mid: str,
        client: CallClient,
        io: ChatIO,
        gate: CallGate,
        options: CallOptions,
        steps: tuple[Step, ...],
        nursery: trio.Nursery,
        config: DispatchConfig | None = None,
        metrics: Metrics | None = None,
        hub: CallEventHub | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.own_mid = own_mid
        self.client = client
        self.io = io
        self.gate = gate
        self.options = options
        self.steps = steps
        self.nursery = nursery
        self.config = config or DispatchConfig()
        self.metrics = metrics
        self.hub = hub or CallEventHub()
        self._wall_clock = wall_clock
        self.outcomes: list[CallOutcome] = []
        """Every finished call's outcome, newest last (bounded), for the demo and tests."""

    async def handle(self, event: Event) -> None:
        """The listener's handler: returns as soon as the work is handed off."""
        if isinstance(event, CallIncoming | CallCancel):
            self._call_event(event)
            return
        if not event.e2ee and not is_command(event.text, self.config.command):
            return  # the common case, decided without touching the network
        text = await self.io.text_of(event)
        if not is_command(text, self.config.command):
            return
        self._command(event)

    # -- call:incoming / call:cancel

    def _call_event(self, event: CallIncoming | CallCancel) -> None:
        if isinstance(event, CallIncoming):
            log.info("call_event.incoming", caller=mask_mid(event.sender), kind=event.kind)
        else:
            log.info("call_event.cancel", caller=mask_mid(event.sender), reason=event.reason)
        self.hub.publish(event)

    # -- the chat command

    def _command(self, event: MessageEvent) -> None:
        bound = log.bind(
            chat_kind=event.chat_kind.value,
            sender=mask_mid(event.sender),
            chat=mask_mid(event.reply_target),
            message_id=event.message_id,
        )
        age = command_age_s(event.message.created_time, self._wall_clock())
        if age > self.config.max_command_age_s:
            bound.warning("dispatch.stale_command", age_s=round(age), limit_s=self.config.max_command_age_s)
            self._reply_soon(event, REPLY_STALE.format(command=self.config.command.strip()))
            return
        if event.chat_kind is ChatKind.OTHER:
            bound.info("dispatch.unsupported_chat")
            self._reply_soon(event, REPLY_WRONG_CHAT)
            return
        # The account's own command (from its phone) is the operator's: no allowlist or rate limit for it.
        sender = None if event.sender == self.own_mid else event.sender
        granted = self.gate.try_acquire(event.reply_target, sender=sender, trigger="chat")
        if isinstance(granted, Refusal):
            bound.info("dispatch.refused", reason=granted.name.lower())
            self._reply_soon(event, granted.reply)
            return
        bound.info("dispatch.call_accepted", live=self.gate.live_count)
        self.nursery.start_soon(self._run_call, event, granted)

    def _reply_soon(self, event: MessageEvent, text: str) -> None:
        self.nursery.start_soon(self._reply, event, text)

    async def _reply(self, event: MessageEvent, text: str) -> None:
        """Send a reply; a failure is logged and goes no further (the call, if any, carries on)."""
        try:
            await self.io.reply(event, text)
        except Exception as exc:
            log.warning(
                "dispatch.reply_failed",
                chat=mask_mid(event.reply_target),
                error=type(exc).__name__,
                code=getattr(exc, "code_name", None),
            )

    async def _run_call(self, event: MessageEvent, slot: Slot) -> None:
        """One chat-triggered call, start to end; nothing it does can reach the listener or another call."""
        with self.gate.held(slot):
            try:
                outcome = await self._place(event)
            except Exception:
                log.exception("dispatch.call_crashed", chat=mask_mid(event.reply_target))
                await self._reply(event, REPLY_INTERNAL)
                return
            self.outcomes.append(outcome)
            del self.outcomes[:-100]
            if not outcome.ok and outcome.end is not CallEnd.CANCELLED:
                await self._reply(event, outcome.detail)

    async def _place(self, event: MessageEvent) -> CallOutcome:
        if event.chat_kind is ChatKind.DIRECT:
            await self._reply(event, REPLY_CALLING)
            return await place_one_to_one_call(
                self.client,
                self.own_mid,
                event.reply_target,
                self.steps,
                self.options,
                metrics=self.metrics,
                trigger="chat",
            )

        async def announce(existing: bool) -> None:
            await self._reply(event, REPLY_GROUP_JOIN if existing else REPLY_GROUP_START)

        return await place_group_call(
            self.client,
            self.own_mid,
            event.reply_target,
            self.steps,
            self.options,
            metrics=self.metrics,
            trigger="chat",
            hooks=CallHooks(on_group_mode=announce),
        )
