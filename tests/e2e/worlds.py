"""Worlds the e2e tests build in process before they start a server process over them.

An e2e test's server and CLI are other processes, so its world (keys, a dataset's
policy and an ingested extract, the people) is written into the database and key folder
first, the way production would have written it: through the services, audited.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.trail import AuditTrail
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.identity import passwords
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role, User
from fivesafes.keys.local import LocalFileKeyStore
from tests.factories import ingest
from tests.factories.datasets import load_policies
from tests.factories.extracts import ADMISSIONS, ADMISSIONS_POLICY, admission_rows

TRAIL = AuditTrail.for_operator()


@contextmanager
def admissions_world(
    database_url: str, workdir: Path, *, policy: str = ADMISSIONS_POLICY
) -> Iterator[sessionmaker[Session]]:
    """Keys in ``workdir / "keys"`` (where :func:`tests.e2e.server.environment` points the
    server) and the admissions dataset under ``policy``, its extract ingested, in an
    already migrated database; yields a session factory for the caller's people and
    projects (:func:`add_people`), its engine disposed afterwards (before the server)."""
    keystore = LocalFileKeyStore(workdir / "keys")
    keystore.init()
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        with session_scope(factory) as session:
            load_policies(session, workdir, {ADMISSIONS: policy})
        with ingest.ingestor(factory, keystore) as ingestor:
            ingest.Extracts(ingestor, workdir).ingested(ADMISSIONS, admission_rows())
        yield factory
    finally:
        engine.dispose()


def add_people(
    session: Session, people: Mapping[str, Role], *, password: str | None = None
) -> dict[str, User]:
    """``people`` (username: role) created, each with ``password`` when one is given."""
    made = {name: identity.create_user(session, TRAIL, name, role) for name, role in people.items()}
    if password is not None:
        for user in made.values():
            passwords.set_password(session, TRAIL, user, password)
    return made
