"""The disclosure gate: k-anonymity and small numbers, decided before the first byte.

Classes are the distinct combinations of the released quasi-identifiers; each is counted
in distinct patients, not rows (ten admissions of one patient are one person). The counts
come from :class:`~fivesafes.release.classes.ClassCounter`, filled in the one pass that
reads the release's rows (so the gate sees exactly the rows the release holds, in the same
snapshot). Classes smaller than ``min_k`` are suppressed (their rows left out) or the
release is refused, as the access policy's ``release.small_classes`` says. A release of
fewer patients or rows than the small-number threshold is refused.

:func:`assess` reports all of it without raising (a disclosure preview shows the report,
refusal included); :func:`run_gate`, what a release calls, raises the refusal.

When rows are suppressed the gate says which quasi-identifiers drove it: for each, how
many rows would be suppressed without it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from fivesafes.access.policy import ReleaseRules, SmallClassAction
from fivesafes.errors import ConflictError
from fivesafes.release.classes import ClassCounter, ClassCounts
from fivesafes.release.query import ReleasePlan


class DisclosureRefusedError(ConflictError):
    """The release would disclose too much (409); the message says why and what to change."""

    code = "disclosure_refused"


class Refusal(StrEnum):
    """Why the gate refuses a release (stable: previews and their clients key on it)."""

    FEW_PATIENTS = "few_patients"  # fewer patients in scope than the small-number threshold
    SMALL_CLASSES = "small_classes"  # small classes, and the policy refuses rather than suppress
    FEW_ROWS_LEFT = "few_rows_left"  # too few rows left once small classes are suppressed


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
    suppressed_classes: np.ndarray | None = None  # per class id: True if its rows are left out
    refusal: Refusal | None = None  # why the release would be refused (None: it may go)
    refusal_message: str = ""  # the refusal in words, naming what to change

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


def _suppressed_rows(counts: ClassCounts, k: int) -> int:
    return int(counts.rows[counts.patients < k].sum())


def run_gate(counter: ClassCounter, plan: ReleasePlan, rules: ReleaseRules) -> GateResult:
    """Decide from the counts, and either return what to suppress or raise a refusal (409)."""
    result = assess(counter, plan, rules)
    if result.refusal is not None:
        raise DisclosureRefusedError(result.refusal_message)
    return result


def assess(counter: ClassCounter, plan: ReleasePlan, rules: ReleaseRules) -> GateResult:
    """The gate's whole report from the counts, refusal included (``refusal``), never
    raising: a release raises it (:func:`run_gate`), a preview shows it. Every count is
    taken even when the release would be refused, so a preview can say how far off it is."""
    k = rules.min_k
    result = GateResult(
        k_required=k,
        action=rules.small_classes.value,
        small_number_threshold=rules.small_number_threshold,
        quasi_identifiers=list(plan.quasi_identifiers),
        not_counted=dict(plan.not_counted),
        counted_by="distinct patients" if plan.patient_column else "rows (no patient column)",
    )
    result.rows_in_scope = counter.rows
    qis = plan.quasi_identifiers
    # The two counts each sort every row's patient: on two cores at once (numpy sorts
    # without holding the interpreter lock).
    counter.finish()
    with ThreadPoolExecutor(1, thread_name_prefix="release-gate") as pool:
        in_scope = pool.submit(counter.patients_in_scope)
        counts = counter.counts() if qis else None
        result.patients_in_scope = in_scope.result()
    if result.patients_in_scope < rules.small_number_threshold:
        result.refusal = Refusal.FEW_PATIENTS
        result.refusal_message = (
            f"the grant selects {result.patients_in_scope} patient(s), fewer than the "
            f"small-number threshold of {rules.small_number_threshold}: release refused"
        )
    if counts is None:
        return result
    small = counts.patients < k
    result.classes = len(counts.values)
    kept = counts.patients[~small]
    result.k_achieved = int(kept.min()) if len(kept) else None
    result.classes_suppressed = int(small.sum())
    result.rows_suppressed = int(counts.rows[small].sum())
    if not result.classes_suppressed:
        return result
    one_class_each = int(counts.patients.sum()) == result.patients_in_scope
    result.drivers = _drivers(
        counter, qis, k, result.rows_suppressed, counts=counts, one_class_each=one_class_each
    )
    result.suppressed_classes = small
    if result.refusal is not None:
        return result
    if rules.small_classes is SmallClassAction.REFUSE:
        named = ", ".join(d["quasi_identifier"] for d in result.drivers) or ", ".join(qis)
        result.refusal = Refusal.SMALL_CLASSES
        result.refusal_message = (
            f"{result.classes_suppressed} combination(s) of the quasi-identifiers "
            f"{', '.join(qis)} hold fewer than k={k} patients ({result.rows_suppressed} "
            "row(s)); the access policy refuses such releases."
            f" Driven by: {named}. Ask for coarser or fewer quasi-identifiers, "
            "or a narrower row filter."
        )
    elif result.rows_released < rules.small_number_threshold:
        result.refusal = Refusal.FEW_ROWS_LEFT
        result.refusal_message = (
            f"after suppressing {result.rows_suppressed} row(s) in classes of fewer than "
            f"k={k} patients, {result.rows_released} row(s) would remain, fewer than the "
            f"small-number threshold of {rules.small_number_threshold}: release refused"
        )
    return result


def _drivers(
    counter: ClassCounter,
    qis: list[str],
    k: int,
    suppressed: int,
    *,
    counts: ClassCounts,
    one_class_each: bool,
) -> list[dict[str, Any]]:
    """Each quasi-identifier, with the rows that would be suppressed without it.

    Mostly without another scan: dropping a quasi-identifier merges whole classes, so a
    coarser class's rows are the sum of its classes' rows, and its patients are at least
    those of its largest class and at most the sum of its classes' patients (exactly the
    sum when every patient falls in one class: ``one_class_each``). A coarser class is
    small for sure when that sum is under ``k``, and not small when one of its classes has
    ``k`` patients or more. Only when some coarser class falls in between are that
    grouping's patients counted again (a sort of the pairs of the release).
    """
    if len(qis) == 1:
        return [{"quasi_identifier": qis[0], "rows_suppressed_without_it": 0}]
    drivers: list[dict[str, Any]] = []
    for i, qi in enumerate(qis):
        merged: dict[tuple[Any, ...], list[int]] = {}
        for values, patients, rows in zip(
            counts.values, counts.patients.tolist(), counts.rows.tolist(), strict=True
        ):
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
            rest = [j for j in range(len(qis)) if j != i]
            without = _suppressed_rows(counter.counts(keep=rest), k)
        if without < suppressed:
            drivers.append({"quasi_identifier": qi, "rows_suppressed_without_it": without})
    drivers.sort(key=lambda d: d["rows_suppressed_without_it"])
    return drivers
