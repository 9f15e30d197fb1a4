"""`fivesafes keys rotate pseudonym`: a planned re-mapping of every stored pseudonym.

Raw identifiers are never stored, so rotating the pseudonym key means adding a new
generation (:mod:`fivesafes.keys.remap`): a remap key is added to the key store, then
every dataset version's pseudonym columns are rewritten from their generation to the new
one, and every opt-out list's digests carried forward, **one transaction per version**
(with the version row locked, so a release of that version and its re-mapping never
cross). A version is either wholly at its old generation or wholly at the new one, and
its row says which; releases read that and so are right at every moment of a rotation.

Resuming is the same command: while anything lags the key store's newest generation no
key is added, and versions already re-mapped are skipped. The loop ends only when nothing
lags, because an ingestion that started before the key was added commits at the older
generation (its version is then re-mapped on the next pass, or on the next run).

Projects stay pinned at their generation (their released pseudonyms and date offsets do
not change) unless the governance officer asks for ``reissue_projects``, which moves
every project to the new generation: that breaks each project's linkage across downloads.

This lives with the release code because it reaches every layer below it: datasets and
their policies, opt-out lists, projects (access), the audit trail and the key store.
Audit details carry generations, ids and counts, never a pseudonym or a key.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.models import Project
from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets import version_tables
from fivesafes.datasets.models import DatasetVersion, OptOut, OptOutList, Upload, UploadState
from fivesafes.datasets.service import parsed_policy
from fivesafes.db import session_scope
from fivesafes.deid.optout import carry_digest
from fivesafes.errors import ConfigurationError
from fivesafes.ingestion.optouts import optout_chain
from fivesafes.keys.remap import PseudonymChain, current_generation
from fivesafes.keys.store import KeyStore

_SQLITE_BATCH = 20_000
_INSERT_BATCH = 10_000

#: Asked before a key is added: (current generation, new generation) -> go ahead?
Confirm = Callable[[int, int], bool]


@dataclass(frozen=True, slots=True)
class Lagging:
    """What is stored below a generation: version ids and opt-out list ids, oldest first."""

    versions: tuple[int, ...]
    lists: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.versions or self.lists)


@dataclass(frozen=True, slots=True)
class Remapped:
    """One version (or list) brought to the new generation, for progress reports."""

    kind: str  # "dataset_version" | "opt_out_list"
    target_id: int
    generation_from: int
    rows: int


@dataclass(slots=True)
class RotationOutcome:
    generation_from: int
    generation_to: int
    key_added: bool
    versions: int = 0
    rows: int = 0
    lists: int = 0
    projects_reissued: int = 0
    projects_pinned: int = 0
    uploads_in_flight: int = 0


def lagging(session: Session, generation: int) -> Lagging:
    """Versions and opt-out lists stored below ``generation``."""
    versions = session.scalars(
        select(DatasetVersion.id)
        .where(DatasetVersion.pseudonym_generation < generation)
        .order_by(DatasetVersion.id)
    )
    lists = session.scalars(
        select(OptOutList.id)
        .where(OptOutList.pseudonym_generation < generation)
        .order_by(OptOutList.id)
    )
    return Lagging(tuple(versions), tuple(lists))


def _check_not_ahead(session: Session, keystore: KeyStore, generation: int) -> None:
    """Refuse a database whose pseudonyms are at a generation the key store lacks."""
    for what, column in (
        ("dataset version", DatasetVersion.pseudonym_generation),
        ("opt-out list", OptOutList.pseudonym_generation),
        ("project", Project.pseudonym_generation),
    ):
        highest = session.scalar(select(column).order_by(column.desc()).limit(1))
        if highest is not None and highest > generation:
            raise ConfigurationError(
                f"a {what} is at pseudonym generation {highest}, but {keystore.describe()} "
                f"holds keys up to generation {generation}: this is not the key store the "
                "database was made with, or its remap keys were lost (restore them)"
            )


def rotate_pseudonyms(
    factory: sessionmaker[Session],
    keystore: KeyStore,
    trail: AuditTrail,
    *,
    reissue_projects: bool,
    confirm: Confirm,
    on_remapped: Callable[[Remapped], None] | None = None,
    on_plan: Callable[[Lagging], None] | None = None,
) -> RotationOutcome | None:
    """Add a remap key (unless resuming) and re-map everything to it; None if declined."""
    generation = current_generation(keystore.pseudonym_remap_keys())
    with factory() as session:
        _check_not_ahead(session, keystore, generation)
        behind = lagging(session, generation)
        lowest = min(
            [
                *session.scalars(
                    select(DatasetVersion.pseudonym_generation).where(
                        DatasetVersion.id.in_(behind.versions)
                    )
                ),
                *session.scalars(
                    select(OptOutList.pseudonym_generation).where(OptOutList.id.in_(behind.lists))
                ),
            ],
            default=generation,
        )
    key_added = not behind
    if key_added:
        if not confirm(generation, generation + 1):
            return None
        added = keystore.add_pseudonym_remap_key()
        if added != generation + 1:  # pragma: no cover - another rotation raced this one
            raise ConfigurationError(
                f"expected to add generation {generation + 1}, the key store made {added}: "
                "another pseudonym rotation is running"
            )
        lowest, generation = generation, added
    outcome = RotationOutcome(lowest, generation, key_added)
    with session_scope(factory) as session:
        _record_phase(
            trail,
            session,
            "start",
            lowest,
            generation,
            key_added=key_added,
            resumed=not key_added,
            reissue_project_pseudonyms=reissue_projects,
        )
    remap_keys = keystore.pseudonym_remap_keys()
    chain = PseudonymChain(remap_keys)
    if chain.generation != generation:
        raise ConfigurationError(
            f"{keystore.describe()} now holds pseudonym generation {chain.generation}, "
            f"not {generation}: another pseudonym rotation is running"
        )
    _remap_all(factory, trail, keystore, chain, outcome, on_remapped, on_plan)
    with session_scope(factory) as session:
        if reissue_projects:
            below = session.scalars(
                select(Project.id).where(Project.pseudonym_generation < generation)
            ).all()
            session.execute(
                update(Project).where(Project.id.in_(below)).values(pseudonym_generation=generation)
            )
            outcome.projects_reissued = len(below)
        outcome.projects_pinned = len(
            session.scalars(
                select(Project.id).where(Project.pseudonym_generation < generation)
            ).all()
        )
        # An upload that started before the key was added and committed after the last
        # pass is left for the next run, which the command's note asks for.
        outcome.uploads_in_flight = len(
            session.scalars(
                select(Upload.id).where(Upload.state.in_([UploadState.QUEUED, UploadState.RUNNING]))
            ).all()
        )
        _record_phase(
            trail,
            session,
            "complete",
            outcome.generation_from,
            generation,
            dataset_versions_remapped=outcome.versions,
            rows_remapped=outcome.rows,
            opt_out_lists_remapped=outcome.lists,
            reissue_project_pseudonyms=reissue_projects,
            projects_reissued=outcome.projects_reissued,
            projects_pinned_below=outcome.projects_pinned,
        )
    return outcome


def _record_phase(
    trail: AuditTrail,
    session: Session,
    phase: str,
    generation_from: int,
    generation_to: int,
    **details: object,
) -> None:
    """The rotation's ``start`` or ``complete`` event, on the generation it moves to."""
    trail.record(
        session,
        "keys.rotate_pseudonym",
        target_type="pseudonym_generation",
        target_id=str(generation_to),
        details={
            "phase": phase,
            "generation_from": generation_from,
            "generation_to": generation_to,
            **details,
        },
    )


def _remap_all(
    factory: sessionmaker[Session],
    trail: AuditTrail,
    keystore: KeyStore,
    chain: PseudonymChain,
    outcome: RotationOutcome,
    on_remapped: Callable[[Remapped], None] | None,
    on_plan: Callable[[Lagging], None] | None,
) -> None:
    """Passes over what lags until nothing does (an ingestion in flight at the old
    generation may commit meanwhile): one transaction per version or list."""
    generation = chain.generation
    while True:
        with factory() as session:
            behind = lagging(session, generation)
        if on_plan is not None:
            on_plan(behind)
        if not behind:
            return
        for version_id in behind.versions:
            done = remap_version(factory, trail, version_id, chain)
            if done is not None:
                outcome.versions += 1
                outcome.rows += done.rows
                if on_remapped is not None:
                    on_remapped(done)
        for list_id in behind.lists:
            done = remap_opt_out_list(factory, trail, keystore, list_id, generation)
            if done is not None:
                outcome.lists += 1
                if on_remapped is not None:
                    on_remapped(done)


def pseudonym_columns(version: DatasetVersion) -> list[str]:
    """The stored columns of a version that hold pseudonyms, as its own policy says."""
    policy = parsed_policy(version.policy_version)
    return [
        name
        for name, col in policy.columns.items()
        if (col.role == "patient_id" or col.action == "pseudonymise") and col.in_output
    ]


def remap_version(
    factory: sessionmaker[Session], trail: AuditTrail, version_id: int, chain: PseudonymChain
) -> Remapped | None:
    """One version's pseudonyms rewritten to the chain's generation, in one transaction
    with its row locked; None if another run already did it."""
    target = chain.generation
    with session_scope(factory) as session:
        version = session.get(
            DatasetVersion, version_id, with_for_update=True, populate_existing=True
        )
        if version is None or version.pseudonym_generation >= target:
            return None
        source = version.pseudonym_generation
        connection = session.connection()
        schema = version_tables.version_schema(connection.dialect.name)
        present = version.purged_at is None and inspect(connection).has_table(
            version.table_name, schema=schema
        )
        columns = pseudonym_columns(version) if present else []
        values = 0
        for column in columns:
            values += _rewrite_column(
                connection, schema, version.table_name, column, chain, source, target
            )
        version.pseudonym_generation = target
        trail.record(
            session,
            "dataset_version.pseudonyms_remapped",
            target_type="dataset_version",
            target_id=str(version.id),
            details={
                "dataset_version_id": version.id,
                "generation_from": source,
                "generation_to": target,
                "rows": version.row_count if present else 0,
                "columns": len(columns),
                "values": values,
                "data_table": "present" if present else "purged",
            },
        )
        rows = version.row_count if present else 0
    return Remapped("dataset_version", version_id, source, rows)


def _rewrite_column(
    connection: Connection,
    schema: str | None,
    table: str,
    column: str,
    chain: PseudonymChain,
    source: int,
    target: int,
) -> int:
    quote = connection.dialect.identifier_preparer.quote
    name = f"{quote(schema)}.{quote(table)}" if schema else quote(table)
    col = quote(column)
    if connection.dialect.name == "postgresql":
        return _rewrite_postgres(connection, name, col, chain, source, target)
    return _rewrite_sqlite(connection, name, col, chain, source, target)


def _rewrite_postgres(
    connection: Connection, name: str, col: str, chain: PseudonymChain, source: int, target: int
) -> int:
    """Set-based: the distinct stored values and their new ones COPYed into a temporary
    table, then one UPDATE ... FROM (each row rewritten once, from its old value)."""
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT {col} FROM {name} WHERE {col} IS NOT NULL")  # noqa: S608
        old = [row[0] for row in cursor.fetchall()]
        if not old:
            return 0
        new = chain.move_hex(old, source, target)
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS fivesafes_remap "
            "(old text PRIMARY KEY, new text NOT NULL) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE fivesafes_remap")
        buffer = io.StringIO()
        for before, after in zip(old, new, strict=True):
            buffer.write(f"{before}\t{after}\n")
        with cursor.copy("COPY fivesafes_remap (old, new) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        cursor.execute("ANALYZE fivesafes_remap")
        cursor.execute(
            f"UPDATE {name} AS t SET {col} = m.new FROM fivesafes_remap AS m "  # noqa: S608
            f"WHERE t.{col} = m.old"
        )
        return int(cursor.rowcount)


def _rewrite_sqlite(
    connection: Connection, name: str, col: str, chain: PseudonymChain, source: int, target: int
) -> int:
    """Row by row through ``executemany`` keyed by rowid (never by value: a new value
    must not be taken for another row's old one)."""
    raw = connection.connection.driver_connection
    assert raw is not None
    rows = raw.execute(
        f"SELECT rowid, {col} FROM {name} WHERE {col} IS NOT NULL ORDER BY rowid"  # noqa: S608
    ).fetchall()
    statement = f"UPDATE {name} SET {col} = ? WHERE rowid = ?"  # noqa: S608
    for start in range(0, len(rows), _SQLITE_BATCH):
        batch = rows[start : start + _SQLITE_BATCH]
        new = chain.move_hex([value for _, value in batch], source, target)
        raw.executemany(statement, [(n, rowid) for (rowid, _), n in zip(batch, new, strict=True)])
    return len(rows)


def remap_opt_out_list(
    factory: sessionmaker[Session],
    trail: AuditTrail,
    keystore: KeyStore,
    list_id: int,
    generation: int,
) -> Remapped | None:
    """One opt-out list's digests carried forward (one-way), in one transaction."""
    with session_scope(factory) as session:
        listing = session.get(OptOutList, list_id, with_for_update=True, populate_existing=True)
        if listing is None or listing.pseudonym_generation >= generation:
            return None
        source = listing.pseudonym_generation
        chain = optout_chain(keystore, generation)[source - 1 :]
        digests: Sequence[str] = session.scalars(
            select(OptOut.digest).where(OptOut.list_id == list_id)
        ).all()
        carried = sorted(carry_digest(chain, d) for d in digests)
        session.execute(delete(OptOut).where(OptOut.list_id == list_id))
        for start in range(0, len(carried), _INSERT_BATCH):
            session.execute(
                insert(OptOut),
                [{"list_id": list_id, "digest": d} for d in carried[start : start + _INSERT_BATCH]],
            )
        listing.pseudonym_generation = generation
        trail.record(
            session,
            "opt_out_list.digests_remapped",
            target_type="opt_out_list",
            target_id=str(list_id),
            details={
                "opt_out_list_id": list_id,
                "generation_from": source,
                "generation_to": generation,
                "entries": len(carried),
            },
        )
    return Remapped("opt_out_list", list_id, source, len(carried))
