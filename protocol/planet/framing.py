"""PLANET frame layout: the 6-byte header, bootstrap frames, sealing and opening datagrams.

Every PLANET datagram is ``header(6) | [bootstrap prefix(51) | security header(5)] | ciphertext | tag(16)``.
The header is a bit-shuffled chunk word (11-bit length, a bootstrap flag), the 16-bit clear frame
sequence that also feeds the CTR IV, and a 16-bit "tail" (``06 02`` on bootstrap frames, a class byte
plus the plaintext length otherwise).  Only the first frame of a call (setup_req or participate_req)
is a bootstrap frame: its clear prefix carries the sender's direction label, bootstrap seed and
public key, which is all the receiver needs to derive that direction's keys.

:class:`FrameCodec` holds one call's transport keys and frame counter: it seals plaintexts into
datagrams and opens inbound datagrams following linejs's inbound order (§3.5 of the reference map),
returning typed results so junk off the socket is dropped without exceptions.  Deciding whether a
datagram is RTP (before any PLANET processing) and tracking the relay's nonce and session id from
decoded headers are left to the connection, with :func:`is_rtp_like` and :class:`PeerHeaderState`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from linecall.protocol.planet.crypto import (
    BOOTSTRAP_SEED_LEN,
    COMPRESSED_PUBLIC_KEY_LEN,
    TAG_LEN,
    P256KeyPair,
    RandomSource,
    TransportKeys,
    aes_ctr,
    derive_send_keys,
    direction_label,
    frame_iv,
    frame_tag,
    recv_stage1,
    tags_equal,
    transport_stage2,
)
from linecall.protocol.planet.errors import FramingError

HEADER_LEN = 6
BOOTSTRAP_PREFIX_LEN = 2 + BOOTSTRAP_SEED_LEN + COMPRESSED_PUBLIC_KEY_LEN  # 51
SECURITY_HEADER_LEN = 5
BOOTSTRAP_CIPHER_OFFSET = HEADER_LEN + BOOTSTRAP_PREFIX_LEN + SECURITY_HEADER_LEN  # 62
REGULAR_OVERHEAD = HEADER_LEN + TAG_LEN  # 22: the shortest datagram worth authenticating
BOOTSTRAP_OVERHEAD = BOOTSTRAP_CIPHER_OFFSET + TAG_LEN  # 78
MAX_FRAME_LEN = 0x7FF + 4  # the chunk word holds total_len - 4 in 11 bits
MAX_PLAINTEXT_LEN = 0x7FF  # tails and the security header hold the plaintext length in 11 bits

BOOTSTRAP_TAIL = 0x0602
TAIL_CLASS_CONTROL = 0x18  # every planet_msg frame linejs sends (native uses other classes too)
TAIL_CLASS_RAW = 0x48  # pinhole probes and the probe report
SECURITY_HEADER_CLASS = 0x28

_LOW5_REGULAR = 0x0D
_LOW5_BOOTSTRAP = 0x1D
_RTP_MIN_LEN = 12


# --------------------------------------------------------------------------------------------------
# Chunk word


def make_chunk_header(logical: int) -> bytes:
    """The two wire bytes native ``make_planet_chunk_hdr`` writes for a 16-bit logical value.

    Read big-endian, the wire word is ``(logical & 0xF) << 12 | bit4(logical) << 11 | logical >> 5``.
    """
    if not 0 <= logical <= 0xFFFF:
        raise FramingError(f"chunk logical value must be 16 bits, got {logical}")
    word = ((logical & 0xF) << 12) | (((logical >> 4) & 1) << 11) | (logical >> 5)
    return word.to_bytes(2, "big")


def parse_chunk_header(wire: bytes) -> int:
    """Inverse of :func:`make_chunk_header`: the logical value behind the first two wire bytes."""
    if len(wire) < 2:
        raise FramingError("chunk header needs 2 bytes")
    word = int.from_bytes(wire[:2], "big")
    return ((word >> 12) & 0xF) | (((word >> 11) & 1) << 4) | ((word & 0x7FF) << 5)


def chunk_logical(total_len: int, *, bootstrap: bool) -> int:
    """The logical chunk value linejs uses: ``(total_len - 4) << 5`` with low bits 0x1d or 0x0d."""
    if not REGULAR_OVERHEAD <= total_len <= MAX_FRAME_LEN:
        raise FramingError(f"frame length {total_len} outside {REGULAR_OVERHEAD}..{MAX_FRAME_LEN}")
    return ((total_len - 4) << 5) | (_LOW5_BOOTSTRAP if bootstrap else _LOW5_REGULAR)


# --------------------------------------------------------------------------------------------------
# Header, prefix, security header


class FrameKind(enum.Enum):
    """What a frame we send carries; decides the chunk flag, the tail and whether a prefix is sent."""

    BOOTSTRAP = "bootstrap"  # the first planet_msg of a call, with the clear key-agreement prefix
    CONTROL = "control"  # any later planet_msg
    RAW = "raw"  # a bare protobuf blob that is not a planet_msg (pinhole probe and report)


def regular_tail16(plaintext_len: int, *, raw: bool) -> int:
    """Tail of a regular frame: class byte (0x18 planet_msg, 0x48 raw) with the 11-bit plaintext length."""
    if not 0 <= plaintext_len <= MAX_PLAINTEXT_LEN:
        raise FramingError(f"plaintext length {plaintext_len} does not fit 11 bits")
    base = TAIL_CLASS_RAW if raw else TAIL_CLASS_CONTROL
    return ((base | (plaintext_len >> 8)) << 8) | (plaintext_len & 0xFF)


def security_header(plaintext_len: int) -> bytes:
    """The 5 clear bytes between the bootstrap prefix and the ciphertext: ``00 00 00 28|hi3 lo8``."""
    if not 0 <= plaintext_len <= MAX_PLAINTEXT_LEN:
        raise FramingError(f"plaintext length {plaintext_len} does not fit 11 bits")
    return bytes((0, 0, 0, SECURITY_HEADER_CLASS | (plaintext_len >> 8), plaintext_len & 0xFF))


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The 6 header bytes: chunk word (as its logical value), clear sequence, tail."""

    chunk_logical: int
    seq: int
    tail16: int

    @property
    def length(self) -> int:
        """Total datagram length the chunk word announces (not checked against the datagram)."""
        return (self.chunk_logical >> 5) + 4

    @property
    def bootstrap_flag(self) -> bool:
        """The chunk word's 0x0800 bit, which linejs sets on its bootstrap frames."""
        return bool((self.chunk_logical >> 4) & 1)

    def to_bytes(self) -> bytes:
        return (
            make_chunk_header(self.chunk_logical)
            + self.seq.to_bytes(2, "big")
            + self.tail16.to_bytes(2, "big")
        )

    @classmethod
    def parse(cls, data: bytes) -> FrameHeader:
        if len(data) < HEADER_LEN:
            raise FramingError(f"frame header needs {HEADER_LEN} bytes, got {len(data)}")
        return cls(
            chunk_logical=parse_chunk_header(data),
            seq=int.from_bytes(data[2:4], "big"),
            tail16=int.from_bytes(data[4:6], "big"),
        )

    @classmethod
    def build(cls, kind: FrameKind, *, total_len: int, seq: int, plaintext_len: int) -> FrameHeader:
        """The header linejs writes for a frame of ``kind``; ``seq`` is taken modulo 2**16."""
        bootstrap = kind is FrameKind.BOOTSTRAP
        tail = BOOTSTRAP_TAIL if bootstrap else regular_tail16(plaintext_len, raw=kind is FrameKind.RAW)
        return cls(chunk_logical(total_len, bootstrap=bootstrap), seq & 0xFFFF, tail)


@dataclass(frozen=True, slots=True)
class BootstrapPrefix:
    """The 51 clear bytes after a bootstrap header: direction label, bootstrap seed, public key."""

    label: int
    seed: bytes
    public_key: bytes

    def to_bytes(self) -> bytes:
        if len(self.seed) != BOOTSTRAP_SEED_LEN or len(self.public_key) != COMPRESSED_PUBLIC_KEY_LEN:
            raise FramingError("bootstrap prefix needs a 16-byte seed and a 33-byte public key")
        return direction_label(self.label) + self.seed + self.public_key

    @classmethod
    def parse(cls, datagram: bytes) -> BootstrapPrefix:
        """Read the prefix out of a whole bootstrap datagram (offsets 6..56)."""
        if len(datagram) < HEADER_LEN + BOOTSTRAP_PREFIX_LEN:
            raise FramingError("datagram too short for a bootstrap prefix")
        body = datagram[HEADER_LEN : HEADER_LEN + BOOTSTRAP_PREFIX_LEN]
        return cls(label=int.from_bytes(body[:2], "big"), seed=bytes(body[2:18]), public_key=bytes(body[18:]))


def looks_bootstrap(datagram: bytes) -> bool:
    """linejs's test for trying the bootstrap path first: long enough and tail ``06 02``."""
    return len(datagram) >= BOOTSTRAP_OVERHEAD and datagram[4] == 0x06 and datagram[5] == 0x02


def is_rtp_like(datagram: bytes) -> bool:
    """RTP/RTCP start with version bits ``10``; PLANET chunk words start with ``11`` (0xD0..0xDF)."""
    return len(datagram) >= _RTP_MIN_LEN and (datagram[0] & 0xC0) == 0x80


# --------------------------------------------------------------------------------------------------
# Seal / open with explicit keys (also what a relay simulator needs)


def seal_frame(
    keys: TransportKeys,
    seq: int,
    plaintext: bytes,
    kind: FrameKind,
    prefix: BootstrapPrefix | None = None,
) -> bytes:
    """Encrypt ``plaintext`` and frame it; ``prefix`` is required for (and only used by) bootstrap frames."""
    if kind is FrameKind.BOOTSTRAP:
        if prefix is None:
            raise FramingError("a bootstrap frame needs its prefix")
        clear = prefix.to_bytes() + security_header(len(plaintext))
    else:
        clear = b""
    total_len = HEADER_LEN + len(clear) + len(plaintext) + TAG_LEN
    header = FrameHeader.build(kind, total_len=total_len, seq=seq, plaintext_len=len(plaintext))
    ciphertext = aes_ctr(keys.enc_key, frame_iv(keys.ctr_base, header.seq), plaintext)
    authenticated = header.to_bytes() + clear + ciphertext
    return authenticated + frame_tag(keys.mac_key, authenticated)


def open_frame(keys: TransportKeys, datagram: bytes, cipher_offset: int) -> bytes | None:
    """Check the tag with ``keys``, then decrypt from ``cipher_offset``; ``None`` if it fails to verify."""
    if len(datagram) < cipher_offset + TAG_LEN or len(datagram) < HEADER_LEN:
        return None
    body, tag = datagram[:-TAG_LEN], datagram[-TAG_LEN:]
    if not tags_equal(tag, frame_tag(keys.mac_key, body)):
        return None
    seq = int.from_bytes(datagram[2:4], "big")
    return aes_ctr(keys.enc_key, frame_iv(keys.ctr_base, seq), body[cipher_offset:])


# --------------------------------------------------------------------------------------------------
# Inbound results


class IgnoreReason(enum.Enum):
    SHORT = "short"  # under 22 bytes: cannot hold a header and a tag
    UNAUTHENTICATED = "unauthenticated"  # no key we hold (or can derive from it) verifies the tag


@dataclass(frozen=True, slots=True)
class IgnoredDatagram:
    """A datagram dropped silently, as linejs drops it; the codec's state is unchanged."""

    reason: IgnoreReason


@dataclass(frozen=True, slots=True)
class InboundFrame:
    """An authenticated, decrypted PLANET frame.

    ``bootstrap`` says it was opened on the bootstrap path (keys derived from ``relay_prefix``, which
    are now the codec's receive keys); otherwise the cached receive keys opened it.  The plaintext is
    usually a planet_msg, but decoding it (and falling back to "raw" when that fails) is up to the
    caller.
    """

    header: FrameHeader
    plaintext: bytes
    bootstrap: bool
    relay_prefix: BootstrapPrefix | None = None


InboundResult = InboundFrame | IgnoredDatagram


# --------------------------------------------------------------------------------------------------
# The per-call codec


class FrameCodec:
    """One call's transport cipher: our send keys and frame counter, and the relay's receive keys.

    Send keys are fixed at construction from our bootstrap seed and label.  Receive keys are unknown
    until a bootstrap frame from the relay authenticates with keys derived from its own clear seed and
    label; every later bootstrap frame that authenticates that way replaces them.  A failed attempt
    never changes state.

    The same class works for the other end: a relay built with its own key pair and the client's
    public key (read from the client's bootstrap prefix) as ``peer_public_key`` seals frames that we
    open, and opens ours.
    """

    __slots__ = ("_local", "_next_seq", "_prefix", "_recv_keys", "_recv_stage1", "_send_keys")

    def __init__(
        self,
        *,
        local: P256KeyPair,
        peer_public_key: bytes,
        bootstrap_seed: bytes,
        send_label: int,
        first_seq: int,
    ) -> None:
        self._local = local
        self._prefix = BootstrapPrefix(
            label=send_label, seed=bytes(bootstrap_seed), public_key=local.public_key
        )
        self._prefix.to_bytes()  # validate sizes now rather than at the first bootstrap frame
        self._send_keys = derive_send_keys(local, peer_public_key, bootstrap_seed, send_label)
        self._recv_stage1 = recv_stage1(local, peer_public_key)  # only the seed and label vary per frame
        self._recv_keys: TransportKeys | None = None
        self._next_seq = first_seq

    @classmethod
    def create(cls, *, mpkey: bytes, random: RandomSource, keypair: P256KeyPair | None = None) -> FrameCodec:
        """A fresh codec for a connect: a new key pair (unless given), seed, label and first sequence.

        Draw order: key pair (if not given), 16-byte seed, 2-byte label, 4 bytes for the first
        sequence (uniform-ish in 1..1023, as linejs picks it).
        """
        local = keypair if keypair is not None else P256KeyPair.generate(random)
        seed = random(BOOTSTRAP_SEED_LEN)
        label = int.from_bytes(random(2), "big")
        first_seq = 1 + int.from_bytes(random(4), "big") % 1023
        return cls(
            local=local, peer_public_key=mpkey, bootstrap_seed=seed, send_label=label, first_seq=first_seq
        )

    # -- state ---------------------------------------------------------------------------------

    @property
    def local(self) -> P256KeyPair:
        return self._local

    @property
    def prefix(self) -> BootstrapPrefix:
        """Our bootstrap prefix (send label, seed, public key)."""
        return self._prefix

    @property
    def send_keys(self) -> TransportKeys:
        return self._send_keys

    @property
    def recv_keys(self) -> TransportKeys | None:
        return self._recv_keys

    @property
    def next_seq(self) -> int:
        """The sequence the next sealed frame gets (before the 16-bit wrap on the wire)."""
        return self._next_seq

    # -- outbound ------------------------------------------------------------------------------

    def seal(self, plaintext: bytes, kind: FrameKind) -> bytes:
        """Frame and encrypt ``plaintext`` with the next sequence (consumed even for raw frames)."""
        datagram = seal_frame(self._send_keys, self._next_seq, plaintext, kind, self._prefix)
        self._next_seq += 1
        return datagram

    # -- inbound -------------------------------------------------------------------------------

    def open(self, datagram: bytes) -> InboundResult:
        """Authenticate and decrypt one inbound datagram, in linejs's order.

        A datagram that looks like a bootstrap frame is tried on the bootstrap path first, then with
        the cached receive keys; any other is tried with the cached keys first, then the bootstrap
        path.  Never raises on bad input; the caller must have routed RTP away first.
        """
        data = bytes(datagram)
        if len(data) < REGULAR_OVERHEAD:
            return IgnoredDatagram(IgnoreReason.SHORT)
        header = FrameHeader.parse(data)
        if looks_bootstrap(data):
            result = self._open_bootstrap(data, header) or self._open_cached(data, header)
        else:
            result = self._open_cached(data, header) or self._open_bootstrap(data, header)
        return result if result is not None else IgnoredDatagram(IgnoreReason.UNAUTHENTICATED)

    def _open_cached(self, data: bytes, header: FrameHeader) -> InboundFrame | None:
        if self._recv_keys is None:
            return None
        plaintext = open_frame(self._recv_keys, data, HEADER_LEN)
        return None if plaintext is None else InboundFrame(header, plaintext, bootstrap=False)

    def _open_bootstrap(self, data: bytes, header: FrameHeader) -> InboundFrame | None:
        if len(data) < BOOTSTRAP_OVERHEAD:
            return None
        prefix = BootstrapPrefix.parse(data)
        keys = transport_stage2(self._recv_stage1, prefix.seed, direction_label(prefix.label))
        plaintext = open_frame(keys, data, BOOTSTRAP_CIPHER_OFFSET)
        if plaintext is None:
            return None
        self._recv_keys = keys
        return InboundFrame(header, plaintext, bootstrap=True, relay_prefix=prefix)


# --------------------------------------------------------------------------------------------------
# What the relay's headers teach us


@dataclass(slots=True)
class PeerHeaderState:
    """The two values our planet_msg headers echo from the relay's (§3.5 steps 5 and 6).

    Feed it the header of every authenticated inbound message that decoded and has a header.
    ``rmt_nonce`` is fixed by the first such header carrying a loc_nonce and never changes after;
    ``sess_id`` follows every header with a non-empty sess_id (ours stays empty until then).
    """

    rmt_nonce: int = 0
    nonce_learned: bool = False
    sess_id: bytes = b""

    def observe(self, *, loc_nonce: int | None, sess_id: bytes | None) -> None:
        if not self.nonce_learned and loc_nonce is not None:
            self.rmt_nonce = loc_nonce
            self.nonce_learned = True
        if sess_id:
            self.sess_id = bytes(sess_id)
