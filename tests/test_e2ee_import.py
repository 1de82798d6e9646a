"""``linecall keys import``: a linejs FileStorage JSON built from e2ee.json's parties is imported, after
which a decrypt_v2 vector case decrypts with the imported key; malformed files are refused clearly."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.protocol.talk.e2ee import errors
from linecall.protocol.talk.e2ee.keys import MemoryKeyring
from linecall.protocol.talk.e2ee.linejs_import import build_linejs_storage, parse_linejs_storage
from linecall.protocol.talk.e2ee.message import decrypt_message
from tests.e2ee_support import b64_chunks, mid, party_pair, vectors


def _record(name: str, *, key_id_as_string: bool = False) -> str:
    pair = party_pair(name)
    return json.dumps(
        {
            "keyId": str(pair.key_id) if key_id_as_string else pair.key_id,
            "privKey": base64.b64encode(pair.private_key).decode(),
            "pubKey": base64.b64encode(pair.public_key).decode(),
            "e2eeVersion": "1" if key_id_as_string else 1,
        },
        separators=(",", ":"),
    )


def _alice_storage() -> dict[str, Any]:
    """What linejs's FileStorage holds for alice after a login and some traffic."""
    alice, bob = party_pair("alice"), party_pair("bob")
    group = vectors()["parties"]["group"]
    return {
        "cert": "not ours",
        "refreshToken": "not ours",
        "reqseq": {"sendMessage": 3},
        f"e2eeKeys:{alice.key_id}": _record("alice"),
        f"e2eeKeys:{mid('alice')}": _record("alice"),
        f"e2eePublicKeys:{bob.key_id}": base64.b64encode(bob.public_key).decode(),
        f"e2eeGroupKeys:{group['mid']}": json.dumps(
            {
                "privKey": base64.b64encode(bytes.fromhex(group["group_private_key_hex"])).decode(),
                "keyId": group["group_key_id"],
            }
        ),
    }


def _received_by_alice() -> dict[str, Any]:
    (case,) = [
        c
        for c in vectors()["cases"]
        if c["kind"] == "decrypt_v2" and c["name"].startswith("1:1 '!call' received by alice")
    ]
    return case


def test_import_then_decrypt_a_vector_case(tmp_path: Any) -> None:
    path = tmp_path / "linejs-storage.json"
    path.write_text(json.dumps(_alice_storage()))
    imported = parse_linejs_storage(path.read_bytes(), expected_mid=mid("alice"))
    assert imported.mid == mid("alice")
    assert imported.current_key_id == party_pair("alice").key_id
    assert imported.own_keys == (party_pair("alice"),)
    assert [(g.chat_mid, g.key_id) for g in imported.group_keys] == [
        (vectors()["parties"]["group"]["mid"], 4242)
    ]
    assert imported.skipped == (f"e2eePublicKeys:{party_pair('bob').key_id}",)

    ring = MemoryKeyring()
    for pair in imported.own_keys:
        ring.add_own(pair, current=pair.key_id == imported.current_key_id)
    bob = party_pair("bob")
    ring.add_peer(mid("bob"), bob.key_id, bob.public_key)  # fetched again by (mid, key id) after import

    case = _received_by_alice()
    message = case["inputs"]["message"]
    result = decrypt_message(
        b64_chunks(message["chunks_b64"]),
        message["contentType"],
        from_mid=message["from"],
        to_mid=message["to"],
        to_type=message["toType"],
        self_mid=mid("alice"),
        keyring=ring,
        content_metadata=message["contentMetadata"],
    )
    assert result is not None
    assert result.text == case["outputs"]["text"] == "!call"


def test_import_after_qr_login_storage() -> None:
    """Only e2eeKeys:<keyId> with a string keyId (linejs after QR login): no MID, no current key yet."""
    (case,) = [c for c in vectors()["cases"] if c["name"].startswith("first send after QR login")]
    imported = parse_linejs_storage(case["storage_before"])
    assert imported.mid is None and imported.current_key_id is None
    assert imported.own_keys == (party_pair("alice"),)
    after = parse_linejs_storage(case["outputs"]["storage_after"], expected_mid=mid("alice"))
    assert after.current_key_id == 12345


def test_build_and_reimport_round_trip() -> None:
    pairs = [party_pair("alice")]
    text = build_linejs_storage(mid("alice"), pairs, current_key_id=12345)
    imported = parse_linejs_storage(text, expected_mid=mid("alice"))
    assert imported.own_keys == tuple(pairs)
    assert imported.current_key_id == 12345


def _alice_with(**changes: Any) -> dict[str, Any]:
    storage = _alice_storage()
    storage.update(changes)
    return storage


def _broken(member: str, value: Any) -> str:
    record = json.loads(_record("alice"))
    record[member] = value
    return json.dumps(record)


def _b64_of(name: str) -> str:
    return base64.b64encode(party_pair(name).private_key).decode()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: b"{not json", "not JSON"),
        (lambda: "[1, 2]", "not a JSON object"),
        (lambda: {"cert": "x"}, "no Letter Sealing key"),
        (lambda: {"e2eeKeys:12345": "{"}, "e2eeKeys:12345: value is not JSON"),
        (lambda: {"e2eeKeys:12345": "[]"}, "not a JSON object"),
        (lambda: {"e2eeKeys:12345": _broken("privKey", "%%%")}, "privKey is not base64"),
        (
            lambda: {"e2eeKeys:12345": _broken("privKey", base64.b64encode(b"short").decode())},
            "privKey is 5 bytes",
        ),
        (lambda: {"e2eeKeys:12345": _broken("pubKey", None)}, "pubKey is missing"),
        (lambda: {"e2eeKeys:12345": _broken("keyId", "abc")}, "keyId is missing or not an integer"),
        (lambda: {"e2eeKeys:12345": _broken("keyId", 777)}, "record keyId differs"),
        (
            lambda: {"e2eeKeys:12345": _broken("pubKey", base64.b64encode(bytes(32)).decode())},
            "not the public half",
        ),
        (lambda: _alice_with(**{f"e2eeKeys:{mid('bob')}": _record("alice")}), "own keys for two MIDs"),
        (
            lambda: {
                "e2eeKeys:12345": _record("alice"),
                "e2eeKeys:u" + "0" * 32: _broken("privKey", _b64_of("bob")),
            },
            "pubKey is not the public half",
        ),
        (lambda: {"e2eeGroupKeys:c1": json.dumps({"privKey": "AAAA", "keyId": 1})}, "privKey is 3 bytes"),
    ],
    ids=[
        "not JSON",
        "JSON array",
        "no keys",
        "record not JSON",
        "record not an object",
        "privKey not base64",
        "privKey short",
        "pubKey missing",
        "keyId not a number",
        "keyId differs from storage key",
        "pubKey mismatch",
        "two MIDs",
        "MID record mismatch",
        "group key short",
    ],
)
def test_malformed_files_are_refused(make: Callable[[], Any], words: str) -> None:
    with pytest.raises(errors.KeyImportError, match=words) as info:
        parse_linejs_storage(make())
    message = str(info.value)
    for name in ("alice", "bob"):  # never any key material in the message
        pair = party_pair(name)
        assert base64.b64encode(pair.private_key).decode() not in message
        assert pair.private_key.hex() not in message


def test_conflicting_pairs_under_one_key_id_are_refused() -> None:
    carol = party_pair("carol")
    conflicting = json.dumps(
        {
            "keyId": 12345,
            "privKey": base64.b64encode(carol.private_key).decode(),
            "pubKey": base64.b64encode(carol.public_key).decode(),
        }
    )
    with pytest.raises(errors.KeyImportError, match="two different key pairs"):
        parse_linejs_storage({"e2eeKeys:12345": _record("alice"), f"e2eeKeys:{mid('alice')}": conflicting})


def test_keys_of_another_account_are_refused() -> None:
    with pytest.raises(errors.KeyImportError, match="another account"):
        parse_linejs_storage(_alice_storage(), expected_mid=mid("bob"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from(["e2eeKeys:12345", "e2eeKeys:u1", "e2eeGroupKeys:c1", "e2eePublicKeys:1", "cert"]),
        json_values,
        max_size=4,
    )
)
def test_random_storage_only_raises_import_errors(data: dict[str, Any]) -> None:
    for form in (data, json.dumps(data)):
        with contextlib.suppress(errors.KeyImportError):
            parse_linejs_storage(form)


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=100))
def test_random_bytes_only_raise_import_errors(blob: bytes) -> None:
    with contextlib.suppress(errors.KeyImportError):
        parse_linejs_storage(blob)
