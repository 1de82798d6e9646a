"""A loopback legy server for tests and the product's simulator: LINE's Talk side on 127.0.0.1.

It speaks HTTP/1.1 through h11 on Trio sockets rather than through an ASGI server, because the faults it
must inject live below HTTP: a TCP reset before the reply, a reset after the first bytes of the body, a
stall past the client's read timeout. Thrift goes through linecall's own codec (``service.decode_call`` /
``encode_reply``), so the server checks our requests as strictly as it answers them.

Served, compact, both plain (``/S4``, ``/SYNC4``, ``/V4``, ``/EXT/auth/tokenrefresh/v1``; binary on
``/S3``/``/SYNC3``) and through the encrypted gateway (``/enc``): getProfile, sync (held like a long poll
until operations arrive or ``sync_hold`` passes), sendMessage (recorded; echoed as a SEND_MESSAGE operation,
Letter Sealing chunks included, as LINE echoes them), acquireCallRoute, getGroupCall, acquireGroupCallRoute
(routes supplied by the test), the group-call URL methods, joinChatByCallUrl, inviteIntoGroupCall,
kickoutFromGroupCall, and the V3 ``refresh``.

Gateway: tests generate an RSA key pair (:func:`gateway_keypair`) and give the client a
:class:`LegyGateway` with its public key (:meth:`LegyServer.client_gateway`); the server unwraps ``x-lcs``
with the private key, checks the request MAC, and answers inside an encrypted envelope (``x-lc`` carries
a non-200 status there).

Tokens must arrive the way linecall routes them: each accepted token is registered with the transport it
must use (``plain`` in ``x-line-access``, ``gateway`` in the inner ``x-lt``); primary auth keys are checked
by verifying the minted access token's HMAC. Anything else is answered with :attr:`LegyServer.auth_failure`.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import hmac
import itertools
import socket
import struct
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import h11
import trio
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from linecall.protocol.talk import service
from linecall.protocol.talk.events import mid_type_of
from linecall.protocol.talk.gateway import (
    GATEWAY_IV,
    LCS_PREFIX,
    GatewayError,
    LegyGateway,
    decode_header_block,
    encode_header_block,
    legy_mac,
)
from linecall.protocol.talk.refresh import PATH_TOKEN_REFRESH, encode_refresh_response
from linecall.protocol.talk.structs import (
    CallFlowType,
    CallRoute,
    Chat,
    ChatType,
    FullSyncResponse,
    GroupCall,
    GroupCallProtocol,
    GroupCallRoute,
    GroupCallUrl,
    Message,
    MidType,
    Operation,
    OperationResponse,
    OpType,
    Profile,
    SyncRequest,
    SyncResponse,
)
from linecall.protocol.thrift import values as tv
from linecall.protocol.thrift.codec import encode_message
from linecall.protocol.thrift.errors import ErrorCode, TalkException, ThriftError
from linecall.protocol.thrift.values import MessageType, Protocol, Struct, TList, TMessage, TType

__all__ = [
    "ApplicationError",
    "CallRouteRequest",
    "ExtraMethod",
    "Fault",
    "GarbageBody",
    "GroupRouteRequest",
    "HttpError",
    "LegyServer",
    "RaiseTalk",
    "RecordedRequest",
    "ResetBeforeReply",
    "ResetMidBody",
    "SentMessage",
    "Stall",
    "Transport",
    "gateway_keypair",
    "running_legy_server",
]

Transport: TypeAlias = Literal["plain", "gateway"]

_BINARY_PATHS = frozenset({"/S3", "/SYNC3"})
_METHOD_PATHS: Mapping[str, frozenset[str]] = {
    "getProfile": frozenset({"/S4", "/S3"}),
    "sendMessage": frozenset({"/S4", "/S3"}),
    "sync": frozenset({"/SYNC4", "/SYNC3"}),
    "refresh": frozenset({PATH_TOKEN_REFRESH}),
    **{
        name: frozenset({"/V4"})
        for name in (
            "acquireCallRoute",
            "acquireGroupCallRoute",
            "getGroupCall",
            "inviteIntoGroupCall",
            "kickoutFromGroupCall",
            "createGroupCallUrl",
            "getGroupCallUrls",
            "getGroupCallUrlInfo",
            "updateGroupCallUrl",
            "deleteGroupCallUrl",
            "joinChatByCallUrl",
        )
    },
}


# --- faults -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpError:
    """Answer with this HTTP status and body. Through the gateway, ``in_envelope`` puts the status into the
    encrypted reply's ``x-lc`` (the backend's status as the gateway reports it) instead of the outer one."""

    status: int
    body: bytes = b""
    in_envelope: bool = True


@dataclass(frozen=True, slots=True)
class ResetBeforeReply:
    """Read the request, then reset the TCP connection without a byte of reply."""


@dataclass(frozen=True, slots=True)
class ResetMidBody:
    """Send the status line, headers and the first ``after`` bytes of the real reply, then reset."""

    after: int = 8


@dataclass(frozen=True, slots=True)
class Stall:
    """Say nothing for ``seconds`` (past the client's read timeout), then close the connection."""

    seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class RaiseTalk:
    """Answer with TalkException ``code`` (result field 1)."""

    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ApplicationError:
    """Answer with a Thrift EXCEPTION message."""

    type: int = 6
    message: str = "internal error"


@dataclass(frozen=True, slots=True)
class GarbageBody:
    """Answer with a body that is not Thrift (an HTML error page, say)."""

    body: bytes = b"<html><body>502 Bad Gateway</body></html>"
    status: int = 200


Fault: TypeAlias = (
    HttpError | ResetBeforeReply | ResetMidBody | Stall | RaiseTalk | ApplicationError | GarbageBody
)


# --- records ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One RPC as the server saw it (after opening the gateway envelope)."""

    method: str
    path: str
    transport: Transport
    headers: Mapping[str, str] = field(repr=False)
    args: Struct = field(repr=False)
    token: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class ExtraMethod:
    """A method served by a plug-in module (e.g. ``bot/simulator/legy_e2ee.py``), registered in
    :attr:`LegyServer.extra_methods` under its name. ``handle`` gets the recorded request and returns the
    success value (result field 0: a struct, list or map; None for a void method) or an :class:`HttpError`
    to answer with, or raises TalkException. ``needs_token=False`` serves callers without an accepted token (the login paths)."""

    paths: frozenset[str]
    handle: Callable[[RecordedRequest], Awaitable[tv.Value | HttpError | None]]
    needs_token: bool = True


@dataclass(frozen=True, slots=True)
class SentMessage:
    seq: int | None
    message: Message


@dataclass(frozen=True, slots=True)
class CallRouteRequest:
    to: str
    call_type: int | None
    from_env_info: Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class GroupRouteRequest:
    chat_mid: str
    media_type: int | None
    is_initial_host: bool | None
    capabilities: tuple[str, ...] | None


@dataclass(slots=True)
class _Token:
    mid: str
    transport: Transport
    revoked: bool = False
    must_refresh: bool = False


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class _Abort(Exception):
    """Internal: the fault says to drop the connection instead of answering."""


# --- gateway keys -----------------------------------------------------------------------------------------


@functools.cache
def gateway_keypair() -> tuple[rsa.RSAPrivateKey, bytes]:
    """A test RSA key pair standing in for LINE's (generated once per process): (private key, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, pem


_OAEP = asym_padding.OAEP(mgf=asym_padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def _aes(key: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(GATEWAY_IV))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


# --- the server -------------------------------------------------------------------------------------------


class LegyServer:
    """The simulated LINE Talk/Call service for one account (``mid``); see the module docstring.

    Tests drive it through: :meth:`accept` / :meth:`accept_auth_key` / :meth:`revoke` /
    :meth:`renew` / :meth:`expire_access` (tokens), :meth:`push_message` / :meth:`push_operation` /
    :meth:`push_raw_operation` (the operation log sync serves), :meth:`inject` (faults), and the records
    (:attr:`requests`, :attr:`sent_messages`, :attr:`call_route_requests`, ...).
    """

    def __init__(
        self,
        *,
        mid: str = "u" + "1" * 32,
        display_name: str = "linecall",
        sync_hold: float = 0.5,
        first_revision: int = 100,
        echo_sent_messages: bool = True,
        gzip_replies: bool = True,
        auth_failure: Fault | None = None,
        call_service_denied_devices: frozenset[str] = frozenset({"ANDROIDSECONDARY"}),
        full_sync_from_zero: bool = False,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self.mid = mid
        self.display_name = display_name
        self.sync_hold = sync_hold
        self.echo_sent_messages = echo_sent_messages
        self.gzip_replies = gzip_replies
        self.auth_failure: Fault = auth_failure or RaiseTalk(ErrorCode.AUTHENTICATION_FAILED, "invalid token")
        self.call_service_denied_devices = call_service_denied_devices
        self.full_sync_from_zero = full_sync_from_zero
        #: Unix seconds for createdTime; None keeps the fixed 2023 timestamps older tests compare against.
        self.wall_clock = wall_clock
        self.port = 0
        # tokens
        self._tokens: dict[str, _Token] = {}
        self._auth_keys: dict[str, _Token] = {}  # mid -> rule, secret kept beside
        self._auth_secrets: dict[str, bytes] = {}
        self._renewals: dict[str, str] = {}
        self._refresh_tokens: dict[str, tuple[str, str | None]] = {}  # refresh -> (new access, rotated)
        # operation log
        self._ops: list[Struct] = []
        self._op_revisions: list[int] = []
        self._revisions = itertools.count(first_revision)
        self._message_ids = itertools.count(600000000000000001)
        self.global_revision = 0
        self.individual_revision = 0
        self.expired_below = 0
        self._ops_changed = trio.Event()
        # faults: per method name (None = any method), consumed in order
        self._faults: dict[str | None, deque[Fault]] = defaultdict(deque)
        # records
        self.requests: list[RecordedRequest] = []
        self.sent_messages: list[SentMessage] = []
        self.call_route_requests: list[CallRouteRequest] = []
        self.group_route_requests: list[GroupRouteRequest] = []
        self.invites: list[tuple[str, tuple[str, ...], int | None]] = []
        self.kicks: list[tuple[str, tuple[str, ...]]] = []
        self.sync_requests: list[SyncRequest] = []
        self.sync_in_flight = 0
        self.max_sync_in_flight = 0
        # call service state
        self.call_route: Callable[[CallRouteRequest], CallRoute] = _placeholder_route
        self.group_call_route: Callable[[GroupRouteRequest], GroupCallRoute] = _placeholder_group_route
        self.group_calls: dict[str, GroupCall] = {}
        self.group_call_urls: dict[str, GroupCallUrl] = {}
        self.group_call_url_chats: dict[str, str] = {}
        self._url_ids = itertools.count(1)
        self._gateway_keys: dict[str, bytes] = {}
        # methods plugged in by other simulator modules (name -> handler)
        self.extra_methods: dict[str, ExtraMethod] = {}

    # -- addresses

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> str:
        return f"{self.base_url}/enc"

    @staticmethod
    def client_gateway(aes_key: bytes = bytes(range(16))) -> LegyGateway:
        """A client-side gateway whose ``x-lcs`` this server can unwrap (the test key instead of LINE's)."""
        return LegyGateway(aes_key, public_key_pem=gateway_keypair()[1])

    # -- tokens

    def accept(self, token: str, *, via: Transport, mid: str | None = None) -> None:
        """Accept ``token`` exactly as it arrives (``x-line-access`` for plain, ``x-lt`` for gateway)."""
        self._tokens[token] = _Token(mid or self.mid, via)

    def accept_auth_key(self, auth_key: str) -> None:
        """Accept access tokens minted from ``<mid>:<base64 secret>`` (through the gateway)."""
        mid, _, secret = auth_key.partition(":")
        self._auth_keys[mid] = _Token(mid, "gateway")
        self._auth_secrets[mid] = base64.b64decode(secret + "=" * (-len(secret) % 4))

    def revoke(self, token: str) -> None:
        """From now on ``token`` (or every token minted for an auth key's MID) gets :attr:`auth_failure`."""
        rule = self._tokens.get(token) or self._auth_keys.get(token.partition(":")[0])
        if rule is None:
            raise KeyError("unknown token")
        rule.revoked = True

    def renew(self, old: str, new: str, *, via: Transport | None = None) -> None:
        """The next reply to a request carrying ``old`` says ``x-line-next-access: new``; both stay valid."""
        rule = self._tokens[old]
        self._tokens[new] = _Token(rule.mid, via or rule.transport)
        self._renewals[old] = new

    def expire_access(self, token: str) -> None:
        """Requests with ``token`` get MUST_REFRESH_V3_TOKEN until it is refreshed."""
        self._tokens[token].must_refresh = True

    def accept_refresh(
        self, refresh_token: str, new_access: str, *, via: Transport = "gateway", rotated: str | None = None
    ) -> None:
        """``refresh(refresh_token)`` hands out ``new_access`` (and ``rotated`` as the next refresh token)."""
        self._refresh_tokens[refresh_token] = (new_access, rotated)
        self._tokens[new_access] = _Token(self.mid, via)

    # -- the operation log

    def _append(self, op: Struct, revision: int) -> None:
        self._ops.append(op)
        self._op_revisions.append(revision)
        self._ops_changed.set()
        self._ops_changed = trio.Event()

    def push_operation(
        self,
        op_type: OpType | int,
        *,
        message: Message | None = None,
        param1: str | None = None,
        param2: str | None = None,
        param3: str | None = None,
    ) -> Operation:
        """Append an operation (revision assigned here) that the next sync delivers."""
        revision = next(self._revisions)
        op = Operation(
            revision=revision,
            created_time=self._created_ms(1_700_000_000_000 + revision),
            type=op_type,
            req_seq=0,
            param1=param1,
            param2=param2,
            param3=param3,
            message=message,
        )
        self._append(op.to_thrift(), revision)
        self.individual_revision += 1
        return op

    def push_message(
        self,
        text: str | None,
        *,
        sender: str,
        to: str | None = None,
        to_type: MidType | int | None = None,
        message_id: str | None = None,
        op_type: OpType = OpType.RECEIVE_MESSAGE,
        related_message_id: str | None = None,
        chunks: tuple[bytes, ...] | None = None,
        content_metadata: Mapping[str, str] | None = None,
        created_time: int | None = None,
    ) -> Operation:
        """Append a message operation; ``to`` defaults to this account (a 1:1 message to us).

        ``created_time`` (Unix ms) defaults to now on :attr:`wall_clock`, or the fixed test timestamp."""
        target = to or self.mid
        message = Message(
            from_=sender,
            to=target,
            to_type=to_type if to_type is not None else mid_type_of(target),
            id=message_id or str(next(self._message_ids)),
            created_time=created_time if created_time is not None else self._created_ms(1_700_000_000_000),
            text=text,
            content_type=0,
            content_metadata=dict(content_metadata or {}),
            chunks=chunks,
            related_message_id=related_message_id,
        )
        return self.push_operation(op_type, message=message)

    def _created_ms(self, fixed: int) -> int:
        return fixed if self.wall_clock is None else int(self.wall_clock() * 1000)

    def push_raw_operation(self, op: Struct) -> int:
        """Append an arbitrary operation struct (e.g. one that does not fit the schema); returns its
        revision, taken from field 1 when it is an i64."""
        value = op.get(1)
        revision = value.value if isinstance(value, tv.I64) else next(self._revisions)
        self._append(op, revision)
        return revision

    @property
    def head_revision(self) -> int:
        return self._op_revisions[-1] if self._op_revisions else 0

    # -- faults

    def inject(self, method: str | None, *faults: Fault) -> None:
        """Answer the next calls of ``method`` (any method when ``None``) with these faults, in order."""
        self._faults[method].extend(faults)

    @property
    def pending_faults(self) -> int:
        """Injected faults not yet used."""
        return sum(len(queue) for queue in self._faults.values())

    def _take_fault(self, method: str) -> Fault | None:
        for key in (method, None):
            queue = self._faults.get(key)
            if queue:
                return queue.popleft()
        return None

    # -- serving

    async def serve(self, *, task_status: trio.TaskStatus[LegyServer] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1 on a free port (``self.port``) until cancelled."""
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, self._connection, 0, host="127.0.0.1")
            )
            self.port = listeners[0].socket.getsockname()[1]
            task_status.started(self)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await _read_request(stream, conn)
                if request is None:
                    return
                try:
                    reply = await self._handle(request, body, stream, conn)
                except _Abort:
                    return
                await _send_reply(stream, conn, reply)
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await stream.aclose()

    async def _handle(
        self, request: h11.Request, body: bytes, stream: trio.SocketStream, conn: h11.Connection
    ) -> _Reply:
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        path = request.target.decode().split("?", 1)[0]
        gzip_ok = self.gzip_replies and "gzip" in headers.get("accept-encoding", "")
        if path == "/enc":
            try:
                key, inner_headers, thrift = self._open_gateway(headers, body)
            except (GatewayError, ValueError):
                return _Reply(400, b"bad gateway envelope")
            inner_path = inner_headers.get("x-lpqs", "").split("?", 1)[0]
            token = inner_headers.get("x-lt")
            reply = await self._rpc(inner_path, thrift, token, "gateway", headers, stream, conn, key=key)
        else:
            reply = await self._rpc(path, body, headers.get("x-line-access"), "plain", headers, stream, conn)
        if gzip_ok and reply.body:
            reply = _Reply(
                reply.status, gzip.compress(reply.body), (*reply.headers, ("content-encoding", "gzip"))
            )
        return reply

    def _open_gateway(self, headers: Mapping[str, str], body: bytes) -> tuple[bytes, dict[str, str], bytes]:
        lcs = headers.get("x-lcs", "")
        if not lcs.startswith(LCS_PREFIX) or headers.get("x-le") != "7":
            raise GatewayError("missing x-lcs / x-le")
        key = self._gateway_keys.get(lcs)
        if key is None:
            key = gateway_keypair()[0].decrypt(base64.b64decode(lcs[len(LCS_PREFIX) :]), _OAEP)
            self._gateway_keys[lcs] = key
        ciphertext, mac = body[:-4], body[-4:]
        if not ciphertext or len(ciphertext) % 16 or legy_mac(key, ciphertext) != mac:
            raise GatewayError("bad request MAC")
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(_aes(key, ciphertext, encrypt=False)) + unpadder.finalize()
        if plain[:1] != b"\x07":
            raise GatewayError("bad flag byte")
        inner, thrift = decode_header_block(plain[1:])
        return key, inner, thrift

    @staticmethod
    def _seal_reply(key: bytes, reply: _Reply) -> _Reply:
        inner = [("x-lc", str(reply.status)), *reply.headers]
        padder = padding.PKCS7(128).padder()
        padded = padder.update(b"\x07" + encode_header_block(inner) + reply.body) + padder.finalize()
        return _Reply(200, _aes(key, padded, encrypt=True))

    async def _rpc(
        self,
        path: str,
        body: bytes,
        token: str | None,
        transport: Transport,
        headers: Mapping[str, str],
        stream: trio.SocketStream,
        conn: h11.Connection,
        *,
        key: bytes | None = None,
    ) -> _Reply:
        protocol = Protocol.BINARY if path in _BINARY_PATHS else Protocol.COMPACT
        try:
            call = service.decode_call(body, protocol)
        except ThriftError:
            return self._wrap(key, _Reply(400, b"not thrift"))
        method = call.name
        self.requests.append(RecordedRequest(method, path, transport, dict(headers), call.body, token))
        reply_headers: tuple[tuple[str, str], ...] = ()
        if token is not None and token in self._renewals:
            reply_headers = (("x-line-next-access", self._renewals.pop(token)),)

        extra = self.extra_methods.get(method)
        fault = self._take_fault(method)
        if fault is None and path != PATH_TOKEN_REFRESH and (extra is None or extra.needs_token):
            fault = self._check_token(token, transport)
        if fault is None and path == "/V4":
            device = headers.get("x-line-application", "").split("\t", 1)[0]
            if device in self.call_service_denied_devices:
                fault = HttpError(403, b"", in_envelope=True)
        allowed = extra.paths if extra is not None else _METHOD_PATHS.get(method, frozenset())
        if fault is None and path not in allowed:
            fault = ApplicationError(1, f"unknown method {method} on {path}")
        if isinstance(fault, ResetBeforeReply):
            _reset(stream)
            raise _Abort
        if isinstance(fault, Stall):
            await trio.sleep(fault.seconds)
            raise _Abort

        try:
            if (fault is None or isinstance(fault, ResetMidBody)) and extra is not None:
                answer = await extra.handle(self.requests[-1])
                if isinstance(answer, HttpError):
                    return self._wrap(key, _Reply(answer.status, answer.body, reply_headers))
                result = Struct() if answer is None else Struct({0: answer})
                thrift = encode_message(protocol, TMessage(method, MessageType.REPLY, 0, result))
            elif fault is None or isinstance(fault, ResetMidBody):
                thrift = await self._dispatch(method, call.body, token, protocol)
            elif isinstance(fault, RaiseTalk):
                thrift = service.encode_talk_exception(
                    method, TalkException(fault.code, fault.reason), protocol
                )
            elif isinstance(fault, ApplicationError):
                thrift = service.encode_application_exception(method, fault.type, fault.message, protocol)
            elif isinstance(fault, GarbageBody):
                return _Reply(fault.status, fault.body)  # garbage even through the gateway: never sealed
            elif isinstance(fault, HttpError):
                reply = _Reply(fault.status, fault.body, reply_headers)
                return self._wrap(key, reply) if fault.in_envelope else reply
        except TalkException as exc:
            thrift = service.encode_talk_exception(method, exc, protocol)
        except ThriftError as exc:  # arguments of the wrong shape: what a Thrift server says to that
            thrift = service.encode_application_exception(method, 7, f"bad arguments: {exc}", protocol)
        reply = self._wrap(key, _Reply(200, thrift, reply_headers))
        if isinstance(fault, ResetMidBody):
            await _send_partial(stream, conn, reply, fault.after)
            raise _Abort
        return reply

    def _wrap(self, key: bytes | None, reply: _Reply) -> _Reply:
        return reply if key is None else self._seal_reply(key, reply)

    def _check_token(self, token: str | None, transport: Transport) -> Fault | None:
        rule = self._tokens.get(token) if token else None
        if rule is None and token and transport == "gateway":
            rule = self._auth_key_rule(token)
        if rule is None or rule.transport != transport or rule.revoked:
            return self.auth_failure
        if rule.must_refresh:
            return RaiseTalk(ErrorCode.MUST_REFRESH_V3_TOKEN, "must refresh")
        return None

    def _auth_key_rule(self, token: str) -> _Token | None:
        mid, _, rest = token.partition(":")
        rule = self._auth_keys.get(mid)
        iat, sep, sig = rest.partition("..")
        if rule is None or not sep:
            return None
        expected = base64.b64encode(
            hmac.new(self._auth_secrets[mid], (iat + ".").encode(), hashlib.sha1).digest()
        ).decode()
        return rule if hmac.compare_digest(expected, sig) else None

    def _mid_of(self, token: str | None) -> str:
        rule = self._tokens.get(token) if token else None
        return rule.mid if rule else self.mid

    # -- methods

    async def _dispatch(self, method: str, args: Struct, token: str | None, protocol: Protocol) -> bytes:
        success: Struct | None
        if method == "getProfile":
            success = Profile(mid=self._mid_of(token), display_name=self.display_name).to_thrift()
        elif method == "sync":
            success = await self._sync(args)
        elif method == "sendMessage":
            success = self._send_message(args, token).to_thrift()
        elif method == "refresh":
            success = self._refresh(args)
        else:
            success = self._call_service(method, args)
        return service.encode_reply(method, success, protocol)

    async def _sync(self, args: Struct) -> Struct:
        request = SyncRequest.from_thrift(args.opt_struct(1) or Struct())
        self.sync_requests.append(request)
        self.sync_in_flight += 1
        self.max_sync_in_flight = max(self.max_sync_in_flight, self.sync_in_flight)
        try:
            last = request.last_revision or 0
            if 0 < last < self.expired_below:
                raise TalkException(ErrorCode.EXPIRED_REVISION, "revision too old")
            if last == 0 and self.full_sync_from_zero and self._ops:
                return SyncResponse(full_sync_response=FullSyncResponse((1,), self.head_revision)).to_thrift()
            if not self._pending(last):
                with trio.move_on_after(self.sync_hold):
                    while not self._pending(last):
                        await self._ops_changed.wait()
            pending = self._pending(last)
            count = request.count or 100
            batch = pending[:count]
            response = OperationResponse(
                has_more_ops=len(pending) > count,
                global_last_revision=self.global_revision or None,
                individual_last_revision=self.individual_revision or None,
            ).to_thrift()
            fields = dict(response.fields)
            fields[1] = TList(TType.STRUCT, tuple(batch))
            return tv.struct((1, Struct(fields)))
        finally:
            self.sync_in_flight -= 1

    def _pending(self, last: int) -> list[Struct]:
        return [op for op, rev in zip(self._ops, self._op_revisions, strict=True) if rev > last]

    def _send_message(self, args: Struct, token: str | None) -> Message:
        sent = Message.from_thrift(args.opt_struct(2) or Struct())
        self.sent_messages.append(SentMessage(args.opt_i32(1), sent))
        if not sent.to:
            raise TalkException(ErrorCode.ILLEGAL_ARGUMENT, "no recipient")
        stored = Message(
            from_=self._mid_of(token),
            to=sent.to,
            to_type=mid_type_of(sent.to),
            id=str(next(self._message_ids)),
            created_time=self._created_ms(1_700_000_000_000),
            text=sent.text,
            content_type=sent.content_type,
            content_metadata=sent.content_metadata,
            chunks=sent.chunks,
            related_message_id=sent.related_message_id,
            message_relation_type=sent.message_relation_type,
            related_message_service_code=sent.related_message_service_code,
        )
        if self.echo_sent_messages:
            self.push_operation(OpType.SEND_MESSAGE, message=stored)
        return stored

    def _refresh(self, args: Struct) -> Struct:
        request = args.opt_struct(1) or Struct()
        refresh_token = request.opt_text(1) or ""
        grant = self._refresh_tokens.get(refresh_token)
        if grant is None:
            raise TalkException(ErrorCode.AUTHENTICATION_FAILED, "unknown refresh token")
        access, rotated = grant
        return encode_refresh_response(
            access, duration_until_refresh_s=3600, issue_time_s=1_700_000_000, refresh_token=rotated
        )

    def _call_service(self, method: str, args: Struct) -> Struct | None:
        if method == "acquireCallRoute":
            call = CallRouteRequest(args.opt_text(2) or "", args.opt_i32(3), args.opt_text_map(4))
            self.call_route_requests.append(call)
            return self.call_route(call).to_thrift()
        if method == "getGroupCall":
            chat_mid = args.opt_text(2) or ""
            return self.group_calls.get(chat_mid, GroupCall(online=False, chat_mid=chat_mid)).to_thrift()
        if method == "acquireGroupCallRoute":
            group = GroupRouteRequest(
                args.opt_text(2) or "", args.opt_i32(3), args.opt_bool(4), args.opt_text_list(5)
            )
            self.group_route_requests.append(group)
            return self.group_call_route(group).to_thrift()
        if method == "inviteIntoGroupCall":
            self.invites.append((args.opt_text(2) or "", args.opt_text_list(3) or (), args.opt_i32(4)))
            return None
        request = args.opt_struct(2) or Struct()  # the other methods wrap their arguments at field 2
        if method == "kickoutFromGroupCall":
            self.kicks.append((request.opt_text(1) or "", request.opt_text_list(2) or ()))
            return Struct()
        if method == "createGroupCallUrl":
            new_id = f"url-{next(self._url_ids):04d}"
            created = GroupCallUrl(new_id, request.opt_text(1) or "", 1_700_000_000_000)
            self.group_call_urls[new_id] = created
            self.group_call_url_chats[new_id] = "c" + hashlib.md5(new_id.encode()).hexdigest()
            return tv.struct((1, created.to_thrift()))
        if method == "getGroupCallUrls":
            urls = tuple(url.to_thrift() for url in self.group_call_urls.values())
            return tv.struct((1, TList(TType.STRUCT, urls)))
        url_id = request.opt_text(1) or ""
        url = self.group_call_urls.get(url_id)
        if url is None:
            raise TalkException(ErrorCode.NOT_FOUND, "no such group call url")
        if method == "getGroupCallUrlInfo":
            return tv.struct((1, tv.text(url.title)), (2, tv.i64(url.created_time_millis)))
        if method == "updateGroupCallUrl":
            title = (request.opt_struct(2) or Struct()).opt_text(1)
            self.group_call_urls[url_id] = GroupCallUrl(url_id, title, url.created_time_millis)
            return Struct()
        if method == "deleteGroupCallUrl":
            del self.group_call_urls[url_id]
            return Struct()
        # joinChatByCallUrl
        chat = Chat(type=ChatType.GROUP, chat_mid=self.group_call_url_chats[url_id], chat_name=url.title)
        return tv.struct((1, chat.to_thrift()))


def _placeholder_route(request: CallRouteRequest) -> CallRoute:
    """A route for tests that do not go on to PLANET (tests that do set :attr:`LegyServer.call_route`)."""
    return CallRoute(
        from_token="sim-from-token",
        call_flow_type=CallFlowType.PLANET,
        voip_address="127.0.0.1",
        voip_udp_port=9,
        to_mid=request.to,
        fake_call=False,
        comm_param="{}",
    )


def _placeholder_group_route(request: GroupRouteRequest) -> GroupCallRoute:
    return GroupCallRoute(
        token="sim-group-token",
        proto=GroupCallProtocol.STANDARD,
        voip_address="127.0.0.1",
        voip_udp_port=9,
        comm_param="{}",
    )


# --- HTTP/1.1 plumbing ------------------------------------------------------------------------------------


async def _read_request(stream: trio.SocketStream, conn: h11.Connection) -> tuple[h11.Request | None, bytes]:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(data)  # b"" means the peer closed
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return request, bytes(body)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None, b""


def _response_head(reply: _Reply) -> h11.Response:
    # A sealed reply carries its headers (x-lc, x-line-next-access) inside the envelope already.
    headers = [
        ("content-type", "application/x-thrift"),
        ("content-length", str(len(reply.body))),
        *reply.headers,
    ]
    return h11.Response(status_code=reply.status, headers=headers)


async def _send_reply(stream: trio.SocketStream, conn: h11.Connection, reply: _Reply) -> None:
    data = conn.send(_response_head(reply)) or b""
    data += conn.send(h11.Data(data=reply.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)


async def _send_partial(stream: trio.SocketStream, conn: h11.Connection, reply: _Reply, after: int) -> None:
    """Headers and the first ``after`` body bytes of ``reply``, then a TCP reset."""
    head = conn.send(_response_head(reply)) or b""
    await stream.send_all(head + reply.body[: max(0, min(after, len(reply.body) - 1))])
    await trio.sleep(0.01)  # let the bytes leave before the reset discards the send buffer
    _reset(stream)


def _reset(stream: trio.SocketStream) -> None:
    """Make the coming close a TCP RST (SO_LINGER 0) instead of an orderly FIN."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@asynccontextmanager
async def running_legy_server(**options: object) -> AsyncIterator[LegyServer]:
    """Start a :class:`LegyServer` on a free loopback port for the body of the ``async with``."""
    server = LegyServer(**options)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()
