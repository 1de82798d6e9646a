"""The design card's rules, checked: imports point one way, protocol cores stay sans-I/O, the driver stays thin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

#: The thin I/O drivers that sit beside the sans-I/O cores (the only protocol modules allowed to do I/O).
DRIVERS = {
    "protocol/planet/driver.py",
    "protocol/talk/client.py",
    "protocol/talk/listener.py",
    "protocol/talk/login.py",
    "protocol/talk/login_qr.py",
}
IO_MODULES = {"trio", "httpx", "socket", "anyio", "asyncio"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources(folder: str) -> list[Path]:
    return sorted((REPO_ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", ["protocol", "media", "config"])
def test_lower_layers_never_import_bot(folder: str) -> None:
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in sources(folder)
        if any(name == "linecall.bot" or name.startswith("linecall.bot.") for name in imported_modules(path))
    ]
    assert not offenders


def test_protocol_cores_do_no_io() -> None:
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in IO_MODULES
        )
        for path in sources("protocol")
        if str(path.relative_to(REPO_ROOT)) not in DRIVERS
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_planet_driver_stays_under_200_lines() -> None:
    assert len((REPO_ROOT / "protocol/planet/driver.py").read_text().splitlines()) < 200
