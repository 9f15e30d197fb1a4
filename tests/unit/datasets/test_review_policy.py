"""`review_sample` in dataset policies, and highlighting replacement tags in a cell."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from fivesafes.datasets.review import Segment, highlight
from fivesafes.deid.policy import load_policy, parse_policy
from fivesafes.errors import PolicyError

POLICIES = Path(__file__).parents[3] / "policies" / "datasets"


def policy(**extra: Any) -> dict[str, Any]:
    return {
        "dataset": "notes",
        "version": 1,
        "columns": {
            "nhs_number": {"type": "nhs_number", "role": "patient_id"},
            "note": {"type": "string", "role": "free_text"},
        },
        **extra,
    }


@pytest.mark.parametrize("size", [1, 20, 1000])
def test_review_sample_in_range_is_accepted(size: int) -> None:
    assert parse_policy(policy(review_sample=size)).review_sample == size


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "greater than or equal to 1"), (1001, "less than or equal to 1000"), ("x", "integer")],
)
def test_review_sample_out_of_range_names_the_key(value: object, message: str) -> None:
    with pytest.raises(PolicyError, match=rf"review_sample: .*{message}"):
        parse_policy(policy(review_sample=value), "notes.yaml")


def test_review_without_free_text_is_refused_naming_the_key() -> None:
    data = policy(review_sample=5)
    data["columns"]["note"] = {"type": "string", "role": "keep"}
    with pytest.raises(PolicyError, match=r"review_sample: .*no free_text column"):
        parse_policy(data, "notes.yaml")


def test_no_review_by_default_and_old_hashes_unchanged() -> None:
    plain = parse_policy(policy())
    assert plain.review_sample is None
    content = plain.model_dump(mode="json")
    # A policy without the later keys hashes as it did before they existed.
    later = ("review_sample", "free_text_places", "free_text_organisations", "allow_empty")
    for key in (*later, "withdrawn_retention_days", "reidentification"):
        del content[key]
    assert plain.content_hash == hashlib.sha256(rfc8785.dumps(content)).hexdigest()
    assert parse_policy(policy(review_sample=5)).content_hash != plain.content_hash


def test_shipped_example_asks_for_a_review_and_the_demo_sample_does_not() -> None:
    reviewed = load_policy(POLICIES / "sample-extract-reviewed.yaml")
    sample = load_policy(POLICIES / "sample-extract.yaml")
    assert reviewed.review_sample == 20
    assert sample.review_sample is None  # the demo's dataset stays releasable at once
    assert reviewed.columns == sample.columns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("no tags", [Segment("no tags", False)]),
        ("[PERSON]", [Segment("[PERSON]", True)]),
        (
            "Seen by [PERSON] on [DATE], NHS [NHS_NUMBER].",
            [
                Segment("Seen by ", False),
                Segment("[PERSON]", True),
                Segment(" on ", False),
                Segment("[DATE]", True),
                Segment(", NHS ", False),
                Segment("[NHS_NUMBER]", True),
                Segment(".", False),
            ],
        ),
        ("[lower] [A1] [_X] [] [PERSON", [Segment("[lower] [A1] [_X] [] [PERSON", False)]),
        ("<b>[DATE]</b>", [Segment("<b>", False), Segment("[DATE]", True), Segment("</b>", False)]),
    ],
)
def test_highlight_splits_tags_from_text(text: str, expected: list[Segment]) -> None:
    assert highlight(text) == expected
