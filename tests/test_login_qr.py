"""QR ("ForSecure") login: the /acct/lgn/sq/v1 calls byte for byte, every qr_login vector case through the
whole flow, and `linecall login` against the loopback legy server (URL and QR drawn, PIN shown, long polls
with x-lst / x-line-access, key chain unwrapped and checked, stored 0600, the next start asks nothing)."""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from linecall.bot.cli import main
from linecall.bot.keystore import ForeignAccountKeys, StoreKeyring, load_login_certificate, load_login_session
from linecall.bot.login_cli import EXIT_FAILED, _print_login, run_login
from linecall.bot.store import Store
from linecall.config.settings import Settings, load_settings
from linecall.protocol.talk import login_qr_service as svc
from linecall.protocol.talk.e2ee.keys import KeyPair
from linecall.protocol.talk.login_qr import (
    LoginTransportError,
    LongPollPlan,
    QrLoginTimeout,
    TerminalLoginUI,
    run_qr_login,
)
from linecall.protocol.talk.service import TalkCall, encode_reply, encode_talk_exception
from linecall.protocol.thrift.errors import TalkException, ThriftError
from tests.e2ee_support import cases_of, party_pair
from tests.sim.legy import LegyServer, running_legy_server
from tests.sim.legy_e2ee import E2EESim, QrLoginSim

h = bytes.fromhex
SID = "SQ000001"


# --- request bytes (derived from linejs's argument lists, LI:687-897) ---------------------------------------


def _call_bytes(method: str, args: bytes) -> bytes:
    return b"\x82\x21\x00" + bytes([len(method)]) + method.encode() + args + b"\x00"


def _s(fid_delta: int, text: str) -> bytes:
    return bytes([fid_delta << 4 | 8, len(text)]) + text.encode()


def test_request_bodies_are_linejs_bytes() -> None:
    session = _s(1, SID)
    assert svc.create_session().body == _call_bytes("createSession", b"")
    assert svc.create_qr_code_for_secure(SID).body == _call_bytes(
        "createQrCodeForSecure", b"\x1c" + session + b"\x00\x00"
    )
    assert svc.verify_certificate(SID, None).body == _call_bytes(
        "verifyCertificate", b"\x1c" + session + b"\x00\x00"
    )
    assert svc.verify_certificate(SID, "PEM").body == _call_bytes(
        "verifyCertificate", b"\x1c" + session + _s(1, "PEM") + b"\x00\x00"
    )
    assert svc.create_pin_code(SID).body == _call_bytes("createPinCode", b"\x1c" + session + b"\x00\x00")
    login = svc.qr_code_login_v2_for_secure(SID, "nonce-1", system_name="sys", model_name="model")
    assert login.body == _call_bytes(
        "qrCodeLoginV2ForSecure",
        b"\x1c" + session + _s(1, "sys") + _s(1, "model") + b"\x11" + _s(1, "nonce-1") + b"\x00\x00",
    )
    for call in (svc.check_qr_code_verified(SID), svc.check_pin_code_verified(SID)):
        assert call.path == "/acct/lp/lgn/sq/v1"
        assert call.body == _call_bytes(call.method, b"\x1c" + session + b"\x00\x00")
    assert {svc.create_session().path, login.path} == {"/acct/lgn/sq/v1"}
    assert svc.long_poll_headers(SID, 30_000) == {"x-lst": "30000", "x-line-access": SID}
    plan = LongPollPlan.of(svc.QrCodeForSecure("https://x", 12, 30, "n"))
    assert (plan.max_count, plan.hold_ms, plan.timeout) == (12, 30_000, 35.0)
    assert LongPollPlan.of(svc.QrCodeForSecure("https://x", 10_000, 100_000)).max_count == 60


def test_replies_parse_and_refusals_are_named() -> None:
    qr = svc.QrCodeForSecure("https://line.me/R/au/lgn/sq/x", 5, 20, "nonce")
    assert (
        svc.create_qr_code_for_secure(SID).parse(encode_reply("createQrCodeForSecure", qr.to_thrift())) == qr
    )
    token = svc.TokenV3IssueResult("access", "refresh", 3600, "ls", 1_700_000_000)
    assert token.expire == 1_700_003_600.0
    result = svc.QrLoginResult("PEM", token, "u" + "1" * 32, {"e2eeInfo": '{"keyId": "5", "x": 1}'}, None)
    parsed = svc.qr_code_login_v2_for_secure(SID, "n", system_name="s", model_name="m").parse(
        encode_reply("qrCodeLoginV2ForSecure", result.to_thrift())
    )
    assert parsed.token == token and parsed.mid == result.mid and parsed.certificate == "PEM"
    assert parsed.e2ee_info == {"keyId": "5", "x": 1}  # from metaData["e2eeInfo"]
    in_field10 = svc.QrLoginResult("PEM", token, result.mid, {}, {"keyId": "7"})
    again = svc.QrLoginResult.from_thrift(in_field10.to_thrift())
    assert again.e2ee_info == {"keyId": "7"}
    refused = encode_talk_exception("verifyCertificate", TalkException(2, "no cert"))
    with pytest.raises(svc.QrLoginRefused) as exc:
        svc.verify_certificate(SID, None).parse(refused)
    assert exc.value.code_name == "VERIFICATION_FAILED" and exc.value.alert_message == "no cert"
    assert svc.QrLoginRefused("m", 999, None).code_name == "UNKNOWN(999)"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_reply_parsers_raise_only_thrift_errors(data: bytes) -> None:
    calls: list[TalkCall[Any]] = [
        svc.create_session(),
        svc.create_qr_code_for_secure(SID),
        svc.create_pin_code(SID),
        svc.check_qr_code_verified(SID),
        svc.qr_code_login_v2_for_secure(SID, "n", system_name="s", model_name="m"),
    ]
    for call in calls:
        with contextlib.suppress(ThriftError):
            call.parse(data)


_TOKEN = svc.TokenV3IssueResult("access", "refresh", 3600, "ls", 1_700_000_000)
_VALID_LOGIN_REPLY = encode_reply(
    "qrCodeLoginV2ForSecure",
    svc.QrLoginResult(
        "PEM", _TOKEN, "u" + "1" * 32, {"e2eeInfo": '{"keyId": "5"}'}, {"keyId": "5"}
    ).to_thrift(),
)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_truncated_or_bit_flipped_login_replies_raise_only_thrift_errors(data: st.DataObject) -> None:
    body = bytearray(_VALID_LOGIN_REPLY)
    for index in data.draw(st.lists(st.integers(0, len(body) - 1), max_size=4)):
        body[index] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(body)))
    call = svc.qr_code_login_v2_for_secure(SID, "n", system_name="s", model_name="m")
    with contextlib.suppress(ThriftError):
        call.parse(bytes(body[:cut]))


# --- every qr_login vector case through the whole flow ------------------------------------------------------


class ScriptedCaller:
    """Answers the login calls in order; records the per-call headers and timeouts it was given."""

    def __init__(self, answers: Mapping[str, Callable[[], Any]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, Mapping[str, str] | None, float | None]] = []

    async def call(
        self,
        call: TalkCall[Any],
        /,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        self.calls.append((call.method, extra_headers, timeout))
        answer = self.answers[call.method]()
        if isinstance(answer, BaseException):
            raise answer
        return answer


class RecordingUI:
    def __init__(self) -> None:
        self.urls: list[str] = []
        self.pins: list[str] = []

    def show_qr(self, url: str) -> None:
        self.urls.append(url)

    def show_pin(self, pin: str) -> None:
        self.pins.append(pin)

    def status(self, message: str) -> None:
        pass


def _scripted(e2ee_info: Mapping[str, object] | None, *, polls_before_scan: int = 0) -> ScriptedCaller:
    waiting = iter([LoginTransportError("held", status=408)] * polls_before_scan)
    token = svc.TokenV3IssueResult("access", "refresh", 3600, None, 1_700_000_000)
    return ScriptedCaller(
        {
            "createSession": lambda: SID,
            "createQrCodeForSecure": lambda: svc.QrCodeForSecure(
                "https://line.me/R/au/lgn/sq/" + SID, 4, 30, "nc"
            ),
            "checkQrCodeVerified": lambda: next(waiting, None),
            "verifyCertificate": lambda: svc.QrLoginRefused("verifyCertificate", 2, None),
            "createPinCode": lambda: "123456",
            "checkPinCodeVerified": lambda: None,
            "qrCodeLoginV2ForSecure": lambda: svc.QrLoginResult("PEM", token, "u" + "1" * 32, {}, e2ee_info),
        }
    )


@pytest.mark.parametrize("case", cases_of("qr_login"))
async def test_qr_login_vector_case_through_the_flow(case: dict[str, Any]) -> None:
    inputs = case["inputs"]
    caller = _scripted(inputs["e2eeInfo"])
    answer = inputs["getE2EEPublicKeys_answer"]

    async def registered(result: svc.QrLoginResult) -> dict[int, bytes] | None:
        if isinstance(answer, dict):  # {"throws": ...}: the lookup failed
            return None
        return {entry["2"]: h(entry["4"]) for entry in answer}

    ui = RecordingUI()
    outcome = await run_qr_login(
        caller, ui, random=lambda n: h(inputs["qr_secret_private_key_hex"]), registered_keys=registered
    )
    public = h(inputs["qr_secret_public_key_hex"])
    assert ui.urls and ui.urls[0].startswith("https://line.me/R/au/lgn/sq/" + SID + "?secret=")
    from linecall.protocol.talk.e2ee.qr import qr_secret_query

    assert ui.urls[0].endswith(qr_secret_query(public)) and ui.pins == ["123456"]
    returned = case["outputs"]["returned"]
    if returned is None:
        assert outcome.keys is None and outcome.key_problem == "key_chain_mismatch"
    else:
        assert outcome.keys is not None and outcome.key_problem is None
        assert outcome.keys.current.key_id == int(returned["keyId"])
        assert outcome.keys.current.private_key.hex() == returned["privKey"]
        assert outcome.keys.current.public_key.hex() == returned["pubKey"]


async def test_long_polls_carry_the_hold_and_session_and_poll_again_on_408() -> None:
    caller = _scripted(None, polls_before_scan=2)
    outcome = await run_qr_login(caller, RecordingUI(), random=os.urandom)
    polls = [c for c in caller.calls if c[0].startswith("check")]
    assert [c[0] for c in polls] == ["checkQrCodeVerified"] * 3 + ["checkPinCodeVerified"]
    assert all(c[1] == {"x-lst": "30000", "x-line-access": SID} and c[2] == 35.0 for c in polls)
    assert outcome.keys is None and outcome.key_problem == "no_e2ee_info"


async def test_an_unscanned_code_times_out_after_the_server_count() -> None:
    caller = _scripted(None, polls_before_scan=10)
    with pytest.raises(QrLoginTimeout):
        await run_qr_login(caller, RecordingUI(), random=os.urandom)
    assert [c[0] for c in caller.calls].count("checkQrCodeVerified") == 4


async def test_other_poll_failures_are_fatal() -> None:
    caller = _scripted(None)
    caller.answers = {
        **caller.answers,
        "checkQrCodeVerified": lambda: LoginTransportError("HTTP 500", status=500),
    }
    with pytest.raises(LoginTransportError):
        await run_qr_login(caller, RecordingUI(), random=os.urandom)
    assert [c[0] for c in caller.calls].count("checkQrCodeVerified") == 1


# --- against the loopback legy server -----------------------------------------------------------------------

ACCOUNT = KeyPair.from_private(bytes(range(100, 132)), 12345)
OLDER = KeyPair.from_private(bytes(range(50, 82)), 12000)


class Phone:
    """The terminal UI (URL + QR drawing into a buffer) plus a phone that scans after ``scan_after`` s."""

    def __init__(self, qr: QrLoginSim, nursery: trio.Nursery, *, scan_after: float = 0.0) -> None:
        self.out = io.StringIO()
        self.terminal = TerminalLoginUI(self.out)
        self.qr = qr
        self.nursery = nursery
        self.scan_after = scan_after
        self.urls: list[str] = []
        self.pins: list[str] = []

    def show_qr(self, url: str) -> None:
        self.terminal.show_qr(url)
        self.urls.append(url)

        async def scan() -> None:
            await trio.sleep(self.scan_after)
            self.qr.phone_scans(url)

        self.nursery.start_soon(scan)

    def show_pin(self, pin: str) -> None:
        self.terminal.show_pin(pin)
        self.pins.append(pin)
        self.qr.phone_enters_pin(pin)

    def status(self, message: str) -> None:
        self.terminal.status(message)


@pytest.fixture
async def server() -> AsyncIterator[LegyServer]:
    async with running_legy_server() as srv:
        yield srv


def _settings(server: LegyServer, path: Path) -> Settings:
    return load_settings(
        line_endpoint=server.base_url, line_gateway_url=server.gateway_url, line_storage_file=path
    )


async def _login(
    server: LegyServer, path: Path, phone_options: dict[str, Any] | None = None, **kw: Any
) -> Any:
    store = Store.open(path)
    try:
        async with trio.open_nursery() as nursery:
            phone = Phone(kw.pop("qr"), nursery, **(phone_options or {}))
            report = await run_login(
                _settings(server, path), store, phone, gateway=server.client_gateway(), **kw
            )
        return report, phone
    finally:
        store.close()


async def test_login_against_the_loopback_server(server: LegyServer, tmp_path: Path) -> None:
    keys = E2EESim(server, ACCOUNT)
    qr = QrLoginSim(server, [ACCOUNT, OLDER], max_hold=0.2)
    path = tmp_path / "linecall.db"
    report, phone = await _login(server, path, {"scan_after": 0.3}, qr=qr)

    printed = phone.out.getvalue()
    assert (
        phone.urls[0] in printed and "?secret=" in phone.urls[0] and phone.urls[0].endswith("&e2eeVersion=1")
    )
    assert "█" in printed or "▀" in printed  # the QR code was drawn
    assert f"PIN on your phone: {qr.pin}" in printed
    # the first poll was held and ran out (408), the second saw the scan
    assert qr.calls[:5] == [
        "createSession",
        "createQrCodeForSecure",
        "checkQrCodeVerified",
        "checkQrCodeVerified",
        "verifyCertificate",
    ]
    assert all(h_["x-lst"] == "30000" and h_["x-line-access"] == "SQ000001" for h_ in qr.poll_headers)
    assert "ANDROIDSECONDARY" in qr.poll_headers[0]["x-line-application"]
    assert keys.calls == ["getE2EEPublicKeys"]  # the server-side key check, with the new token

    assert not report.resumed and report.key_problem is None
    assert report.current_key_id == ACCOUNT.key_id and set(report.key_ids) == {12345, 12000}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    store = Store.open(path)
    ring = StoreKeyring(store, server.mid)
    assert ring.own_key(12345) == ACCOUNT and ring.own_key(12000) == OLDER
    session = load_login_session(store)
    assert session is not None and session.mid == server.mid and session.device == "ANDROIDSECONDARY"
    assert session.access_token == qr.issued[0].access_token and session.expire == 1_700_003_600.0
    assert load_login_certificate(store) in qr.certificates
    store.close()

    # The next start uses the stored session and keys without asking anything.
    requests = len(server.requests)
    again, phone = await _login(server, path, qr=qr)
    assert again.resumed and again.current_key_id == ACCOUNT.key_id
    assert phone.urls == [] and len(server.requests) == requests
    out, err = io.StringIO(), io.StringIO()
    assert _print_login(again, out, err) == 0 and "Already logged in" in out.getvalue()

    # A new login presents the stored certificate: no PIN this time.
    third, phone = await _login(server, path, qr=qr, again=True)
    assert not third.resumed and phone.pins == [] and phone.urls
    assert qr.calls.count("createPinCode") == 1


async def test_key_handover_in_metadata_is_read(server: LegyServer, tmp_path: Path) -> None:
    E2EESim(server, ACCOUNT)
    qr = QrLoginSim(server, [ACCOUNT], e2ee_info_in="metadata")
    report, _ = await _login(server, tmp_path / "a.db", qr=qr)
    assert report.current_key_id == ACCOUNT.key_id


async def test_a_bad_key_chain_is_not_stored(server: LegyServer, tmp_path: Path) -> None:
    E2EESim(server, ACCOUNT)
    qr = QrLoginSim(server, [ACCOUNT], corrupt_chain=True)
    path = tmp_path / "a.db"
    report, _ = await _login(server, path, qr=qr)
    assert report.key_problem == "key_chain_mismatch" and report.current_key_id is None
    out, err = io.StringIO(), io.StringIO()
    assert _print_login(report, out, err) == EXIT_FAILED
    assert "failed its checks" in err.getvalue() and "--force-new" in err.getvalue()
    store = Store.open(path)
    assert not StoreKeyring(store).has_own_keys() and load_login_session(store) is not None
    store.close()


async def test_server_listing_another_key_is_a_mismatch(server: LegyServer, tmp_path: Path) -> None:
    sim = E2EESim(server, ACCOUNT)
    sim.keys[server.mid][0] = sim.keys[server.mid][0].__class__(
        1, ACCOUNT.key_id, party_pair("bob").public_key
    )
    qr = QrLoginSim(server, [ACCOUNT])
    report, _ = await _login(server, tmp_path / "a.db", qr=qr)
    assert report.key_problem == "key_chain_mismatch" and sim.calls == ["getE2EEPublicKeys"]


async def test_keys_of_another_account_are_refused(server: LegyServer, tmp_path: Path) -> None:
    E2EESim(server, ACCOUNT)
    qr = QrLoginSim(server, [ACCOUNT])
    path = tmp_path / "a.db"
    store = Store.open(path)
    StoreKeyring(store, "u" + "9" * 32).add_own(party_pair("bob"))
    store.close()
    with pytest.raises(ExceptionGroup) as refused:  # raised inside the phone's nursery
        await _login(server, path, qr=qr)
    assert refused.group_contains(ForeignAccountKeys)
    store = Store.open(path)
    assert load_login_session(store) is None and StoreKeyring(store).own_key(ACCOUNT.key_id) is None
    store.close()


def test_login_without_storage_file_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LINE_STORAGE_FILE", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    assert main(["login"]) == 2
    assert "the key must outlive this process" in capsys.readouterr().err
