"""Opus encoder/decoder: round trips per frame size, and every encoder setting takes effect."""

from __future__ import annotations

import numpy as np
import pytest

from linecall.media.clip import encode_one_to_one
from linecall.media.condition import frame_pcm
from linecall.media.errors import OpusCodecError
from linecall.media.opus import OpusDecoder, OpusEncoder, OpusParams
from linecall.media.packetize import parse_packet, parse_toc
from tests.audio_match import audio_match, band_noise, log_chirp

SIGNALS = {"noise": band_noise(1.0, seed=21), "chirp": log_chirp(1.0)}


def decode_all(payloads: tuple[bytes, ...], prefix_bytes: int = 1) -> np.ndarray:
    decoder = OpusDecoder()
    return np.concatenate([decoder.decode_payload(p, prefix_bytes) for p in payloads])


@pytest.mark.parametrize("signal", list(SIGNALS))
@pytest.mark.parametrize("frame_ms", [10, 20, 40, 60])
def test_round_trip_per_frame_size(frame_ms: int, signal: str) -> None:
    source = SIGNALS[signal]
    payloads = encode_one_to_one(source, OpusParams(frame_ms=frame_ms))
    assert len(payloads) == -(-len(source) // (48 * frame_ms))
    assert all(p[0] == 0 for p in payloads)
    for p in payloads:
        assert parse_packet(p[1:]).samples == 48 * frame_ms
    decoded = decode_all(payloads)
    assert len(decoded) == len(payloads) * 48 * frame_ms
    assert audio_match(source, decoded) >= 0.9


@pytest.mark.parametrize("vbr", [False, True])
@pytest.mark.parametrize("signal_hint", ["auto", "voice", "music"])
def test_round_trip_per_signal_and_vbr(signal_hint: str, vbr: bool) -> None:
    source = SIGNALS["chirp"]
    payloads = encode_one_to_one(source, OpusParams(signal=signal_hint, vbr=vbr))  # type: ignore[arg-type]
    assert audio_match(source, decode_all(payloads)) >= 0.9


@pytest.mark.parametrize(("bitrate", "frame_ms"), [(16_000, 20), (32_000, 20), (64_000, 20), (32_000, 60)])
def test_cbr_bitrate_sets_packet_size(bitrate: int, frame_ms: int) -> None:
    payloads = encode_one_to_one(
        SIGNALS["noise"], OpusParams(bitrate=bitrate, vbr=False, frame_ms=frame_ms), b""
    )
    sizes = {len(p) for p in payloads}
    assert sizes == {bitrate * frame_ms // 8000}


def test_vbr_varies_packet_size() -> None:
    source = np.concatenate([SIGNALS["noise"], np.zeros(24_000, dtype=np.int16)])
    sizes = {len(p) for p in encode_one_to_one(source, OpusParams(bitrate=32_000, vbr=True), b"")}
    assert len(sizes) > 5


@pytest.mark.parametrize(
    ("bandwidth", "expected"),
    [
        ("narrowband", "narrowband"),
        ("mediumband", "mediumband"),
        ("wideband", "wideband"),
        ("superwideband", "superwideband"),
        ("fullband", "fullband"),
    ],
)
def test_bandwidth_is_honoured(bandwidth: str, expected: str) -> None:
    # voice + 24 kbps keeps SILK available, so even mediumband is reachable.
    params = OpusParams(bandwidth=bandwidth, signal="voice", bitrate=24_000)  # type: ignore[arg-type]
    payloads = encode_one_to_one(SIGNALS["noise"], params, b"")
    assert {parse_toc(p[0]).bandwidth for p in payloads[5:]} == {expected}


def test_signal_hint_changes_the_mode() -> None:
    source = SIGNALS["noise"]
    music = encode_one_to_one(source, OpusParams(bitrate=32_000, signal="music"), b"")
    voice = encode_one_to_one(source, OpusParams(bitrate=32_000, signal="voice"), b"")
    assert {parse_toc(p[0]).mode for p in music[5:]} == {"celt"}
    assert {parse_toc(p[0]).mode for p in voice[5:]} <= {"silk", "hybrid"}


def test_match_toc_pins_mode_and_bandwidth_for_one_frame() -> None:
    encoder = OpusEncoder(OpusParams(bitrate=32_000, signal="voice", bandwidth="fullband"))
    frames = frame_pcm(SIGNALS["noise"], 960)
    first = parse_toc(encoder.encode(frames[0])[0])
    assert (first.mode, first.bandwidth) == ("hybrid", "fullband")
    hybrid_swb_toc = 13 << 3  # config 13: hybrid superwideband 20 ms
    assert encoder.encode(frames[1], match_toc=hybrid_swb_toc)[0] >> 3 == 13
    # Afterwards the configured bandwidth applies again.
    assert {parse_toc(encoder.encode(f)[0]).bandwidth for f in frames[2:6]} == {"fullband"}
    with pytest.raises(OpusCodecError, match="1920-sample"):
        encoder.encode(frames[6], match_toc=2 << 3)  # config 2: a 40 ms SILK TOC


def test_encoder_rejects_wrong_frame_length() -> None:
    encoder = OpusEncoder(OpusParams(frame_ms=10))
    assert encoder.frame_samples == 480
    assert encoder.lookahead > 0
    with pytest.raises(OpusCodecError, match="480 samples"):
        encoder.encode(np.zeros(960, dtype=np.int16))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frame_ms": 30}, "frame_ms"),
        ({"bitrate": 100}, "bitrate"),
        ({"bitrate": 600_000}, "bitrate"),
        ({"bandwidth": "ultraband"}, "bandwidth"),
        ({"signal": "speech"}, "signal"),
    ],
)
def test_params_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OpusParams(**kwargs)  # type: ignore[arg-type]


def test_for_group_forces_20ms() -> None:
    p = OpusParams(frame_ms=60, bitrate=24_000)
    assert p.for_group() == OpusParams(frame_ms=20, bitrate=24_000)
    same = OpusParams()
    assert same.for_group() is same


def test_decoder_payload_prefix_conceal_and_errors() -> None:
    payloads = encode_one_to_one(SIGNALS["chirp"][:9600], OpusParams(), b"\xaa\xbb")
    decoder = OpusDecoder()
    assert len(decoder.decode_payload(payloads[0], prefix_bytes=2)) == 960
    assert len(decoder.conceal(960)) == 960
    with pytest.raises(OpusCodecError):
        decoder.conceal(100)
    with pytest.raises(OpusCodecError):
        decoder.decode(b"")
    with pytest.raises(OpusCodecError):
        decoder.decode(b"\xfb\x00")  # code 3 with zero frames
