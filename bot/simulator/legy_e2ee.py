"""Letter Sealing key RPCs (e2ee-map §3) and the QR "ForSecure" login (talk-map §3.4) for the loopback
legy server, plugged in through :attr:`linecall.bot.simulator.legy.LegyServer.extra_methods`.

:class:`E2EESim` holds what LINE's servers know: every account's registered public keys (the last one is
current), each account's spec version, and per chat the group keys wrapped for each member. Helpers seal
messages as another account would (:meth:`E2EESim.push_sealed`), so tests feed the daemon encrypted
``!call`` messages through the ordinary sync.

:class:`QrLoginSim` plays the login server and the phone: ``createSession`` .. ``qrCodeLoginV2ForSecure``
with the long polls held until the test "scans" the QR URL (:meth:`QrLoginSim.phone_scans`) or confirms
the PIN (:meth:`QrLoginSim.phone_enters_pin`), answering 408 when a hold runs out. The login reply carries
the account's key chain wrapped for the one-time key in the scanned URL, exactly as e2ee-map §2.4 says a
phone does, and a JWT-shaped V3 token the server then accepts through the gateway.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import urllib.parse
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import trio

from linecall.protocol.talk.e2ee import crypto
from linecall.protocol.talk.e2ee.group import GroupSharedKey
from linecall.protocol.talk.e2ee.keys import GroupKey, KeyPair, PeerPublicKey, generate_key_pair, x25519
from linecall.protocol.talk.e2ee.message import encrypt_text_reply
from linecall.protocol.talk.e2ee.rpc import E2EEPublicKey
from linecall.protocol.talk.login_qr_service import (
    PATH_QR_LOGIN,
    PATH_QR_LONG_POLL,
    QrCodeForSecure,
    QrLoginResult,
    TokenV3IssueResult,
)
from linecall.protocol.talk.structs import MidType, Operation, OpType
from linecall.protocol.thrift import compact
from linecall.protocol.thrift import values as tv
from linecall.protocol.thrift.errors import ErrorCode, TalkException
from linecall.protocol.thrift.values import Struct, TList, TMap, TType

from .legy import ExtraMethod, HttpError, LegyServer, RecordedRequest

__all__ = ["E2EESim", "QrLoginSim", "sim_jwt"]

_S4 = frozenset({"/S4"})


def _shared_to_thrift(shared: GroupSharedKey) -> Struct:
    return tv.struct(
        (1, tv.i32(shared.key_version)),
        (2, tv.i32(shared.group_key_id)),
        (3, tv.text(shared.creator)),
        (4, tv.i32(shared.creator_key_id)),
        (5, tv.text(shared.receiver)),
        (6, tv.i32(shared.receiver_key_id)),
        (7, tv.Binary(shared.encrypted_shared_key)),
    )


def _key_struct(key: E2EEPublicKey) -> Struct:
    return key.to_thrift()


class E2EESim:
    """The key side of LINE for a :class:`LegyServer` whose account is ``server.mid``.

    ``own`` is the account's key pair (registered under its key id). Other accounts are added with
    :meth:`add_user`; chats with :meth:`add_group`.
    """

    def __init__(self, server: LegyServer, own: KeyPair) -> None:
        self.server = server
        self.own = own
        self.keys: dict[str, list[E2EEPublicKey]] = defaultdict(list)
        self.spec_versions: dict[str, int] = {}
        self.pairs: dict[str, KeyPair] = {}
        self.groups: dict[str, list[tuple[GroupKey, str, KeyPair, tuple[str, ...]]]] = defaultdict(list)
        self.calls: list[str] = []
        self.members: dict[str, tuple[str, ...]] = {}
        self.registered_wraps: dict[tuple[str, str], GroupSharedKey] = {}
        self._key_ids = itertools.count(900_000)
        self.add_user(server.mid, own)
        handlers: dict[str, Callable[[RecordedRequest], Awaitable[tv.Value | HttpError | None]]] = {
            "negotiateE2EEPublicKey": self._negotiate,
            "getE2EEPublicKey": self._get_public_key,
            "getE2EEPublicKeys": self._get_own_keys,
            "getLastE2EEPublicKeys": self._get_member_keys,
            "getLastE2EEGroupSharedKey": self._get_last_group_key,
            "getE2EEGroupSharedKey": self._get_group_key,
            "registerE2EEGroupKey": self._register_group_key,
            "registerE2EEPublicKey": self._register_public_key,
        }
        for name, handler in handlers.items():
            server.extra_methods[name] = ExtraMethod(_S4, handler)

    # -- test setup

    def add_user(self, mid: str, pair: KeyPair, *, spec_version: int = 2) -> None:
        """Register ``pair`` as ``mid``'s current key."""
        self.keys[mid].append(E2EEPublicKey(1, pair.key_id, pair.public_key, 1_700_000_000_000))
        self.pairs[mid] = pair
        self.spec_versions[mid] = spec_version

    def add_group(
        self, chat_mid: str, members: Sequence[str], *, key_id: int = 4242, creator: str | None = None
    ) -> GroupKey:
        """A fresh group key for ``chat_mid``, wrapped by ``creator`` for every member's current key."""
        key = GroupKey(chat_mid, key_id, os.urandom(32))
        maker = creator or members[0]
        self.members[chat_mid] = tuple(members)
        self.groups[chat_mid].append((key, maker, self.pairs[maker], tuple(members)))
        return key

    def shared_for(self, chat_mid: str, receiver: str, key: GroupKey) -> GroupSharedKey:
        for group, maker, maker_pair, members in self.groups[chat_mid]:
            if group.key_id == key.key_id and receiver in members:
                receiver_pair = self.pairs[receiver]
                wrapped = crypto.wrap(
                    x25519(maker_pair.private_key, receiver_pair.public_key), group.private_key
                )
                return GroupSharedKey(
                    2, group.key_id, maker, maker_pair.key_id, receiver, receiver_pair.key_id, wrapped
                )
        raise TalkException(ErrorCode.NOT_FOUND, "no such group key")

    def push_sealed(
        self,
        text: str,
        *,
        sender: str,
        to: str | None = None,
        group: GroupKey | None = None,
        message_id: str | None = None,
        tamper: bool = False,
    ) -> Operation:
        """Append a message that ``sender`` sealed for us (1:1) or for ``group``'s chat.

        It arrives as RECEIVE_MESSAGE, or as SEND_MESSAGE when ``sender`` is the account itself (typed on
        its phone; ``to`` then names the 1:1 peer), sealed with the account's key as the phone would."""
        pair = self.pairs[sender]
        if group is not None:
            recipient: PeerPublicKey | GroupKey = group
            target = group.chat_mid
        else:
            target = to or self.server.mid
            current = self.keys[target][-1]
            recipient = PeerPublicKey(target, current.key_id, current.key_data)
        sealed = encrypt_text_reply(
            text, self_mid=sender, own_key=pair, recipient=recipient, random=os.urandom
        )
        chunks = list(sealed.chunks)
        if tamper:
            chunks[1] = bytes([chunks[1][0] ^ 0x01]) + chunks[1][1:]
        return self.server.push_message(
            None,
            sender=sender,
            to=target,
            to_type=MidType.USER if target.startswith("u") else MidType.GROUP,
            message_id=message_id,
            op_type=OpType.SEND_MESSAGE if sender == self.server.mid else OpType.RECEIVE_MESSAGE,
            chunks=tuple(chunks),
            content_metadata=sealed.content_metadata,
        )

    @property
    def own_current(self) -> KeyPair:
        return self.pairs[self.server.mid]

    def set_members(self, chat_mid: str, members: Sequence[str]) -> None:
        """A chat whose members are known but which has no group key yet."""
        self.members[chat_mid] = tuple(members)

    # -- handlers

    async def _negotiate(self, request: RecordedRequest) -> Struct:
        self.calls.append(request.method)
        mid = request.args.opt_text(2) or ""
        keys = self.keys.get(mid)
        if not keys:
            return tv.struct((3, tv.i32(-1)))
        allowed = tv.TSet(TType.I32, (tv.I32(1), tv.I32(2), tv.I32(15)))
        return tv.struct((1, allowed), (2, _key_struct(keys[-1])), (3, tv.i32(self.spec_versions[mid])))

    async def _get_public_key(self, request: RecordedRequest) -> Struct:
        self.calls.append(request.method)
        mid, key_id = request.args.opt_text(2) or "", request.args.opt_i32(4)
        for key in self.keys.get(mid, []):
            if key.key_id == key_id:
                return _key_struct(key)
        raise TalkException(ErrorCode.NOT_FOUND, "no such key")

    async def _get_own_keys(self, request: RecordedRequest) -> TList:
        self.calls.append(request.method)
        return TList(TType.STRUCT, tuple(_key_struct(k) for k in self.keys[self.server.mid]))

    async def _get_member_keys(self, request: RecordedRequest) -> TMap:
        self.calls.append(request.method)
        chat = request.args.opt_text(2) or ""
        members = self.members.get(chat)
        if not members:
            raise TalkException(ErrorCode.NOT_A_MEMBER, "no such chat")
        items = tuple((tv.Binary.text(m), _key_struct(self.keys[m][-1])) for m in members)
        return TMap(TType.STRING, TType.STRUCT, items)

    async def _get_last_group_key(self, request: RecordedRequest) -> Struct:
        self.calls.append(request.method)
        chat = request.args.opt_text(3) or ""
        registered = self.registered_wraps.get((chat, self.server.mid))
        if registered is not None:
            return _shared_to_thrift(registered)
        if not self.groups.get(chat):
            raise TalkException(ErrorCode.NOT_FOUND, "no group key")
        return _shared_to_thrift(self.shared_for(chat, self.server.mid, self.groups[chat][-1][0]))

    async def _get_group_key(self, request: RecordedRequest) -> Struct:
        self.calls.append(request.method)
        chat, key_id = request.args.opt_text(3) or "", request.args.opt_i32(4)
        for group, *_ in self.groups.get(chat, []):
            if group.key_id == key_id:
                return _shared_to_thrift(self.shared_for(chat, self.server.mid, group))
        raise TalkException(ErrorCode.NOT_FOUND, "no such group key")

    async def _register_group_key(self, request: RecordedRequest) -> Struct:
        """Store the wraps the client made (as they are: the server cannot read them) and answer ours."""
        self.calls.append(request.method)
        args = request.args
        chat = args.opt_text(3) or ""
        members = args.opt_text_list(4) or ()
        key_ids = args.opt_i32_list(5) or ()
        wraps = args.opt_binary_list(6) or ()
        if not (len(members) == len(key_ids) == len(wraps)) or self.server.mid not in members:
            raise TalkException(ErrorCode.ILLEGAL_ARGUMENT, "member lists differ")
        group_key_id = next(self._key_ids)
        for member, key_id, wrapped in zip(members, key_ids, wraps, strict=True):
            self.registered_wraps[(chat, member)] = GroupSharedKey(
                1, group_key_id, self.server.mid, self.own_current.key_id, member, key_id, wrapped
            )
        return _shared_to_thrift(self.registered_wraps[(chat, self.server.mid)])

    async def _register_public_key(self, request: RecordedRequest) -> Struct:
        self.calls.append(request.method)
        sent = E2EEPublicKey.from_thrift(request.args.opt_struct(2) or Struct())
        key = E2EEPublicKey(sent.version, next(self._key_ids), sent.key_data, 1_700_000_000_000)
        self.keys[self.server.mid].append(key)
        return _key_struct(key)


# --- QR login ---------------------------------------------------------------------------------------------


def sim_jwt(n: int, scope: str = "LINE_AUTH") -> str:
    """A JWT-shaped V3 token (never verified) that linecall routes through the gateway."""

    def part(data: Mapping[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'ver': '3.1', 'scp': scope, 'n': n})}.c2ln"


@dataclass
class _Session:
    session_id: str
    nonce: str
    scanned: trio.Event = field(default_factory=trio.Event)
    pin: str | None = None
    pin_confirmed: trio.Event = field(default_factory=trio.Event)
    certified: bool = False
    qr_public_key: bytes | None = None


class QrLoginSim:
    """The QR login server and the phone for ``server``'s account, whose key chain is ``chain`` (current
    key first). ``e2ee_info_in``: "field10" (a map in result field 10), "metadata" (JSON in
    ``metaData["e2eeInfo"]``) or None (no key handed over). ``max_hold`` caps a held poll (seconds)."""

    def __init__(
        self,
        server: LegyServer,
        chain: Sequence[KeyPair],
        *,
        e2ee_info_in: str | None = "field10",
        max_count: int = 3,
        interval_sec: int = 30,
        max_hold: float = 2.0,
        pin: str = "314159",
        corrupt_chain: bool = False,
    ) -> None:
        self.server = server
        self.chain = list(chain)
        self.e2ee_info_in = e2ee_info_in
        self.max_count = max_count
        self.interval_sec = interval_sec
        self.max_hold = max_hold
        self.pin = pin
        self.corrupt_chain = corrupt_chain
        self.sessions: dict[str, _Session] = {}
        self.certificates: set[str] = set()
        self.issued: list[TokenV3IssueResult] = []
        self.calls: list[str] = []
        self.poll_headers: list[Mapping[str, str]] = []
        self._ids = itertools.count(1)
        login = frozenset({PATH_QR_LOGIN})
        poll = frozenset({PATH_QR_LONG_POLL})
        for name, paths, handler in (
            ("createSession", login, self._create_session),
            ("createQrCodeForSecure", login, self._create_qr_code),
            ("checkQrCodeVerified", poll, self._check_qr),
            ("verifyCertificate", login, self._verify_certificate),
            ("createPinCode", login, self._create_pin),
            ("checkPinCodeVerified", poll, self._check_pin),
            ("qrCodeLoginV2ForSecure", login, self._login),
        ):
            server.extra_methods[name] = ExtraMethod(paths, handler, needs_token=False)

    # -- the phone

    def phone_scans(self, url: str) -> None:
        """The phone reads the QR URL: its session, and the one-time public key in ``secret``."""
        parsed = urllib.parse.urlsplit(url)
        session = self.sessions[parsed.path.rsplit("/", 1)[-1]]
        query = urllib.parse.parse_qs(parsed.query)
        assert query["e2eeVersion"] == ["1"]
        session.qr_public_key = base64.b64decode(query["secret"][0])
        session.scanned.set()

    def phone_enters_pin(self, pin: str) -> None:
        for session in self.sessions.values():
            if session.pin == pin:
                session.pin_confirmed.set()
                return
        raise AssertionError("no session shows this PIN")

    # -- handlers

    def _session(self, request: RecordedRequest) -> _Session:
        inner = request.args.opt_struct(1) or Struct()
        session = self.sessions.get(inner.opt_text(1) or "")
        if session is None:
            raise TalkException(1, "unknown session")  # SecondaryQrCodeException ILLEGAL_ARGUMENT
        return session

    async def _create_session(self, request: RecordedRequest) -> Struct:
        self.calls.append(request.method)
        assert not request.args.fields
        session_id = f"SQ{next(self._ids):06d}"
        self.sessions[session_id] = _Session(session_id, nonce=f"nonce-{session_id}")
        return tv.struct((1, tv.text(session_id)))

    async def _create_qr_code(self, request: RecordedRequest) -> Struct:
        self.calls.append(request.method)
        session = self._session(request)
        url = f"https://line.me/R/au/lgn/sq/{session.session_id}"
        return QrCodeForSecure(url, self.max_count, self.interval_sec, session.nonce).to_thrift()

    async def _hold(self, request: RecordedRequest, event: trio.Event) -> Struct | HttpError | None:
        session = self._session(request)
        self.poll_headers.append(dict(request.headers))
        assert request.headers.get("x-line-access") == session.session_id
        hold_ms = int(request.headers["x-lst"])
        with trio.move_on_after(min(hold_ms / 1000, self.max_hold)):
            await event.wait()
        return None if event.is_set() else HttpError(408)

    async def _check_qr(self, request: RecordedRequest) -> Struct | HttpError | None:
        self.calls.append(request.method)
        return await self._hold(request, self._session(request).scanned)

    async def _verify_certificate(self, request: RecordedRequest) -> None:
        self.calls.append(request.method)
        session = self._session(request)
        certificate = (request.args.opt_struct(1) or Struct()).opt_text(2)
        if certificate is None or certificate not in self.certificates:
            raise TalkException(2, "verification failed")  # VERIFICATION_FAILED
        session.certified = True

    async def _create_pin(self, request: RecordedRequest) -> Struct:
        self.calls.append(request.method)
        self._session(request).pin = self.pin
        return tv.struct((1, tv.text(self.pin)))

    async def _check_pin(self, request: RecordedRequest) -> Struct | HttpError | None:
        self.calls.append(request.method)
        return await self._hold(request, self._session(request).pin_confirmed)

    async def _login(self, request: RecordedRequest) -> Struct:
        self.calls.append(request.method)
        session = self._session(request)
        args = request.args.opt_struct(1) or Struct()
        if not session.scanned.is_set() or not (session.certified or session.pin_confirmed.is_set()):
            raise TalkException(100, "not verified")  # INVALID_CONTEXT
        if args.opt_text(5) != session.nonce or args.opt_bool(4) is not True:
            raise TalkException(1, "bad nonce")
        n = len(self.issued)
        token = TokenV3IssueResult(
            sim_jwt(n), sim_jwt(n, "LINE_AUTH_REFRESH"), 3600, f"ls-{n}", 1_700_000_000
        )
        self.issued.append(token)
        self.server.accept(token.access_token, via="gateway")
        certificate = f"-----BEGIN CERTIFICATE-----sim-{n}"
        self.certificates.add(certificate)
        info = self._e2ee_info(session)
        result = QrLoginResult(
            certificate=certificate,
            token=token,
            mid=self.server.mid,
            metadata={"e2eeInfo": json.dumps(info)} if info and self.e2ee_info_in == "metadata" else {},
            e2ee_info=info if self.e2ee_info_in == "field10" else None,
        )
        return result.to_thrift()

    def _e2ee_info(self, session: _Session) -> dict[str, str] | None:
        if self.e2ee_info_in is None or session.qr_public_key is None:
            return None
        entries = [
            tv.struct(
                (1, tv.i32(1)),
                (2, tv.i32(pair.key_id)),
                (4, tv.Binary(pair.public_key)),
                (5, tv.Binary(bytes(32) if self.corrupt_chain and i == 0 else pair.private_key)),
                (6, tv.i64(1_700_000_000_000)),
            )
            for i, pair in enumerate(self.chain)
        ]
        plain = compact.encode_struct(tv.struct((1, TList(TType.STRUCT, tuple(entries)))))
        phone = generate_key_pair(os.urandom)
        wrapped = crypto.wrap(x25519(phone.private_key, session.qr_public_key), plain)
        return {
            "encryptedKeyChain": base64.b64encode(wrapped).decode(),
            "publicKey": base64.b64encode(phone.public_key).decode(),
            "keyId": str(self.chain[0].key_id),
            "e2eeVersion": "1",
        }
