"""Fixture facts for crate tests: a project, a grant with two sign-offs, one release,
an accepted destruction attestation, and a fake retained copy of the release's bytes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from fivesafes.crate.facts import (
    CopyDestruction,
    CrateFacts,
    GrantFacts,
    Person,
    ProjectFacts,
    ReleaseFacts,
    ReviewFacts,
    UploadFacts,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RELEASE_ID = uuid.UUID("8c4b2f0e-1111-4a2b-9c3d-0123456789ab")
DATA = b"nhs_number,postcode\n" + b"a1b2c3,ZE2\n" * 50_000
LEAD = Person("lead-ann", str(uuid.UUID(int=1)))
OFFICER_1 = Person("gov-bob", str(uuid.UUID(int=2)))
OFFICER_2 = Person("gov-cat", str(uuid.UUID(int=3)))
UPLOADER = Person("op-dan", str(uuid.UUID(int=4)))


def manifest(sha256: str, size: int) -> dict[str, Any]:
    return {
        "release_id": str(RELEASE_ID),
        "rows_released": 50_000,
        "grant": {
            "id": 7,
            "columns": ["nhs_number", "postcode"],
            "row_filter": None,
            "date_granularity": "month",
        },
        "dataset": {
            "name": "admissions",
            "version": 2,
            "version_rows": 50_002,
            "source_sha256": "ab" * 32,
            "policy_version": 3,
            "policy_sha256": "cd" * 32,
        },
        "disclosure": {
            "k_required": 5,
            "k_achieved": 6,
            "counted_by": "distinct patients",
            "quasi_identifiers": ["postcode"],
            "quasi_identifiers_not_counted": {},
            "small_classes": "suppress",
            "small_number_threshold": 10,
            "rows_in_scope": 50_002,
            "patients_in_scope": 25_001,
            "classes": 40,
            "classes_suppressed": 1,
            "rows_suppressed": 2,
            "suppression_drivers": [
                {"quasi_identifier": "postcode", "rows_suppressed_without_it": 0}
            ],
        },
        "software": {
            "platform": "fivesafes 0.1",
            "pyarrow": "17.0.0",
            "sqlalchemy": "2.0.30",
            "deidentification": {
                "engine": "fivesafes 0.1",
                "spacy": "3.7.0",
                "presidio_analyzer": "2.2.0",
                "spacy_model": {"name": "en_core_web_sm", "version": "3.7.1"},
            },
        },
        "content": {"sha256": sha256, "bytes": size},
        "state": "completed",
    }


def attestation() -> dict[str, Any]:
    return {
        "id": 11,
        "release_id": str(RELEASE_ID),
        "destroyed_by": "Ann Lead, project lead",
        "destroyed_on": "2026-06-01",
        "method": "secure erase of the laptop volume",
        "copies": ["laptop LT-42"],
        "declaration": "I declare every copy destroyed.",
        "signed_name": "Ann Lead",
        "content_sha256": "ef" * 32,
        "submitted_by": LEAD.username,
        "submitted_at": "2026-06-02T10:00:00+00:00",
        "state": "accepted",
        "reviewed_by": OFFICER_1.username,
        "reviewed_at": "2026-06-03T10:00:00+00:00",
    }


def project() -> ProjectFacts:
    return ProjectFacts(
        id=3,
        title="Readmissions after hip surgery",
        purpose="Estimate 30-day readmission rates.",
        lay_summary="How often do patients come back to hospital?",
        lawful_basis="6.1.e-public-task",
        special_category_condition="9.2.j-archiving-research-statistics",
        ethics_ref="REC 24/NW/0001",
        dsa_ref="DSA-2026-017",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
        state="active",
        lead=LEAD,
        members=(LEAD,),
        decided_by=OFFICER_1,
        decided_at=T0,
    )


def release(data: bytes = DATA, **changes: Any) -> ReleaseFacts:
    sha = hashlib.sha256(data).hexdigest()
    grant = GrantFacts(
        id=7,
        request_id=5,
        requester=LEAD,
        requested_at=T0,
        request_state="approved",
        request_decided_at=T0,
        reviews=(
            ReviewFacts(1, OFFICER_1, "approve", T0, False),
            ReviewFacts(2, OFFICER_2, "approve", T0, True),
        ),
        issued_at=T0,
        expires_at=datetime(2026, 12, 31, tzinfo=UTC),
    )
    facts = ReleaseFacts(
        id=RELEASE_ID,
        created_at=T0,
        completed_at=T0,
        state="completed",
        file_name=f"grant-7-release-{str(RELEASE_ID)[:8]}.csv",
        media_type="text/csv; charset=utf-8",
        sha256=sha,
        byte_count=len(data),
        recipient=LEAD,
        manifest=manifest(sha, len(data)),
        grant=grant,
        version_created_at=T0,
        sensitivity="sensitive",
        upload=UploadFacts(str(uuid.UUID(int=9)), T0, UPLOADER, "ab" * 32),
    )
    return replace(facts, **changes)


def crate_facts(*releases: ReleaseFacts) -> CrateFacts:
    return CrateFacts(project(), releases or (release(),))


def closed_release() -> ReleaseFacts:
    return release(
        attestations=(attestation(),),
        copy_destruction=CopyDestruction(T0, None, "project closed"),
    )


@dataclass
class FakeCopy:
    """A stand-in for release.retained.RetainedCopy: the bytes, in small chunks."""

    data: bytes
    file_name: str
    content_sha256: str
    chunk: int = 65_536

    @property
    def byte_count(self) -> int:
        return len(self.data)

    def chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            yield self.data[start : start + self.chunk]


def fake_copy(facts: CrateFacts, data: bytes = DATA) -> FakeCopy:
    (one,) = facts.releases
    assert one.sha256 is not None
    return FakeCopy(data, one.file_name, one.sha256)
