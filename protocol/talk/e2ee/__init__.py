"""Letter Sealing (LINE's talk-message E2EE) as pure functions over bytes.

Modules: ``keys`` (X25519 pairs, key ids, the Keyring protocol), ``crypto`` (KDF, AAD, v2 GCM / v1 CBC,
chunk layout), ``group`` (group keys and group messages), ``message`` (decrypt a Message's chunks, encrypt
a reply), ``qr`` (the QR-login key chain), ``linejs_import`` (keys from a linejs FileStorage JSON),
``errors`` (typed failures). Facts: ../shared/reference/e2ee-map.md.
"""

from __future__ import annotations

from .errors import (
    AuthenticationFailed,
    BadPlaintext,
    E2EEError,
    InvalidKey,
    InvalidKeyId,
    InvalidMid,
    KeyChainError,
    KeyChainMismatch,
    KeyImportError,
    MalformedChunks,
    NoGroupKey,
    UnknownOwnKeyId,
    UnknownPeerKey,
    UnsupportedVersion,
)
from .keys import GroupKey, KeyPair, Keyring, MemoryKeyring, PeerPublicKey
from .message import DecryptedContent, EncryptedMessage, Location, decrypt_message, encrypt_text_reply

__all__ = [
    "AuthenticationFailed",
    "BadPlaintext",
    "DecryptedContent",
    "E2EEError",
    "EncryptedMessage",
    "GroupKey",
    "InvalidKey",
    "InvalidKeyId",
    "InvalidMid",
    "KeyChainError",
    "KeyChainMismatch",
    "KeyImportError",
    "KeyPair",
    "Keyring",
    "Location",
    "MalformedChunks",
    "MemoryKeyring",
    "NoGroupKey",
    "PeerPublicKey",
    "UnknownOwnKeyId",
    "UnknownPeerKey",
    "UnsupportedVersion",
    "decrypt_message",
    "encrypt_text_reply",
]
