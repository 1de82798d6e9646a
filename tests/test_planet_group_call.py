"""Whole group calls through the Trio driver (``open_planet_call`` + ``join_group``) against the loopback group relay.

Everything runs on ``trio.testing.MockClock`` (autojump) over real loopback UDP sockets, so 10 s of clip, the
10 s join timeout and the keepalive interval take no real time and every timing is exact: the clip is paced
by :class:`~linecall.media.pacer.Pacer` (one group payload per 40 ms, prefixed by the call's
:class:`~linecall.media.packetize.GroupPrefixer`) and the relay's mixer decodes it back to PCM.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import trio
import trio.testing

from linecall.media.clip import encode_group
from linecall.media.opus import OpusDecoder, OpusParams
from linecall.media.pacer import Pacer
from linecall.media.packetize import GroupPrefixer
from linecall.protocol.planet import messages as m
from linecall.protocol.planet.call_state import CallState
from linecall.protocol.planet.driver import PlanetCallFailed, PlanetCallReleased, open_planet_call
from linecall.protocol.planet.events import CallReleased, Failed, FailureReason, GroupJoined
from linecall.protocol.planet.media_keys import MediaKeyMode
from linecall.protocol.planet.options import PlanetConfig
from linecall.protocol.rtp.group import GROUP_AUDIO_EXTENSIONS, GROUP_DATA_PAYLOADS, build_group_rtcp_feedback
from tests.audio_match import audio_match, band_noise
from tests.planet_sim_support import CALLER, seeded
from tests.sim.planet_group_relay import (
    KIND_GROUP_DATA,
    KIND_GROUP_RTCP,
    GroupScript,
    GroupState,
    run_group_relay,
)
from tests.sim.planet_script import RESULT_BAD_CREDENTIAL, Refusal

ROOM = "c00112233445566778899aabbccddeeff"
FRAME_S = 0.04
OPUS = OpusParams(bitrate=32_000)


@pytest.fixture(scope="module")
def ten_seconds() -> tuple[np.ndarray, tuple[bytes, ...]]:
    source = band_noise(10.0, seed=42)
    return source, encode_group(source, OPUS)


async def test_join_stream_ten_seconds_and_leave(
    autojump_clock: trio.testing.MockClock, ten_seconds: tuple[np.ndarray, tuple[bytes, ...]]
) -> None:
    source, packets = ten_seconds
    sent_at: list[float] = []
    async with (
        run_group_relay(GroupScript(provisional=1, join_delay_s=0.2), random=seeded(1)) as relay,
        open_planet_call(relay.route, CALLER, random=seeded(2)) as call,
    ):
        joined = await call.join_group(ROOM)
        assert joined == GroupJoined(
            media_ready=True,
            media_key_mode="audio-secret-sender",
            keepalive_interval=15.0,
            role="participant",
            join_ts=1767229200000,
        )
        assert call.state is CallState.ANSWERED
        prefixer = GroupPrefixer()  # one per call

        async def send(payload: bytes) -> None:
            sent_at.append(trio.current_time())
            await call.send(prefixer.wrap(payload), 1920)

        pacer = Pacer(send, FRAME_S)
        await pacer.play(packets)
        await pacer.drain()
        await call.hangup()  # leave: the group rel_req
        rel = await relay.wait_for("cc/rel_req")
    core = relay.core
    stats = core.mixer_stats

    # the pacer released one payload every 40 ms on the mock clock, with no drift at all
    assert len(sent_at) == len(packets) == 250
    assert [round((t - sent_at[0]) / FRAME_S, 9) for t in sent_at] == list(range(250))
    audio_at = [r.at for r in core.received if r.kind == "srtp/audio"]
    assert audio_at == sent_at  # loopback delivery is instant on the mock clock

    # the mixer decoded all of it back to the source
    assert stats.audio_packets == 250 and stats.rejected == 0 and stats.decode_errors == 0
    assert audio_match(source, core.heard_pcm()) >= 0.9
    assert stats.timestamps[0] == 960 and stats.timestamp_steps == [1920] * 249
    assert [(b - a) & 0xFFFF for a, b in zip(stats.seqs, stats.seqs[1:], strict=False)] == [1] * 249
    assert stats.prefixes == [b"\x00", b"\x00"] + [b"\x10"] * 248
    assert [i for i, marker in enumerate(stats.markers) if marker] == [2]
    assert stats.extensions[:9] == list(GROUP_AUDIO_EXTENSIONS) and set(stats.extensions[9:]) == {
        GROUP_AUDIO_EXTENSIONS[-1]
    }

    # the SSRC plan announced in the data session is what the media used
    spec = core.data_session
    assert spec is not None
    rx_audio, _rx_video, rx_data = (s.ssrc for s in spec.strms)
    tx_audio, _tx_video = (s.ssrc for s in spec.tx_strms)
    assert set(stats.ssrcs) == {tx_audio} and set(stats.payload_types) == {96}
    assert [h.ssrc for h in stats.data_headers] == [tx_audio - 0x7D + 0xAD] * 10
    assert [p for p in stats.data_payloads] == list(GROUP_DATA_PAYLOADS)
    assert [h.seq for h in stats.data_headers] == list(range(2, 12))
    assert stats.rtcp == [build_group_rtcp_feedback(rx_audio_ssrc=rx_audio, rx_data_ssrc=rx_data)]
    kinds = core.received_kinds()
    assert kinds.count(KIND_GROUP_DATA) == 10 and kinds.count(KIND_GROUP_RTCP) == 1

    # the join on the wire, then the leave
    assert kinds[:2] == ["cc/participate_req", "mc/data_req"]
    assert core.sent_kinds()[:3] == ["cc/participate_rsp", "cc/participate_rsp", "mc/data_rsp"]
    assert rel.message is not None and rel.message.body == m.group_leave_rel_req()
    assert rel.message.chan is not None and rel.message.chan.dst_chan_id == core.config.relay_cc_chan_id
    assert rel.at >= audio_at[-1]
    assert core.state is GroupState.LEFT


async def test_others_present_mixer_audio_decodes_to_pcm(autojump_clock: trio.testing.MockClock) -> None:
    mix = band_noise(2.0, seed=9)
    prefixer = GroupPrefixer()
    others = tuple(prefixer.wrap(p) for p in encode_group(mix, OPUS))
    received: list[bytes] = []
    async with (
        run_group_relay(GroupScript(others_present=others), random=seeded(3)) as relay,
        open_planet_call(relay.route, CALLER, random=seeded(4)) as call,
    ):
        await call.join_group(ROOM)
        with trio.fail_after(5):
            for _ in others:
                received.append(await call.received.receive())
    assert received == list(others)  # authenticated and decrypted, LINE prefix still in front
    decoder = OpusDecoder()
    pcm = np.concatenate([decoder.decode_payload(p) for p in received])
    assert audio_match(mix, pcm) >= 0.9
    assert relay.core.mixer_stats.sent == len(others)


async def test_refusal_is_a_typed_failure_with_result_and_rel_code(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = GroupScript(refuse=Refusal(result=403, rel_code=219, rel_phrase="room full"))
    async with (
        run_group_relay(script, random=seeded(5)) as relay,
        open_planet_call(relay.route, CALLER, random=seeded(6)) as call,
    ):
        with pytest.raises(PlanetCallFailed) as failed:
            await call.join_group(ROOM)
    event = failed.value.event
    assert isinstance(event, Failed)
    assert (event.reason, event.code, event.rel_code) == (FailureReason.REFUSED, 403, 219)
    assert "room full" in event.detail
    assert relay.core.state is GroupState.REFUSED
    assert "cc/rel_req" not in relay.core.received_kinds()  # refused: nothing to release


async def test_rel_code_alone_refuses_too(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        run_group_relay(GroupScript(refuse=Refusal(result=0, rel_code=17)), random=seeded(7)) as relay,
        open_planet_call(relay.route, CALLER, random=seeded(8)) as call,
    ):
        with pytest.raises(PlanetCallFailed) as failed:
            await call.join_group(ROOM)
    assert failed.value.event == Failed(FailureReason.REFUSED, 17, failed.value.event.detail, rel_code=17)


async def test_wrong_token_is_refused_by_the_credential_check(autojump_clock: trio.testing.MockClock) -> None:
    async with run_group_relay(GroupScript(), random=seeded(9)) as relay:
        forged = replace(relay.route, token="not-the-relay-token")  # the credential hashes the token
        async with open_planet_call(forged, CALLER, random=seeded(10)) as call:
            with pytest.raises(PlanetCallFailed) as failed:
                await call.join_group(ROOM)
    event = failed.value.event
    assert isinstance(event, Failed) and (event.reason, event.code) == (
        FailureReason.REFUSED,
        RESULT_BAD_CREDENTIAL,
    )


async def test_silent_relay_participate_retransmitted_then_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with run_group_relay(GroupScript(silent=True), random=seeded(11)) as relay:
        start = trio.current_time()
        async with open_planet_call(relay.route, CALLER, random=seeded(12)) as call:
            with pytest.raises(PlanetCallFailed) as failed:
                await call.join_group(ROOM)
            assert trio.current_time() - start == pytest.approx(10.0)
        await relay.wait_for("cc/rel_req")
    assert failed.value.event.reason is FailureReason.SETUP_TIMEOUT
    participates = [r for r in relay.core.received if r.kind == "cc/participate_req"]
    assert [round(r.at - participates[0].at, 6) for r in participates] == [0.0, 1.0, 2.0, 4.0]
    assert {r.frame_seq for r in participates} == {participates[0].frame_seq}  # the identical datagram


async def test_provisional_replies_keep_waiting_until_the_final_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = GroupScript(provisional=3, join_delay_s=6.0)
    async with (
        run_group_relay(script, random=seeded(13)) as relay,
        open_planet_call(relay.route, CALLER, random=seeded(14)) as call,
    ):
        start = trio.current_time()
        joined = await call.join_group(ROOM)
        assert trio.current_time() - start == pytest.approx(6.0)
        assert joined.media_ready
        handler = call.connection.role_handler
        assert handler.provisional_replies == 3
    participates = relay.core.received_kinds().count("cc/participate_req")
    assert participates == 1  # a provisional reply stops the retransmissions


async def test_no_mixer_answer_fails_with_media_keys(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        run_group_relay(GroupScript(answer=False), random=seeded(15)) as relay,
        open_planet_call(relay.route, CALLER, random=seeded(16)) as call,
    ):
        with pytest.raises(PlanetCallFailed) as failed:
            await call.join_group(ROOM)
        await relay.wait_for("cc/rel_req")
    assert failed.value.event.reason is FailureReason.MEDIA_KEYS


async def test_kicked_by_the_relay(autojump_clock: trio.testing.MockClock) -> None:
    packets = encode_group(band_noise(3.0, seed=1), OPUS)
    async with (
        run_group_relay(GroupScript(kick_after_s=1.0, kick_code=3), random=seeded(17)) as relay,
        open_planet_call(relay.route, CALLER, random=seeded(18)) as call,
    ):
        await call.join_group(ROOM)
        prefixer = GroupPrefixer()

        async def send(payload: bytes) -> None:
            await call.send(prefixer.wrap(payload), 1920)

        with pytest.raises(PlanetCallReleased) as released:
            await Pacer(send, FRAME_S).play(packets)
    assert released.value.event == CallReleased(by_peer=True, rel_code=3, releaser="mixer")
    assert "cc/rel_req" not in relay.core.received_kinds()
    assert relay.core.state is GroupState.KICKED


async def test_keepalives_follow_the_participate_rsp_interval(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        run_group_relay(GroupScript(keepalive_interval_s=5), random=seeded(19)) as relay,
        open_planet_call(relay.route, CALLER, random=seeded(20)) as call,
    ):
        joined = await call.join_group(ROOM)
        assert joined.keepalive_interval == 5.0
        await trio.sleep(12.5)
    kas = [r.at for r in relay.core.received if r.kind == "sc/ka_req"]
    assert [round(t - kas[0], 6) for t in kas] == [0.0, 5.0, 10.0]


async def test_group_media_key_mode_auto_keys_like_the_group_default(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = PlanetConfig(group_media_key_mode=MediaKeyMode.AUTO)
    packets = encode_group(band_noise(0.4, seed=2), OPUS)
    async with (
        run_group_relay(GroupScript(), random=seeded(21)) as relay,
        open_planet_call(relay.route, CALLER, config, random=seeded(22)) as call,
    ):
        joined = await call.join_group(ROOM)
        assert joined.media_key_mode == "audio-secret-sender"
        prefixer = GroupPrefixer()
        for packet in packets:
            await call.send(prefixer.wrap(packet))  # default step: 1920
        await trio.sleep(0.1)
    stats = relay.core.mixer_stats
    assert stats.audio_packets == len(packets) and stats.rejected == 0
    assert stats.timestamp_steps == [1920] * (len(packets) - 1)
