"""Ingesting a signed hand-over: already de-identified part files become a dataset version.

A Spark job (or the local engine writing a directory, :mod:`fivesafes.deid.
handover_output`) leaves part files and a signed manifest. Here the manifest is verified
(:func:`fivesafes.handover.manifest.verify_directory`: the signature with the trusted
keys, the dataset's CURRENT policy, every file's SHA-256), then the rows are LOADED, not
de-identified again: each part file's columns and types must be exactly the policy's
output columns, and the rows loaded must add up to the manifest's output row count.

It is the upload path's version, made the same way: an ``Upload`` (audited as
``upload.create``), the same :func:`~fivesafes.ingestion.service.record_version` (the
immutable version, ``dataset_version.create``, a review when the policy asks for one),
the same per-version table filled by ``COPY`` on PostgreSQL. Its report is the hand-over's
provenance: the manifest's hash, the signing key's fingerprint, per-file hashes, engine
and versions, audited as ``dataset_version.handover``.

The files are verified outside any transaction; the load is then one transaction, on
SQLite too (a refusal at any point leaves no upload, no version and no table), which on
SQLite holds its write lock for the load's length (no engine run: only parsing and
inserting; batching it as :class:`~fivesafes.ingestion.ingestor.Ingestor` does is left for
very large hand-overs). The refusal itself is audited (``handover.refuse``, outcome ``denied``) in a
transaction of its own, naming the code, never a cell.

Part files are read whole into memory, hashed again and parsed from those bytes, so a
file swapped after verification is refused rather than loaded; a part file must
therefore fit in memory (Spark's are typically 128 MiB to 1 GiB).
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import psycopg
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.trust import TrustedKeys
from fivesafes.column_kinds import ColumnKind, datetime_text
from fivesafes.datasets import version_tables
from fivesafes.datasets.models import DatasetVersion, Upload, UploadState
from fivesafes.datasets.service import current_policy_version, get_dataset, parsed_policy
from fivesafes.db import session_scope, utcnow
from fivesafes.deid.io.writers import encode_pgcopy
from fivesafes.deid.plan import OutputColumn, output_columns
from fivesafes.deid.policy import Policy
from fivesafes.deid.report import DeidReport
from fivesafes.errors import ConflictError
from fivesafes.handover.manifest import (
    MANIFEST_NAME,
    HandoverRefusedError,
    VerifiedHandover,
    verify_directory,
)
from fivesafes.ingestion import service, storage
from fivesafes.ingestion.optouts import list_in_force

Text = str | None


@dataclass(frozen=True, slots=True)
class HandoverResult:
    """What a hand-over became: the dataset version, its row count and its provenance."""

    dataset: str
    version: int
    rows: int
    provenance: dict[str, Any]


def ingest_deidentified(
    session_factory: sessionmaker[Session],
    trail: AuditTrail,
    dataset_name: str,
    directory: Path,
    trusted: TrustedKeys | str,
) -> HandoverResult:
    """Verify the hand-over in ``directory`` and load it as the next version of the dataset.

    Refusals raise :class:`HandoverRefusedError` (4xx, naming the file) after recording
    ``handover.refuse``; an unknown dataset or a dataset without a policy raise as for
    an upload, and a hand-over already ingested is a 409.
    """
    try:
        with session_scope(session_factory) as session:
            return _ingest(session, trail, dataset_name, Path(directory), trusted)
    except HandoverRefusedError as refused:
        with session_scope(session_factory) as session:
            trail.record(
                session,
                "handover.refuse",
                outcome="denied",
                target_type="dataset",
                target_id=dataset_name,
                details={"code": refused.code, "directory": str(directory)},
            )
        raise


def _ingest(
    session: Session,
    trail: AuditTrail,
    dataset_name: str,
    directory: Path,
    trusted: TrustedKeys | str,
) -> HandoverResult:
    dataset = get_dataset(session, dataset_name)
    stored_policy = current_policy_version(session, dataset)
    policy = parsed_policy(stored_policy)
    if policy.reidentification.allowed:
        # A hand-over carries pseudonyms only: the NHS numbers its records need never left
        # the trust's ingestion, so such a dataset is ingested from its extract instead.
        raise ConflictError(
            f"dataset {dataset.name!r} allows re-identification: its versions must be "
            "ingested from the extract (a hand-over carries no NHS numbers to keep)",
            code="reidentification_needs_ingestion",
        )
    session.rollback()  # no lock (SQLite's write lock) held while every file is hashed
    verified = verify_directory(directory, trusted, policy=policy)
    _check_opt_outs(session, directory, verified)
    duplicate = service.find_duplicate(
        session, dataset, verified.manifest_sha256, trail.context.actor.id
    )
    if duplicate is not None:
        raise ConflictError(
            duplicate.replace("this file", "this hand-over"), code="duplicate_upload"
        )
    upload = Upload(
        id=uuid.uuid4(),
        dataset_id=dataset.id,
        state=UploadState.RUNNING,
        filename=directory.name[:255] or str(directory)[:255],
        file_format=verified.output_format,
        size_bytes=sum((directory / name).stat().st_size for name in verified.files),
        source_sha256=verified.manifest_sha256,
        uploaded_by=trail.context.actor.id,
        started_at=utcnow(),
        heartbeat_at=utcnow(),
    )
    session.add(upload)
    session.flush()
    trail.record(
        session,
        "upload.create",
        target_type="upload",
        target_id=str(upload.id),
        details={
            "dataset": dataset.name,
            "format": verified.output_format,
            "bytes": upload.size_bytes,
            "sha256": verified.manifest_sha256,
            "handover": True,
        },
    )
    outputs = [OutputColumn(n, k) for n, k in output_columns(policy).items()]
    table = storage.data_table(
        service.upload_table_name(upload.id),
        outputs,
        row_ids=policy.review_sample is not None,
        schema=version_tables.version_schema(session.get_bind().dialect.name),
    )
    rows = _load(session, table, outputs, verified)
    if rows != verified.output_rows:
        raise HandoverRefusedError(
            f"{directory}: the part files hold {rows:,} rows, the manifest says "
            f"{verified.output_rows:,} (a part file is truncated or padded)",
            code="handover_row_count",
        )
    report = _report(policy, verified, directory, rows)
    try:
        version = service.record_version(
            session, trail, upload.id, stored_policy=stored_policy, policy=policy, report=report
        )
    except IntegrityError:
        raise ConflictError(
            "another upload of the same hand-over or version number committed first",
            code="duplicate_upload",
        ) from None
    # The generation the job made every pseudonym at: a rotation since re-maps it.
    version.pseudonym_generation = verified.pseudonym_generation
    provenance = verified.provenance()
    version.report = json.dumps(
        {**json.loads(version.report), "handover": provenance}, indent=2, sort_keys=True
    )
    upload.report = version.report
    trail.record(
        session,
        "dataset_version.handover",
        target_type="dataset_version",
        target_id=f"{dataset.name}/{version.number}",
        details={
            "manifest_sha256": verified.manifest_sha256,
            "signature_fingerprint": verified.signer_fingerprint,
            "signed_by_retired_key": verified.signed_by_retired_key,
            "engine": verified.engine,
            "files": verified.files,
        },
    )
    session.flush()
    return HandoverResult(dataset.name, version.number, rows, provenance)


def _check_opt_outs(session: Session, directory: Path, verified: VerifiedHandover) -> None:
    """Refuse output not filtered (or, for an exempt dataset, flagged) by the list in force.

    The job applies the list it finds when it starts; one loaded since, or a job run
    against another database (or none), made output that may hold opted-out patients.
    """
    in_force = list_in_force(session)
    applied = verified.opt_out_list
    if applied == in_force:
        return
    made = f"with opt-out list {applied}" if applied is not None else "with no opt-out list"
    now = f"list {in_force} is in force" if in_force is not None else "no list is loaded"
    raise HandoverRefusedError(
        f"{directory / MANIFEST_NAME}: made {made}, but {now}: run the job again "
        "against the platform database",
        code="handover_opt_out_mismatch",
    )


def handover_provenance(version: DatasetVersion) -> dict[str, Any] | None:
    """The hand-over a version was loaded from (its report's ``handover``), if any."""
    value = json.loads(version.report).get("handover")
    return value if isinstance(value, dict) else None


def _report(policy: Policy, verified: VerifiedHandover, directory: Path, rows: int) -> DeidReport:
    manifest = verified.manifest
    report = DeidReport(
        input_file=directory.name,
        input_format=f"handover/{verified.output_format}",
        output_file=None,
        output_format="database",
        dataset=policy.dataset,
        policy_version=policy.version,
        policy_hash=policy.content_hash,
        sensitivity=policy.sensitivity,
        workers=0,
        versions=dict(manifest["versions"]),
        key_ids={},
        rows_in=verified.input_rows,
        rows_out=rows,
        entities={"(all free-text columns)": dict(manifest["report_counts"])},
    )
    report.input_sha256 = verified.manifest_sha256
    report.started_at = str(manifest["created_at"])
    return report


# -- reading part files --------------------------------------------------------------------


def _load(
    session: Session, table: Table, outputs: Sequence[OutputColumn], verified: VerifiedHandover
) -> int:
    connection = session.connection()
    storage.create_table(connection, table)
    postgres = connection.dialect.name == "postgresql"
    kinds = [c.kind.value for c in outputs]
    total = 0
    for name in sorted(verified.files):
        where = verified.directory / name
        columns = _columns(where, verified.read_part(name), verified.output_format, outputs)
        if not columns or not columns[0]:
            continue
        _check_values(where, columns, outputs)
        try:
            if postgres:
                storage.copy_chunks_postgres(connection, table, [encode_pgcopy(columns)])
            else:
                storage.insert_columns_sqlite(connection, table, kinds, columns)
        except (DBAPIError, ValueError, psycopg.Error) as exc:
            # The driver's message may quote a value: only its type is named.
            raise HandoverRefusedError(
                f"{where}: a value does not fit its column's type ({type(exc).__name__})",
                code="handover_bad_value",
            ) from None
        total += len(columns[0])
    return total


_PATTERNS: Final = {
    ColumnKind.INTEGER: re.compile(r"-?[0-9]{1,19}"),
    ColumnKind.DECIMAL: re.compile(r"-?[0-9]+(\.[0-9]+)?"),
    ColumnKind.DATE: re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    ColumnKind.BOOLEAN: re.compile(r"true|false"),
}
_INT64: Final = 1 << 63


def _check_values(
    where: Path, columns: Sequence[Sequence[Text]], outputs: Sequence[OutputColumn]
) -> None:
    """Every value in the canonical text of its column's kind (never quoting the value).

    SQLite would store a malformed date or number as text without a word, so the check
    is made here, the same on both databases.
    """
    for column, out in zip(columns, outputs, strict=True):
        if out.kind is ColumnKind.STRING:
            continue
        for row, value in enumerate(column, start=1):
            if value is not None and not _valid(out.kind, value):
                raise HandoverRefusedError(
                    f"{where}: row {row}, column {out.name!r}: not a {out.kind.value}",
                    code="handover_bad_value",
                )


def _valid(kind: ColumnKind, value: str) -> bool:
    try:
        if kind is ColumnKind.DATETIME:
            datetime.fromisoformat(value)
            return True
        if not _PATTERNS[kind].fullmatch(value):
            return False
        if kind is ColumnKind.DATE:
            date.fromisoformat(value)
        elif kind is ColumnKind.INTEGER:
            return -_INT64 <= int(value) < _INT64
    except ValueError:
        return False
    return True


def _columns(
    where: Path, data: bytes, fmt: str, outputs: Sequence[OutputColumn]
) -> list[list[Text]]:
    if fmt == "parquet":
        return _parquet_columns(where, data, outputs)
    if fmt == "csv":
        return _csv_columns(where, data, outputs)
    return _jsonl_columns(where, data, outputs)


def _wrong_columns(where: Path, found: Sequence[str], outputs: Sequence[OutputColumn]) -> None:
    expected = [c.name for c in outputs]
    if list(found) != expected:
        raise HandoverRefusedError(
            f"{where}: columns {list(found)} are not the policy's output columns {expected}",
            code="handover_wrong_columns",
        )


def _parquet_columns(where: Path, data: bytes, outputs: Sequence[OutputColumn]) -> list[list[Text]]:
    import pyarrow as pa  # noqa: PLC0415 - only Parquet hand-overs need Arrow
    import pyarrow.compute as pc  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError):
        raise HandoverRefusedError(f"{where}: not a readable Parquet file") from None
    _wrong_columns(where, table.schema.names, outputs)
    columns: list[list[Text]] = []
    for out, field in zip(outputs, table.schema, strict=True):
        if field.type != out.kind.arrow_type():
            raise HandoverRefusedError(
                f"{where}: column {out.name!r} is {field.type}, the policy's output is "
                f"{out.kind.arrow_type()} ({out.kind.value})",
                code="handover_wrong_columns",
            )
        array = table.column(out.name)
        if out.kind is ColumnKind.DATETIME:
            columns.append([None if v is None else datetime_text(v) for v in array.to_pylist()])
        elif out.kind is ColumnKind.BOOLEAN:
            columns.append(
                [None if v is None else ("true" if v else "false") for v in array.to_pylist()]
            )
        else:
            columns.append(pc.cast(array, pa.string()).to_pylist())
    return columns


def _csv_columns(where: Path, data: bytes, outputs: Sequence[OutputColumn]) -> list[list[Text]]:
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        raise HandoverRefusedError(f"{where}: not a readable CSV file (UTF-8)") from None
    if not rows:
        raise HandoverRefusedError(f"{where}: empty (no header)")
    _wrong_columns(where, rows[0], outputs)
    width = len(outputs)
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise HandoverRefusedError(f"{where}: line {number} has {len(row)} fields, not {width}")
    return [[row[i] or None for row in rows[1:]] for i in range(width)]


def _jsonl_columns(where: Path, data: bytes, outputs: Sequence[OutputColumn]) -> list[list[Text]]:
    names = [c.name for c in outputs]
    columns: list[list[Text]] = [[] for _ in outputs]
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise HandoverRefusedError(f"{where}: not UTF-8") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            # Decimals keep their digits (a JSON number's own text, checked as a decimal).
            record = json.loads(line, parse_float=str)
        except json.JSONDecodeError:
            raise HandoverRefusedError(f"{where}: line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise HandoverRefusedError(f"{where}: line {number} is not a JSON object")
        unknown = sorted(set(record) - set(names))
        if unknown:
            raise HandoverRefusedError(
                f"{where}: line {number}: {unknown} are not the policy's output columns {names}",
                code="handover_wrong_columns",
            )
        for i, name in enumerate(names):
            # Spark's JSON writer leaves null fields out (ignoreNullFields): absent is null.
            value = record.get(name)
            if value is None or isinstance(value, str):
                columns[i].append(value)
            elif isinstance(value, bool):
                columns[i].append("true" if value else "false")
            elif isinstance(value, int):
                columns[i].append(str(value))
            else:
                raise HandoverRefusedError(
                    f"{where}: line {number}, column {name!r}: not a string, integer or boolean"
                )
    return columns
