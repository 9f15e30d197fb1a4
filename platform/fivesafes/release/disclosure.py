"""The disclosure gate: k-anonymity and small numbers, decided in SQL before the first byte.

Classes are the distinct combinations of the released quasi-identifiers; each is counted
in distinct patients, not rows (ten admissions of one patient are one person). The
counting is two ``GROUP BY``s in the database, so it scales with the data, not with
Python: first (quasi-identifiers, patient), then quasi-identifiers. Classes smaller than
``min_k`` are suppressed (their rows left out) or the release is refused, as the access
policy's ``release.small_classes`` says. A release of fewer patients or rows than the
small-number threshold is refused.

When rows are suppressed the gate says which quasi-identifiers drove it: for each, how
many rows would be suppressed without it (computed the same way, in SQL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func, select
from sqlalchemy.engine import Connection

from fivesafes.access.policy import ReleaseRules, SmallClassAction
from fivesafes.errors import ConflictError
from fivesafes.release.query import ReleasePlan
from fivesafes.release.transform import class_key_of

#: A refusal with more suppressed classes than this would be unwieldy to hold: refuse.
MAX_SUPPRESSED_CLASSES = 200_000


class DisclosureRefusedError(ConflictError):
    """The release would disclose too much (409); the message says why and what to change."""

    code = "disclosure_refused"


@dataclass(slots=True)
class GateResult:
    k_required: int
    action: str  # suppress | refuse
    small_number_threshold: int
    quasi_identifiers: list[str]
    not_counted: dict[str, str]
    counted_by: str  # distinct patients | rows (no patient column)
    rows_in_scope: int = 0
    patients_in_scope: int = 0
    classes: int = 0
    classes_suppressed: int = 0
    rows_suppressed: int = 0
    k_achieved: int | None = None
    drivers: list[dict[str, Any]] = field(default_factory=list)
    suppressed_keys: list[str] = field(default_factory=list)

    @property
    def rows_released(self) -> int:
        return self.rows_in_scope - self.rows_suppressed

    def as_manifest(self) -> dict[str, Any]:
        return {
            "k_required": self.k_required,
            "k_achieved": self.k_achieved,
            "counted_by": self.counted_by,
            "quasi_identifiers": self.quasi_identifiers,
            "quasi_identifiers_not_counted": self.not_counted,
            "small_classes": self.action,
            "small_number_threshold": self.small_number_threshold,
            "rows_in_scope": self.rows_in_scope,
            "patients_in_scope": self.patients_in_scope,
            "classes": self.classes,
            "classes_suppressed": self.classes_suppressed,
            "rows_suppressed": self.rows_suppressed,
            "suppression_drivers": self.drivers,
        }


def _patient(connection: Connection, plan: ReleasePlan) -> ColumnElement[Any]:
    """The patient as counted. On PostgreSQL a 64-bit hash of the stored pseudonym:
    counting distinct integers is several times faster than distinct text, and a hash
    collision can only merge two patients, so counts err low (more suppression, never less).
    """
    assert plan.patient_column is not None
    column = plan.table().c[plan.patient_column]
    if connection.dialect.name == "postgresql":
        return func.hashtextextended(column, 0)
    return column


def _class_counts(
    connection: Connection, plan: ReleasePlan, qis: list[str]
) -> list[tuple[tuple[Any, ...], int, int]]:
    """(class values, patients, rows) per class of ``qis`` within the grant's rows."""
    table = plan.table()
    qcols = [table.c[q] for q in qis]
    patients = (
        func.count(_patient(connection, plan).distinct())
        if plan.patient_column is not None
        else func.count()
    )
    if connection.dialect.name == "postgresql":
        # Group by a 64-bit hash of the whole class (ROW(...)::text tells NULL from ''),
        # so PostgreSQL sorts integers, not text; min() gives each class's values back.
        class_id = func.hashtextextended(cast(func.row(*qcols), Text), 0).label("class_id")
        query = (
            select(class_id, *(func.min(c) for c in qcols), patients, func.count())
            .where(plan.where())
            .group_by(class_id)
        )
        return [(tuple(r[1:-2]), int(r[-2]), int(r[-1])) for r in connection.execute(query)]
    query = select(*qcols, patients, func.count()).where(plan.where()).group_by(*qcols)
    return [(tuple(r[:-2]), int(r[-2]), int(r[-1])) for r in connection.execute(query)]


def _totals(connection: Connection, plan: ReleasePlan) -> tuple[int, int]:
    if plan.patient_column is None:
        rows = connection.execute(
            select(func.count()).select_from(plan.table()).where(plan.where())
        ).scalar_one()
        return int(rows), int(rows)
    query = select(func.count(), func.count(_patient(connection, plan).distinct()))
    rows, patients = connection.execute(query.select_from(plan.table()).where(plan.where())).one()
    return int(rows), int(patients)


def _suppressed_rows(classes: list[tuple[tuple[Any, ...], int, int]], k: int) -> int:
    return sum(rows for _, patients, rows in classes if patients < k)


def run_gate(connection: Connection, plan: ReleasePlan, rules: ReleaseRules) -> GateResult:
    """Count, decide, and either return what to suppress or raise a refusal (409)."""
    k = rules.min_k
    result = GateResult(
        k_required=k,
        action=rules.small_classes.value,
        small_number_threshold=rules.small_number_threshold,
        quasi_identifiers=list(plan.quasi_identifiers),
        not_counted=dict(plan.not_counted),
        counted_by="distinct patients" if plan.patient_column else "rows (no patient column)",
    )
    result.rows_in_scope, result.patients_in_scope = _totals(connection, plan)
    if result.patients_in_scope < rules.small_number_threshold:
        raise DisclosureRefusedError(
            f"the grant selects {result.patients_in_scope} patient(s), fewer than the "
            f"small-number threshold of {rules.small_number_threshold}: release refused"
        )
    qis = plan.quasi_identifiers
    if not qis:
        return result
    classes = _class_counts(connection, plan, qis)
    result.classes = len(classes)
    small = [c for c in classes if c[1] < k]
    kept = [patients for _, patients, _ in classes if patients >= k]
    result.k_achieved = min(kept) if kept else None
    result.classes_suppressed = len(small)
    result.rows_suppressed = sum(rows for _, _, rows in small)
    if not small:
        return result
    one_class_each = sum(patients for _, patients, _ in classes) == result.patients_in_scope
    result.drivers = _drivers(
        connection,
        plan,
        qis,
        k,
        result.rows_suppressed,
        classes=classes,
        one_class_each=one_class_each,
    )
    if rules.small_classes is SmallClassAction.REFUSE or len(small) > MAX_SUPPRESSED_CLASSES:
        named = ", ".join(d["quasi_identifier"] for d in result.drivers) or ", ".join(qis)
        raise DisclosureRefusedError(
            f"{len(small)} combination(s) of the quasi-identifiers {', '.join(qis)} hold fewer "
            f"than k={k} patients ({result.rows_suppressed} row(s)); the access policy refuses "
            f"such releases. Driven by: {named}. Ask for coarser or fewer quasi-identifiers, "
            "or a narrower row filter."
        )
    if result.rows_released < rules.small_number_threshold:
        raise DisclosureRefusedError(
            f"after suppressing {result.rows_suppressed} row(s) in classes of fewer than "
            f"k={k} patients, {result.rows_released} row(s) would remain, fewer than the "
            f"small-number threshold of {rules.small_number_threshold}: release refused"
        )
    result.suppressed_keys = [class_key_of(values) for values, _, _ in small]
    return result


def _drivers(
    connection: Connection,
    plan: ReleasePlan,
    qis: list[str],
    k: int,
    suppressed: int,
    *,
    classes: list[tuple[tuple[Any, ...], int, int]],
    one_class_each: bool,
) -> list[dict[str, Any]]:
    """Each quasi-identifier, with the rows that would be suppressed without it.

    Mostly without another scan: dropping a quasi-identifier merges whole classes, so a
    coarser class's rows are the sum of its classes' rows, and its patients are at least
    those of its largest class and at most the sum of its classes' patients (exactly the
    sum when every patient falls in one class: ``one_class_each``). A coarser class is
    small for sure when that sum is under ``k``, and not small when one of its classes has
    ``k`` patients or more. Only when some coarser class falls in between is that grouping
    counted again in SQL.
    """
    if len(qis) == 1:
        return [{"quasi_identifier": qis[0], "rows_suppressed_without_it": 0}]
    drivers: list[dict[str, Any]] = []
    for i, qi in enumerate(qis):
        rest = [q for q in qis if q != qi]
        merged: dict[tuple[Any, ...], list[int]] = {}
        for values, patients, rows in classes:
            total = merged.setdefault(values[:i] + values[i + 1 :], [0, 0, 0])
            total[0] += patients
            total[1] += rows
            total[2] = max(total[2], patients)
        without: int | None = 0
        for patients, rows, largest in merged.values():
            if patients < k:
                assert without is not None
                without += rows
            elif largest < k and not one_class_each:
                without = None  # between: count this grouping exactly
                break
        if without is None:
            without = _suppressed_rows(_class_counts(connection, plan, rest), k)
        if without < suppressed:
            drivers.append({"quasi_identifier": qi, "rows_suppressed_without_it": without})
    drivers.sort(key=lambda d: d["rows_suppressed_without_it"])
    return drivers
