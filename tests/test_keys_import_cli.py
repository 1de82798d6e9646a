"""``linecall keys import FILE``: a linejs FileStorage JSON built from e2ee.json's parties goes into the SQLite
keystore, after which decrypt_v2 vector cases decrypt with the imported key; other accounts' keys are
refused; ``keys register`` never runs without ``--force-new``."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from linecall.bot.cli import main
from linecall.bot.keystore import StoreKeyring
from linecall.bot.store import Store
from linecall.protocol.talk.e2ee.keys import KeyPair
from linecall.protocol.talk.e2ee.keyservice import KeyService
from linecall.protocol.talk.e2ee.linejs_import import build_linejs_storage
from linecall.protocol.talk.e2ee.messaging import decrypt_incoming
from linecall.protocol.talk.service import TalkCall
from linecall.protocol.talk.structs import Message
from tests.e2ee_support import b64_chunks, cases_of, mid, party_pair, vectors


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LINE_STORAGE_FILE in a temporary folder; no token, no .env."""
    monkeypatch.chdir(tmp_path)
    for name in ("LINE_AUTH_TOKEN", "LINE_AUTH_TOKEN_FILE", "LINE_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    store = tmp_path / "linecall.db"
    monkeypatch.setenv("LINE_STORAGE_FILE", str(store))
    return store


def _linejs_file(
    tmp_path: Path, name: str = "alice", *, with_mid: bool = True, extra: dict[str, Any] | None = None
) -> Path:
    pair = party_pair(name)
    data = json.loads(build_linejs_storage(mid(name) if with_mid else None, [pair], pair.key_id))
    data.update(extra or {})
    path = tmp_path / f"{name}-linejs.json"
    path.write_text(json.dumps(data))
    return path


class OnlyBob:
    """A caller that knows bob's current key (negotiateE2EEPublicKey) and nothing else."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def call(self, call: TalkCall[Any], /) -> Any:
        from linecall.protocol.talk.e2ee import rpc

        self.calls.append(call.method)
        assert call.method == "negotiateE2EEPublicKey"
        bob = party_pair("bob")
        return rpc.NegotiationResult(rpc.E2EEPublicKey(1, bob.key_id, bob.public_key), 2)


def _message(case: dict[str, Any]) -> Message:
    raw = case["inputs"]["message"]
    return Message(
        from_=raw["from"],
        to=raw["to"],
        to_type=raw["toType"],
        id="vector",
        content_type=raw["contentType"],
        content_metadata=raw["contentMetadata"],
        chunks=tuple(b64_chunks(raw["chunks_b64"])),
    )


ALICE_CASES = [
    p
    for p in cases_of("decrypt_v2")
    if "by alice" in p.values[0]["name"]  # type: ignore[index]
]


@pytest.mark.parametrize("case", ALICE_CASES)
async def test_import_then_a_decrypt_v2_case_decrypts(
    case: dict[str, Any], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "import", str(_linejs_file(tmp_path))]) == 0
    printed = capsys.readouterr().out
    assert f"key ids for {mid('alice')[:9]}" in printed and "12345" in printed
    assert mid("alice") not in printed  # masked
    assert stat.S_IMODE(os.stat(env).st_mode) == 0o600

    store = Store.open(env)
    ring = StoreKeyring(store, mid("alice"))
    assert ring.current_own_key() == party_pair("alice")
    caller = OnlyBob()
    keys = KeyService(caller, ring, self_mid=mid("alice"))
    assert await decrypt_incoming(_message(case), keys) == case["outputs"]["text"]
    assert ring.peer_public_key(mid("bob"), party_pair("bob").key_id) is not None  # cached in SQLite
    store.close()


def test_import_is_idempotent_and_keeps_group_keys(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = vectors()["parties"]["group"]
    extra = {
        f"e2eeGroupKeys:{group['mid']}": json.dumps(
            {"privKey": _b64(group["group_private_key_hex"]), "keyId": 4242}
        )
    }
    path = _linejs_file(tmp_path, extra=extra)
    assert main(["keys", "import", str(path)]) == 0
    assert main(["keys", "import", str(path)]) == 0
    out = capsys.readouterr().out
    assert "none new" in out and "Already stored: 12345" in out and "#4242" in out
    store = Store.open(env)
    assert StoreKeyring(store).group_key(group["mid"], 4242) is not None
    assert StoreKeyring(store).own_key_ids() == [12345]
    store.close()


def _b64(hex_text: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hex_text)).decode()


def test_keys_of_another_account_are_refused(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "import", str(_linejs_file(tmp_path, "alice"))]) == 0
    capsys.readouterr()
    assert main(["keys", "import", str(_linejs_file(tmp_path, "bob"))]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and mid("bob") not in err and mid("alice") not in err
    store = Store.open(env)
    assert StoreKeyring(store).own_key_ids() == [party_pair("alice").key_id]
    store.close()


def test_a_file_without_mid_needs_one(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _linejs_file(tmp_path, with_mid=False)
    assert main(["keys", "import", str(path)]) == 2
    assert "--mid" in capsys.readouterr().err
    assert main(["keys", "import", str(path), "--mid", mid("alice")]) == 0
    store = Store.open(env)
    assert StoreKeyring(store, mid("alice")).current_own_key() == party_pair("alice")
    store.close()
    # --mid naming another account than the store's is refused
    assert main(["keys", "import", str(path), "--mid", mid("bob")]) == 2


def test_a_newer_import_keeps_the_old_key_and_current(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "import", str(_linejs_file(tmp_path))]) == 0
    newer = KeyPair.from_private(bytes(range(32)), 777)
    path = tmp_path / "newer.json"
    path.write_text(build_linejs_storage(mid("alice"), [newer], 777))
    assert main(["keys", "import", str(path)]) == 0
    store = Store.open(env)
    ring = StoreKeyring(store)
    assert ring.own_key_ids() == [12345, 777] and ring.current_key_id == 12345
    store.close()


@pytest.mark.parametrize(
    "content", ["not json", "[]", json.dumps({"e2eeKeys:1": "{}"}), json.dumps({"cert": "x"})]
)
def test_malformed_files_are_refused(
    env: Path, tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["keys", "import", str(path)]) == 2
    assert "keys import refused" in capsys.readouterr().err


def test_missing_file_and_missing_storage(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "import", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    monkeypatch.delenv("LINE_STORAGE_FILE")
    assert main(["keys", "import", str(_linejs_file(tmp_path))]) == 2
    assert "the key must outlive this process" in capsys.readouterr().err


def test_keys_list_shows_ids_only(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "import", str(_linejs_file(tmp_path))]) == 0
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    assert "own key id 12345  (current)" in out and party_pair("alice").private_key.hex() not in out


def test_register_needs_force_new(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "register"]) == 2
    assert "--force-new" in capsys.readouterr().err
    assert not env.exists()  # nothing was even opened


async def test_register_force_new_against_the_loopback_server(tmp_path: Path) -> None:
    import io

    from linecall.bot.login_cli import register_new_key
    from linecall.config.settings import load_settings
    from tests.sim.legy import running_legy_server
    from tests.sim.legy_e2ee import E2EESim
    from tests.talk_sim_support import V3

    path = tmp_path / "linecall.db"
    async with running_legy_server() as server:
        server.accept(V3, via="gateway")
        sim = E2EESim(server, party_pair("alice"))
        store = Store.open(path)
        StoreKeyring(store, server.mid).add_own(party_pair("alice"))
        settings = load_settings(
            line_auth_token=V3,
            line_endpoint=server.base_url,
            line_gateway_url=server.gateway_url,
            line_storage_file=path,
        )
        out, err = io.StringIO(), io.StringIO()
        code = await register_new_key(settings, store, out=out, err=err, gateway=server.client_gateway())
        assert code == 0, err.getvalue()
        assert "already has registered key ids 12345" in err.getvalue()
        assert sim.calls == ["getE2EEPublicKeys", "registerE2EEPublicKey"]
        ring = StoreKeyring(store, server.mid)
        new_id = ring.current_key_id
        assert new_id is not None and new_id != 12345
        fresh = ring.own_key(new_id)
        assert fresh is not None and sim.keys[server.mid][-1].key_data == fresh.public_key  # raw 32 bytes
        assert ring.own_key(12345) == party_pair("alice")  # the old key is kept
        store.close()
