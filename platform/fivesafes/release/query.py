"""What a grant releases, as SQL, and the rows themselves as Arrow record batches.

:func:`build_plan` turns release terms (:class:`ReleaseTerms`: what a grant holds, and
what a request or a draft of one asks for, so a disclosure preview plans exactly what the
release would) into a :class:`ReleasePlan`: the dataset version it reads, the granted
columns and what happens to each, and one WHERE clause (the row filter compiled by
:mod:`fivesafes.access.filters`, with every literal a bound parameter, and opted-out rows
excluded where the dataset flags them). Nothing a user typed ever becomes SQL text.

:func:`rows_statement` is the release query; :mod:`fivesafes.release.reader` reads it
(in storage order: :mod:`fivesafes.release.shuffle` shuffles).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
from sqlalchemy import ColumnElement, Select, Table, Text, and_, cast, func, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from fivesafes.access.filters import check_filter, compile_filter
from fivesafes.access.models import AccessRequest, Grant
from fivesafes.column_kinds import ColumnKind
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import Dataset, DatasetVersion
from fivesafes.datasets.review import releasable_version
from fivesafes.datasets.version_tables import version_schema
from fivesafes.deid.optout import OPTED_OUT_COLUMN
from fivesafes.deid.plan import OutputColumn, output_columns
from fivesafes.deid.policy import Policy
from fivesafes.errors import ConflictError
from fivesafes.ingestion.storage import data_table

BATCH_ROWS = 50_000
#: Name of the stored patient pseudonym when the grant does not release it (never output).
HIDDEN_PATIENT = "__fivesafes_patient"


@dataclass(frozen=True, slots=True)
class ReleaseColumn:
    """A released column: its stored type, what the release does to it, its output type."""

    name: str
    kind: ColumnKind  # as stored
    treatment: str  # project_pseudonym | project_date_shift | date | as_stored
    out_kind: ColumnKind  # as released (a date at month granularity is the text YYYY-MM ...)


@dataclass(frozen=True, slots=True)
class ReleaseTerms:
    """What a release reads: the dataset and version (None: the latest available), the
    columns, the row filter (canonical text) and the date granularity.

    A grant copies these from its request, so a request (or a draft of one, validated as
    its submission would be) plans the same release as the grant it would become. A plain
    value, never an ORM object: a preview builds one without anything entering the session.
    """

    dataset: Dataset
    version: int | None
    columns: tuple[str, ...]
    row_filter: str | None
    granularity: str
    holder: str  # how messages name who holds the terms: "grant 7", "request 3"

    @classmethod
    def of(cls, row: Grant | AccessRequest) -> ReleaseTerms:
        """The terms a grant holds, or a request asks for (the same fields, copied)."""
        return cls(
            dataset=row.dataset,
            version=row.dataset_version,
            columns=tuple(json.loads(row.columns)),
            row_filter=row.row_filter,
            granularity=row.date_granularity,
            holder=f"{'grant' if isinstance(row, Grant) else 'request'} {row.id}",
        )

    @property
    def named(self) -> str:
        granted = self.holder.startswith("grant ")
        return f"granted to {self.holder}" if granted else f"asked for by {self.holder}"

    def coarsened(self, granularity: str) -> ReleaseTerms:
        """The same terms with dates released at ``granularity`` (a preview's suggestion)."""
        return replace(self, granularity=granularity)


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    terms: ReleaseTerms
    version: DatasetVersion
    policy: Policy
    columns: list[ReleaseColumn]
    granularity: str  # day | month | year
    patient_column: str | None  # stored patient pseudonym column (released or not)
    quasi_identifiers: list[str]  # counted by the disclosure gate, as released
    not_counted: dict[str, str]  # granted quasi-identifiers the gate does not count, and why
    opt_out_flagged: bool  # the dataset keeps opted-out rows flagged: they are excluded
    stored_kinds: dict[str, ColumnKind] = field(default_factory=dict)
    data_table: Table | None = None  # the version's table, described once

    @property
    def table_name(self) -> str:
        return self.version.table_name

    @property
    def read_columns(self) -> list[str]:
        """Columns read from the table: the released ones, then the hidden patient column."""
        names = [c.name for c in self.columns]
        if self.patient_column is not None and self.patient_column not in names:
            names.append(HIDDEN_PATIENT)
        return names

    @property
    def read_schema(self) -> pa.Schema:
        kinds = {c.name: c.kind for c in self.columns}
        kinds[HIDDEN_PATIENT] = ColumnKind.STRING
        return pa.schema([(n, kinds[n].arrow_type()) for n in self.read_columns])

    def column(self, name: str) -> ReleaseColumn:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def table(self) -> Table:
        assert self.data_table is not None
        return self.data_table

    def where(self) -> ColumnElement[bool]:
        """The grant's row filter and the opt-out exclusion, over this version's table."""
        table = self.table()
        clauses: list[ColumnElement[bool]] = [true()]
        if self.terms.row_filter:
            expr = check_filter(self.terms.row_filter, self.stored_kinds)
            clauses.append(compile_filter(expr, {c.name: c for c in table.c}))
        if self.opt_out_flagged:
            clauses.append(table.c[OPTED_OUT_COLUMN].is_not(True))
        return and_(*clauses)

    def source_column(self, name: str) -> Any:
        table = self.table()
        if name == HIDDEN_PATIENT:
            assert self.patient_column is not None
            return table.c[self.patient_column]
        return table.c[name]


def _treatment(policy: Policy, name: str, kind: ColumnKind) -> str:
    col = policy.columns.get(name)
    if col is not None and (col.role == "patient_id" or col.action == "pseudonymise"):
        return "project_pseudonym"
    if col is not None and col.generalise is not None and col.generalise.method == "date_shift":
        return "project_date_shift"
    if kind in (ColumnKind.DATE, ColumnKind.DATETIME):
        return "date"
    return "as_stored"


def _out_kind(kind: ColumnKind, treatment: str, granularity: str) -> ColumnKind:
    if treatment in ("project_date_shift", "date") and granularity != "day":
        return ColumnKind.STRING if granularity == "month" else ColumnKind.INTEGER
    return kind


def plan_columns(policy: Policy, granted: list[str], granularity: str) -> list[ReleaseColumn]:
    """Each granted column (an output of ``policy``) and what a release does to it."""
    available = output_columns(policy)
    columns = []
    for name in granted:
        kind = available[name]
        treatment = _treatment(policy, name, kind)
        columns.append(
            ReleaseColumn(name, kind, treatment, _out_kind(kind, treatment, granularity))
        )
    return columns


def build_plan(session: Session, terms: ReleaseTerms) -> ReleasePlan:
    """The plan of a release of ``terms`` (409 if the version no longer fits them)."""
    # Only an available version is read: "latest" means the newest one governance let
    # through; terms fixed to a version waiting for review or rejected are refused (409).
    version = releasable_version(session, terms.dataset, terms.version)
    policy = datasets.parsed_policy(version.policy_version)
    available = output_columns(policy)
    granted = list(terms.columns)
    missing = [c for c in granted if c not in available]
    if missing:
        raise ConflictError(
            f"dataset {terms.dataset.name!r} version {version.number} has no column(s) "
            f"{', '.join(map(repr, missing))} {terms.named}; ask governance for "
            "a grant on a fixed version",
            code="release_columns_missing",
        )
    granularity = terms.granularity
    columns = plan_columns(policy, granted, granularity)
    counted, not_counted = [], {}
    for name in granted:
        col = policy.columns.get(name)
        if col is None or col.role != "quasi_identifier":
            continue
        shifted = col.generalise is not None and col.generalise.method == "date_shift"
        if shifted and granularity == "day":
            not_counted[name] = (
                "date shifted per patient and per project and released by day: released "
                "values are not shared classes, so they are protected by the shift rather "
                "than counted (released by month or year, they are counted)"
            )
        else:
            counted.append(name)
    return ReleasePlan(
        terms=terms,
        version=version,
        policy=policy,
        columns=columns,
        granularity=granularity,
        patient_column=policy.patient_id_column,
        quasi_identifiers=counted,
        not_counted=not_counted,
        opt_out_flagged=policy.national_data_opt_out.exempt,
        stored_kinds=available,
        data_table=data_table(
            version.table_name,
            [OutputColumn(n, k) for n, k in available.items()],
            schema=version_schema(session.get_bind().dialect.name),
        ),
    )


# ------------------------------------------------------------------------------ reading


def decoded_pseudonyms(plan: ReleasePlan) -> frozenset[str]:
    """Read columns holding stored pseudonyms (hex text), which PostgreSQL sends decoded."""
    names = {c.name for c in plan.columns if c.treatment == "project_pseudonym"}
    return frozenset(n for n in plan.read_columns if n == HIDDEN_PATIENT or n in names)


def _select_columns(plan: ReleasePlan, connection: Connection) -> list[Any]:
    """The read columns. On PostgreSQL, decimals as their exact text, and stored pseudonyms
    decoded to their 16 bytes: the server does it while it waits for the client anyway,
    and the client then moves half the bytes and decodes nothing."""
    postgres = connection.dialect.name == "postgresql"
    pseudonyms = decoded_pseudonyms(plan) if postgres else frozenset()
    out = []
    for name in plan.read_columns:
        column = plan.source_column(name)
        kind = ColumnKind.STRING if name == HIDDEN_PATIENT else plan.stored_kinds[name]
        if name in pseudonyms:
            column = func.decode(column, "hex")
        elif postgres and kind is ColumnKind.DECIMAL:
            column = cast(column, Text)
        out.append(column.label(name))
    return out


def rows_statement(plan: ReleasePlan, connection: Connection) -> Select[Any]:
    """The release query: granted columns (and the patient), the filter, no opt-outs."""
    return select(*_select_columns(plan, connection)).select_from(plan.table()).where(plan.where())
