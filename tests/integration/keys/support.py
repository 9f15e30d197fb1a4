"""Set-up the key-store integration tests share: opening a token, reading audit events,
ingesting an extract through a key store.

One copy, so that the tests comparing two stores (local files against a token, before
and after a migration) set both sides up the same way and differ only in the store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text

from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import load_settings
from fivesafes.datasets.models import DatasetVersion
from fivesafes.datasets.service import load_policy_file
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.ingestion.ingestor import Ingestor
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.ingestion.storage import qualified_name
from fivesafes.keys.pkcs11_store import Pkcs11KeyStore
from fivesafes.keys.store import KeyStore
from tests.hsm.fixtures import SoftHsmToken
from tests.integration.ingestion.extracts import policy_text, write_csv

TRAIL = AuditTrail.for_operator()


def open_token(token: SoftHsmToken, keys: Path) -> Pkcs11KeyStore:
    """A store on ``token`` whose wrapped keys live in ``keys``."""
    return Pkcs11KeyStore.from_settings(load_settings(**token.settings_overrides(keys)))


def audit_events(url: str, action: str) -> list[dict[str, Any]]:
    """The details of every audit event ``action`` in the database at ``url``, in order."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(AuditEvent.details).where(AuditEvent.action == action))
            return [json.loads(row[0]) for row in rows]
    finally:
        engine.dispose()


def ingested_rows(
    database_url: str, keystore: KeyStore, folder: Path, rows: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """Ingest ``rows`` as a new ``episodes`` dataset (policy and CSV written in ``folder``,
    which must exist) into ``database_url``; the rows its version stored."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        policy = folder / "episodes.yaml"
        policy.write_text(policy_text())
        with session_scope(factory) as session:
            load_policy_file(session, TRAIL, policy)
        ingestor = Ingestor(factory, keystore)
        try:
            view = ingest_file(ingestor, TRAIL, "episodes", write_csv(folder / "x.csv", rows))
        finally:
            ingestor.close()
        assert view.state == "succeeded", view.errors
        with factory() as session:
            table = session.scalars(select(DatasetVersion)).one().table_name
        with engine.connect() as connection:
            name = qualified_name(connection, table)
            return [dict(r._mapping) for r in connection.execute(text(f"SELECT * FROM {name}"))]
    finally:
        engine.dispose()


def pseudonym_pairs(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (pseudonym, shifted date) pairs of ingested rows, sorted: what two stores holding
    the same keys must agree on."""
    # str(): the two dialects give dates as date objects and as ISO text
    return sorted((str(r["nhs_number"]), str(r["admission_date"])) for r in found)
