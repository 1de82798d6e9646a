"""Who may use the API and how often: Basic credentials (401), the service id (403), unknown sids (404), the
100 requests per second rate (429), and the API off / open without credentials."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import structlog

from linecall.bot.api.auth import Authenticator
from tests.api_support import CALLEE, SERVICE, basic, call_body, harness


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("no Authorization", {}),
        ("wrong secret", basic(secret="app-secreT")),
        ("wrong key", basic(key="other")),
        ("secret as key", basic(key="app-secret", secret="app-key")),
        ("empty password", basic(secret="")),
        ("no colon", {"Authorization": "Basic " + base64.b64encode(b"app-keyapp-secret").decode()}),
        ("not base64", {"Authorization": "Basic %%%"}),
        ("bearer scheme", {"Authorization": "Bearer app-key:app-secret"}),
    ],
)
async def test_wrong_credentials_are_401(tmp_path: Path, case: str, headers: dict[str, str]) -> None:
    async with harness(tmp_path) as h:
        cid = await h.upload()
        for method, url in [
            ("POST", f"/tas/v2/agt_call/audio_caller/{SERVICE}/{CALLEE}"),
            ("GET", "/tas/v2/agt_call/2b53fe1d-5057-4265-ad76-96b2fc6f4961"),
            ("GET", "/v1/sources"),
            ("GET", f"/v1/sources/{cid}"),
            ("DELETE", f"/v1/sources/{cid}"),
            ("POST", "/v1/sources"),
        ]:
            response = await h.client.request(
                method, url, headers={**headers, "Content-Type": "application/json"}, json=call_body([cid])
            )
            assert response.status_code == 401, (method, url, response.text)
            assert response.json()["code"] == "UNAUTHORIZED"
            assert response.headers["www-authenticate"].startswith("Basic")
        assert h.placer.calls == []
        assert h.api.library.get(cid) is not None


async def test_right_credentials_pass(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        cid = await h.upload()
        response = await h.call(call_body([cid]))
        assert response.status_code == 200


@pytest.mark.parametrize("where", ["path", "requestContext"])
async def test_other_service_id_is_403(tmp_path: Path, where: str) -> None:
    async with harness(tmp_path) as h:
        cid = await h.upload()
        body = call_body([cid])
        if where == "path":
            response = await h.call(body, service="other-service")
            field = "to-serviceId"
        else:
            body["requestContext"]["serviceId"] = "other-service"
            response = await h.call(body)
            field = "requestContext.serviceId"
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "FORBIDDEN"
        assert response.json()["field"] == field
        assert h.placer.calls == []


@pytest.mark.parametrize(
    "sid", ["2b53fe1d-5057-4265-ad76-96b2fc6f4961", "not-a-sid", "2B53FE1D505742 65AD7696B2FC6F4961"]
)
async def test_unknown_sid_is_404(tmp_path: Path, sid: str) -> None:
    async with harness(tmp_path) as h:
        response = await h.client.get(f"/tas/v2/agt_call/{sid}", headers=basic())
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND" and response.json()["field"] == "sid"


async def test_burst_past_100_per_second_is_429(tmp_path: Path) -> None:
    async with harness(tmp_path, frozen_rate_clock=True) as h:
        codes = [(await h.client.get("/v1/sources", headers=basic())).status_code for _ in range(100)]
        assert codes == [200] * 100
        refused = await h.client.get("/v1/sources", headers=basic())
        assert refused.status_code == 429
        assert refused.json()["code"] == "TOO_MANY_REQUEST"
        assert refused.headers["retry-after"] == "1"
        call = await h.call(call_body(["5498f04048fa"]))
        assert call.status_code == 429
        h.now[0] += 0.05  # 5 tokens back
        assert [(await h.client.get("/v1/sources", headers=basic())).status_code for _ in range(6)] == [
            200
        ] * 5 + [429]
        h.now[0] += 1.0
        codes = [(await h.client.get("/v1/sources", headers=basic())).status_code for _ in range(101)]
        assert codes == [200] * 100 + [429]


async def test_requests_with_bad_credentials_do_not_use_up_the_rate(tmp_path: Path) -> None:
    async with harness(tmp_path, frozen_rate_clock=True) as h:
        for _ in range(150):
            assert (await h.client.get("/v1/sources")).status_code == 401
        assert (await h.client.get("/v1/sources", headers=basic())).status_code == 200


async def test_without_credentials_off_unless_loopback(tmp_path: Path) -> None:
    async with harness(tmp_path, credentials=False, loopback=False) as h:
        response = await h.client.get("/v1/sources")
        assert response.status_code == 503
        assert response.json()["code"] == "API_DISABLED"
        assert "LINE_API_KEY" in response.json()["message"]
    async with harness(tmp_path, credentials=False, loopback=True) as h:
        assert (await h.client.get("/v1/sources")).status_code == 200
        assert (await h.client.get("/v1/sources", headers=basic(secret="anything"))).status_code == 200


def test_open_mode_warns_once() -> None:
    with structlog.testing.capture_logs() as logs:
        Authenticator("linecall", None, None, loopback=True).announce()
        Authenticator("linecall", None, None, loopback=False).announce()
    assert [(entry["event"], entry["log_level"]) for entry in logs] == [
        ("api.open", "warning"),
        ("api.off", "warning"),
    ]


async def test_openapi_document_is_served_without_credentials(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        response = await h.client.get("/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert "/tas/v2/agt_call/audio_caller/{to-serviceId}/{to-userId}" in document["paths"]
    stored = document["components"]["schemas"]["StoredSourceInfo"]["properties"]
    assert (
        stored["playCount"]["minimum"],
        stored["playCount"]["maximum"],
        stored["playCount"]["default"],
    ) == (1, 3, 2)
    assert (stored["playWaitTime"]["minimum"], stored["playWaitTime"]["maximum"]) == (1000, 4000)
    assert stored["storedAudioSources"]["maxItems"] == 5
    body = document["components"]["schemas"]["CallRequest"]["properties"]
    assert body["appSvrData"]["x-maxUtf8Bytes"] == 4095 and body["callStartMessage"]["x-maxUtf8Bytes"] == 199
