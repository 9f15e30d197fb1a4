"""The policy's ``reidentification`` block: off by default, and coherent when on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fivesafes.deid.policy import ReidentificationOptions, load_policy, parse_policy
from fivesafes.errors import PolicyError

POLICIES = Path(__file__).parents[3] / "policies" / "datasets"
NHS = {"nhs_number": {"type": "nhs_number", "role": "patient_id"}}
#: The shipped policies' hashes computed by the code before this block existed (HEAD
#: 1aafd80): versions, reports and release manifests already carry them.
HASHES_BEFORE = {
    "sample-extract.yaml": "4af2f44634fd08066bed012412c6556b47cf7105eb702199b7c24751b928553f",
    "sample-extract-reviewed.yaml": (
        "c53bf2a0882b8cbafe4445083edc48606f23d66d50a83bd4c8dbd33f104d7c5f"
    ),
}


def policy(reid: Any = None, **columns: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"dataset": "test", "version": 1, "columns": columns or NHS}
    if reid is not None:
        data["reidentification"] = reid
    return data


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, "p.yaml")
    return str(caught.value)


def test_off_by_default() -> None:
    parsed = parse_policy(policy())
    assert parsed.reidentification == ReidentificationOptions()
    assert parsed.reidentification.allowed is False
    assert parsed.reidentification.monthly_limit_per_project == 5


def test_allowed_with_purposes_and_limit() -> None:
    parsed = parse_policy(
        policy(
            {
                "allowed": True,
                "purposes": ["safety_critical_finding", "consent_to_contact"],
                "monthly_limit_per_project": 12,
            }
        )
    )
    reid = parsed.reidentification
    assert reid.allowed
    assert reid.purposes == ("safety_critical_finding", "consent_to_contact")
    assert reid.monthly_limit_per_project == 12


@pytest.mark.parametrize(
    ("reid", "columns", "path", "message"),
    [
        ({"allowed": True}, NHS, "reidentification.purposes", "at least one purpose"),
        (
            {"allowed": True, "purposes": ["consent_to_contact", "consent_to_contact"]},
            NHS,
            "reidentification.purposes",
            "listed once",
        ),
        (
            {"allowed": True, "purposes": ["safety_critical_finding"]},
            {"mrn": {"type": "string", "role": "patient_id"}},
            "reidentification.allowed",
            "patient_id column of type nhs_number",
        ),
        (
            {"allowed": True, "purposes": ["safety_critical_finding"]},
            {"age": {"type": "integer", "role": "keep"}},
            "reidentification.allowed",
            "patient_id column of type nhs_number",
        ),
        ({"purposes": ["safety_critical_finding"]}, NHS, "reidentification.allowed", "only"),
        ({"monthly_limit_per_project": 9}, NHS, "reidentification.allowed", "only"),
        ({"allowed": "yes", "purposes": ["safety_critical_finding"]}, NHS, "allowed", "bool"),
        ({"allowed": True, "purposes": ["curiosity"]}, NHS, "purposes.0", ""),
        ({"allowed": True, "purposes": ["consent_to_contact"], "unknown": 1}, NHS, "unknown", ""),
        (
            {"allowed": True, "purposes": ["consent_to_contact"], "monthly_limit_per_project": 0},
            NHS,
            "monthly_limit_per_project",
            "",
        ),
        (
            {
                "allowed": True,
                "purposes": ["consent_to_contact"],
                "monthly_limit_per_project": 1001,
            },
            NHS,
            "monthly_limit_per_project",
            "",
        ),
    ],
)
def test_refused(reid: Any, columns: Any, path: str, message: str) -> None:
    text = problems(policy(reid, **columns))
    assert path in text
    assert message in text


def test_default_block_written_out_is_the_same_policy() -> None:
    plain = parse_policy(policy())
    explicit = parse_policy(
        policy({"allowed": False, "purposes": [], "monthly_limit_per_project": 5})
    )
    assert explicit.content_hash == plain.content_hash


def test_opting_in_changes_the_hash() -> None:
    plain = parse_policy(policy())
    allowed = parse_policy(policy({"allowed": True, "purposes": ["safety_critical_finding"]}))
    limited = parse_policy(
        policy(
            {
                "allowed": True,
                "purposes": ["safety_critical_finding"],
                "monthly_limit_per_project": 6,
            }
        )
    )
    assert len({plain.content_hash, allowed.content_hash, limited.content_hash}) == 3


@pytest.mark.parametrize("name", sorted(HASHES_BEFORE))
def test_old_policies_keep_their_hash(tmp_path: Path, name: str) -> None:
    """A policy without the block, or with it at its defaults, hashes exactly as before."""
    assert load_policy(POLICIES / name).content_hash == HASHES_BEFORE[name]
    data = yaml.safe_load((POLICIES / name).read_text())
    data["reidentification"] = {"allowed": False}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_policy(path).content_hash == HASHES_BEFORE[name]
