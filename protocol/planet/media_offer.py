"""The native media offer carried by setup_req f9, participate_req f11, conn_req f1/f104, participate_rsp f6.

Layout (planet-map §4.8): top-level ``f1`` media records (A, V, D), ``f2`` security records, ``f3`` version.
The 1:1 offer is 311 bytes (both security records: our media public key / key id / nonce, and our 30-byte
secret); the group offer is 265 bytes (the secret only). Peers answer with the same shape, which
:meth:`MediaOffer.decode` reads: per media record the codec name, enabled flag, bitrate, kinds and the
RTP/RTCP ids and port; the peer's key material; the version.
"""

from __future__ import annotations

from dataclasses import dataclass

from linecall.protocol.planet.errors import ProtoDecodeError
from linecall.protocol.planet.proto import FieldSet, Writer

MEDIA_PUB_KEY_LEN = 33
MEDIA_NONCE_LEN = 16
MEDIA_SECRET_LEN = 30
ONE_TO_ONE_OFFER_LEN = 311  # with a 5-byte key id varint (key id >= 2**28)
GROUP_OFFER_LEN = 265


@dataclass(frozen=True, slots=True)
class OfferMaterial:
    """Our media key material for a 1:1 offer: P-256 public key (SEC1 compressed), key id, nonce, secret."""

    media_pub_key: bytes
    media_key_id: int
    media_nonce: bytes
    media_secret: bytes


def _port_pair(primary: int, secondary: int) -> bytes:
    return Writer().uint(1, primary).uint(2, secondary).getvalue()


def _path(rtp_id: int, rtp_port: int, rtcp_id: int, rtp_pair: int, rtcp_pair: int) -> bytes:
    return (
        Writer()
        .uint(1, rtp_id)
        .uint(11, rtp_port)
        .blob(12, _port_pair(67, rtp_pair))
        .uint(61, rtcp_id)
        .blob(62, _port_pair(67, rtcp_pair))
        .getvalue()
    )


def _codec(
    name: str,
    enabled: int,
    bitrate: int,
    kinds: tuple[int, ...],
    fps: int | None = None,
    profile: int | None = None,
) -> bytes:
    w = Writer().blob(1, name.encode("ascii")).uint(2, 3).uint(3, enabled).uint(4, bitrate)
    if fps is not None:
        w.uint(5, fps)
    if profile is not None:
        w.uint(6, profile)
    for kind in kinds:
        w.uint(50, kind)
    return w.getvalue()


def _mode(first: int, second: int) -> bytes:
    return Writer().uint(1, first).uint(2, second).getvalue()


def _audio_video_record(
    codec: bytes, path: bytes, rtp_port: int, rtcp_id: int, modes: tuple[bytes, ...] = ()
) -> bytes:
    nested = Writer().uint(1, 127).blob(2, path).uint(11, rtp_port).uint(61, rtcp_id).getvalue()
    w = Writer().blob(1, codec).blob(2, path).blob(3, nested)
    for mode in modes:
        w.blob(51, mode)
    return w.getvalue()


def _data_record(codec: bytes, path: bytes) -> bytes:
    return Writer().blob(1, codec).blob(2, path).blob(51, _mode(0, 2)).getvalue()


def _version() -> bytes:
    return Writer().uint(1, 0).uint(2, 3).getvalue()


def _check_len(name: str, value: bytes, want: int) -> None:
    if len(value) != want:
        raise ValueError(f"{name} must be {want} bytes, got {len(value)}")


def build_one_to_one_offer(material: OfferMaterial) -> bytes:
    """The 1:1 setup offer: ports 101/111/121, RTCP ids 201/211/221, pairs 6801/13601, both security."""
    _check_len("media_pub_key", material.media_pub_key, MEDIA_PUB_KEY_LEN)
    _check_len("media_nonce", material.media_nonce, MEDIA_NONCE_LEN)
    _check_len("media_secret", material.media_secret, MEDIA_SECRET_LEN)
    if not 0 <= material.media_key_id <= 0xFFFFFFFF:
        raise ValueError("media_key_id must be a uint32")
    audio = _audio_video_record(_codec("A", 1, 32, (1,)), _path(96, 101, 201, 6801, 13601), 101, 201)
    video = _audio_video_record(
        _codec("V", 0, 800, (2,), fps=24, profile=2), _path(97, 111, 211, 6801, 13601), 111, 211
    )
    data = _data_record(_codec("D", 1, 2000, (6,)), _path(98, 121, 221, 6801, 13601))
    key_record = (
        Writer()
        .blob(1, material.media_pub_key)
        .uint(2, material.media_key_id)
        .blob(3, material.media_nonce)
        .getvalue()
    )
    security_a = Writer().blob(3, key_record).getvalue()
    security_b = Writer().blob(2, Writer().blob(1, material.media_secret).getvalue()).getvalue()
    return (
        Writer()
        .blob(1, audio)
        .blob(1, video)
        .blob(1, data)
        .blob(2, security_a)
        .blob(2, security_b)
        .blob(3, _version())
        .getvalue()
    )


def build_group_offer(media_secret: bytes) -> bytes:
    """The group participate offer (ports 103/113/123, RTCP 203/213/223, pairs 6803/13603, secret only)."""
    _check_len("media_secret", media_secret, MEDIA_SECRET_LEN)
    audio = _audio_video_record(_codec("A", 1, 32, (1,)), _path(96, 103, 203, 6803, 13603), 103, 203)
    video = _audio_video_record(
        _codec("V", 0, 800, (7, 4), fps=15, profile=2),
        _path(97, 113, 213, 6803, 13603),
        113,
        213,
        modes=(_mode(0, 2), _mode(2, 1)),
    )
    data = _data_record(_codec("D", 1, 2000, (6,)), _path(98, 123, 223, 6803, 13603))
    security = Writer().blob(2, Writer().blob(1, media_secret).getvalue()).getvalue()
    return (
        Writer().blob(1, audio).blob(1, video).blob(1, data).blob(2, security).blob(3, _version()).getvalue()
    )


@dataclass(frozen=True, slots=True)
class MediaRecord:
    """One media line of an offer/answer. ``kinds`` keeps every f50 in order (group video lists 7 then 4)."""

    name: str | None
    enabled: int | None
    bitrate: int | None
    kinds: tuple[int, ...]
    rtp_id: int | None
    rtp_port: int | None
    rtcp_id: int | None
    raw: bytes

    @property
    def kind(self) -> int | None:
        """The first listed kind (1 audio, 2/7 video, 6 data), which is what media selection looks at."""
        return self.kinds[0] if self.kinds else None


@dataclass(frozen=True, slots=True)
class OfferVersion:
    major: int | None
    mode: int | None


@dataclass(frozen=True, slots=True)
class MediaOffer:
    """A decoded offer or answer: media records plus whatever key material it carries."""

    media: tuple[MediaRecord, ...] = ()
    media_pub_key: bytes | None = None
    media_key_id: int | None = None
    media_nonce: bytes | None = None
    media_secret: bytes | None = None
    version: OfferVersion | None = None

    @classmethod
    def decode(cls, data: bytes | memoryview) -> MediaOffer:
        """Strict: malformed protobuf anywhere in the known records raises ProtoDecodeError."""
        top = FieldSet.parse(data)
        media = tuple(_decode_record(raw) for raw in top.repeated_blob(1))
        pub = key_id = nonce = secret = None
        for raw in top.repeated_blob(2):
            sec = FieldSet.parse(raw)
            key_record = sec.blob(3)
            if key_record is not None:
                inner = FieldSet.parse(key_record)
                pub, key_id, nonce = inner.blob(1), inner.uint(2), inner.blob(3)
            secret_record = sec.blob(2)
            if secret_record is not None:
                secret = FieldSet.parse(secret_record).blob(1)
        version = None
        version_raw = top.blob(3)
        if version_raw is not None:
            fs = FieldSet.parse(version_raw)
            version = OfferVersion(fs.uint(1), fs.uint(2))
        return cls(media, pub, key_id, nonce, secret, version)

    def audio(self) -> MediaRecord | None:
        """The audio record used for RTP (§6.2): first enabled "A" with an rtp id, else the first kind-1."""
        for rec in self.media:
            if rec.name == "A" and rec.enabled and rec.rtp_id is not None:
                return rec
        for rec in self.media:
            if rec.kind == 1:
                return rec
        return None


def _decode_record(raw: bytes) -> MediaRecord:
    item = FieldSet.parse(raw)
    codec_raw = item.blob(1)
    path_raw = item.blob(2)
    codec = FieldSet.parse(codec_raw) if codec_raw is not None else FieldSet([])
    path = FieldSet.parse(path_raw) if path_raw is not None else FieldSet([])
    name_raw = codec.blob(1)
    try:
        name = None if name_raw is None else name_raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtoDecodeError("media record name is not UTF-8") from exc
    return MediaRecord(
        name=name,
        enabled=codec.uint(3),
        bitrate=codec.uint(4),
        kinds=codec.repeated_uint(50),
        rtp_id=path.uint(1),
        rtp_port=path.uint(11),
        rtcp_id=path.uint(61),
        raw=raw,
    )
