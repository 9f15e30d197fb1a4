"""The National Data Opt-out list, held only as keyed HMACs of NHS numbers.

The trust loads the list it receives from NHS England's Message Exchange for Social Care
and Health (MESH) or its local equivalent. Only a keyed digest of each normalised NHS
number is stored, under a key derived from the pseudonym key for this one purpose, so the
table cannot be reversed by hashing all 10^9 possible numbers without the key, and cannot
be joined to pseudonyms either (different derived key).

Each list records the pseudonym generation of its digests: a list is loaded at the key
store's current generation, and a rotation carries the digests forward (one-way, see
:mod:`fivesafes.deid.optout`); the engine's filter applies the same chain to each row.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, insert, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.models import OptOut, OptOutList
from fivesafes.db import make_engine, make_session_factory, session_scope, sqlite_file
from fivesafes.deid.nhs_number import InvalidNhsNumberError, normalise_nhs_number
from fivesafes.deid.optout import OptOutFilter, carry_digest, optout_digest, optout_filter
from fivesafes.errors import ConfigurationError, InputFileError
from fivesafes.keys.derivation import derive_key
from fivesafes.keys.store import KeyStore

PURPOSE = "national-data-opt-out"
_BATCH = 10_000


def optout_key(keystore: KeyStore) -> bytes:
    return derive_key(keystore.secret("pseudonym"), PURPOSE)


def optout_chain(keystore: KeyStore, generation: int) -> tuple[bytes, ...]:
    """The opt-out keys that carry a generation-1 digest to ``generation`` (2..g)."""
    remap_keys = keystore.pseudonym_remap_keys()
    if generation > 1 + len(remap_keys):
        raise ConfigurationError(
            f"the opt-out list is at pseudonym generation {generation}, but "
            f"{keystore.describe()} holds keys up to generation {1 + len(remap_keys)}"
        )
    return tuple(derive_key(key, PURPOSE) for key in remap_keys[: generation - 1])


def current_filter(session: Session, keystore: KeyStore) -> OptOutFilter | None:
    """The engine's filter for the list in force, at that list's generation (None: no
    list was ever loaded)."""
    latest = session.execute(
        select(OptOutList.id, OptOutList.pseudonym_generation)
        .order_by(OptOutList.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return None
    list_id, generation = latest
    digests = frozenset(session.scalars(select(OptOut.digest).where(OptOut.list_id == list_id)))
    return optout_filter(optout_key(keystore), digests, optout_chain(keystore, generation), list_id)


def filter_in_force(database_url: str, keystore: KeyStore) -> OptOutFilter | None:
    """The list in force in the platform database at ``database_url``, for a job run
    outside the server (``fivesafes deidentify``); None if the database has none.

    A database that does not exist yet (an SQLite file not created, a schema not built)
    has no list, and is not created by asking. One that exists but cannot be read is an
    error, never "no list": output made without a list the trust loaded would be refused
    at hand-over anyway, better said before hours of work.
    """
    if database_url.startswith("sqlite"):
        path = sqlite_file(database_url)
        if path is not None and not path.is_file():
            return None
    engine = make_engine(database_url)
    try:
        if not inspect(engine).has_table(OptOutList.__tablename__):
            return None
        with session_scope(make_session_factory(engine)) as session:
            return current_filter(session, keystore)
    except SQLAlchemyError as exc:
        raise ConfigurationError(
            f"cannot read the National Data Opt-out list from the platform database "
            f"({type(exc).__name__}); it must be applied before output leaves the job"
        ) from None
    finally:
        engine.dispose()


def list_in_force(session: Session) -> int | None:
    """The id of the opt-out list in force (the newest loaded), or None if none ever was."""
    return session.scalar(select(func.max(OptOutList.id)))


def has_list(session: Session) -> bool:
    """Whether an opt-out list was ever loaded (an empty list is still a list)."""
    return list_in_force(session) is not None


@dataclass(frozen=True, slots=True)
class OptOutLoad:
    list_id: int
    entries: int
    duplicates: int


def _numbers(path: Path) -> list[tuple[int, str]]:
    """(line, raw value) pairs: one NHS number per line, or a CSV with an nhs_number column."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputFileError("no such file", file=str(path)) from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputFileError("not valid UTF-8", file=str(path), line=line) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InputFileError("file is empty", file=str(path), line=1)
    column = 0
    first = [c.strip().lower() for c in rows[0]]
    start = 0
    if "nhs_number" in first:
        column, start = first.index("nhs_number"), 1
    values = []
    for number, row in enumerate(rows[start:], start=start + 1):
        if not row or not "".join(row).strip():
            continue
        if column >= len(row):
            raise InputFileError("row has no nhs_number value", file=str(path), line=number)
        values.append((number, row[column]))
    return values


def load_optouts(session: Session, trail: AuditTrail, path: Path, keystore: KeyStore) -> OptOutLoad:
    """Replace the list in force with the one in ``path`` (all or nothing), its digests
    made at the key store's current pseudonym generation."""
    key = optout_key(keystore)
    generation = 1 + len(keystore.pseudonym_remap_keys())
    chain = optout_chain(keystore, generation)
    digests: set[str] = set()
    duplicates = 0
    raw = path.read_bytes() if path.is_file() else b""
    for line, value in _numbers(path):
        try:
            normalised = normalise_nhs_number(value)
        except InvalidNhsNumberError as exc:
            # The reason never echoes the value: it may be a real number with a typo.
            raise InputFileError(str(exc), file=str(path), line=line, column="nhs_number") from None
        item = carry_digest(chain, optout_digest(key, normalised))
        if item in digests:
            duplicates += 1
        digests.add(item)
    listing = OptOutList(
        entries=len(digests),
        source_sha256=hashlib.sha256(raw).hexdigest(),
        loaded_by=trail.context.actor.id,
        pseudonym_generation=generation,
    )
    session.add(listing)
    session.flush()
    session.execute(delete(OptOut).where(OptOut.list_id != listing.id))
    ordered = sorted(digests)
    for start in range(0, len(ordered), _BATCH):
        session.execute(
            insert(OptOut),
            [{"list_id": listing.id, "digest": d} for d in ordered[start : start + _BATCH]],
        )
    trail.record(
        session,
        "optouts.load",
        target_type="opt_out_list",
        target_id=str(listing.id),
        details={"entries": len(digests), "duplicates": duplicates},
    )
    return OptOutLoad(listing.id, len(digests), duplicates)


def current_digests(session: Session) -> frozenset[str]:
    """Digests of the list in force (empty when no list was ever loaded)."""
    latest = session.scalar(select(func.max(OptOutList.id)))
    if latest is None:
        return frozenset()
    return frozenset(session.scalars(select(OptOut.digest).where(OptOut.list_id == latest)))
