"""Shared fixtures: the conformance vectors produced by running linejs, found beside the checkout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
VECTORS_DIR = Path(os.environ.get("LINECALL_VECTORS", REPO_ROOT.parent / "shared" / "vectors"))


def load_vectors(name: str) -> Any:
    """Load ``../shared/vectors/<name>`` or skip the test, saying where the file was expected."""
    path = VECTORS_DIR / name
    if not path.is_file():
        pytest.skip(f"conformance vectors absent: {path} (set LINECALL_VECTORS to their folder)")
    return json.loads(path.read_text())


@pytest.fixture
def vectors() -> Any:
    """``vectors("planet_kdf.json")`` returns the parsed file, or skips when the folder is absent."""
    return load_vectors
