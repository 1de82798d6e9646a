"""SRTP (RFC 3711, AES_CM_128_HMAC_SHA1_80) for LINE media, on libsrtp through pylibsrtp.

linejs hand-rolls this profile. Its bytes are standard, and libsrtp reproduces them exactly
(``srtp.json`` was checked against libsrtp when it was made, and the tests check it again). We use
libsrtp rather than a port because linejs's receiver is not a full RFC 3711 endpoint: it never estimates
the rollover counter, so the peer's audio dies after its sequence number wraps, and it has no replay
window. libsrtp does both properly.

One session object per direction and key: :class:`SrtpSendSession` protects (any SSRC, a ROC per SSRC,
advanced when the sequence number wraps), :class:`SrtpReceiveSession` unprotects (ROC estimated per
RFC 3711 §3.3.1, replayed or too-old packets rejected). Every failure is an :class:`SrtpError`
subclass; packets are shape-checked before libsrtp sees them, so malformed input never reaches C code
that might read past a length field.

Keys are never stored on these objects beyond what libsrtp holds, and nothing here logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import pylibsrtp
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .rtp import RtpError, parse_rtp_header

__all__ = [
    "AUTH_TAG_LEN",
    "MASTER_KEY_LEN",
    "MASTER_LEN",
    "MASTER_SALT_LEN",
    "MAX_PROTECT_LEN",
    "MAX_UNPROTECT_LEN",
    "SrtpAuthError",
    "SrtpError",
    "SrtpFormatError",
    "SrtpKeyError",
    "SrtpReceiveSession",
    "SrtpReplayError",
    "SrtpSendSession",
    "SrtpSessionKeys",
    "derive_session_keys",
    "split_master",
]

MASTER_KEY_LEN: Final = 16
MASTER_SALT_LEN: Final = 14
#: The 30-byte keying LINE's media key modes produce: master key || master salt.
MASTER_LEN: Final = MASTER_KEY_LEN + MASTER_SALT_LEN
AUTH_TAG_LEN: Final = 10
_SRTCP_INDEX_LEN: Final = 4
_RTCP_HEADER_LEN: Final = 8

# pylibsrtp works in one 1500-byte buffer and reserves room for the largest trailer (tag + MKI).
_PYLIBSRTP_BUFFER: Final = 1500
#: Largest plaintext RTP packet pylibsrtp can protect.
MAX_PROTECT_LEN: Final = _PYLIBSRTP_BUFFER - (16 + 128)
_MAX_PROTECT_RTCP_LEN: Final = _PYLIBSRTP_BUFFER - (4 + 16 + 128)
#: Largest SRTP/SRTCP packet pylibsrtp can unprotect.
MAX_UNPROTECT_LEN: Final = _PYLIBSRTP_BUFFER

_PROFILE: Final = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
DEFAULT_REPLAY_WINDOW: Final = 128


class SrtpError(ValueError):
    """SRTP protection or verification failed."""


class SrtpKeyError(SrtpError):
    """The master keying is not 30 bytes."""


class SrtpFormatError(SrtpError):
    """The packet is not a well-formed (S)RTP/(S)RTCP packet, or is too short or too long."""


class SrtpAuthError(SrtpError):
    """The authentication tag did not verify: wrong key, tampering, or a ROC mismatch."""


class SrtpReplayError(SrtpError):
    """The packet index was already seen or is older than the replay window."""


# pylibsrtp reports libsrtp status codes only as these message strings.
_AUTH_MESSAGES: Final = frozenset({"authentication failure"})
_REPLAY_MESSAGES: Final = frozenset(
    {
        "replay check failed (bad index)",
        "replay check failed (index too old)",
        "packet index is too old to consider",
    }
)


def _translate(exc: pylibsrtp.Error, action: str) -> SrtpError:
    message = str(exc)
    if message in _AUTH_MESSAGES:
        return SrtpAuthError(f"SRTP {action}: {message}")
    if message in _REPLAY_MESSAGES:
        return SrtpReplayError(f"SRTP {action}: {message}")
    return SrtpError(f"SRTP {action}: {message}")


def split_master(master: bytes) -> tuple[bytes, bytes]:
    """Split 30-byte keying into (master key 16 B, master salt 14 B); anything else is SrtpKeyError."""
    if len(master) != MASTER_LEN:
        raise SrtpKeyError(f"SRTP master keying must be {MASTER_LEN} bytes, got {len(master)}")
    return bytes(master[:MASTER_KEY_LEN]), bytes(master[MASTER_KEY_LEN:])


@dataclass(frozen=True, slots=True)
class SrtpSessionKeys:
    """RTP session keys derived from a master (key derivation rate 0). Fields are kept out of repr."""

    cipher_key: bytes = field(repr=False)
    cipher_salt: bytes = field(repr=False)
    auth_key: bytes = field(repr=False)


def _prf(master_key: bytes, master_salt: bytes, label: int, length: int) -> bytes:
    # RFC 3711 §4.3.1/§4.3.3: x = label * 2^48 XOR salt (index / kdr = 0), keystream of AES-CM at x * 2^16.
    iv = bytearray(master_salt + b"\x00\x00")
    iv[7] ^= label
    encryptor = Cipher(algorithms.AES(master_key), modes.CTR(bytes(iv))).encryptor()
    return encryptor.update(bytes(length)) + encryptor.finalize()


def derive_session_keys(master: bytes) -> SrtpSessionKeys:
    """The SRTP session keys libsrtp derives internally; exposed for vectors and diagnostics only."""
    key, salt = split_master(master)
    return SrtpSessionKeys(
        cipher_key=_prf(key, salt, 0x00, 16),
        auth_key=_prf(key, salt, 0x01, 20),
        cipher_salt=_prf(key, salt, 0x02, 14),
    )


def _policy(master: bytes, ssrc_type: int, replay_window: int) -> pylibsrtp.Policy:
    split_master(master)  # length check with our error type before libsrtp sees it
    policy = pylibsrtp.Policy(key=bytes(master), ssrc_type=ssrc_type, srtp_profile=_PROFILE)
    policy.window_size = replay_window
    return policy


def _check_rtp_shape(packet: bytes, trailer: int, limit: int) -> None:
    if len(packet) > limit:
        raise SrtpFormatError(f"SRTP packet too long: {len(packet)} > {limit} bytes")
    try:
        _header, header_len = parse_rtp_header(packet)
    except RtpError as exc:
        raise SrtpFormatError(f"SRTP packet has a malformed RTP header: {exc}") from exc
    if len(packet) < header_len + trailer:
        raise SrtpFormatError("SRTP packet too short")


def _check_rtcp_shape(packet: bytes, trailer: int, limit: int) -> None:
    if len(packet) > limit:
        raise SrtpFormatError(f"SRTCP packet too long: {len(packet)} > {limit} bytes")
    if len(packet) < _RTCP_HEADER_LEN + trailer:
        raise SrtpFormatError("SRTCP packet too short")
    if packet[0] >> 6 != 2:
        raise SrtpFormatError("RTCP version is not 2")


class SrtpSendSession:
    """Protects outgoing RTP (and SRTCP) under one master; any number of SSRCs, one ROC each."""

    __slots__ = ("_session",)

    def __init__(self, master: bytes) -> None:
        policy = _policy(master, pylibsrtp.Policy.SSRC_ANY_OUTBOUND, DEFAULT_REPLAY_WINDOW)
        try:
            self._session = pylibsrtp.Session(policy)
        except pylibsrtp.Error as exc:
            raise _translate(exc, "send session") from exc

    def protect(self, rtp: bytes) -> bytes:
        """Encrypt the payload and append the 10-byte tag; the header (extension included) stays clear.

        Sequence numbers must move forward (libsrtp refuses to protect an index twice); the ROC for
        the packet's SSRC advances when the sequence number wraps.
        """
        _check_rtp_shape(rtp, 0, MAX_PROTECT_LEN)
        try:
            return self._session.protect(bytes(rtp))
        except pylibsrtp.Error as exc:
            raise _translate(exc, "protect") from exc

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """SRTCP-protect an RTCP packet (linejs never does; kept for peers that expect SRTCP)."""
        _check_rtcp_shape(rtcp, 0, _MAX_PROTECT_RTCP_LEN)
        try:
            return self._session.protect_rtcp(bytes(rtcp))
        except pylibsrtp.Error as exc:
            raise _translate(exc, "protect_rtcp") from exc


class SrtpReceiveSession:
    """Verifies and decrypts incoming SRTP under one master, with ROC estimation and a replay window.

    A packet that fails authentication changes no state, so trying several receive sessions in turn
    (the ``auto`` key mode) is safe.
    """

    __slots__ = ("_session",)

    def __init__(self, master: bytes, *, replay_window: int = DEFAULT_REPLAY_WINDOW) -> None:
        if not 64 <= replay_window <= 0x7FFF:
            raise SrtpError(f"SRTP replay window must be 64..32767 packets, got {replay_window}")
        policy = _policy(master, pylibsrtp.Policy.SSRC_ANY_INBOUND, replay_window)
        try:
            self._session = pylibsrtp.Session(policy)
        except pylibsrtp.Error as exc:
            raise _translate(exc, "receive session") from exc

    def unprotect(self, srtp: bytes) -> bytes:
        """Return the plaintext RTP packet, or raise SrtpFormatError / SrtpAuthError / SrtpReplayError."""
        _check_rtp_shape(srtp, AUTH_TAG_LEN, MAX_UNPROTECT_LEN)
        try:
            return self._session.unprotect(bytes(srtp))
        except pylibsrtp.Error as exc:
            raise _translate(exc, "unprotect") from exc

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Return the plaintext RTCP packet of an SRTCP packet, or raise an SrtpError subclass."""
        _check_rtcp_shape(srtcp, _SRTCP_INDEX_LEN + AUTH_TAG_LEN, MAX_UNPROTECT_LEN)
        try:
            return self._session.unprotect_rtcp(bytes(srtcp))
        except pylibsrtp.Error as exc:
            raise _translate(exc, "unprotect_rtcp") from exc
