"""How a disclosure preview is shown: the API's response and the pages' cards alike."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from fivesafes.release.preview import Preview


class DriverOut(BaseModel):
    quasi_identifier: str
    rows_suppressed_without_it: int = Field(
        description="Rows that would be suppressed if this quasi-identifier were left out"
    )


class AlternativeOut(BaseModel):
    """A change to the request's terms, and what the gate would then do."""

    change: str = Field(examples=["dates by year instead of by day and without district"])
    date_granularity: str
    without: str | None = Field(description="A quasi-identifier left out")
    rows_suppressed: int
    rows_released: int
    refused: bool


class PreviewOut(BaseModel):
    """What the disclosure gate would do to this request's release, computed now on the
    version it would read, exactly as a release computes it. Not a release: nothing was
    released, and the release itself is gated again at every download."""

    request_id: int | None = Field(description="None: a draft, not yet submitted")
    project_id: int
    dataset: str
    version_requested: int | Literal["latest"]
    version: int = Field(description="The version previewed (what latest means now)")
    columns: list[str]
    row_filter: str | None
    date_granularity: str
    refused: bool = Field(description="The release would be refused (409 at download)")
    refusal_code: str | None = Field(examples=["few_rows_left"])
    refusal: str | None = Field(description="Why, in words")
    counts_hidden: bool = Field(
        description="Fewer patients than the small-number threshold: counts are not shown"
    )
    rows_in_scope: int | None
    patients_in_scope: int | None
    rows_suppressed: int | None
    rows_released: int | None
    most_rows_suppressed: bool
    classes: int | None
    classes_suppressed: int | None
    k_required: int
    k_achieved: int | None
    small_classes: str = Field(description="suppress or refuse (the access policy)")
    small_number_threshold: int
    quasi_identifiers: list[str] = Field(description="Counted by the gate, as released")
    quasi_identifiers_not_counted: dict[str, str]
    drivers: list[DriverOut] = Field(description="Quasi-identifiers driving the suppression")
    alternatives: list[AlternativeOut]
    suggestion: str | None = Field(description="What to change, in words")


def preview_out(preview: Preview) -> PreviewOut:
    gate, terms, hidden = preview.gate, preview.terms, preview.counts_hidden
    return PreviewOut(
        request_id=preview.request_id,
        project_id=preview.project_id,
        dataset=terms.dataset.name,
        version_requested=terms.version or "latest",
        version=preview.version,
        columns=list(terms.columns),
        row_filter=terms.row_filter,
        date_granularity=terms.granularity,
        refused=preview.refused,
        refusal_code=gate.refusal.value if gate.refusal else None,
        refusal=preview.refusal,
        counts_hidden=hidden,
        rows_in_scope=None if hidden else gate.rows_in_scope,
        patients_in_scope=None if hidden else gate.patients_in_scope,
        rows_suppressed=None if hidden else gate.rows_suppressed,
        rows_released=None if hidden else gate.rows_released,
        most_rows_suppressed=preview.most_rows_suppressed,
        classes=None if hidden else gate.classes,
        classes_suppressed=None if hidden else gate.classes_suppressed,
        k_required=gate.k_required,
        k_achieved=None if hidden else gate.k_achieved,
        small_classes=gate.action,
        small_number_threshold=gate.small_number_threshold,
        quasi_identifiers=gate.quasi_identifiers,
        quasi_identifiers_not_counted=gate.not_counted,
        drivers=[] if hidden else [DriverOut.model_validate(d) for d in gate.drivers],
        alternatives=[
            AlternativeOut(
                change=a.words(terms.granularity),
                date_granularity=a.granularity,
                without=a.dropped,
                rows_suppressed=a.rows_suppressed,
                rows_released=a.rows_released,
                refused=a.refused,
            )
            for a in preview.alternatives
        ],
        suggestion=preview.suggestion,
    )
