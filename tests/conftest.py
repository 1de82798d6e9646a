"""Shared fixtures: the conformance vectors produced by running linejs, found beside the checkout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import structlog

from linecall.config.logging import mask_secrets

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


@pytest.fixture(autouse=True)
def quiet_masked_logging() -> Any:
    """Every test starts from the same logging: INFO and above, masked, printed to the current stdout.

    A test that calls ``configure_logging`` (the CLI does) must not leak its level or its stream into the
    next test, and hot paths guarded by "is DEBUG on?" stay off unless a test turns DEBUG on itself.
    """
    import logging
    import sys

    def configure() -> None:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                mask_secrets,
                structlog.processors.KeyValueRenderer(),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            logger_factory=lambda *_args: structlog.PrintLogger(file=sys.stdout),
            cache_logger_on_first_use=False,
        )

    configure()
    yield
    configure()
