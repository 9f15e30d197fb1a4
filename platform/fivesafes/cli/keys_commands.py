"""`fivesafes keys`: the key ceremony (init), and inspecting the key store (status, check).

Two stores: ``local`` (0600 files, the embedded default) and ``pkcs11`` (an HSM token).
Nothing here ever prints key material: only locations and public fingerprints, which an
auditor following the ceremony writes down and later compares with ``keys status``.

Each ceremony step (init, export-public) is recorded in the audit trail of the configured
database when that database exists at the current schema. Keys are often made before the
database, so when it is not there the step still runs and says, on standard error, that it
was not audited: the operator records it in the ceremony log instead. Refusing would only
push operators to make keys some other way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from fivesafes import schema
from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.runtime import EXIT_FAILURE, console, err_console, handle_errors
from fivesafes.config import Settings, get_settings
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.errors import ConfigurationError, InvalidInputError
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.open import open_keystore
from fivesafes.keys.store import (
    KEY_NAMES,
    MEMORY_KEY_NAMES,
    KeyInfo,
    KeyStore,
    key_id,
    public_key_fingerprint,
    verification_key_pem,
)

keys_app = typer.Typer(
    help="Key store: pseudonym, date-shift, key-encryption and audit-signing keys.",
    no_args_is_help=True,
)

PathOption = Annotated[
    Path | None,
    typer.Option("--path", help="Key store folder (default: FIVESAFES_KEYSTORE_PATH)"),
]
KeystoreOption = Annotated[
    str | None,
    typer.Option("--keystore", help="local or pkcs11 (default: FIVESAFES_KEYSTORE)"),
]

_KEYSTORES = ("local", "pkcs11")


def _settings(path: Path | None) -> Settings:
    settings = get_settings()
    return settings if path is None else settings.model_copy(update={"keystore_path": path})


def _store(path: Path | None) -> KeyStore:
    """The configured store; ``--path`` picks that folder (its wrapped or local key files)."""
    return open_keystore(_settings(path))


def _print_fingerprints(infos: list[KeyInfo]) -> None:
    for info in infos:
        console.print(f"  {info.name:<14} {info.fingerprint}  {info.kind}", highlight=False)


@keys_app.command("init")
@handle_errors
def init_keys(path: PathOption = None, keystore: KeystoreOption = None) -> None:
    """Create every key (refuses if any exists) and print their public fingerprints."""
    settings = _settings(path)
    chosen = keystore if keystore is not None else settings.keystore
    if chosen not in _KEYSTORES:
        raise InvalidInputError(f"--keystore {chosen!r}: give local or pkcs11")
    if chosen == "local":
        store = LocalFileKeyStore(settings.keystore_path)
        written = store.init()
        infos = store.status()
        where = f"{len(written)} keys in {store.path} (folder 0700, files 0600)"
        advice = (
            "Back these up securely: losing the pseudonym key breaks linkage with every "
            "extract made so far. Production deployments should use a KMS or HSM instead."
        )
    else:
        # Imported only here: python-pkcs11 is the optional `hsm` extra.
        from fivesafes.keys.pkcs11_store import Pkcs11KeyStore  # noqa: PLC0415

        token = Pkcs11KeyStore.from_settings(settings)
        try:
            infos = token.init()
        finally:
            token.close()
        where = f"{len(infos)} keys with {token.describe()}"
        advice = (
            "The KEK and the audit-signing key never leave the token; the pseudonym and "
            f"date-shift keys exist outside it only wrapped, in {settings.keystore_path}. "
            "Back up the token and that folder: without both, linkage is lost."
        )
    console.print(f"created {where}", highlight=False)
    _print_fingerprints(infos)
    console.print(advice)
    _audit(
        "keys.init",
        {
            "keystore": chosen,
            "names": [info.name for info in infos],
            "fingerprints": {info.name: info.fingerprint for info in infos},
        },
    )


@keys_app.command("status")
@handle_errors
def status(path: PathOption = None) -> None:
    """Which keys exist, where, their public fingerprints and creation dates."""
    store = _store(path)
    infos = {info.name: info for info in store.status()}
    table = Table(title=store.describe())
    for column in ("name", "kind", "location", "fingerprint", "created"):
        table.add_column(column)
    for name in KEY_NAMES:
        info = infos.get(name)
        if info is None:
            table.add_row(name, "", "[red]missing[/]", "", "")
            continue
        created = info.created_at.isoformat(timespec="seconds") if info.created_at else "-"
        table.add_row(name, info.kind, info.location, info.fingerprint, created)
    console.print(table)
    missing = [name for name in KEY_NAMES if name not in infos]
    if missing:
        err_console.print(f"missing: {', '.join(missing)} (run `fivesafes keys init`)")
        raise typer.Exit(EXIT_FAILURE)


@keys_app.command("export-public")
@handle_errors
def export_public(
    out: Annotated[Path, typer.Option("--out", help="Write the PEM public key here")],
    path: PathOption = None,
) -> None:
    """Write the audit verification key (PEM) for checking checkpoints independently."""
    store = _store(path)
    pem = verification_key_pem(store)
    fingerprint = public_key_fingerprint(store.verification_key())
    out.write_bytes(pem)
    console.print(f"audit verification key {fingerprint} written to {out}", highlight=False)
    _audit(
        "keys.export_public",
        {"keystore": get_settings().keystore, "fingerprint": fingerprint, "file": str(out)},
    )


@keys_app.command("show-path")
@handle_errors
def show_path(path: PathOption = None) -> None:
    """Print where the key store's files live (for pkcs11: the wrapped keys' folder)."""
    folder = path if path is not None else get_settings().keystore_path
    console.print(str(folder.resolve()), highlight=False, soft_wrap=True)


@keys_app.command("check")
@handle_errors
def check(path: PathOption = None) -> None:
    """Use every key once (permissions checked); print each key's public fingerprint."""
    store = _store(path)
    infos = {info.name: info for info in store.status()}
    missing = [name for name in KEY_NAMES if name not in infos]
    if missing:
        raise ConfigurationError(
            f"{store.describe()} lacks {', '.join(missing)}: run `fivesafes keys init`"
        )
    for name in MEMORY_KEY_NAMES:
        if key_id(store.secret(name)) != infos[name].fingerprint:
            raise ConfigurationError(f"key {name!r} does not match its fingerprint")
    probe = os.urandom(32)
    if store.unwrap("check", store.wrap("check", probe)) != probe:
        raise ConfigurationError("the key-encryption key does not unwrap what it wrapped")
    _verify(store.verification_key(), store.sign(b"fivesafes/keys/check"))
    for key_name, purpose in KEY_NAMES.items():
        fingerprint = infos[key_name].fingerprint
        console.print(f"{key_name:<14} id {fingerprint}  {purpose}", highlight=False)
    console.print(f"{store.describe()}: all keys present and working")


def _verify(public: bytes, signature: bytes) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, b"fivesafes/keys/check")
    except InvalidSignature:
        raise ConfigurationError("the audit-signing key's signature does not verify") from None


def _audit(action: str, details: dict[str, Any]) -> None:
    """Record a ceremony step in the configured database if it is there and current."""
    settings = get_settings()
    url = settings.database_url
    if url.startswith("sqlite"):
        database = make_url(url).database
        on_disk = bool(database) and not str(database).startswith(("file:", ":memory:"))
        if on_disk and not Path(str(database)).exists():  # never create one to audit into
            _not_audited(action, "there is no database at FIVESAFES_DATABASE_URL yet")
            return
    engine = make_engine(url)
    try:
        current = schema.current_revision(engine)
        if current is None or current != schema.head_revision(url):
            _not_audited(action, "the database is not at the current schema")
            return
        with session_scope(make_session_factory(engine)) as session:
            AuditTrail.for_operator().record(session, action, details=details)
    except OperationalError:
        _not_audited(action, "the database at FIVESAFES_DATABASE_URL cannot be reached")
    finally:
        engine.dispose()


def _not_audited(action: str, why: str) -> None:
    err_console.print(
        f"note: {action} was not audited ({why}); record it in the ceremony log",
        highlight=False,
    )
