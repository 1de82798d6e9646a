"""Group and room Letter Sealing (e2ee-map §6): the group key wrap, creating a group key, group messages.

One random X25519 *private* key per chat (id ``groupKeyId``) is handed to every member wrapped under
X25519(creator private, member public). A message in the chat then uses secret = X25519(group private,
sender public) -- the same value for the sender (who holds the group key too) and for every reader -- and
carries the group key id where a 1:1 message carries the receiver's key id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .crypto import SPEC_VERSION, Chunks, decrypt_v1, decrypt_v2, encrypt_v2, unwrap, wrap
from .errors import AuthenticationFailed, InvalidKey, UnknownOwnKeyId, UnknownPeerKey
from .keys import KEY_LENGTH, GroupKey, KeyPair, Keyring, PeerPublicKey, Random, x25519

GROUP_KEY_WRAP_LENGTH = 48
"""A wrapped 32-byte group key: AES-CBC with PKCS#7 adds a full block."""


@dataclass(frozen=True, slots=True)
class GroupSharedKey:
    """``Pb1_U3``: the group key as the server hands it to one member (getLastE2EEGroupSharedKey and
    friends); ``encrypted_shared_key`` is the wrap for ``receiver``'s key ``receiver_key_id``."""

    key_version: int
    group_key_id: int
    creator: str
    creator_key_id: int
    receiver: str
    receiver_key_id: int
    encrypted_shared_key: bytes = field(repr=False)
    allowed_types: frozenset[int] = frozenset()
    spec_version: int | None = None


def unwrap_group_private_key(own_private_key: bytes, creator_public_key: bytes, encrypted: bytes) -> bytes:
    """The 32-byte group private key from its wrap; a wrong key ends as :class:`AuthenticationFailed`
    (bad padding or a plaintext that is not 32 bytes)."""
    secret = x25519(own_private_key, creator_public_key)
    try:
        plain = unwrap(secret, encrypted)
    except AuthenticationFailed:
        raise
    except ValueError as exc:  # not whole blocks
        raise AuthenticationFailed(
            f"wrapped group key of {len(encrypted)} bytes is not whole blocks"
        ) from exc
    if len(plain) != KEY_LENGTH:
        raise AuthenticationFailed(f"unwrapped group key is {len(plain)} bytes, wanted {KEY_LENGTH}")
    return plain


def open_group_shared_key(shared: GroupSharedKey, chat_mid: str, keyring: Keyring) -> GroupKey:
    """Unwrap a ``Pb1_U3`` with keys from ``keyring``: our pair by ``receiver_key_id`` (no fallback to the
    current key: the wrap is for exactly that key) and the creator's public key by (creator, creator key
    id). Raises :class:`UnknownOwnKeyId` / :class:`UnknownPeerKey` when one is missing."""
    own = keyring.own_key(shared.receiver_key_id)
    if own is None:
        raise UnknownOwnKeyId(shared.receiver_key_id)
    creator_public = keyring.peer_public_key(shared.creator, shared.creator_key_id)
    if creator_public is None and shared.creator == shared.receiver and own.key_id == shared.creator_key_id:
        creator_public = own.public_key  # our own wrap of a key we created
    if creator_public is None:
        raise UnknownPeerKey(shared.creator, shared.creator_key_id)
    private = unwrap_group_private_key(own.private_key, creator_public, shared.encrypted_shared_key)
    return GroupKey(chat_mid=chat_mid, key_id=shared.group_key_id, private_key=private)


@dataclass(frozen=True, slots=True)
class GroupKeyRegistration:
    """What registerE2EEGroupKey sends (three lists in the same member order) plus the new private key.

    The group key id is assigned by the server; the key becomes usable once its ``Pb1_U3`` answer is opened
    with :func:`open_group_shared_key`.
    """

    chat_mid: str
    group_private_key: bytes = field(repr=False)
    members: tuple[str, ...]
    key_ids: tuple[int, ...]
    encrypted_shared_keys: tuple[bytes, ...] = field(repr=False)


def create_group_key(
    chat_mid: str, own_key: KeyPair, members: Sequence[PeerPublicKey], random: Random
) -> GroupKeyRegistration:
    """Draw a group private key (32 bytes) and wrap it for every member (ourselves included, if listed),
    keeping the order of ``members`` (§6.3)."""
    group_private = random(KEY_LENGTH)
    if len(group_private) != KEY_LENGTH:
        raise InvalidKey(f"random source returned {len(group_private)} bytes, wanted {KEY_LENGTH}")
    wraps = tuple(wrap(x25519(own_key.private_key, m.public_key), group_private) for m in members)
    return GroupKeyRegistration(
        chat_mid=chat_mid,
        group_private_key=group_private,
        members=tuple(m.mid for m in members),
        key_ids=tuple(m.key_id for m in members),
        encrypted_shared_keys=wraps,
    )


def group_message_secret(group_key: GroupKey, sender_public_key: bytes) -> bytes:
    """X25519(group private, sender public): the message secret for every member and the sender alike."""
    return x25519(group_key.private_key, sender_public_key)


def encrypt_group_message(
    group_key: GroupKey,
    sender: KeyPair,
    from_mid: str,
    plaintext: bytes,
    *,
    random: Random,
    content_type: int = 0,
) -> Chunks:
    """v2 chunks for a group/room message: receiver key id = group key id, AAD ``to`` = the chat."""
    return encrypt_v2(
        group_message_secret(group_key, sender.public_key),
        plaintext,
        to=group_key.chat_mid,
        from_=from_mid,
        sender_key_id=sender.key_id,
        receiver_key_id=group_key.key_id,
        random=random,
        content_type=content_type,
        spec_version=SPEC_VERSION,
    )


def decrypt_group_message(
    group_key: GroupKey,
    sender_public_key: bytes,
    chunks: Chunks,
    *,
    from_mid: str,
    content_type: int = 0,
    version: int = 2,
) -> bytes:
    """Plaintext bytes of a group message whose key id (chunk 4) is ``group_key``'s."""
    secret = group_message_secret(group_key, sender_public_key)
    if version == 1:
        return decrypt_v1(secret, chunks)
    return decrypt_v2(secret, chunks, to=group_key.chat_mid, from_=from_mid, content_type=content_type)
