"""Typed failures of Letter Sealing (E2EE).

A daemon decrypts every incoming message inside its own error boundary (e2ee-map §8.3): the class of the
exception says *why* a message could not be read, so the caller can log one short reason code with ids only
(never keys, never plaintext) and decide what to fetch (a peer key by id, a group key by id) before trying
again. Every class derives from :class:`E2EEError`, itself a :class:`ValueError`, so a parser caller that only
knows "bad input" still catches it.

Messages built here never contain key bytes or plaintext; MIDs are shortened by :func:`short_mid`.
"""

from __future__ import annotations

from typing import ClassVar


def short_mid(mid: str) -> str:
    """A MID shortened for messages and logs: type letter plus four characters (never the whole MID)."""
    return mid[:5] + "…" if len(mid) > 5 else mid


class E2EEError(ValueError):
    """Base class: a Letter Sealing operation failed. ``reason`` is a stable snake_case code for logs."""

    reason: ClassVar[str] = "e2ee_error"


class UnknownOwnKeyId(E2EEError):
    """The message (or group key) is addressed to one of our key ids that we do not hold."""

    reason = "unknown_own_key_id"

    def __init__(self, key_id: int | None) -> None:
        self.key_id = key_id
        what = "no own key pair stored" if key_id is None else f"own key id {key_id} is not stored"
        super().__init__(what)


class UnknownPeerKey(E2EEError):
    """The sender's (or group-key creator's) public key with this key id is not known to us."""

    reason = "unknown_peer_key"

    def __init__(self, mid: str, key_id: int) -> None:
        self.mid = mid
        self.key_id = key_id
        super().__init__(f"public key id {key_id} of {short_mid(mid)} is not known")


class NoGroupKey(E2EEError):
    """No group key with this group key id is held for the chat."""

    reason = "no_group_key"

    def __init__(self, chat_mid: str, key_id: int | None) -> None:
        self.chat_mid = chat_mid
        self.key_id = key_id
        which = "any group key" if key_id is None else f"group key id {key_id}"
        super().__init__(f"no {which} for chat {short_mid(chat_mid)}")


class AuthenticationFailed(E2EEError):
    """The ciphertext did not authenticate (GCM tag, or CBC padding for the unauthenticated v1/wraps).

    Tampering, a wrong key under the right key id, or any difference in the AAD (to, from, key ids, version,
    content type) all end here: the cipher cannot tell them apart.
    """

    reason = "authentication_failed"


class MalformedChunks(E2EEError):
    """The ``chunks`` list does not have the layout of e2ee-map §4.7 (count, lengths)."""

    reason = "malformed_chunks"


class UnsupportedVersion(E2EEError):
    """An e2ee version or negotiated spec version we do not read or send (e.g. -1: peer without E2EE)."""

    reason = "unsupported_version"


class BadPlaintext(E2EEError):
    """The message authenticated but the plaintext is not the expected UTF-8 JSON object."""

    reason = "bad_plaintext"


class InvalidKey(E2EEError):
    """A key of the wrong length, or a peer public key of low order (all-zero shared secret)."""

    reason = "invalid_key"


class InvalidKeyId(E2EEError):
    """A key id that is not an integer (or a decimal string of one) in the int32/uint32 range."""

    reason = "invalid_key_id"


class InvalidMid(E2EEError):
    """A recipient MID that cannot carry E2EE (not u/r/c, not ASCII)."""

    reason = "invalid_mid"


class KeyChainError(E2EEError):
    """The QR-login key chain could not be unwrapped or parsed (e2ee-map §2.4 step 3)."""

    reason = "key_chain_malformed"


class KeyChainMismatch(KeyChainError):
    """A check of e2ee-map §2.4 step 4 failed: the key chain must not be stored (linejs: e2ee:keyMismatch)."""

    reason = "key_chain_mismatch"


class KeyImportError(E2EEError):
    """A linejs FileStorage JSON could not be imported."""

    reason = "key_import_failed"


def log_fields(error: E2EEError) -> dict[str, object]:
    """Fields safe to log for a failure: the reason code, key ids, and shortened MIDs (never key material,
    never plaintext, never a whole MID). Use as ``log.warning("e2ee.undecryptable", **log_fields(exc), ...)``.
    """
    fields: dict[str, object] = {"reason": error.reason}
    key_id = getattr(error, "key_id", None)
    if isinstance(key_id, int):
        fields["key_id"] = key_id
    for attr in ("mid", "chat_mid"):
        value = getattr(error, attr, None)
        if isinstance(value, str):
            fields[attr] = short_mid(value)
    return fields
