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
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from fivesafes import schema
from fivesafes.audit import integrity
from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.recorder import chain_head
from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.runtime import EXIT_FAILURE, console, err_console, handle_errors
from fivesafes.config import Settings, get_settings
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.errors import ConfigurationError, InvalidInputError
from fivesafes.keys.kek_rotation import KekRotatingStore, rotate_kek
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.migration import migrate_local_to_pkcs11
from fivesafes.keys.open import open_keystore
from fivesafes.keys.reid_blob import REID_KEY_KIND, REID_KEY_NAME
from fivesafes.keys.retired import encode_retired_file
from fivesafes.keys.signing_rotation import RotatableSigningStore, rotate_signing_key
from fivesafes.keys.store import (
    KEY_NAMES,
    MEMORY_KEY_NAMES,
    KeyInfo,
    KeyStore,
    key_id,
    public_key_fingerprint,
    verification_key_pem,
)
from fivesafes.release.retained_file import RetainedCopyHeaders

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


@keys_app.command("init-reidentification")
@handle_errors
def init_reidentification(path: PathOption = None, keystore: KeystoreOption = None) -> None:
    """Create the optional re-identification key (refuses if it exists); print its id.

    Needed only before ingesting a dataset whose policy allows re-identification: NHS
    numbers are then sealed under this key (in the token, for ``pkcs11``), nowhere else.
    """
    settings = _settings(path)
    chosen = keystore if keystore is not None else settings.keystore
    if chosen not in _KEYSTORES:
        raise InvalidInputError(f"--keystore {chosen!r}: give local or pkcs11")
    if chosen == "local":
        store = LocalFileKeyStore(settings.keystore_path)
        info = store.init_reidentification_key()
        advice = (
            "The key is a 0600 file beside the other keys: back it up with them. Losing it "
            "makes every sealed NHS number unreadable; production sites keep it in an HSM."
        )
    else:
        from fivesafes.keys.pkcs11_store import Pkcs11KeyStore  # noqa: PLC0415

        token = Pkcs11KeyStore.from_settings(settings)
        try:
            info = token.init_reidentification_key()
        finally:
            token.close()
        advice = (
            "The key was generated in the token and never leaves it (non-extractable): "
            "back up the token."
        )
    console.print(f"created the re-identification key ({info.location})", highlight=False)
    _print_fingerprints([info])
    console.print(advice)
    _audit(
        "keys.reidentification_init",
        {"keystore": chosen, "name": info.name, "fingerprint": info.fingerprint},
    )


@keys_app.command("status")
@handle_errors
def status(path: PathOption = None) -> None:
    """Which keys exist, where, their public fingerprints and creation dates.

    Audited like the other ceremony steps: the minutes of a ceremony say the keys were
    inspected, and the trail shows when and which fingerprints were seen.
    """
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
        table.add_row(name, info.kind, info.location, info.fingerprint, _when(info.created_at))
    for extra in infos.values():  # pseudonym remap keys, one per generation after the first
        if extra.name not in KEY_NAMES:
            when = _when(extra.created_at)
            table.add_row(extra.name, extra.kind, extra.location, extra.fingerprint, when)
    retired = store.retired_verification_keys()
    for record in retired:  # public halves only: the private keys were destroyed
        last = "unknown" if record.last_seq is None else str(record.last_seq)
        table.add_row(
            "audit_signing (retired)",
            "Ed25519 verification key",
            f"retired {_when(record.valid_until)}, last checkpoint seq {last}",
            record.fingerprint,
            _when(record.valid_from),
        )
    console.print(table)
    missing = [name for name in KEY_NAMES if name not in infos]
    _audit(
        "keys.status",
        {
            "keystore": get_settings().keystore,
            "fingerprints": {name: info.fingerprint for name, info in infos.items()},
            "retired_audit_keys": [record.fingerprint for record in retired],
            "missing": missing,
        },
    )
    if missing:
        err_console.print(f"missing: {', '.join(missing)} (run `fivesafes keys init`)")
        raise typer.Exit(EXIT_FAILURE)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "-"


@keys_app.command("export-public")
@handle_errors
def export_public(
    out: Annotated[Path, typer.Option("--out", help="Write the PEM public key here")],
    path: PathOption = None,
) -> None:
    """Write the audit verification key (PEM) for checking checkpoints independently.

    After a rotation the retired keys' attested records are written beside it
    (``FILE`` with suffix ``.retired.json``): what ``audit verify --retired-keys`` reads.
    """
    store = _store(path)
    pem = verification_key_pem(store)
    fingerprint = public_key_fingerprint(store.verification_key())
    retired = store.retired_verification_keys()
    out.write_bytes(pem)
    console.print(f"audit verification key {fingerprint} written to {out}", highlight=False)
    details: dict[str, Any] = {
        "keystore": get_settings().keystore,
        "fingerprint": fingerprint,
        "file": str(out),
    }
    if retired:
        retired_out = retired_keys_export_path(out)
        retired_out.write_bytes(encode_retired_file(retired))
        console.print(
            f"{len(retired)} retired keys ({', '.join(r.fingerprint for r in retired)}) "
            f"written to {retired_out}",
            highlight=False,
        )
        details |= {"retired_file": str(retired_out), "retired": [r.fingerprint for r in retired]}
    _audit("keys.export_public", details)


def retired_keys_export_path(out: Path) -> Path:
    """Where ``export-public --out FILE`` writes the retired keys: FILE's suffix .retired.json."""
    return out.with_suffix(".retired.json")


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
    if store.has_reidentification_key():  # optional: checked only where it exists
        aad = b"fivesafes/keys/check"
        if store.reidentification_open(store.reidentification_seal(probe, aad), aad) != probe:
            raise ConfigurationError("the re-identification key does not open what it sealed")
        reid = infos.get(REID_KEY_NAME)
        shown = reid.fingerprint if reid is not None else "-"
        console.print(f"{REID_KEY_NAME} id {shown}  {REID_KEY_KIND}", highlight=False)
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


# -- rotation: `keys rotate kek` (audit-signing and pseudonym add theirs to rotate_app) ---

rotate_app = typer.Typer(help="Rotate a key (kek, audit-signing, pseudonym).", no_args_is_help=True)
keys_app.add_typer(rotate_app, name="rotate")


@rotate_app.command("kek")
@handle_errors
def rotate_kek_command(path: PathOption = None) -> None:
    """Rewrap every wrapped key under a new KEK, then destroy the old one (resumable).

    The retained release copies' headers (FIVESAFES_RELEASE_COPIES_PATH) are rewrapped too."""
    settings = _settings(path)
    store = open_keystore(settings)
    try:
        if not isinstance(store, KekRotatingStore):
            raise ConfigurationError(f"{store.describe()} cannot rotate its KEK")
        done = rotate_kek(store, [RetainedCopyHeaders(settings.release_copies_path)])
    finally:
        _close(store)
    old = done.old_kek_id.hex() if done.old_kek_id is not None else "(destroyed by the earlier run)"
    verb = "resumed and finished" if done.resumed else "rotated"
    console.print(f"KEK {verb}: old {old} -> new {done.new_kek_id.hex()}", highlight=False)
    console.print(
        f"  {done.rewrapped} of {done.total} wrapped keys rewrapped by this run; "
        "the old KEK is destroyed",
        highlight=False,
    )
    if not done.promoted:
        err_console.print(
            "note: the PKCS#11 module would not relabel the new KEK; it stays the current "
            "KEK under the label fivesafes-kek-next (see docs/keys.md, KEK rotation)"
        )
    _audit(
        "keys.rotate_kek",
        {
            "keystore": settings.keystore,
            "old_kek_id": None if done.old_kek_id is None else done.old_kek_id.hex(),
            "new_kek_id": done.new_kek_id.hex(),
            "files_rewrapped": done.rewrapped,
            "wrapped_files": done.total,
            "resumed": done.resumed,
        },
    )


def _close(store: object) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        close()


# -- migration: `keys migrate --from local --to pkcs11` ------------------------------------


@keys_app.command("migrate")
@handle_errors
def migrate_keys(
    source: Annotated[str, typer.Option("--from", help="Store to move keys out of: local")],
    target: Annotated[str, typer.Option("--to", help="Store to move keys into: pkcs11")],
    path: PathOption = None,
) -> None:
    """Move the local key files into the PKCS#11 token keeping every pseudonym, then shred them."""
    if (source, target) != ("local", "pkcs11"):
        raise InvalidInputError(
            f"--from {source!r} --to {target!r}: only --from local --to pkcs11 is supported"
        )
    settings = _settings(path)
    # Imported only here: python-pkcs11 is the optional `hsm` extra.
    from fivesafes.keys.pkcs11_store import Pkcs11KeyStore  # noqa: PLC0415

    local = LocalFileKeyStore(settings.keystore_path)
    token = Pkcs11KeyStore.from_settings(settings)
    try:
        done = migrate_local_to_pkcs11(
            local,
            token,
            last_seq=_audit_head_seq(),
            elsewhere=[RetainedCopyHeaders(settings.release_copies_path)],
        )
    finally:
        token.close()
    verb = "finished an interrupted migration" if done.resumed else "migrated"
    console.print(f"{verb}: local files -> {token.describe()}", highlight=False)
    for name, fingerprint in done.fingerprints.items():
        console.print(f"  {name:<18} {fingerprint}  kept (same fingerprint)", highlight=False)
    console.print(f"  {'kek':<18} {done.kek_id}  new, in the token", highlight=False)
    retired = done.retired_signing_key or "(retired by the earlier run)"
    console.print(
        f"  {'audit_signing':<18} {done.signing_key}  new, in the token; local key "
        f"{retired} retired (old checkpoints still verify)",
        highlight=False,
    )
    console.print(f"shredded: {', '.join(done.shredded) or 'nothing left'}", highlight=False)
    console.print("Now set FIVESAFES_KEYSTORE=pkcs11 (with the FIVESAFES_PKCS11_* settings).")
    _audit(
        "keys.migrate",
        {
            "from": source,
            "to": target,
            "token_label": token.token_label,
            "fingerprints": done.fingerprints,
            "kek_id": done.kek_id,
            "audit_signing": done.signing_key,
            "retired_audit_signing": done.retired_signing_key,
            "remap_keys_added": done.remap_keys_added,
            "files_rewrapped": done.rewrapped,
            "files_shredded": done.shredded,
            "resumed": done.resumed,
        },
    )


def _audit_head_seq() -> int | None:
    """The audit chain's head seq if the configured database is there and current."""
    settings = get_settings()
    url = settings.database_url
    if url.startswith("sqlite"):
        database = make_url(url).database
        on_disk = bool(database) and not str(database).startswith(("file:", ":memory:"))
        if on_disk and not Path(str(database)).exists():
            return None
    engine = make_engine(url)
    try:
        if schema.current_revision(engine) != schema.head_revision(url):
            return None
        with session_scope(make_session_factory(engine)) as session:
            return chain_head(session)[0]
    except OperationalError:
        return None
    finally:
        engine.dispose()


# -- rotation: `keys rotate pseudonym` (a planned re-mapping of every stored pseudonym) ----


@rotate_app.command("pseudonym")
@handle_errors
def rotate_pseudonym_command(
    reissue: Annotated[
        bool,
        typer.Option(
            "--reissue-project-pseudonyms",
            help="Governance officer's decision: move every project to the new generation "
            "(their released pseudonyms and date offsets change: linkage across downloads "
            "breaks). Without it projects keep theirs.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before adding the key")] = False,
    path: PathOption = None,
) -> None:
    """Add a pseudonym generation and re-map every dataset version to it (resumable)."""
    # Imported here: the job reaches every layer (datasets, access, audit), like no other
    # `keys` command, and only this command needs it.
    from rich.progress import Progress  # noqa: PLC0415

    from fivesafes.release.pseudonym_rotation import (  # noqa: PLC0415
        Lagging,
        Remapped,
        rotate_pseudonyms,
    )

    settings = _settings(path)
    url = settings.database_url
    if url.startswith("sqlite"):
        database = make_url(url).database
        on_disk = bool(database) and not str(database).startswith(("file:", ":memory:"))
        if on_disk and not Path(str(database)).exists():  # never create an empty one
            raise ConfigurationError(
                f"there is no database at FIVESAFES_DATABASE_URL ({database}): nothing to "
                "re-map (run `fivesafes db upgrade` to create it)"
            )
    engine = make_engine(url)
    try:
        _require_current_schema(engine, url)
        store = open_keystore(settings)
        try:
            if reissue:
                err_console.print(
                    "warning: --reissue-project-pseudonyms moves every project to the new "
                    "generation: each project's released pseudonyms and date offsets change, "
                    "breaking its linkage across downloads made before and after",
                    highlight=False,
                )

            def confirm(current: int, new: int) -> bool:
                if yes:
                    return True
                return typer.confirm(
                    f"Add pseudonym generation {new} (from {current}) and re-map every "
                    "stored pseudonym to it?"
                )

            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("re-mapping", total=None)

                def planned(behind: Lagging) -> None:
                    left = len(behind.versions) + len(behind.lists)
                    progress.update(task, total=progress.tasks[0].completed + left)

                def remapped(done: Remapped) -> None:
                    progress.advance(task)
                    progress.console.print(
                        f"  {done.kind.replace('_', ' ')} {done.target_id}: generation "
                        f"{done.generation_from} -> re-mapped ({done.rows:,} rows)",
                        highlight=False,
                    )

                outcome = rotate_pseudonyms(
                    make_session_factory(engine),
                    store,
                    AuditTrail.for_operator(),
                    reissue_projects=reissue,
                    confirm=confirm,
                    on_remapped=remapped,
                    on_plan=planned,
                )
        finally:
            _close(store)
    finally:
        engine.dispose()
    if outcome is None:
        err_console.print("nothing changed (declined)")
        raise typer.Exit(EXIT_FAILURE)
    verb = "rotated" if outcome.key_added else "resumed and finished"
    console.print(
        f"pseudonyms {verb}: generation {outcome.generation_from} -> {outcome.generation_to}; "
        f"{outcome.versions} dataset versions ({outcome.rows:,} rows) and "
        f"{outcome.lists} opt-out lists re-mapped by this run",
        highlight=False,
    )
    if reissue:
        console.print(f"  {outcome.projects_reissued} projects reissued", highlight=False)
    elif outcome.projects_pinned:
        console.print(
            f"  {outcome.projects_pinned} projects keep their pseudonyms (pinned to an "
            "earlier generation)",
            highlight=False,
        )
    if outcome.uploads_in_flight:
        err_console.print(
            f"note: {outcome.uploads_in_flight} uploads are still queued or running; run "
            "`fivesafes keys rotate pseudonym` again once they finish to re-map their versions",
            highlight=False,
        )


def _require_current_schema(engine: Any, url: str) -> None:
    """Refuse a database that is missing or not at the current schema, naming the fix."""
    try:
        current = schema.current_revision(engine)
    except OperationalError:
        raise ConfigurationError(
            "the database at FIVESAFES_DATABASE_URL cannot be reached"
        ) from None
    head = schema.head_revision(url)
    if current != head:
        raise ConfigurationError(
            f"the database at FIVESAFES_DATABASE_URL is at schema {current or 'none'}, not the "
            f"current {head}: run `fivesafes db upgrade` first"
        )


# -- rotation: `keys rotate audit-signing` -------------------------------------------------


@rotate_app.command("audit-signing")
@handle_errors
def rotate_audit_signing_command(path: PathOption = None) -> None:
    """Sign a last checkpoint with the old key, retire it (attested by the new one), switch.

    Checkpoints up to that last one verify with the retired key, later ones with the new
    key. Best run with the server stopped (docs/keys.md); a rerun after an interruption
    finishes the rotation.
    """
    settings = _settings(path)
    store = open_keystore(settings)
    try:
        if not isinstance(store, RotatableSigningStore):
            raise ConfigurationError(f"{store.describe()} cannot rotate its audit-signing key")
        done = rotate_signing_key(store, final_checkpoint=lambda: _final_checkpoint(store))
    finally:
        _close(store)
    verb = "finished an interrupted rotation" if done.resumed else "rotated"
    console.print(
        f"audit-signing key {verb}: old {done.old_fingerprint} -> new {done.new_fingerprint}",
        highlight=False,
    )
    covered = "unknown (no database)" if done.last_seq is None else str(done.last_seq)
    console.print(
        f"  the old key is retired (checkpoints up to seq {covered}); its private key is "
        "destroyed. Give auditors the new key: `fivesafes keys export-public --out FILE`",
        highlight=False,
    )
    _audit(
        "keys.rotate_audit_signing",
        {
            "keystore": settings.keystore,
            "old_fingerprint": done.old_fingerprint,
            "new_fingerprint": done.new_fingerprint,
            "last_seq": done.last_seq,
            "resumed": done.resumed,
        },
    )


def _final_checkpoint(store: KeyStore) -> int | None:
    """Sign (and publish) the head with the key about to retire; its seq, or None without a
    database (the retired key is then bounded by time only, which a note says)."""
    settings = get_settings()
    url = settings.database_url
    why = None
    if url.startswith("sqlite"):
        database = make_url(url).database
        on_disk = bool(database) and not str(database).startswith(("file:", ":memory:"))
        if on_disk and not Path(str(database)).exists():
            why = "there is no database at FIVESAFES_DATABASE_URL"
    if why is None:
        engine = make_engine(url)
        try:
            if schema.current_revision(engine) == schema.head_revision(url):
                publisher = CheckpointPublisher.from_settings(settings)
                with session_scope(make_session_factory(engine)) as session:
                    trail = AuditTrail.for_operator()
                    made = integrity.checkpoint(session, trail, store, publisher)
                return made.seq
            why = "the database is not at the current schema"
        except OperationalError:
            why = "the database at FIVESAFES_DATABASE_URL cannot be reached"
        finally:
            engine.dispose()
    err_console.print(
        f"note: no final checkpoint signed with the old key ({why}); the retired key's "
        "last_seq is unknown, so it is bounded by its validity period only",
        highlight=False,
    )
    return None
