"""PLANET media keys: the 30-byte SRTP master key || salt for each direction, per key mode.

Each side advertises media material in its offer: a media P-256 public key (a different key from the
transport key), a key id, a 16-byte nonce and a 30-byte secret.  From both sides' material PLANET
derives four 30-byte "variants" (two ECDH-based stage-1 bases crossed with either side's nonce and key
id) and can also use the raw secrets; an optional HMAC relabels any of them for the AUDIO/VIDEO/DATA
stream.  Which variant keys which direction is the *mode*.  Thirteen modes exist; native 1:1 clients
interoperate with ``audio-reverse-stage`` and groups with ``audio-secret-sender``.  ``auto`` starts
as ``current`` and lets the receiver adopt whichever candidate first authenticates a packet; the
switch itself belongs to the connection, this module only lists the candidates in order.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass, field
from typing import Literal

from linecall.protocol.planet.crypto import (
    COMPRESSED_PUBLIC_KEY_LEN,
    P256KeyPair,
    RandomSource,
    ecdh_secret,
    pkdf_sha256,
)
from linecall.protocol.planet.errors import PlanetCryptoError

MEDIA_NONCE_LEN = 16
MEDIA_SECRET_LEN = 30
MASTER_LEN = 30  # SRTP AES_CM_128_HMAC_SHA1_80: 16-byte master key || 14-byte master salt

StreamName = Literal["AUDIO", "VIDEO", "DATA"]
_STREAM_NAMES: frozenset[str] = frozenset(("AUDIO", "VIDEO", "DATA"))


class MediaKeyMode(enum.StrEnum):
    """linejs's ``PlanetMediaKeyMode``, spelled as on its options."""

    CURRENT = "current"
    REVERSE_STAGE = "reverse-stage"
    SENDER_MATERIAL = "sender-material"
    SENDER_MATERIAL_REVERSE_STAGE = "sender-material-reverse-stage"
    AUDIO_CURRENT = "audio-current"
    AUDIO_REVERSE_STAGE = "audio-reverse-stage"
    AUDIO_SENDER_MATERIAL = "audio-sender-material"
    AUDIO_SENDER_MATERIAL_REVERSE_STAGE = "audio-sender-material-reverse-stage"
    SECRET_RECEIVER = "secret-receiver"
    SECRET_SENDER = "secret-sender"
    AUDIO_SECRET_RECEIVER = "audio-secret-receiver"
    AUDIO_SECRET_SENDER = "audio-secret-sender"
    AUTO = "auto"


DEFAULT_ONE_TO_ONE_MODE = MediaKeyMode.AUDIO_REVERSE_STAGE
"""What native 1:1 clients use (linejs's example and docs); its transport default, current, is not."""
DEFAULT_GROUP_MODE = MediaKeyMode.AUDIO_SECRET_SENDER
AUTO_INITIAL_MODE = MediaKeyMode.CURRENT

CANDIDATE_ORDER: tuple[MediaKeyMode, ...] = (
    MediaKeyMode.CURRENT,
    MediaKeyMode.AUDIO_CURRENT,
    MediaKeyMode.REVERSE_STAGE,
    MediaKeyMode.AUDIO_REVERSE_STAGE,
    MediaKeyMode.SENDER_MATERIAL,
    MediaKeyMode.AUDIO_SENDER_MATERIAL,
    MediaKeyMode.SENDER_MATERIAL_REVERSE_STAGE,
    MediaKeyMode.AUDIO_SENDER_MATERIAL_REVERSE_STAGE,
    MediaKeyMode.SECRET_RECEIVER,
    MediaKeyMode.SECRET_SENDER,
    MediaKeyMode.AUDIO_SECRET_RECEIVER,
    MediaKeyMode.AUDIO_SECRET_SENDER,
)
"""The order ``auto`` tries receive keys in: each KDF mode then its audio twin, then the secret modes."""


class Variant(enum.StrEnum):
    """The four ECDH-based master keys, named ``<stage-1 key order>/<whose nonce and key id>``."""

    LOCAL_PEER_PEER = "local-peer/peer"
    PEER_LOCAL_LOCAL = "peer-local/local"
    LOCAL_PEER_LOCAL = "local-peer/local"
    PEER_LOCAL_PEER = "peer-local/peer"


class Secret(enum.StrEnum):
    LOCAL = "local-secret"
    PEER = "peer-secret"


Source = Variant | Secret


@dataclass(frozen=True, slots=True)
class _Selection:
    send: Source
    recv: Source
    audio: bool


_SELECTIONS: dict[MediaKeyMode, _Selection] = {
    MediaKeyMode.CURRENT: _Selection(Variant.LOCAL_PEER_PEER, Variant.PEER_LOCAL_LOCAL, audio=False),
    MediaKeyMode.AUDIO_CURRENT: _Selection(Variant.LOCAL_PEER_PEER, Variant.PEER_LOCAL_LOCAL, audio=True),
    MediaKeyMode.REVERSE_STAGE: _Selection(Variant.PEER_LOCAL_LOCAL, Variant.LOCAL_PEER_PEER, audio=False),
    MediaKeyMode.AUDIO_REVERSE_STAGE: _Selection(
        Variant.PEER_LOCAL_LOCAL, Variant.LOCAL_PEER_PEER, audio=True
    ),
    MediaKeyMode.SENDER_MATERIAL: _Selection(Variant.LOCAL_PEER_LOCAL, Variant.PEER_LOCAL_PEER, audio=False),
    MediaKeyMode.AUDIO_SENDER_MATERIAL: _Selection(
        Variant.LOCAL_PEER_LOCAL, Variant.PEER_LOCAL_PEER, audio=True
    ),
    MediaKeyMode.SENDER_MATERIAL_REVERSE_STAGE: _Selection(
        Variant.PEER_LOCAL_PEER, Variant.LOCAL_PEER_LOCAL, audio=False
    ),
    MediaKeyMode.AUDIO_SENDER_MATERIAL_REVERSE_STAGE: _Selection(
        Variant.PEER_LOCAL_PEER, Variant.LOCAL_PEER_LOCAL, audio=True
    ),
    MediaKeyMode.SECRET_RECEIVER: _Selection(Secret.PEER, Secret.LOCAL, audio=False),
    MediaKeyMode.SECRET_SENDER: _Selection(Secret.LOCAL, Secret.PEER, audio=False),
    MediaKeyMode.AUDIO_SECRET_RECEIVER: _Selection(Secret.PEER, Secret.LOCAL, audio=True),
    MediaKeyMode.AUDIO_SECRET_SENDER: _Selection(Secret.LOCAL, Secret.PEER, audio=True),
}


# --------------------------------------------------------------------------------------------------
# Material


def _random_bit_length_id(random: RandomSource) -> int:
    """A 29- or 30-bit id with its top bit set, drawn as linejs draws its "large ids"."""
    bits = 29 + int.from_bytes(random(4), "big") % 2
    base = 1 << (bits - 1)
    return base | (int.from_bytes(random(4), "big") & (base - 1))


@dataclass(frozen=True, slots=True)
class LocalMediaMaterial:
    """Our media material for one call: the media key pair, key id, nonce and secret of our offer."""

    keypair: P256KeyPair
    key_id: int
    nonce: bytes
    secret: bytes

    def __post_init__(self) -> None:
        _check_key_id(self.key_id)
        if len(self.nonce) != MEDIA_NONCE_LEN:
            raise PlanetCryptoError("media nonce must be 16 bytes")
        if len(self.secret) != MEDIA_SECRET_LEN:
            raise PlanetCryptoError("media secret must be 30 bytes")

    def __repr__(self) -> str:
        return f"LocalMediaMaterial(key_id={self.key_id}, <redacted>)"

    @property
    def public_key(self) -> bytes:
        return self.keypair.public_key

    @classmethod
    def generate(cls, random: RandomSource) -> LocalMediaMaterial:
        """Fresh material, drawn in linejs's order: key pair, key id, nonce(16), secret(30)."""
        keypair = P256KeyPair.generate(random)
        key_id = _random_bit_length_id(random)
        return cls(
            keypair=keypair, key_id=key_id, nonce=random(MEDIA_NONCE_LEN), secret=random(MEDIA_SECRET_LEN)
        )


@dataclass(frozen=True, slots=True)
class PeerMediaMaterial:
    """What the peer's offer (conn_req answer/offer, participate_rsp answer) told us; any part may be absent.

    The KDF modes need the public key, key id and nonce; the secret modes need the 30-byte secret.
    """

    public_key: bytes | None = None
    key_id: int | None = None
    nonce: bytes | None = None
    secret: bytes | None = field(default=None, repr=False)

    @property
    def has_kdf_material(self) -> bool:
        return self.public_key is not None and self.key_id is not None and self.nonce is not None

    @property
    def has_secret(self) -> bool:
        return self.secret is not None and len(self.secret) == MEDIA_SECRET_LEN


def _check_key_id(key_id: int) -> None:
    if not 0 <= key_id <= 0xFFFFFFFF:
        raise PlanetCryptoError(f"media key id must be a uint32, got {key_id}")


# --------------------------------------------------------------------------------------------------
# Derivations


def media_key_info(key_id: int) -> bytes:
    """KDF info for a key id: ``be32(key_id) || 00 00 00 00``."""
    _check_key_id(key_id)
    return key_id.to_bytes(4, "big") + bytes(4)


def stream_keying(base: bytes, stream: str = "AUDIO") -> bytes:
    """Relabel 30 bytes of keying for one stream: ``HMAC-SHA256(key=ASCII(stream), msg=base)[:30]``."""
    if len(base) != MASTER_LEN:
        raise PlanetCryptoError(f"stream keying needs 30 bytes of base keying, got {len(base)}")
    if stream not in _STREAM_NAMES:
        raise PlanetCryptoError(f"unknown media stream {stream!r} (AUDIO, VIDEO or DATA)")
    return hmac.digest(stream.encode("ascii"), base, "sha256")[:MASTER_LEN]


@dataclass(frozen=True, slots=True)
class MediaKeyVariants:
    """The ECDH-based derivations of §5.3, with their intermediate values (32-byte raw outputs)."""

    ecdh_secret: bytes
    local_peer_stage1: bytes
    peer_local_stage1: bytes
    raw: dict[Variant, bytes]

    def __repr__(self) -> str:
        return "MediaKeyVariants(<redacted>)"

    def master(self, variant: Variant) -> bytes:
        """The 30-byte master key || salt of ``variant`` (the first 30 of its 32 raw bytes)."""
        return self.raw[variant][:MASTER_LEN]


def derive_variants(local: LocalMediaMaterial, peer: PeerMediaMaterial) -> MediaKeyVariants:
    """ECDH of the media keys, two stage-1 bases (public keys in either order), four variants."""
    if peer.public_key is None or peer.key_id is None or peer.nonce is None:
        raise PlanetCryptoError("the peer's media public key, key id and nonce are all needed")
    if len(peer.public_key) != COMPRESSED_PUBLIC_KEY_LEN:
        raise PlanetCryptoError("media public keys must be 33 bytes")
    if len(peer.nonce) != MEDIA_NONCE_LEN:
        raise PlanetCryptoError("media nonces must be 16 bytes")
    local_pub, peer_pub = local.public_key, peer.public_key
    secret = ecdh_secret(local.keypair.private_key, peer_pub)
    lp = pkdf_sha256(local_pub, secret, peer_pub, 32)
    pl = pkdf_sha256(peer_pub, secret, local_pub, 32)
    local_info, peer_info = media_key_info(local.key_id), media_key_info(peer.key_id)
    raw = {
        Variant.LOCAL_PEER_PEER: pkdf_sha256(peer.nonce, lp, peer_info, 32),
        Variant.PEER_LOCAL_LOCAL: pkdf_sha256(local.nonce, pl, local_info, 32),
        Variant.LOCAL_PEER_LOCAL: pkdf_sha256(local.nonce, lp, local_info, 32),
        Variant.PEER_LOCAL_PEER: pkdf_sha256(peer.nonce, pl, peer_info, 32),
    }
    return MediaKeyVariants(ecdh_secret=secret, local_peer_stage1=lp, peer_local_stage1=pl, raw=raw)


@dataclass(frozen=True, slots=True)
class MediaKeying:
    """SRTP master key || salt (30 bytes each) for sending and for receiving under one mode."""

    mode: MediaKeyMode
    send_master: bytes
    recv_master: bytes

    def __repr__(self) -> str:
        return f"MediaKeying(mode={self.mode.value!r}, <redacted>)"

    @property
    def send_source(self) -> str:
        """Where the send master comes from, as the vectors name it (e.g. ``AUDIO/peer-local/local``)."""
        return _source_name(self.mode, send=True)

    @property
    def recv_source(self) -> str:
        return _source_name(self.mode, send=False)


def _source_name(mode: MediaKeyMode, *, send: bool) -> str:
    sel = _SELECTIONS[AUTO_INITIAL_MODE if mode is MediaKeyMode.AUTO else mode]
    source = (sel.send if send else sel.recv).value
    return f"AUDIO/{source}" if sel.audio else source


def mode_available(mode: MediaKeyMode, local: LocalMediaMaterial, peer: PeerMediaMaterial) -> bool:
    """Whether the material needed by ``mode`` (``auto``: by its initial mode) is present."""
    sel = _SELECTIONS[AUTO_INITIAL_MODE if mode is MediaKeyMode.AUTO else mode]
    if isinstance(sel.send, Secret):
        return peer.has_secret and len(local.secret) == MEDIA_SECRET_LEN
    return peer.has_kdf_material


def _keying_for(
    mode: MediaKeyMode,
    local: LocalMediaMaterial,
    peer: PeerMediaMaterial,
    variants: MediaKeyVariants | None,
) -> MediaKeying:
    sel = _SELECTIONS[mode]

    def resolve(source: Source) -> bytes:
        if source is Secret.LOCAL:
            base = local.secret
        elif source is Secret.PEER:
            if not peer.has_secret or peer.secret is None:
                raise PlanetCryptoError(f"mode {mode.value} needs the peer's 30-byte media secret")
            base = peer.secret
        else:
            if variants is None:
                raise PlanetCryptoError(f"mode {mode.value} needs the peer's media key, key id and nonce")
            base = variants.master(source)
        return stream_keying(base, "AUDIO") if sel.audio else bytes(base)

    return MediaKeying(mode=mode, send_master=resolve(sel.send), recv_master=resolve(sel.recv))


def select_keying(
    mode: MediaKeyMode,
    local: LocalMediaMaterial,
    peer: PeerMediaMaterial,
    variants: MediaKeyVariants | None = None,
) -> MediaKeying:
    """Send and receive masters for ``mode``.  ``auto`` yields ``current``'s keying under the name ``auto``.

    Raises :class:`PlanetCryptoError` when the mode's material is missing.  Pass ``variants`` to
    avoid recomputing the ECDH for several modes.
    """
    effective = AUTO_INITIAL_MODE if mode is MediaKeyMode.AUTO else mode
    if variants is None and isinstance(_SELECTIONS[effective].send, Variant):
        variants = derive_variants(local, peer)
    keying = _keying_for(effective, local, peer, variants)
    return MediaKeying(mode=mode, send_master=keying.send_master, recv_master=keying.recv_master)


def candidates(local: LocalMediaMaterial, peer: PeerMediaMaterial) -> list[MediaKeying]:
    """Every mode the material allows, in :data:`CANDIDATE_ORDER` (KDF modes first, then secrets).

    This is the list ``auto`` tries: receive starts with ``current``; on an SRTP authentication
    failure the connection tries the other candidates' ``recv_master`` in this order and adopts the
    first that authenticates for both directions (as linejs does).  Trial decryptions must not
    change any state.
    """
    variants = derive_variants(local, peer) if peer.has_kdf_material else None
    return [
        _keying_for(mode, local, peer, variants)
        for mode in CANDIDATE_ORDER
        if mode_available(mode, local, peer)
    ]


def group_data_send_master(local: LocalMediaMaterial) -> bytes:
    """Group DATA stream send master: ``STREAM("DATA", local.secret)``."""
    return stream_keying(local.secret, "DATA")


def data_recv_master(peer: PeerMediaMaterial) -> bytes:
    """``STREAM("DATA", peer.secret)``: linejs derives this receive key in 1:1 and never uses it."""
    if peer.secret is None or not peer.has_secret:
        raise PlanetCryptoError("the peer's 30-byte media secret is needed")
    return stream_keying(peer.secret, "DATA")
