"""Stored sources: upload (WAV body or multipart), list, get, delete; bad WAVs get the reader's actionable
error; the size cap; deletion refused while a queued or live call uses the source; no storage → 503; files
kept 0600 under <storage dir>/sources/ and found again after a restart."""

from __future__ import annotations

import contextlib
import re
import stat
from pathlib import Path

import numpy as np
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.bot.api.bodies import MultipartError, parse_multipart
from linecall.bot.api.sources import clean_name
from linecall.bot.store import Store
from linecall.media.clip import load_clip_bytes
from tests.api_support import Script, basic, call_body, harness, noise_wav, wav_bytes


def multipart(data: bytes, *, field: str = "file", filename: str = "greeting.wav") -> tuple[bytes, str]:
    boundary = "----linecall-test-7f3a"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


async def test_upload_list_get_delete(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        data = noise_wav(0.5, seed=3)
        response = await h.client.post(
            "/v1/sources",
            content=data,
            params={"name": "../../etc/hello.wav"},
            headers={**basic(), "Content-Type": "audio/wav"},
        )
        assert response.status_code == 201, response.text
        source = response.json()
        cid = source["contentId"]
        assert re.fullmatch(r"[0-9a-f]{12}", cid)
        assert source["name"] == "hello.wav"
        assert source["duration"] == pytest.approx(0.5, abs=0.001)
        assert (source["sampleRate"], source["channels"], source["sampleFormat"]) == (48000, 1, "s16")
        assert source["size"] == len(data)

        body, content_type = multipart(wav_bytes(np.zeros((4800, 2), dtype=np.int16) + 1000, 16000, 2))
        response = await h.client.post(
            "/v1/sources", content=body, headers={**basic(), "Content-Type": content_type}
        )
        assert response.status_code == 201, response.text
        second = response.json()
        assert (second["name"], second["sampleRate"], second["channels"]) == ("greeting.wav", 16000, 2)
        assert second["duration"] == pytest.approx(0.3, abs=0.001)

        listed = (await h.client.get("/v1/sources", headers=basic())).json()["sources"]
        assert [s["contentId"] for s in listed] == [cid, second["contentId"]]
        assert (await h.client.get(f"/v1/sources/{cid.upper()}", headers=basic())).json() == source

        stored = tmp_path / "sources" / f"{cid}.wav"
        assert stored.read_bytes() == data
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert (await h.api.library.clip(cid)) is load_clip_bytes(data, "hello.wav", h.api.library.params)

        response = await h.client.delete(f"/v1/sources/{cid}", headers=basic())
        assert response.status_code == 200 and response.json() == {"contentId": cid, "deleted": True}
        assert not stored.exists()
        assert (await h.client.get(f"/v1/sources/{cid}", headers=basic())).status_code == 404
        assert (await h.client.delete(f"/v1/sources/{cid}", headers=basic())).status_code == 404
        response = await h.call(call_body([cid]))
        assert response.status_code == 400
        assert response.json()["field"] == "storedSource.storedAudioSources[0].contentId"


@pytest.mark.parametrize(
    ("case", "data", "expected"),
    [
        (
            "mp3",
            b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(200),
            "an MP3 file (ID3 tag). Convert it with: ffmpeg -i",
        ),
        ("empty", b"", "an empty file"),
        ("truncated", noise_wav(0.2)[:30], "not a playable WAV"),
        (
            "a-law",
            b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x06\x00\x01\x00\x40\x1f\x00\x00\x40\x1f\x00\x00\x01\x00\x08\x00data\x00\x00\x00\x00",
            "A-law",
        ),
    ],
)
async def test_bad_wav_gets_the_readers_actionable_error(
    tmp_path: Path, case: str, data: bytes, expected: str
) -> None:
    async with harness(tmp_path) as h:
        response = await h.client.post(
            "/v1/sources",
            content=data,
            params={"name": "voice.mp3"},
            headers={**basic(), "Content-Type": "audio/wav"},
        )
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["code"] == "BAD_REQUEST" and error["field"] == "body"
        assert expected in error["message"]
        body, content_type = multipart(data, filename="voice.mp3")
        response = await h.client.post(
            "/v1/sources", content=body, headers={**basic(), "Content-Type": content_type}
        )
        assert response.status_code == 400 and response.json()["field"] == "file"
        assert "voice.mp3: not a playable WAV" in response.json()["message"]
        assert (await h.client.get("/v1/sources", headers=basic())).json() == {"sources": []}
        assert list((tmp_path / "sources").glob("*")) == [] if (tmp_path / "sources").exists() else True


async def test_size_cap_and_content_types(tmp_path: Path) -> None:
    async with harness(tmp_path, source_max_bytes=10_000) as h:
        big = noise_wav(0.2)  # 19 244 bytes
        response = await h.client.post(
            "/v1/sources", content=big, headers={**basic(), "Content-Type": "audio/wav"}
        )
        assert response.status_code == 413 and response.json()["code"] == "PAYLOAD_TOO_LARGE"
        body, content_type = multipart(big)
        response = await h.client.post(
            "/v1/sources", content=body, headers={**basic(), "Content-Type": content_type}
        )
        assert response.status_code == 413
        small = noise_wav(0.05)
        response = await h.client.post(
            "/v1/sources", content=small, headers={**basic(), "Content-Type": "text/plain"}
        )
        assert response.status_code == 400 and response.json()["field"] == "Content-Type"
        body, content_type = multipart(small, field="other", filename="")
        response = await h.client.post(
            "/v1/sources", content=body, headers={**basic(), "Content-Type": content_type}
        )
        assert response.status_code == 400 and response.json()["field"] == "file"
        response = await h.client.post(
            "/v1/sources",
            content=b"--x\r\nbroken",
            headers={**basic(), "Content-Type": "multipart/form-data; boundary=x"},
        )
        assert response.status_code == 400 and response.json()["field"] == "body"
        response = await h.client.post("/v1/sources", content=small, headers=basic())
        assert response.status_code == 201  # no Content-Type: taken as a WAV body


async def test_without_storage_uploads_are_503(tmp_path: Path) -> None:
    async with harness(None) as h:
        response = await h.client.post(
            "/v1/sources", content=noise_wav(), headers={**basic(), "Content-Type": "audio/wav"}
        )
        assert response.status_code == 503
        assert response.json()["code"] == "STORAGE_DISABLED"
        assert "LINE_STORAGE_FILE" in response.json()["message"]
        assert (await h.client.get("/v1/sources", headers=basic())).json() == {"sources": []}


async def test_delete_refused_while_a_queued_or_live_call_uses_it(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        used, spare = await h.upload(seed=1), await h.upload(seed=2)
        hold = trio.Event()
        h.placer.scripts.append(Script(ring=False, hold=hold))  # stays QUEUED
        sid = (await h.call(call_body([used]))).json()["data"]["sid"]
        with trio.fail_after(5):
            await h.placer.started.wait()
        response = await h.client.delete(f"/v1/sources/{used}", headers=basic())
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "SOURCE_IN_USE" and response.json()["field"] == "contentId"
        assert (await h.history(sid))["state"] == "QUEUED"
        assert (await h.client.delete(f"/v1/sources/{spare}", headers=basic())).status_code == 200
        hold.set()
        assert (await h.until_ended(sid))["relCodeStr"] == "NORMAL"
        assert (await h.client.delete(f"/v1/sources/{used}", headers=basic())).status_code == 200

        again = await h.upload(seed=4)
        hold = trio.Event()
        h.placer.scripts.append(Script(ring=True, hold=hold))  # live: WAITANSWER
        sid = (await h.call(call_body([again]))).json()["data"]["sid"]
        while (await h.history(sid))["state"] != "WAITANSWER":
            await trio.sleep(0.01)
        assert (await h.client.delete(f"/v1/sources/{again}", headers=basic())).status_code == 409
        hold.set()
        await h.until_ended(sid)


async def test_sources_survive_a_restart(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "linecall.sqlite3")
    async with harness(tmp_path, store=store) as h:
        cid = await h.upload(seed=5, name="welcome.wav")
        before = (await h.client.get(f"/v1/sources/{cid}", headers=basic())).json()
    store.close()
    store = Store.open(tmp_path / "linecall.sqlite3")
    try:
        async with harness(tmp_path, store=store) as h:
            assert (await h.client.get(f"/v1/sources/{cid}", headers=basic())).json() == before
            with trio.fail_after(10):
                while cid not in h.api.library._clips:  # preloaded in the background
                    await trio.sleep(0.01)
            response = await h.call(call_body([cid]))
            assert response.status_code == 200
            await h.until_ended(response.json()["data"]["sid"])
            assert h.placer.calls[0].sources[0].duration_s == pytest.approx(0.2)
    finally:
        store.close()


def test_clean_name() -> None:
    assert clean_name(None) == "upload.wav"
    assert clean_name("C:\\Users\\me\\voice.wav") == "voice.wav"
    assert clean_name("../x/\x00bad\nname.wav") == "badname.wav"
    assert len(clean_name("가" * 200).encode()) <= 255


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["x", "----b", "a'b"]))
def test_multipart_junk_raises_only_multipart_error(data: bytes, boundary: str) -> None:
    for body in (
        data,
        f"--{boundary}\r\n".encode() + data,
        f"--{boundary}\r\n".encode() + data + f"\r\n--{boundary}--".encode(),
    ):
        with contextlib.suppress(MultipartError):
            parse_multipart(body, f'multipart/form-data; boundary="{boundary}"')


def test_multipart_keeps_binary_bytes_exactly() -> None:
    payload = bytes(range(256)) * 4 + b"\r\n--not-the-boundary\r\n\r\n"
    body, content_type = multipart(payload)
    parts = parse_multipart(body, content_type)
    assert [(p.name, p.filename) for p in parts] == [("note", None), ("file", "greeting.wav")]
    assert parts[1].data == payload and parts[0].data == b"hello"
    with pytest.raises(MultipartError, match="boundary"):
        parse_multipart(body, "multipart/form-data")
