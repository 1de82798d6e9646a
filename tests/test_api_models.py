"""Every field limit and default of seed 003's Make Agent 1-to-1 Call body, valid and invalid, over HTTP.

Invalid bodies get 400 with the envelope naming the field, and nothing is dialled; valid ones are queued with
the defaults filled in (playCount 2, playWaitTime 1000) and the placer receives exactly what was asked.
String limits are UTF-8 bytes, so multi-byte text hits them with fewer characters.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.api_support import CALLEE, Harness, call_body, harness

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def apply(body: dict[str, Any]) -> None:
        target: Any = body
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return apply


_DELETE = object()

INVALID: list[tuple[str, Mutation, str]] = [
    ("no requestContext", _set("requestContext", _DELETE), "requestContext"),
    ("requestContext not an object", _set("requestContext", "ctx"), "requestContext"),
    ("no userId", _set("requestContext.userId", _DELETE), "requestContext.userId"),
    ("empty userId", _set("requestContext.userId", ""), "requestContext.userId"),
    ("userId of 129 bytes", _set("requestContext.userId", "u" * 129), "requestContext.userId"),
    ("userId a number", _set("requestContext.userId", 7), "requestContext.userId"),
    ("no serviceId", _set("requestContext.serviceId", _DELETE), "requestContext.serviceId"),
    ("no mediaSourceType", _set("mediaSourceType", _DELETE), "mediaSourceType"),
    ("unknown mediaSourceType", _set("mediaSourceType", "LIVE_SOURCE"), "mediaSourceType"),
    ("lower-case mediaSourceType", _set("mediaSourceType", "stored_source"), "mediaSourceType"),
    ("mediaSourceType of 49 bytes", _set("mediaSourceType", "S" * 49), "mediaSourceType"),
    ("mediaSourceType of 50 bytes in 25 characters", _set("mediaSourceType", "é" * 25), "mediaSourceType"),
    ("mediaSourceType a number", _set("mediaSourceType", 1), "mediaSourceType"),
    ("no storedSource", _set("storedSource", _DELETE), "storedSource"),
    ("storedSource a list", _set("storedSource", []), "storedSource"),
    (
        "no storedAudioSources",
        _set("storedSource.storedAudioSources", _DELETE),
        "storedSource.storedAudioSources",
    ),
    ("zero sources", _set("storedSource.storedAudioSources", []), "storedSource.storedAudioSources"),
    (
        "six sources",
        _set("storedSource.storedAudioSources", [{"contentId": "5498f04048fa"}] * 6),
        "storedSource.storedAudioSources",
    ),
    ("sources not a list", _set("storedSource.storedAudioSources", "x"), "storedSource.storedAudioSources"),
    (
        "source not an object",
        _set("storedSource.storedAudioSources", ["5498f04048fa"]),
        "storedSource.storedAudioSources[0]",
    ),
    (
        "no contentId",
        _set("storedSource.storedAudioSources.0.contentId", _DELETE),
        "storedSource.storedAudioSources[0].contentId",
    ),
    (
        "contentId of 11 hex",
        _set("storedSource.storedAudioSources.0.contentId", "5498f04048f"),
        "storedSource.storedAudioSources[0].contentId",
    ),
    (
        "contentId of 13 hex",
        _set("storedSource.storedAudioSources.0.contentId", "5498f04048fa0"),
        "storedSource.storedAudioSources[0].contentId",
    ),
    (
        "contentId not hex",
        _set("storedSource.storedAudioSources.0.contentId", "5498f04048fz"),
        "storedSource.storedAudioSources[0].contentId",
    ),
    (
        "unknown contentId",
        _set("storedSource.storedAudioSources.1", {"contentId": "000000000000"}),
        "storedSource.storedAudioSources[1].contentId",
    ),
    ("playCount 0", _set("storedSource.playCount", 0), "storedSource.playCount"),
    ("playCount 4", _set("storedSource.playCount", 4), "storedSource.playCount"),
    ("playCount a string", _set("storedSource.playCount", "2"), "storedSource.playCount"),
    ("playCount a float", _set("storedSource.playCount", 2.5), "storedSource.playCount"),
    ("playCount true", _set("storedSource.playCount", True), "storedSource.playCount"),
    ("playWaitTime 999", _set("storedSource.playWaitTime", 999), "storedSource.playWaitTime"),
    ("playWaitTime 4001", _set("storedSource.playWaitTime", 4001), "storedSource.playWaitTime"),
    ("playWaitTime a string", _set("storedSource.playWaitTime", "1500"), "storedSource.playWaitTime"),
    ("appSvrData of 4096 bytes", _set("appSvrData", "a" * 4096), "appSvrData"),
    ("appSvrData of 4098 bytes in 1366 characters", _set("appSvrData", "가" * 1366), "appSvrData"),
    ("appSvrData an object", _set("appSvrData", {"a": 1}), "appSvrData"),
    ("appSvrData with a lone surrogate", _set("appSvrData", "\ud800"), "appSvrData"),
    ("callStartMessage of 200 bytes", _set("callStartMessage", "m" * 200), "callStartMessage"),
    (
        "callStartMessage of 200 bytes in 100 characters",
        _set("callStartMessage", "é" * 100),
        "callStartMessage",
    ),
    ("recordOnCloud a string", _set("recordOnCloud", "true"), "recordOnCloud"),
    ("recordOnCloud a number", _set("recordOnCloud", 1), "recordOnCloud"),
    ("useResponderPreparation a string", _set("useResponderPreparation", "no"), "useResponderPreparation"),
    ("linecallCallbacks not an object", _set("linecallCallbacks", "http://x"), "linecallCallbacks"),
    (
        "statusUrl not http",
        _set("linecallCallbacks", {"statusUrl": "ftp://app/x"}),
        "linecallCallbacks.statusUrl",
    ),
    (
        "eventUrl without host",
        _set("linecallCallbacks", {"eventUrl": "http:///x"}),
        "linecallCallbacks.eventUrl",
    ),
]

VALID: list[tuple[str, Mutation, Callable[[dict[str, Any]], Any], Any]] = [
    ("playCount defaults to 2", lambda b: None, lambda r: r["storedSource"]["playCount"], 2),
    ("playWaitTime defaults to 1000", lambda b: None, lambda r: r["storedSource"]["playWaitTime"], 1000),
    (
        "playCount null is the default",
        _set("storedSource.playCount", None),
        lambda r: r["storedSource"]["playCount"],
        2,
    ),
    ("playCount 1", _set("storedSource.playCount", 1), lambda r: r["storedSource"]["playCount"], 1),
    ("playCount 3", _set("storedSource.playCount", 3), lambda r: r["storedSource"]["playCount"], 3),
    (
        "playWaitTime 1000",
        _set("storedSource.playWaitTime", 1000),
        lambda r: r["storedSource"]["playWaitTime"],
        1000,
    ),
    (
        "playWaitTime 4000",
        _set("storedSource.playWaitTime", 4000),
        lambda r: r["storedSource"]["playWaitTime"],
        4000,
    ),
    (
        "appSvrData of 4095 bytes",
        _set("appSvrData", "가" * 1365),
        lambda r: len(r["appSvrData"].encode()),
        4095,
    ),
    ("appSvrData empty", _set("appSvrData", ""), lambda r: r["appSvrData"], ""),
    ("appSvrData defaults to null", lambda b: None, lambda r: r["appSvrData"], None),
    (
        "callStartMessage of 199 bytes",
        _set("callStartMessage", "é" * 99 + "m"),
        lambda r: len(r["callStartMessage"].encode()),
        199,
    ),
    ("callStartMessage defaults to null", lambda b: None, lambda r: r["callStartMessage"], None),
    ("recordOnCloud defaults to false", lambda b: None, lambda r: r["recordOnCloud"], False),
    ("recordOnCloud true", _set("recordOnCloud", True), lambda r: r["recordOnCloud"], True),
    (
        "useResponderPreparation defaults to false",
        lambda b: None,
        lambda r: r["useResponderPreparation"],
        False,
    ),
    (
        "useResponderPreparation true",
        _set("useResponderPreparation", True),
        lambda r: r["useResponderPreparation"],
        True,
    ),
    ("mediaSourceType of 13 bytes", lambda b: None, lambda r: r["mediaSourceType"], "STORED_SOURCE"),
    (
        "userId of 128 bytes",
        _set("requestContext.userId", "u" * 128),
        lambda r: len(r["requestContext"]["userId"]),
        128,
    ),
    ("unknown fields are ignored", _set("futureField", {"x": 1}), lambda r: "futureField" in r, False),
    (
        "upper-case contentId is the same source",
        lambda b: b["storedSource"]["storedAudioSources"][0].update(
            contentId=b["storedSource"]["storedAudioSources"][0]["contentId"].upper()
        ),
        lambda r: r["storedSource"]["storedAudioSources"][0]["contentId"].islower(),
        True,
    ),
    (
        "per-request callback URLs",
        _set("linecallCallbacks", {"statusUrl": "https://app/s", "eventUrl": "http://app:8000/e?x=1"}),
        lambda r: r["linecallCallbacks"],
        {"statusUrl": "https://app/s", "eventUrl": "http://app:8000/e?x=1"},
    ),
]


@pytest.fixture
async def api(tmp_path: Path) -> Any:
    async with harness(tmp_path) as h:
        h.placer.default.talk_s = 0.0
        h.sources = [await h.upload(seed=i) for i in range(2)]  # type: ignore[attr-defined]
        yield h


def _body(h: Harness) -> dict[str, Any]:
    return call_body(h.sources)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("case", "mutate", "field"), INVALID, ids=[c[0] for c in INVALID])
async def test_invalid_field_is_400_naming_it(api: Harness, case: str, mutate: Mutation, field: str) -> None:
    body = copy.deepcopy(_body(api))
    mutate(body)
    response = await api.call(body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["status"] == "error" and error["code"] == "BAD_REQUEST"
    assert error["field"] == field, error
    assert error["message"].startswith(f"{field}: "), error
    assert isinstance(error["timestamp"], int)
    assert api.placer.calls == []


@pytest.mark.parametrize(("case", "mutate", "read", "expected"), VALID, ids=[c[0] for c in VALID])
async def test_valid_body_is_queued_with_defaults(
    api: Harness, case: str, mutate: Mutation, read: Callable[[dict[str, Any]], Any], expected: Any
) -> None:
    body = copy.deepcopy(_body(api))
    mutate(body)
    response = await api.call(body)
    assert response.status_code == 200, response.text
    sid = response.json()["data"]["sid"]
    history = await api.history(sid)
    assert read(history["request"]) == expected


async def test_five_sources_in_order_and_defaults_reach_the_placer(api: Harness) -> None:
    ids = [*api.sources, *[await api.upload(seed=10 + i) for i in range(3)]]  # type: ignore[attr-defined]
    response = await api.call(call_body(ids))
    assert response.status_code == 200, response.text
    with trio.fail_after(5):
        await api.placer.started.wait()
    placed = api.placer.calls[0]
    clips = [await api.api.library.clip(cid) for cid in ids]
    assert list(placed.sources) == clips
    assert (placed.callee, placed.play_count, placed.play_wait_s) == (CALLEE, 2, 1.0)


async def test_seed_example_values_reach_the_placer(api: Harness) -> None:
    body = call_body(api.sources, recordOnCloud=False, useResponderPreparation=False)  # type: ignore[attr-defined]
    body["storedSource"].update(playWaitTime=1500, playCount=2)
    response = await api.call(body)
    assert response.status_code == 200
    envelope = response.json()
    assert envelope["status"] == "success" and len(envelope["data"]["sid"]) == 36
    assert isinstance(envelope["timestamp"], int)
    with trio.fail_after(5):
        await api.placer.started.wait()
    assert (api.placer.calls[0].play_count, api.placer.calls[0].play_wait_s) == (2, 1.5)


@pytest.mark.parametrize(
    ("case", "kwargs", "field"),
    [
        ("not JSON", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, "body"),
        ("a JSON list", {"content": b"[]", "headers": {"Content-Type": "application/json"}}, "body"),
        (
            "form-encoded",
            {"content": b"a=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            "Content-Type",
        ),
        ("Accept html only", {"headers": {"Accept": "text/html"}}, "Accept"),
    ],
)
async def test_malformed_request_is_400(api: Harness, case: str, kwargs: dict[str, Any], field: str) -> None:
    response = await api.call(_body(api), **kwargs)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize("callee", ["u0123", "c" + "0" * 32, "U" + "0" * 32, "u" + "g" * 32])
async def test_callee_must_be_a_user_mid(api: Harness, callee: str) -> None:
    response = await api.call(_body(api), callee=callee)
    assert response.status_code == 400
    assert response.json()["field"] == "to-userId"
