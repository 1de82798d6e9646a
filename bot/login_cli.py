"""``linecall login`` and ``linecall keys …``: getting the account's Letter Sealing key into LINE_STORAGE_FILE.

    linecall login [--again]           QR login as ANDROIDSECONDARY; stores the session and the key
    linecall keys import FILE [--mid]  own keys (and group keys) from a linejs FileStorage JSON
    linecall keys list                 which key ids the store holds (never the keys)
    linecall keys register --force-new register a fresh key pair (splits Letter Sealing; last resort)

Reading ``!call`` in encrypted chats needs the account's private key, which only the phone holds; the QR
login is how a new device receives it (e2ee-map §2.4). So the documented setup is ``linecall login`` once,
then ``linecall run`` with the primary token (calls need one, talk-map §3.1), which reads the key from the
store. Both commands refuse to run without LINE_STORAGE_FILE: a key kept in memory would die with the
process. The QR login always presents itself as ANDROIDSECONDARY (the only device class that may add
itself by QR), whatever LINE_DEVICE says for the token login.

A fresh key pair is never registered on the side (linejs does that when the handover fails): peers would
start encrypting to a key no other device of the account has. Only ``keys register --force-new`` does it,
after a warning. Exit codes: 0 done, 1 LINE refused or the login could not be completed, 2 settings or
files need fixing (the message says which).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

import httpx
import structlog
import trio

from linecall.bot.keystore import (
    ForeignAccountKeys,
    KeystoreError,
    LoginSession,
    StoreKeyring,
    load_login_certificate,
    load_login_session,
    save_login_certificate,
    save_login_session,
)
from linecall.bot.store import Store, StoreError
from linecall.config.logging import mask_mid
from linecall.config.settings import Settings
from linecall.protocol.talk.e2ee import rpc
from linecall.protocol.talk.e2ee.errors import E2EEError, KeyImportError
from linecall.protocol.talk.e2ee.keys import KeyPair, Random, generate_key_pair
from linecall.protocol.talk.e2ee.linejs_import import parse_linejs_storage
from linecall.protocol.talk.gateway import LegyGateway
from linecall.protocol.talk.legy import ANDROIDSECONDARY, LegyRequestBuilder
from linecall.protocol.talk.login_qr import (
    LegyHttpCaller,
    LoginUI,
    QrLoginError,
    QrLoginOutcome,
    TerminalLoginUI,
    run_qr_login,
)
from linecall.protocol.talk.login_qr_service import QrLoginRefused, QrLoginResult
from linecall.protocol.talk.tokens import AccessToken
from linecall.protocol.thrift.errors import ThriftError

__all__ = [
    "NO_STORAGE_MESSAGE",
    "ImportReport",
    "LoginReport",
    "add_login_commands",
    "ensure_qr_session",
    "import_linejs_keys",
    "register_new_key",
    "run_login",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2
QR_DEVICE: Final = ANDROIDSECONDARY.device
NO_STORAGE_MESSAGE: Final = (
    "LINE_STORAGE_FILE is not set: the key must outlive this process; set LINE_STORAGE_FILE to the path of "
    "linecall's storage file (it is created, mode 0600)"
)
_KEY_PROBLEMS: Final = {
    "no_e2ee_info": "the phone handed over no Letter Sealing key",
    "key_chain_malformed": "the key the phone handed over could not be read",
    "key_chain_mismatch": "the key the phone handed over failed its checks (not stored)",
}

log = structlog.get_logger(__name__)


def add_login_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``login`` and ``keys import|list|register`` on ``linecall``'s subparsers (handlers take
    ``(args, settings)`` and return the exit code, like the other subcommands)."""
    login = subparsers.add_parser(
        "login",
        help="QR login (secondary device): store a session and the account's Letter Sealing key",
        description="Log in by scanning a QR code with the LINE app, as ANDROIDSECONDARY, and store the "
        "session and the account's Letter Sealing key in LINE_STORAGE_FILE.",
    )
    login.add_argument("--again", action="store_true", help="scan a new code even if a session is stored")
    login.add_argument(
        "--invert-qr", action="store_true", help="draw the QR code inverted (if your phone cannot read it)"
    )
    login.set_defaults(handler=_cmd_login)

    keys = subparsers.add_parser("keys", help="Letter Sealing keys in LINE_STORAGE_FILE")
    actions = keys.add_subparsers(dest="keys_action", metavar="ACTION")
    actions.required = True

    imported = actions.add_parser("import", help="import the key of a linejs FileStorage JSON")
    imported.add_argument("file", type=Path, metavar="FILE", help="linejs storage JSON (FileStorage)")
    imported.add_argument("--mid", help="the account's MID, when the file does not name it")
    imported.set_defaults(handler=_cmd_keys_import)

    listing = actions.add_parser("list", help="show which key ids are stored (never the keys)")
    listing.set_defaults(handler=_cmd_keys_list)

    register = actions.add_parser(
        "register",
        help="register a NEW key pair for the account (last resort; splits Letter Sealing)",
        description="Register a fresh Letter Sealing key pair. Peers then encrypt to a key no other device "
        "of the account holds, and messages sealed for the old key stay unreadable here. Prefer "
        "`linecall login` or `linecall keys import`.",
    )
    register.add_argument("--force-new", action="store_true", help="yes, really register a new key pair")
    register.set_defaults(handler=_cmd_keys_register)


# --- shared -----------------------------------------------------------------------------------------------


def _open_store(settings: Settings, err: TextIO) -> Store | None:
    if settings.line_storage_file is None:
        print(f"linecall: {NO_STORAGE_MESSAGE}", file=err)
        return None
    try:
        return Store.open(settings.line_storage_file)
    except StoreError as exc:
        print(f"linecall: {exc}", file=err)
        return None


def _builder(settings: Settings, gateway: LegyGateway | None, random: Random) -> LegyRequestBuilder:
    preset = ANDROIDSECONDARY.with_version(settings.line_version)
    return LegyRequestBuilder(
        preset,
        gateway=gateway if gateway is not None else LegyGateway.generate(random),
        base_url=settings.line_endpoint,
        gateway_url=settings.line_gateway_url,
    )


def _new_http() -> httpx.AsyncClient:
    return httpx.AsyncClient(http2=True, follow_redirects=False, trust_env=True)


# --- linecall login ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginReport:
    """What ``linecall login`` ended with. ``resumed``: a stored session was found and nothing was asked."""

    session: LoginSession = field(repr=False)
    resumed: bool
    key_ids: tuple[int, ...]
    current_key_id: int | None
    key_problem: str | None = None

    @property
    def has_key(self) -> bool:
        return self.current_key_id is not None


async def run_login(
    settings: Settings,
    store: Store,
    ui: LoginUI,
    *,
    again: bool = False,
    require_key: bool = True,
    http: httpx.AsyncClient | None = None,
    gateway: LegyGateway | None = None,
    random: Random = os.urandom,
    wall_clock: Callable[[], float] = time.time,
) -> LoginReport:
    """Resume the stored session (without asking anything), or run the QR login and store its outcome.

    A stored session is resumed unless ``again``, or unless ``require_key`` and the store holds no own key
    (a login that brought no key is then retried).

    Raises :class:`~linecall.protocol.talk.login_qr.QrLoginError`,
    :class:`~linecall.protocol.talk.login_qr_service.QrLoginRefused`,
    :class:`~linecall.bot.keystore.KeystoreError` (e.g. keys of another account) or Thrift errors.
    """
    ring = StoreKeyring(store)
    stored = load_login_session(store)
    if stored is not None and not again and (ring.has_own_keys() or not require_key):
        StoreKeyring(store, stored.mid)  # the session and the keys must belong together
        log.info("login.resumed", mid=mask_mid(stored.mid))
        return LoginReport(stored, True, tuple(ring.own_key_ids()), ring.current_key_id)
    builder = _builder(settings, gateway, random)
    own_http = http is None
    client = http if http is not None else _new_http()
    try:
        caller = LegyHttpCaller(builder, client, wall_clock=wall_clock)

        async def registered_keys(result: QrLoginResult) -> dict[int, bytes] | None:
            if result.token is None:
                return None
            token = AccessToken.parse(result.token.access_token)
            with_token = LegyHttpCaller(builder, client, token=token, wall_clock=wall_clock)
            try:
                return rpc.registered_key_map(await with_token.call(rpc.get_e2ee_public_keys()))
            except (QrLoginError, ThriftError) as exc:  # linejs passes the check when the lookup fails
                log.info("login.registered_keys_unavailable", error=type(exc).__name__)
                return None

        outcome = await run_qr_login(
            caller,
            ui,
            random=random,
            certificate=load_login_certificate(store),
            registered_keys=registered_keys,
        )
    finally:
        if own_http:
            await client.aclose()
    return _store_outcome(store, outcome, wall_clock())


def _store_outcome(store: Store, outcome: QrLoginOutcome, now: float) -> LoginReport:
    ring = StoreKeyring(store, outcome.mid)  # refuses another account's store before anything is written
    session = LoginSession(
        mid=outcome.mid,
        access_token=outcome.token.access_token,
        refresh_token=outcome.token.refresh_token,
        expire=outcome.token.expire,
        device=QR_DEVICE,
        created_at=now,
    )
    if outcome.keys is not None:
        pairs = [outcome.keys.current, *outcome.keys.older]
        ring.add_own_keys(
            pairs, mid=outcome.mid, current_key_id=outcome.keys.current.key_id, source="qr-login"
        )
    save_login_session(store, session)
    if outcome.certificate:
        save_login_certificate(store, outcome.certificate)
    log.info("login.stored", mid=mask_mid(outcome.mid), has_key=outcome.keys is not None)
    return LoginReport(session, False, tuple(ring.own_key_ids()), ring.current_key_id, outcome.key_problem)


async def ensure_qr_session(
    settings: Settings,
    store: Store,
    ui: LoginUI,
    *,
    http: httpx.AsyncClient | None = None,
    gateway: LegyGateway | None = None,
    random: Random = os.urandom,
) -> LoginReport:
    """For ``linecall run`` without a token: the stored QR session as it is (with or without a key), or a
    QR login now. The session's tokens are ``report.session.credential()`` (device ANDROIDSECONDARY)."""
    return await run_login(settings, store, ui, require_key=False, http=http, gateway=gateway, random=random)


def _cmd_login(args: argparse.Namespace, settings: Settings) -> int:
    return _login_main(args, settings, sys.stdout, sys.stderr)


def _login_main(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    store = _open_store(settings, err)
    if store is None:
        return EXIT_CONFIG
    if settings.line_device not in (None, QR_DEVICE):
        print(
            f"linecall: QR login registers this machine as {QR_DEVICE} (LINE_DEVICE={settings.line_device} "
            "applies to the token login of `linecall run`)",
            file=err,
        )
    try:
        ui = TerminalLoginUI(out, invert=bool(getattr(args, "invert_qr", False)))
        report = trio.run(lambda: run_login(settings, store, ui, again=bool(args.again)))
    except ForeignAccountKeys as exc:
        print(f"linecall: {exc}", file=err)
        return EXIT_CONFIG
    except (QrLoginError, QrLoginRefused, KeystoreError, ThriftError) as exc:
        print(f"linecall: login failed: {exc}", file=err)
        return EXIT_FAILED
    finally:
        store.close()
    return _print_login(report, out, err)


def _print_login(report: LoginReport, out: TextIO, err: TextIO) -> int:
    who = mask_mid(report.session.mid)
    ids = ", ".join(str(i) for i in report.key_ids) or "none"
    if report.resumed:
        print(f"Already logged in as {who}; Letter Sealing key ids stored: {ids}.", file=out)
        print("Nothing to do (use `linecall login --again` to scan a new QR code).", file=out)
        return EXIT_OK
    print(f"Logged in as {who} ({QR_DEVICE}); the session is stored.", file=out)
    if report.key_problem is not None:
        print(
            f"linecall: {_KEY_PROBLEMS.get(report.key_problem, report.key_problem)}. Encrypted chats cannot be "
            "read until a key is stored: run `linecall login --again`, or `linecall keys import FILE`. "
            "Only if the account has never had a key: `linecall keys register --force-new`.",
            file=err,
        )
        return EXIT_FAILED if not report.has_key else EXIT_OK
    print(f"Letter Sealing key stored (current key id {report.current_key_id}; ids held: {ids}).", file=out)
    print("Calls need a primary token: run `linecall run` with LINE_AUTH_TOKEN; it reads this key.", file=out)
    return EXIT_OK


# --- linecall keys import ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    mid: str
    imported: tuple[int, ...]
    already_held: tuple[int, ...]
    current_key_id: int | None
    group_keys: tuple[tuple[str, int], ...]
    skipped: int


def import_linejs_keys(store: Store, data: bytes, *, mid: str | None = None) -> ImportReport:
    """Import a linejs FileStorage's own keys (and group keys) into the store.

    The account is the file's own-key record's MID, else ``mid``, else the store's; a file, option or store
    naming different accounts is refused (:class:`KeyImportError` / :class:`ForeignAccountKeys`). The
    file's current key becomes current only when the store has none yet.
    """
    owner = StoreKeyring(store).account_mid
    expected = mid or owner
    imported = parse_linejs_storage(data, expected_mid=expected)
    account = imported.mid or mid or owner
    if account is None:
        raise KeyImportError("the file does not name its account; pass --mid with the account's MID")
    if mid is not None and imported.mid is not None and imported.mid != mid:
        raise KeyImportError("the file belongs to another account than --mid names")
    ring = StoreKeyring(store, account)
    make_current = imported.current_key_id if ring.current_key_id is None else None
    if make_current is None and ring.current_key_id is None and imported.own_keys:
        make_current = imported.own_keys[-1].key_id
    added = ring.add_own_keys(
        imported.own_keys, mid=account, current_key_id=make_current, source="linejs-import"
    )
    ring.add_groups(imported.group_keys)
    return ImportReport(
        mid=account,
        imported=tuple(added),
        already_held=tuple(p.key_id for p in imported.own_keys if p.key_id not in added),
        current_key_id=ring.current_key_id,
        group_keys=tuple((g.chat_mid, g.key_id) for g in imported.group_keys),
        skipped=len(imported.skipped),
    )


def _cmd_keys_import(args: argparse.Namespace, settings: Settings) -> int:
    return _keys_import_main(args, settings, sys.stdout, sys.stderr)


def _keys_import_main(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    path: Path = args.file
    try:
        data = path.expanduser().read_bytes()
    except OSError as exc:
        print(f"linecall: cannot read {path} ({exc.strerror or exc})", file=err)
        return EXIT_CONFIG
    store = _open_store(settings, err)
    if store is None:
        return EXIT_CONFIG
    try:
        report = import_linejs_keys(store, data, mid=args.mid)
    except E2EEError as exc:  # KeyImportError, ForeignAccountKeys, ConflictingOwnKey, InvalidKey
        print(f"linecall: keys import refused: {exc}", file=err)
        return EXIT_CONFIG
    finally:
        store.close()
    imported = ", ".join(str(i) for i in report.imported) or "none new"
    print(f"Imported Letter Sealing key ids for {mask_mid(report.mid)}: {imported}.", file=out)
    if report.already_held:
        print(f"Already stored: {', '.join(str(i) for i in report.already_held)}.", file=out)
    print(f"Current key id: {report.current_key_id}.", file=out)
    if report.group_keys:
        groups = ", ".join(f"{mask_mid(chat)} #{key_id}" for chat, key_id in report.group_keys)
        print(f"Group keys: {groups}.", file=out)
    if report.skipped:
        print(f"Skipped {report.skipped} cached peer keys (fetched again when needed).", file=out)
    return EXIT_OK


# --- linecall keys list -----------------------------------------------------------------------------------


def _cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    store = _open_store(settings, sys.stderr)
    if store is None:
        return EXIT_CONFIG
    try:
        ring = StoreKeyring(store)
        owner = ring.account_mid
        session = load_login_session(store)
        print(f"Account: {mask_mid(owner) if owner else 'none yet'}", file=sys.stdout)
        current = ring.current_key_id
        for key_id in ring.own_key_ids():
            print(f"  own key id {key_id}{'  (current)' if key_id == current else ''}", file=sys.stdout)
        print(f"QR-login session: {'stored' if session is not None else 'none'}", file=sys.stdout)
    finally:
        store.close()
    return EXIT_OK


# --- linecall keys register --force-new -------------------------------------------------------------------

_SPLIT_WARNING: Final = (
    "WARNING: registering a new Letter Sealing key makes peers encrypt to a key that only this machine "
    "holds; the account's other devices and this store's older keys keep their own. Messages sealed for "
    "other keys stay unreadable here."
)


def _cmd_keys_register(args: argparse.Namespace, settings: Settings) -> int:
    if not args.force_new:
        print(
            "linecall: refusing to register a new key pair without --force-new. "
            "Get the account's existing key with `linecall login` (QR) or `linecall keys import FILE`.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    store = _open_store(settings, sys.stderr)
    if store is None:
        return EXIT_CONFIG
    print(_SPLIT_WARNING, file=sys.stderr)
    try:
        return trio.run(lambda: register_new_key(settings, store, out=sys.stdout, err=sys.stderr))
    finally:
        store.close()


async def register_new_key(
    settings: Settings,
    store: Store,
    *,
    out: TextIO,
    err: TextIO,
    gateway: LegyGateway | None = None,
    random: Random = os.urandom,
) -> int:
    """Register a fresh pair with the configured token (or the stored QR session) and store it as current."""
    from linecall.protocol.talk.client import TalkClientError
    from linecall.protocol.talk.login import LoginError, TokenLogin, login_with_token
    from linecall.protocol.thrift.errors import TalkException

    stored = load_login_session(store)
    if settings.auth_token() is not None:
        params = TokenLogin.from_settings(settings)
    elif stored is not None:
        text = json.dumps({"accessToken": stored.access_token, "refreshToken": stored.refresh_token})
        params = TokenLogin(
            token_text=text,
            token_variable="LINE_STORAGE_FILE",
            device=QR_DEVICE,
            line_version=settings.line_version,
            endpoint=settings.line_endpoint,
            gateway_url=settings.line_gateway_url,
        )
    else:
        print(
            "linecall: no token and no stored session: set LINE_AUTH_TOKEN or run `linecall login`", file=err
        )
        return EXIT_CONFIG
    try:
        session = await login_with_token(params, store, gateway=gateway, random=random)
        async with session:
            ring = StoreKeyring(store, session.mid)
            try:
                existing = await session.client.call(rpc.get_e2ee_public_keys())
            except (TalkException, ThriftError, TalkClientError):
                existing = ()
            if existing:
                ids = ", ".join(str(k.key_id) for k in existing)
                print(
                    f"WARNING: the account already has registered key ids {ids}; registering anyway.",
                    file=err,
                )
            fresh = generate_key_pair(random)
            answer = await session.client.call(rpc.register_e2ee_public_key(fresh.public_key))
            pair = KeyPair(answer.key_id, fresh.private_key, fresh.public_key)
            ring.add_own(pair, mid=session.mid, current=True, source="registered")
    except (LoginError, ForeignAccountKeys) as exc:
        print(f"linecall: {exc}", file=err)
        return EXIT_CONFIG
    except (TalkException, ThriftError, TalkClientError, KeystoreError) as exc:
        print(f"linecall: registering the key failed: {exc}", file=err)
        return EXIT_FAILED
    print(f"Registered and stored a new Letter Sealing key (key id {pair.key_id}, now current).", file=out)
    return EXIT_OK
