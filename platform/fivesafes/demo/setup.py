"""Prepare a demo installation idempotently: running `make demo` twice is harmless."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from fivesafes import schema
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.datasets import policy_versions
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import UploadState, VersionState
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.errors import ConfigurationError, NotFoundError
from fivesafes.identity import passwords, service
from fivesafes.identity.models import Role
from fivesafes.ingestion.ingestor import Ingestor, IngestorOptions
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.ingestion.service import file_sha256, find_duplicate
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.provisioning import ensure_keys

SAMPLE_EXTRACT = Path(__file__).with_name("sample-extract.csv")

DEMO_USERS: tuple[tuple[str, Role, str], ...] = (
    ("admin", Role.ADMIN, "Demo administrator"),
    ("uploader", Role.UPLOADER, "Demo trust data manager"),
    ("researcher", Role.RESEARCHER, "Demo university researcher"),
    ("governance", Role.GOVERNANCE, "Demo information governance officer"),
)


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
        _ingest_sample(settings, engine, trail, state, SAMPLE_DATASET)
        # The same extract under governance review: its version waits in the governance
        # user's queue (ingested by the operator, so that user may review it), while the
        # dataset above stays releasable at once for the researcher's path.
        _ingest_sample(settings, engine, trail, state, REVIEWED_DATASET)
    finally:
        engine.dispose()
    return state


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
    ingestor = Ingestor(factory, LocalFileKeyStore(settings.keystore_path), options)
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
