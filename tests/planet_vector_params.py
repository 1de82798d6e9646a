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
