"""TalkClient against the loopback legy server: replies, every CallService method, plain and through the
encrypted gateway, error mapping (INVALID_STATE hint, 403 on /V4, transport faults, re-login), token renewal
(x-line-next-access, V3 refresh) persisted, and one sync at a time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.talk.client import (
    CallServiceForbidden,
    ClientTimeouts,
    InvalidCallState,
    ReloginRequired,
    SyncInProgressError,
    TalkTimeoutError,
    TalkTransportError,
)
from linecall.protocol.talk.refresh import encode_refresh_response, parse_refresh, refresh_access_token
from linecall.protocol.talk.service import encode_reply, encode_talk_exception
from linecall.protocol.talk.storage import MemoryTalkStorage
from linecall.protocol.talk.structs import (
    CallRoute,
    CallType,
    GroupCall,
    GroupCallMediaType,
    GroupCallRoute,
    MessageRelationType,
    RevisionTriple,
    ServiceCode,
)
from linecall.protocol.talk.tokens import RenewalSource, TokenKind, TokenRenewal, token_hash
from linecall.protocol.thrift.errors import ErrorCode, TalkException, TApplicationError, ThriftDecodeError
from tests.sim.legy import (
    ApplicationError,
    CallRouteRequest,
    Fault,
    GarbageBody,
    HttpError,
    LegyServer,
    RaiseTalk,
    ResetBeforeReply,
    ResetMidBody,
    Stall,
    running_legy_server,
)
from tests.talk_sim_support import (
    AUTH_KEY,
    GROUP_MID,
    OWN_MID,
    PEER_MID,
    TRANSPORT_TOKENS,
    V3,
    V3_REFRESH,
    make_client,
    register,
)

TRANSPORTS = ["plain", "gateway"]


@pytest.fixture
async def server() -> AsyncIterator[LegyServer]:
    async with running_legy_server(sync_hold=0.2) as srv:
        for shape in TRANSPORT_TOKENS.values():
            register(srv, shape)
        yield srv


# --- replies ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_profile_and_replies(server: LegyServer, transport: str) -> None:
    storage = MemoryTalkStorage()
    async with make_client(server, TRANSPORT_TOKENS[transport].text, storage) as client:
        assert client.uses_gateway("/S4") == (transport == "gateway")
        profile = await client.get_profile()
        sent = await client.send_message(PEER_MID, "calling")
        reply = await client.send_message(GROUP_MID, "starting group call", related_message_id="6000000001")
    assert profile.mid == OWN_MID
    assert {r.transport for r in server.requests} == {transport}
    assert [m.seq for m in server.sent_messages] == [0, 1]
    assert storage.get_req_seq() == 2
    plain, replied = (m.message for m in server.sent_messages)
    assert (plain.to, plain.text, plain.related_message_id, plain.message_relation_type) == (
        PEER_MID,
        "calling",
        None,
        None,
    )
    assert replied.related_message_id == "6000000001"
    assert replied.message_relation_type == MessageRelationType.REPLY
    assert replied.related_message_service_code == ServiceCode.TALK
    assert sent.id and reply.id and sent.id != reply.id


# --- CallService ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_every_call_service_method(server: LegyServer, transport: str) -> None:
    route = CallRoute(
        voip_address="127.0.0.1", voip_udp_port=40000, comm_param='{"mpkey":"x"}', to_mid=PEER_MID
    )
    group_route = GroupCallRoute(voip_address="127.0.0.1", voip_udp_port=40001, token="tok")
    seen: list[CallRouteRequest] = []

    def route_for(request: CallRouteRequest) -> CallRoute:
        seen.append(request)
        return route

    server.call_route = route_for
    server.group_call_route = lambda request: group_route
    server.group_calls[GROUP_MID] = GroupCall(online=True, chat_mid=GROUP_MID, member_mids=(PEER_MID,))
    async with make_client(server, TRANSPORT_TOKENS[transport].text) as client:
        assert await client.acquire_call_route(PEER_MID, {"devname": "Pixel 8"}) == route
        state = await client.get_group_call(GROUP_MID)
        assert (state.online, state.member_mids) == (True, (PEER_MID,))
        assert await client.acquire_group_call_route(GROUP_MID, is_initial_host=True) == group_route
        assert await client.start_or_join_group_call(GROUP_MID) == group_route  # online: join
        assert await client.start_or_join_group_call("c" + "9" * 32) == group_route  # nobody: host
        await client.invite_into_group_call(GROUP_MID, [PEER_MID])
        await client.kickout_from_group_call(GROUP_MID, [PEER_MID])
        created = await client.create_group_call_url("standup")
        assert created.url_id and created.title == "standup"
        assert [u.url_id for u in await client.list_group_call_urls()] == [created.url_id]
        assert (await client.get_group_call_url_info(created.url_id)).title == "standup"
        await client.update_group_call_url(created.url_id, "retro")
        assert (await client.get_group_call_url_info(created.url_id)).title == "retro"
        chat = await client.join_chat_by_call_url(created.url_id)
        assert chat is not None and chat.chat_mid == server.group_call_url_chats[created.url_id]
        await client.delete_group_call_url(created.url_id)
        assert await client.list_group_call_urls() == ()
        with pytest.raises(TalkException) as missing:
            await client.get_group_call_url_info(created.url_id)
        assert missing.value.code == ErrorCode.NOT_FOUND
    assert seen == [CallRouteRequest(PEER_MID, CallType.AUDIO, {"devname": "Pixel 8"})]
    assert [(g.is_initial_host, g.media_type, g.capabilities) for g in server.group_route_requests] == [
        (True, GroupCallMediaType.AUDIO, ("AUDIO", "VIDEO")),
        (False, GroupCallMediaType.AUDIO, ("AUDIO", "VIDEO")),
        (True, GroupCallMediaType.AUDIO, ("AUDIO", "VIDEO")),
    ]
    assert server.invites == [(GROUP_MID, (PEER_MID,), GroupCallMediaType.AUDIO)]
    assert server.kicks == [(GROUP_MID, (PEER_MID,))]
    assert {r.path for r in server.requests} == {"/V4"}
    assert {r.transport for r in server.requests} == {transport}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_invalid_state_carries_the_troubleshooting_hint(server: LegyServer, transport: str) -> None:
    server.inject("acquireCallRoute", RaiseTalk(ErrorCode.INVALID_STATE, "state"))
    async with make_client(server, TRANSPORT_TOKENS[transport].text) as client:
        with pytest.raises(InvalidCallState) as caught:
            await client.acquire_call_route(PEER_MID, {"devname": "Android"})
    exc = caught.value
    assert isinstance(exc, TalkException) and exc.code == ErrorCode.INVALID_STATE
    for needle in ("LINE_DEVICE", "LINE_CALL_DEVNAME", "1:1", "acquireCallRoute"):
        assert needle in str(exc)


async def test_invalid_state_outside_call_service_stays_a_plain_talk_exception(server: LegyServer) -> None:
    server.inject("sendMessage", RaiseTalk(ErrorCode.INVALID_STATE))
    async with make_client(server, TRANSPORT_TOKENS["plain"].text) as client:
        with pytest.raises(TalkException) as caught:
            await client.send_message(PEER_MID, "x")
    assert not isinstance(caught.value, InvalidCallState)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_secondary_device_gets_403_on_v4_and_is_told_calls_need_a_primary_token(
    server: LegyServer, transport: str
) -> None:
    async with make_client(server, TRANSPORT_TOKENS[transport].text, device="ANDROIDSECONDARY") as client:
        assert (await client.get_profile()).mid == OWN_MID  # /S4 is fine
        with pytest.raises(CallServiceForbidden) as caught:
            await client.acquire_call_route(PEER_MID)
    assert caught.value.status == 403
    assert "primary" in str(caught.value) and "LINE_DEVICE=ANDROID" in str(caught.value)
    assert not isinstance(caught.value, ReloginRequired)


async def test_403_on_v4_for_a_primary_device_is_still_a_device_class_refusal(server: LegyServer) -> None:
    server.inject("getGroupCall", HttpError(403))
    async with make_client(server, TRANSPORT_TOKENS["plain"].text) as client:
        with pytest.raises(CallServiceForbidden) as caught:
            await client.get_group_call(GROUP_MID)
    assert "ANDROIDSECONDARY" not in str(caught.value)


# --- transport faults -------------------------------------------------------------------------------------

FAULTS: list[tuple[str, Fault, int | None]] = [
    ("http-503", HttpError(503, b"busy"), 503),
    ("http-503-outer", HttpError(503, b"", in_envelope=False), 503),
    ("garbage-body", GarbageBody(), 200),
    ("reset-before-reply", ResetBeforeReply(), None),
    ("reset-mid-body", ResetMidBody(after=6), None),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("fault", "status"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
async def test_transport_faults_become_transport_errors(
    server: LegyServer, transport: str, fault: Fault, status: int | None
) -> None:
    server.inject("getProfile", fault)
    async with make_client(server, TRANSPORT_TOKENS[transport].text) as client:
        with pytest.raises(TalkTransportError) as caught:
            await client.get_profile()
        assert (await client.get_profile()).mid == OWN_MID  # the client recovers on the next call
    assert not isinstance(caught.value, ReloginRequired)
    assert (caught.value.status, caught.value.method, caught.value.path) == (status, "getProfile", "/S4")


async def test_stall_past_the_read_timeout(server: LegyServer) -> None:
    server.inject("getProfile", Stall(30))
    quick = ClientTimeouts(connect=1.0, rpc=0.2, sync=0.2)
    async with make_client(server, TRANSPORT_TOKENS["plain"].text, timeouts=quick) as client:
        with trio.fail_after(5), pytest.raises(TalkTimeoutError):
            await client.get_profile()


async def test_application_exception_passes_through(server: LegyServer) -> None:
    server.inject("getProfile", ApplicationError(1, "unknown method"))
    async with make_client(server, TRANSPORT_TOKENS["gateway"].text) as client:
        with pytest.raises(TApplicationError):
            await client.get_profile()


# --- re-login ---------------------------------------------------------------------------------------------

AUTH_FAILURES: list[tuple[str, Fault]] = [
    ("authentication-failed", RaiseTalk(ErrorCode.AUTHENTICATION_FAILED)),
    ("not-authorized-device", RaiseTalk(ErrorCode.NOT_AUTHORIZED_DEVICE)),
    ("http-401", HttpError(401)),
    ("http-403", HttpError(403)),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("failure", [f[1] for f in AUTH_FAILURES], ids=[f[0] for f in AUTH_FAILURES])
async def test_revoked_token_raises_relogin_required(transport: str, failure: Fault) -> None:
    shape = TRANSPORT_TOKENS[transport]
    async with running_legy_server(auth_failure=failure) as srv:
        register(srv, shape)
        async with make_client(srv, shape.text, token_variable="LINE_AUTH_TOKEN_FILE") as client:
            await client.get_profile()
            srv.revoke(shape.wire or "")
            with pytest.raises(ReloginRequired) as caught:
                await client.get_profile()
    assert caught.value.variable == "LINE_AUTH_TOKEN_FILE"
    assert "LINE_AUTH_TOKEN_FILE" in str(caught.value)


# --- token renewal ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_next_access_header_is_adopted_and_persisted(server: LegyServer, transport: str) -> None:
    shape = TRANSPORT_TOKENS[transport]
    new = "renewed-opaque-token" if transport == "plain" else V3.replace("c2lnbmF0dXJl", "bmV3")
    server.renew(shape.text, new)
    storage = MemoryTalkStorage()
    async with make_client(server, shape.text, storage) as client:
        await client.get_profile()  # its reply carries x-line-next-access
        stored = storage.load_token()
        assert stored is not None
        assert stored.access_token == new and stored.configured_hash == token_hash(shape.text)
        server.revoke(shape.text)  # only the new token works from here on
        await client.get_profile()
        await client.acquire_call_route(PEER_MID)
    assert [r.token for r in server.requests] == [shape.text, new, new]


async def test_expired_v3_token_is_refreshed_once_and_the_call_replayed(server: LegyServer) -> None:
    new_access = V3.replace("c2lnbmF0dXJl", "cmVmcmVzaGVk")
    rotated = V3_REFRESH.replace("c2lnbmF0dXJl", "cm90YXRlZA")
    server.accept(V3, via="gateway")
    server.expire_access(V3)
    server.accept_refresh(V3_REFRESH, new_access, rotated=rotated)
    storage = MemoryTalkStorage()
    async with make_client(server, f"{V3}\n{V3_REFRESH}", storage) as client:
        profile = await client.get_profile()
        assert client.credential.refresh_token == rotated
    assert profile.mid == OWN_MID
    assert [(r.method, r.path, r.transport, r.token) for r in server.requests] == [
        ("getProfile", "/S4", "gateway", V3),
        ("refresh", "/EXT/auth/tokenrefresh/v1", "plain", V3),  # old token, plain legy (talk-map §1.6)
        ("getProfile", "/S4", "gateway", new_access),
    ]
    stored = storage.load_token()
    assert stored is not None
    assert (stored.access_token, stored.refresh_token, stored.expire) == (
        new_access,
        rotated,
        1_700_003_600.0,
    )


async def test_expired_v3_token_without_a_refresh_token_needs_relogin(server: LegyServer) -> None:
    server.accept(V3, via="gateway")
    server.expire_access(V3)
    async with make_client(server, V3) as client:
        with pytest.raises(ReloginRequired) as caught:
            await client.get_profile()
    assert caught.value.code == ErrorCode.MUST_REFRESH_V3_TOKEN


async def test_refused_refresh_needs_relogin(server: LegyServer) -> None:
    server.accept(V3, via="gateway")
    server.expire_access(V3)  # and the refresh token is unknown to the server
    async with make_client(server, f"{V3}\n{V3_REFRESH}") as client:
        with pytest.raises(ReloginRequired):
            await client.get_profile()


async def test_auth_key_is_never_replaced_by_a_renewal(server: LegyServer) -> None:
    server.accept_auth_key(AUTH_KEY)
    storage = MemoryTalkStorage()
    async with make_client(server, AUTH_KEY, storage) as client:
        assert client.token_kind is TokenKind.PRIMARY_AUTH_KEY
        first = await client.get_profile()
        client._adopt(TokenRenewal("whatever", RenewalSource.NEXT_ACCESS_HEADER))  # as if LINE sent one
        assert client.token_kind is TokenKind.PRIMARY_AUTH_KEY
        assert (await client.get_profile()) == first
    assert storage.load_token() is None
    minted = [r.token for r in server.requests]
    assert all(t and t.startswith(OWN_MID + ":") and ".." in t for t in minted)


# --- sync -------------------------------------------------------------------------------------------------


async def test_two_syncs_at_once_are_refused(server: LegyServer) -> None:
    async with make_client(server, TRANSPORT_TOKENS["plain"].text) as client, trio.open_nursery() as nursery:
        nursery.start_soon(client.sync, RevisionTriple())
        while not client.sync_in_flight:
            await trio.sleep(0.001)
        with pytest.raises(SyncInProgressError):
            await client.sync(RevisionTriple())
    assert server.max_sync_in_flight == 1


async def test_sync_uses_the_sync_path_and_carries_the_position(server: LegyServer) -> None:
    server.push_message("hello", sender=PEER_MID)
    async with make_client(server, TRANSPORT_TOKENS["gateway"].text) as client:
        reply = await client.sync(RevisionTriple(5, 6, 7))
    assert [op.revision for op in reply.operations] == [100]
    request = server.requests[-1]
    assert (request.path, request.transport) == ("/SYNC4", "gateway")
    assert server.sync_requests[-1].position == RevisionTriple(5, 6, 7)


# --- the refresh parser -----------------------------------------------------------------------------------


def test_refresh_request_bytes_and_reply() -> None:
    call = refresh_access_token("RT")
    # 82 21 00 07 "refresh" | 1c (f1 struct) 18 02 "RT" 00 | 00 end args | 00 linejs's surplus byte
    assert call.body == bytes.fromhex("82210007") + b"refresh" + bytes.fromhex("1c1802") + b"RT" + b"\x00" * 3
    assert (call.path, call.method) == ("/EXT/auth/tokenrefresh/v1", "refresh")
    body = encode_reply("refresh", encode_refresh_response("AT", duration_until_refresh_s=10, issue_time_s=5))
    renewal = call.parse(body)
    assert (renewal.access_token, renewal.expire, renewal.refresh_token) == ("AT", 15.0, None)
    with pytest.raises(TalkException):
        call.parse(encode_talk_exception("refresh", TalkException(1, "no")))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_refresh_parser_raises_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(ThriftDecodeError, TalkException, TApplicationError):
        parse_refresh(data)
