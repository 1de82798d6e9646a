"""Collection-time access to the PLANET crypto/framing vectors, so each case becomes its own test id.

``load_vectors`` (conftest) skips from inside a test; parametrize ids must be known while collecting,
so this reads the same files directly and, when they are absent, yields one placeholder parameter whose
test then calls ``load_vectors`` and is skipped with the usual reason.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from typing import Any

import pytest

from linecall.protocol.planet import messages as m
from linecall.protocol.planet.crypto import TransportKeys
from linecall.protocol.planet.framing import BOOTSTRAP_CIPHER_OFFSET, HEADER_LEN, FrameHeader, open_frame
from tests.conftest import VECTORS_DIR, load_vectors


@cache
def vector_file(name: str) -> Any:
    path = VECTORS_DIR / name
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _case_id(case: dict[str, Any], kind: str | None, index: int) -> str:
    if case.get("name"):
        return str(case["name"])
    if case.get("mode"):
        return f"{kind}:{case['mode']}"
    return f"{kind or 'case'}-{index}"


def case_params(name: str, *kinds: str) -> list[Any]:
    """``pytest.param(case, id=...)`` for every case of ``name`` whose kind is one of ``kinds``
    (every case when ``kinds`` is empty).  Duplicate names get a ``#n`` suffix."""
    data = vector_file(name)
    if data is None:
        return [pytest.param(None, id="vectors-absent")]
    selected = [(i, c) for i, c in enumerate(data["cases"]) if not kinds or c.get("kind") in kinds]
    ids = [_case_id(c, c.get("kind"), i) for i, c in selected]
    seen: Counter[str] = Counter()
    params = []
    for (_, case), case_id in zip(selected, ids, strict=True):
        seen[case_id] += 1
        suffix = f"#{seen[case_id]}" if ids.count(case_id) > 1 else ""
        params.append(pytest.param(case, id=case_id + suffix))
    return params


def require(case: Any, name: str) -> dict[str, Any]:
    """Skip (via ``load_vectors``) when the placeholder stands in for an absent vector file."""
    if case is None:
        load_vectors(name)
        pytest.skip(f"{name} absent")
    assert isinstance(case, dict)
    return case


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def transport_keys(spec: dict[str, str]) -> TransportKeys:
    """A transcript's ``transport_send_keys`` (hex fields) as :class:`TransportKeys`."""
    return TransportKeys(enc_key=h(spec["enc_key"]), ctr_base=h(spec["ctr_base"]), mac_key=h(spec["mac_key"]))


def check_sent_frame(
    datagram: bytes, case: dict[str, Any], send_keys: TransportKeys, byte_identical: set[str]
) -> tuple[bytes, bytes] | None:
    """Compare one PLANET frame we sent with the transcript's ``case`` (1:1 and group replays alike).

    Always: the same frame header (chunk word, sequence, tail) and authentication with the transcript's send
    keys. Kinds in ``byte_identical`` must equal the recorded datagram; probes and the report are compared by
    shape. Returns None when that settles it, else ``(our plaintext, recorded plaintext)`` (same lengths) for
    the caller's message-level comparison.
    """
    kind = case["kind"]
    expected = h(case["wire"])
    header = FrameHeader.parse(datagram)
    assert header == FrameHeader.parse(expected)  # chunk word (length, flag), frame sequence, tail
    assert header.seq == case["header"]["seq"]
    offset = BOOTSTRAP_CIPHER_OFFSET if case["frame"] == "bootstrap" else HEADER_LEN
    plaintext = open_frame(send_keys, datagram, offset)
    assert plaintext is not None, "our frame does not authenticate with the transcript's send keys"
    if kind in byte_identical:
        assert datagram == expected
        return None
    recorded = h(case["plaintext"])
    assert len(datagram) == len(expected) and len(plaintext) == len(recorded)
    if kind == "raw/pinhole_probe":
        probe, want = m.PinholeProbe.decode(plaintext), m.PinholeProbe.decode(recorded)
        assert (probe.kind, probe.mtu, len(probe.payload)) == (want.kind, want.mtu, 500)
        assert probe.probe_id >> 47 == 1 and probe.probe_id < 1 << 48
        return None
    if kind == "raw/pinhole_report":
        assert plaintext == recorded
        return None
    return plaintext, recorded
