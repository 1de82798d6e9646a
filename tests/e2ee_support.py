"""Shared helpers for the Letter Sealing tests: the parties of e2ee.json as our key records."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from linecall.protocol.talk.e2ee.keys import GroupKey, KeyPair, MemoryKeyring
from tests.conftest import load_vectors

VECTOR_FILE = "e2ee.json"


def vectors() -> dict[str, Any]:
    data: dict[str, Any] = load_vectors(VECTOR_FILE)
    return data


def cases_of(*kinds: str) -> list[Any]:
    """pytest params (id = kind: name) for every case of the given kinds; empty if the file is absent."""
    import pytest

    try:
        data = vectors()
    except pytest.skip.Exception:
        return []
    return [
        pytest.param(case, id=f"{case['kind']}: {case['name']}")
        for case in data["cases"]
        if case["kind"] in kinds or any(k.endswith("*") and case["kind"].startswith(k[:-1]) for k in kinds)
    ]


def party_pair(name: str) -> KeyPair:
    party = vectors()["parties"][name]
    return KeyPair(
        key_id=party["key_id"],
        private_key=bytes.fromhex(party["private_key_hex"]),
        public_key=bytes.fromhex(party["public_key_hex"]),
    )


def party_name(mid: str) -> str:
    for name, party in vectors()["parties"].items():
        if party["mid"] == mid:
            return str(name)
    raise KeyError(mid)


def group_key() -> GroupKey:
    group = vectors()["parties"]["group"]
    return GroupKey(group["mid"], group["group_key_id"], bytes.fromhex(group["group_private_key_hex"]))


def mid(name: str) -> str:
    return str(vectors()["parties"][name]["mid"])


def party_keyring(reader: str, *, with_group: bool = True) -> MemoryKeyring:
    """What a reader's store would hold: their own pair, every user's public key, the group key."""
    ring = MemoryKeyring()
    ring.add_own(party_pair(reader))
    for name in ("alice", "bob", "carol"):
        pair = party_pair(name)
        ring.add_peer(mid(name), pair.key_id, pair.public_key)
    if with_group:
        ring.add_group(group_key())
    return ring


def b64_chunks(chunks: list[str]) -> list[bytes]:
    return [base64.b64decode(c) for c in chunks]


def draws(case: dict[str, Any]) -> Callable[[int], bytes]:
    """A random source replaying the case's recorded draws in order (and checking their lengths)."""
    queue: Iterator[dict[str, Any]] = iter(case.get("random_draws", []))

    def random(n: int) -> bytes:
        value = bytes.fromhex(next(queue)["bytes_hex"])
        assert len(value) == n, f"draw of {len(value)} bytes where {n} were asked"
        return value

    return random
