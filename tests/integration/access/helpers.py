"""Factories for access tests: users, datasets with a stored policy, projects, requests."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from fivesafes.access import service
from fivesafes.access.models import AccessRequest, Project
from fivesafes.access.policy import AccessPolicy, load_access_policy
from fivesafes.access.schemas import ProjectIn, RequestIn
from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.models import Dataset, DatasetPolicyVersion
from fivesafes.db import utcnow
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role, User

TRAIL = AuditTrail.for_operator()
POLICY_FILE = Path(__file__).resolve().parents[3] / "policies" / "access.yaml"

DATASET_POLICY = """\
dataset: {name}
version: 1
sensitivity: {sensitivity}
columns:
  nhs_number: {{type: nhs_number, role: patient_id}}
  patient_name: {{type: string, role: identifier, action: drop}}
  date_of_birth: {{type: date, role: quasi_identifier, generalise: to_year}}
  admission_date: {{type: date, role: quasi_identifier, generalise: date_shift}}
  sex: {{type: string, role: keep}}
  length_of_stay: {{type: integer, role: keep}}
  diagnosis_code: {{type: string, role: keep}}
"""
REQUESTABLE = [
    "nhs_number",
    "date_of_birth",
    "admission_date",
    "sex",
    "length_of_stay",
    "diagnosis_code",
]


def shipped_policy() -> AccessPolicy:
    return load_access_policy(POLICY_FILE)


def make_user(session: Session, role: Role, prefix: str | None = None) -> User:
    username = f"{prefix or role.value[:3]}-{uuid.uuid4().hex[:8]}"
    return identity.create_user(session, TRAIL, username, role)


def make_dataset(
    session: Session, sensitivity: str = "standard", name: str | None = None
) -> Dataset:
    name = name or f"ds-{sensitivity[:4]}-{uuid.uuid4().hex[:8]}"
    text = DATASET_POLICY.format(name=name, sensitivity=sensitivity)
    dataset = Dataset(name=name)
    session.add(dataset)
    session.flush()
    session.add(
        DatasetPolicyVersion(
            dataset_id=dataset.id,
            version=1,
            content_sha256=hashlib.sha256(text.encode()).hexdigest(),
            sensitivity=sensitivity,
            source_text=text,
        )
    )
    session.flush()
    return dataset


def project_body(
    lead: User | None,
    members: list[User] = (),  # type: ignore[assignment]
    *,
    start: date | None = None,
    end: date | None = None,
) -> ProjectIn:
    today = utcnow().date()
    return ProjectIn(
        title="Readmissions after hip fracture",
        purpose="Estimate 30-day readmission rates after hip fracture surgery.",
        lay_summary="We look at how often people come back to hospital after a broken hip.",
        ethics_ref="REC 24/NW/0001",
        dsa_ref="DSA-2024-017",
        lawful_basis="6.1.e-public-task",
        special_category_condition="9.2.j-archiving-research-statistics",
        start_date=start or today - timedelta(days=30),
        end_date=end or today + timedelta(days=365),
        lead=lead.username if lead else None,
        members=[m.username for m in members],
    )


def make_project(
    session: Session,
    policy: AccessPolicy,
    officer: User,
    lead: User,
    members: list[User] = (),  # type: ignore[assignment]
    *,
    now: datetime,
    start: date | None = None,
    end: date | None = None,
) -> Project:
    body = project_body(lead, list(members), start=start, end=end)
    return service.create_project(session, TRAIL, policy, officer, body=body, now=now)


def request_body(dataset: Dataset, **overrides: object) -> RequestIn:
    fields: dict[str, object] = {
        "dataset": dataset.name,
        "columns": ["nhs_number", "admission_date", "diagnosis_code"],
        "row_filter": "admission_date between 2023-01-01 and 2023-12-31",
        "date_granularity": "month",
        "justification": "Admissions in 2023 are the study period of the protocol.",
    }
    fields.update(overrides)
    return RequestIn.model_validate(fields)


def make_request(
    session: Session,
    policy: AccessPolicy,
    requester: User,
    project: Project,
    dataset: Dataset,
    *,
    now: datetime,
    **overrides: object,
) -> AccessRequest:
    return service.create_request(
        session,
        TRAIL,
        policy,
        requester,
        project_id=project.id,
        body=request_body(dataset, **overrides),
        now=now,
    )


@dataclass
class Clock:
    now: datetime

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
