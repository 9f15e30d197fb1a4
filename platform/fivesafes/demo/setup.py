"""Prepare a demo installation idempotently: running `make demo` twice is harmless."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fivesafes import schema
from fivesafes.access import service as access
from fivesafes.access.models import LawfulBasis, ProjectState, SpecialCategoryCondition
from fivesafes.access.policy import load_access_policy
from fivesafes.access.schemas import ProjectIn
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.datasets import policy_versions
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import UploadState, VersionState
from fivesafes.db import make_engine, make_session_factory, session_scope, utcnow
from fivesafes.errors import ConfigurationError, NotFoundError
from fivesafes.identity import passwords, service
from fivesafes.identity.models import Role
from fivesafes.ingestion.ingestor import Ingestor, IngestorOptions
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.ingestion.service import file_sha256, find_duplicate
from fivesafes.keys.open import open_keystore
from fivesafes.provisioning import ensure_keys

SAMPLE_EXTRACT = Path(__file__).with_name("sample-extract.csv")

DEMO_USERS: tuple[tuple[str, Role, str], ...] = (
    ("admin", Role.ADMIN, "Demo administrator"),
    ("uploader", Role.UPLOADER, "Demo trust data manager"),
    ("researcher", Role.RESEARCHER, "Demo university researcher"),
    ("governance", Role.GOVERNANCE, "Demo information governance officer"),
    # A second officer: a sensitive dataset's requests need two distinct approvers.
    ("governance2", Role.GOVERNANCE, "Demo second information governance officer"),
)
DEMO_OFFICER = "governance"  # who approves the demo project
DEMO_RESEARCHER = "researcher"  # who leads it
DEMO_PROJECT_TITLE = "Demo: emergency readmissions after COPD admissions"
DEMO_PROJECT_DAYS = 365


POLICY_DIR = Path("policies/datasets")
SAMPLE_DATASET = "sample-extract"
REVIEWED_DATASET = "sample-extract-reviewed"


@dataclass(slots=True)
class DemoState:
    tokens: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)  # web log-in, fresh each run
    notes: list[str] = field(default_factory=list)


def prepare_demo(settings: Settings) -> DemoState:
    """Migrate, create the demo users if missing and give each a fresh one-day token."""
    if not settings.database_url.startswith("sqlite"):
        raise NotFoundError("the demo runs on the embedded SQLite database only")
    state = DemoState()
    schema.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        trail = AuditTrail.for_operator()
        with session_scope(make_session_factory(engine)) as session:
            if ensure_keys(settings):
                trail.record(session, "keys.init")
                state.notes.append(f"created local keys in {settings.keystore_path}")
            for username, role, full_name in DEMO_USERS:
                try:
                    user = service.get_user(session, username)
                except NotFoundError:
                    user = service.create_user(session, trail, username, role, full_name=full_name)
                issued = service.issue_token(
                    session,
                    trail,
                    user,
                    "demo",
                    min(timedelta(days=1), settings.token_max_lifetime),
                    max_lifetime=settings.token_max_lifetime,
                )
                state.tokens[username] = issued.secret
                state.passwords[username] = passwords.generate_password()
                passwords.set_password(session, trail, user, state.passwords[username])
            # Loaded as the demo's admin, as `policies load --as admin` would.
            files = datasets.policy_files(POLICY_DIR)
            admin = next(name for name, role, _ in DEMO_USERS if role == Role.ADMIN)
            for loaded in policy_versions.load_policy_files_as(session, trail, admin, files):
                if loaded.created:
                    state.notes.append(f"loaded policy {loaded.dataset} v{loaded.version}")
            _ensure_project(settings, session, trail, state)
            officers = [name for name, role, _ in DEMO_USERS if role == Role.GOVERNANCE]
            state.notes.append(
                f"governance officers: {' and '.join(officers)} (a request for a sensitive "
                f"dataset, such as {REVIEWED_DATASET}, needs the approval of both)"
            )
        _ingest_sample(settings, engine, trail, state, SAMPLE_DATASET)
        # The same extract under governance review: its version waits in the governance
        # user's queue (ingested by the operator, so that user may review it), while the
        # dataset above stays releasable at once for the researcher's path.
        _ingest_sample(settings, engine, trail, state, REVIEWED_DATASET)
    finally:
        engine.dispose()
    return state


def _ensure_project(
    settings: Settings, session: Session, trail: AuditTrail, state: DemoState
) -> None:
    """One active project led by the demo researcher, approved by the demo officer, so
    the researcher can request data at once; a second run finds it (while it runs)."""
    policy = load_access_policy(settings.access_policy_path)
    officer = service.get_user(session, DEMO_OFFICER)
    now = utcnow()
    for project in access.list_projects(session, policy, officer, now):
        if (
            project.title == DEMO_PROJECT_TITLE
            and project.state is ProjectState.ACTIVE
            and project.lead.username == DEMO_RESEARCHER
            and project.start_date <= now.date() <= project.end_date
        ):
            return
    body = ProjectIn(
        title=DEMO_PROJECT_TITLE,
        purpose=(
            "Estimate the rate of emergency readmission within 30 days of an admission for "
            "an exacerbation of chronic obstructive pulmonary disease (synthetic demo data)."
        ),
        lay_summary=(
            "How often people with a long-term lung disease come back to hospital soon "
            "after they leave, so that follow-up care can be planned better."
        ),
        ethics_ref="DEMO-REC-0001",
        dsa_ref="DEMO-DSA-0001",
        lawful_basis=LawfulBasis.PUBLIC_TASK,
        special_category_condition=SpecialCategoryCondition.RESEARCH,
        start_date=now.date(),
        end_date=now.date() + timedelta(days=DEMO_PROJECT_DAYS),
        lead=DEMO_RESEARCHER,
    )
    acting = trail.acting_as(service.actor_of(officer))
    project = access.create_project(session, acting, policy, officer, body=body, now=now)
    state.notes.append(
        f"created the active project #{project.id} {DEMO_PROJECT_TITLE!r}, led by "
        f"{DEMO_RESEARCHER} (log in as {DEMO_RESEARCHER} to request data for it)"
    )


def _ingest_sample(
    settings: Settings, engine: Engine, trail: AuditTrail, state: DemoState, dataset_name: str
) -> None:
    """Ingest the synthetic sample extract once (a second run finds its version)."""
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        dataset = datasets.get_dataset(session, dataset_name)
        if find_duplicate(session, dataset, file_sha256(SAMPLE_EXTRACT)) is not None:
            return
    options = IngestorOptions.from_settings(settings, workers=1)
    ingestor = Ingestor(factory, open_keystore(settings), options)
    try:
        view = ingest_file(ingestor, trail, dataset_name, SAMPLE_EXTRACT)
    finally:
        ingestor.close()
    if view.state != UploadState.SUCCEEDED:
        raise ConfigurationError(f"the sample extract did not ingest: {view.errors}")
    waiting = (
        " (waiting for governance review: log in as governance, open the review queue)"
        if view.dataset_version_state == VersionState.PENDING_REVIEW
        else ""
    )
    state.notes.append(
        f"ingested the synthetic sample extract as {dataset_name} version "
        f"{view.dataset_version}{waiting}"
    )
