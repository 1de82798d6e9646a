"""Import Letter Sealing keys from a linejs FileStorage JSON (``linecall keys import FILE``).

linejs's FileStorage is one JSON object of storage keys (e2ee-map §2.3):

* ``e2eeKeys:<keyId>`` and ``e2eeKeys:<own mid>`` -> a JSON *string* ``{"keyId", "privKey" (base64),
  "pubKey" (base64), "e2eeVersion"}``; keyId is a number, or a decimal string after QR login;
* ``e2eePublicKeys:<keyId>`` -> base64 of a peer's public key (no MID: not importable into a (MID, key id)
  cache, so skipped -- peers' keys are fetched again on demand);
* ``e2eeGroupKeys:<chatMid>`` -> a JSON string ``{"privKey", "keyId"}``;
* anything else (cert, refreshToken, reqseq, ...) is not ours and is ignored.

Every own record must be self-consistent (32-byte keys, the public half derived from the private one, the id
in the storage key equal to the record's) or the whole import is refused: half-importing a key file would
leave the account unable to read some messages with no hint why. Error messages name storage keys, never
key material.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import E2EEError, KeyImportError
from .keys import KEY_LENGTH, GroupKey, KeyPair, parse_key_id, public_key_from_private

_OWN = "e2eeKeys:"
_PEER = "e2eePublicKeys:"
_GROUP = "e2eeGroupKeys:"


@dataclass(frozen=True, slots=True)
class ImportedKeys:
    """What a linejs storage file held.

    ``mid`` is the account the file belongs to (from its ``e2eeKeys:<mid>`` record; None after a QR login
    that never sent), ``current_key_id`` the key linejs encrypts with (None when unknown), ``own_keys``
    every own pair by id, ``group_keys`` the cached group keys, ``skipped`` the storage keys not imported.
    """

    mid: str | None
    current_key_id: int | None
    own_keys: tuple[KeyPair, ...]
    group_keys: tuple[GroupKey, ...]
    skipped: tuple[str, ...]


def _record(value: Any, key: str) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise KeyImportError(f"{key}: value is not JSON") from exc
    if not isinstance(value, dict):
        raise KeyImportError(f"{key}: value is not a JSON object")
    return value


def _key_bytes(value: Any, key: str, member: str) -> bytes:
    if not isinstance(value, str):
        raise KeyImportError(f"{key}: {member} is missing or not a string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyImportError(f"{key}: {member} is not base64") from exc
    if len(raw) != KEY_LENGTH:
        raise KeyImportError(f"{key}: {member} is {len(raw)} bytes, wanted {KEY_LENGTH}")
    return raw


def _key_id(value: Any, key: str) -> int:
    try:
        return parse_key_id(value)
    except E2EEError as exc:
        raise KeyImportError(f"{key}: keyId is missing or not an integer") from exc


def _own_pair(value: Any, key: str) -> KeyPair:
    record = _record(value, key)
    key_id = _key_id(record.get("keyId"), key)
    private = _key_bytes(record.get("privKey"), key, "privKey")
    public = _key_bytes(record.get("pubKey"), key, "pubKey")
    if public_key_from_private(private) != public:
        raise KeyImportError(f"{key}: pubKey is not the public half of privKey")
    return KeyPair(key_id=key_id, private_key=private, public_key=public)


def parse_linejs_storage(
    data: str | bytes | Mapping[str, Any], *, expected_mid: str | None = None
) -> ImportedKeys:
    """Parse a linejs FileStorage (its JSON text, or the already-parsed object).

    ``expected_mid``: the account we run as; a file whose own-key record belongs to another MID is refused
    (keys stored for another MID must never be mixed in).
    Raises :class:`KeyImportError` on anything malformed.
    """
    if isinstance(data, str | bytes):
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise KeyImportError("storage file is not JSON") from exc
    else:
        parsed = data
    if not isinstance(parsed, Mapping):
        raise KeyImportError("storage file is not a JSON object")

    by_id: dict[int, KeyPair] = {}
    current: KeyPair | None = None
    mid: str | None = None
    groups: list[GroupKey] = []
    skipped: list[str] = []

    for key, value in parsed.items():
        if not isinstance(key, str):
            raise KeyImportError("storage file has a non-string key")
        if key.startswith(_GROUP):
            record = _record(value, key)
            groups.append(
                GroupKey(
                    chat_mid=key[len(_GROUP) :],
                    key_id=_key_id(record.get("keyId"), key),
                    private_key=_key_bytes(record.get("privKey"), key, "privKey"),
                )
            )
            continue
        if not key.startswith(_OWN):
            if key.startswith(_PEER):
                skipped.append(key)
            continue
        suffix = key[len(_OWN) :]
        pair = _own_pair(value, key)
        if suffix[:1].isalpha():  # e2eeKeys:<mid>: the current own key
            if mid is not None:
                raise KeyImportError("storage file holds own keys for two MIDs")
            mid, current = suffix, pair
        elif _key_id(suffix, key) != pair.key_id:
            raise KeyImportError(f"{key}: record keyId differs from the storage key")
        known = by_id.get(pair.key_id)
        if known is not None and known != pair:
            raise KeyImportError(f"{key}: key id {pair.key_id} appears with two different key pairs")
        by_id[pair.key_id] = pair

    if expected_mid is not None and mid is not None and mid != expected_mid:
        raise KeyImportError("storage file belongs to another account (its own-key record names another MID)")
    if not by_id:
        raise KeyImportError("storage file holds no Letter Sealing key (no e2eeKeys:<keyId> record)")
    return ImportedKeys(
        mid=mid,
        current_key_id=None if current is None else current.key_id,
        own_keys=tuple(sorted(by_id.values(), key=lambda p: p.key_id)),
        group_keys=tuple(groups),
        skipped=tuple(skipped),
    )


def build_linejs_storage(mid: str | None, pairs: list[KeyPair], current_key_id: int | None = None) -> str:
    """The FileStorage JSON linejs would write for these own keys (tests, and exporting back to linejs)."""

    def record(pair: KeyPair) -> str:
        return json.dumps(
            {
                "keyId": pair.key_id,
                "privKey": base64.b64encode(pair.private_key).decode(),
                "pubKey": base64.b64encode(pair.public_key).decode(),
                "e2eeVersion": 1,
            },
            separators=(",", ":"),
        )

    data: dict[str, str] = {f"{_OWN}{pair.key_id}": record(pair) for pair in pairs}
    chosen = next((p for p in pairs if p.key_id == current_key_id), None)
    if mid is not None and chosen is not None:
        data[f"{_OWN}{mid}"] = record(chosen)
    return json.dumps(data, separators=(",", ":"))
