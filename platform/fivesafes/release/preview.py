"""Disclosure previews: what the gate would do to a request's release, before anyone approves.

A preview plans the release a request (or a draft of one) would become, on the version it
would read now, and reads and counts its rows exactly as a release does
(:func:`~fivesafes.release.counting.count_rows`: the same reader, project transform and
counter), then asks the same gate (:func:`~fivesafes.release.disclosure.assess`) for its
whole report, refusal included. Nothing is spooled, no release row is written, nothing is
sent: a preview is not a release. Each one is audited (``release.preview``, counts only).

When most rows would be suppressed, or the release would be refused, the preview works
out what would help: each quasi-identifier left out (from the gate's drivers, no further
read), and dates released more coarsely (one further read and count per coarser
granularity, only then), alone and with one quasi-identifier left out.

Fewer patients in scope than the small-number threshold are not counted out to the
viewer: a preview a researcher can repeat with any row filter would otherwise tell how
many patients match it, however few.

:func:`review_with_preview` is how the API, the pages and the CLI review a request: an
approval first takes the preview, and one whose release would be refused needs an override
reason (``access.service``, which records it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import Engine

from fivesafes.access import service as access
from fivesafes.access.acting import Acting
from fivesafes.access.facts import authorized_target
from fivesafes.access.models import AccessRequest, Granularity
from fivesafes.access.policy import Action, ReleaseRules, SmallClassAction
from fivesafes.access.schemas import RequestIn
from fivesafes.datasets.review import VersionNotReleasableError
from fivesafes.errors import ConflictError, NotFoundError
from fivesafes.keys.store import KeyStore
from fivesafes.release.counting import count_rows, project_generation, project_pseudonyms
from fivesafes.release.disclosure import GateResult, Refusal, assess
from fivesafes.release.query import ReleasePlan, ReleaseTerms, build_plan
from fivesafes.release.transform import BatchTransform

#: Above this share of rows suppressed, a preview says what would keep more of them.
MOST_ROWS = 0.5
_COARSER = {
    Granularity.DAY.value: (Granularity.MONTH.value, Granularity.YEAR.value),
    Granularity.MONTH.value: (Granularity.YEAR.value,),
    Granularity.YEAR.value: (),
}
_DATED = frozenset({"date", "project_date_shift"})


@dataclass(frozen=True, slots=True)
class Previewer:
    """Who previews (:class:`Acting`), and what reading the rows needs."""

    acting: Acting
    keys: Callable[[], KeyStore]  # asked only once there are rows to count
    engine: Engine
    max_rows: int  # as a release (FIVESAFES_RELEASE_MAX_ROWS)


@dataclass(frozen=True, slots=True)
class Alternative:
    """A change to the terms, and what the gate would then do."""

    granularity: str
    dropped: str | None  # a quasi-identifier left out
    rows_suppressed: int
    rows_released: int
    refused: bool
    changes: int  # how many changes to the terms (1 or 2)

    def changed(self, current: str) -> frozenset[str]:
        """The changes to the terms, as comparable items."""
        items = {f"drop {self.dropped}"} if self.dropped is not None else set()
        if self.granularity != current:
            items.add(f"dates by {self.granularity}")
        return frozenset(items)

    def words(self, current: str) -> str:
        parts = []
        if self.granularity != current:
            parts.append(f"dates by {self.granularity} instead of by {current}")
        if self.dropped is not None:
            parts.append(f"without {self.dropped}")
        return " and ".join(parts)


@dataclass(frozen=True, slots=True)
class Preview:
    """The gate's report on the release the terms would make now."""

    terms: ReleaseTerms
    project_id: int
    request_id: int | None  # None: a draft
    version: int  # the version number previewed (what "latest" means now)
    gate: GateResult
    alternatives: list[Alternative] = field(default_factory=list)
    suggestion: str | None = None

    @property
    def refused(self) -> bool:
        return self.gate.refusal is not None

    @property
    def counts_hidden(self) -> bool:
        """Too few patients to say how many (the small-number threshold)."""
        return self.gate.refusal is Refusal.FEW_PATIENTS

    @property
    def refusal(self) -> str | None:
        """The refusal in words (without the count of a small number of patients)."""
        if self.gate.refusal is None:
            return None
        if self.counts_hidden:
            return (
                f"the terms select fewer patients than the small-number threshold of "
                f"{self.gate.small_number_threshold}: release refused"
            )
        return self.gate.refusal_message

    @property
    def most_rows_suppressed(self) -> bool:
        gate = self.gate
        if self.counts_hidden or gate.rows_in_scope == 0:
            return False
        return gate.rows_suppressed > MOST_ROWS * gate.rows_in_scope

    def audit_details(self) -> dict[str, Any]:
        """Counts only, never a value (and no small number of patients)."""
        gate, hidden = self.gate, self.counts_hidden
        return {
            "project_id": self.project_id,
            "draft": self.request_id is None,
            "dataset": self.terms.dataset.name,
            "dataset_version": self.version,
            "rows_in_scope": None if hidden else gate.rows_in_scope,
            "rows_suppressed": None if hidden else gate.rows_suppressed,
            "k_achieved": None if hidden else gate.k_achieved,
            "refused": self.refused,
            "refusal": gate.refusal.value if gate.refusal else None,
        }


def preview_request(previewer: Previewer, *, request_id: int) -> Preview:
    """The preview of a submitted request (``request.view``: its project's researchers and
    governance), on the version it would read now."""
    acting = previewer.acting
    request = authorized_target(
        acting.session,
        acting.policy,
        acting.user,
        Action.REQUEST_VIEW,
        acting.now,
        request_id=request_id,
    ).loaded_request
    return _previewed(previewer, ReleaseTerms.of(request), request.project_id, request)


def preview_draft(previewer: Previewer, *, project_id: int, body: RequestIn) -> Preview:
    """The preview of a request not yet submitted (``request.create`` on the project),
    checked as its submission would be (4xx naming what is wrong)."""
    acting = previewer.acting
    authorized_target(
        acting.session,
        acting.policy,
        acting.user,
        Action.REQUEST_CREATE,
        acting.now,
        project_id=project_id,
    )
    checked = access.check_request(acting.session, body, acting.now)
    terms = ReleaseTerms(
        dataset=checked.dataset,
        version=checked.version,
        columns=checked.columns,
        row_filter=checked.row_filter,
        granularity=checked.granularity,
        holder="the draft request",
    )
    return _previewed(previewer, terms, project_id, None)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A request's preview as its approval sees it: the preview, or the reason there is
    none; and the verdict the approval is held to (None: nothing to hold it to)."""

    preview: Preview | None
    problem: str | None  # why there is no preview
    verdict: access.DisclosureVerdict | None

    @property
    def override_needed(self) -> bool:
        return self.verdict is not None and self.verdict.refused


def attempt_preview(previewer: Previewer, *, request_id: int) -> Attempt:
    """The preview of a request for its review. No version to read yet (none ingested, or
    none let through) leaves nothing to preview, and the gate judges at download (a version
    fixed by the request is checked by the review itself); columns gone from the version,
    or more rows than a release may hold, are refusals as the gate's are."""
    try:
        found = preview_request(previewer, request_id=request_id)
    except (NotFoundError, VersionNotReleasableError) as exc:
        return Attempt(None, exc.message, None)
    except ConflictError as exc:
        return Attempt(None, exc.message, access.DisclosureVerdict(True, exc.message))
    return Attempt(found, None, access.DisclosureVerdict(found.refused, found.refusal or ""))


def review_with_preview(
    previewer: Previewer,
    *,
    request_id: int,
    choice: access.ReviewChoice,
) -> AccessRequest:
    """Review a request; an approval first takes its disclosure preview (audited,
    :func:`attempt_preview`), and one whose release would be refused needs ``choice``'s
    override reason."""
    if not choice.approve:
        return access.review_with_verdict(previewer.acting, request_id=request_id, choice=choice)
    acting = previewer.acting
    # Only an officer who may approve it makes the preview (and its audit event).
    authorized_target(
        acting.session,
        acting.policy,
        acting.user,
        Action.REQUEST_APPROVE,
        acting.now,
        request_id=request_id,
    )
    verdict = attempt_preview(previewer, request_id=request_id).verdict
    checked = replace(choice, disclosure=verdict)
    return access.review_with_verdict(acting, request_id=request_id, choice=checked)


# ------------------------------------------------------------------------------ counting


def _gate(previewer: Previewer, plan: ReleasePlan, project_id: int) -> GateResult:
    acting = previewer.acting
    generation = project_generation(acting.session, project_id)
    pseudonyms = project_pseudonyms(
        previewer.keys(), project_id, plan, project_generation=generation
    )
    transform = BatchTransform(plan, pseudonyms)
    counter = count_rows(
        plan, transform, previewer.engine, acting.session.connection(), max_rows=previewer.max_rows
    )
    return assess(counter, plan, acting.policy.release)


def _previewed(
    previewer: Previewer, terms: ReleaseTerms, project_id: int, request: AccessRequest | None
) -> Preview:
    acting = previewer.acting
    plan = build_plan(acting.session, terms)
    gate = _gate(previewer, plan, project_id)
    preview = Preview(terms, project_id, request.id if request else None, plan.version.number, gate)
    if preview.refused or preview.most_rows_suppressed:
        alternatives = _alternatives(previewer, plan, gate, project_id)
        preview = Preview(
            terms,
            project_id,
            preview.request_id,
            preview.version,
            gate,
            alternatives,
            _suggestion(preview, alternatives),
        )
    acting.trail.record(
        acting.session,
        "release.preview",
        target_type="request" if request else "project",
        target_id=str(request.id if request else project_id),
        details=preview.audit_details(),
    )
    return preview


def _without(gate: GateResult, rules: ReleaseRules, granularity: str) -> list[Alternative]:
    """Each driving quasi-identifier left out, from the gate's own drivers."""
    out = []
    for driver in gate.drivers:
        suppressed = int(driver["rows_suppressed_without_it"])
        released = gate.rows_in_scope - suppressed
        refused = (
            gate.refusal is Refusal.FEW_PATIENTS
            or (rules.small_classes is SmallClassAction.REFUSE and suppressed > 0)
            or released < rules.small_number_threshold
        )
        out.append(
            Alternative(granularity, driver["quasi_identifier"], suppressed, released, refused, 1)
        )
    return out


def _alternatives(
    previewer: Previewer, plan: ReleasePlan, gate: GateResult, project_id: int
) -> list[Alternative]:
    if gate.refusal is Refusal.FEW_PATIENTS:
        return []  # no coarsening or leaving out brings more patients in
    rules = previewer.acting.policy.release
    terms = plan.terms
    found = _without(gate, rules, terms.granularity)
    dated = any(c.treatment in _DATED for c in plan.columns)
    for granularity in _COARSER.get(terms.granularity, ()) if dated else ():
        coarser = build_plan(previewer.acting.session, terms.coarsened(granularity))
        other = _gate(previewer, coarser, project_id)
        found.append(
            Alternative(
                granularity,
                None,
                other.rows_suppressed,
                other.rows_released,
                other.refusal is not None,
                1,
            )
        )
        found.extend(replace(a, changes=2) for a in _without(other, rules, granularity))
    return sorted(found, key=lambda a: (a.refused, a.rows_suppressed, a.changes))


def _suggestion(preview: Preview, alternatives: list[Alternative]) -> str:
    """What to change, in words: the changes that help most, fewest changes first."""
    gate, current = preview.gate, preview.terms.granularity
    if preview.counts_hidden:
        return (
            "Too few patients match these terms for any release: widen the row filter "
            "(coarser dates or fewer columns do not bring more patients in)."
        )
    better = [a for a in alternatives if not a.refused and a.rows_suppressed < gate.rows_suppressed]
    if not better:
        return (
            "Neither coarser dates nor leaving out one quasi-identifier would make this "
            "release acceptable: ask for fewer quasi-identifiers "
            f"(of {', '.join(gate.quasi_identifiers) or 'none'}) or a different row filter."
        )
    # Fewest rows lost first; a change that adds to a kept one without doing better is
    # left out ("by year and without postcode" after "without postcode" alone).
    options: list[Alternative] = []
    for a in sorted(better, key=lambda a: (a.rows_suppressed, a.changes)):
        if not any(
            k.rows_suppressed <= a.rows_suppressed and k.changed(current) <= a.changed(current)
            for k in options
        ):
            options.append(a)
    options = options[:3]
    said = "; or ".join(
        f"{a.words(current)}: {a.rows_suppressed:,} row(s) suppressed, {a.rows_released:,} released"
        for a in options
    )
    if preview.refused:
        lead = "The release would be refused."
    else:
        lead = f"{gate.rows_suppressed:,} of {gate.rows_in_scope:,} rows would be suppressed."
    return f"{lead} Suggested: {said}."
