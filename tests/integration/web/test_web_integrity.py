"""The governance integrity page signs and verifies through the published checkpoints."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.config import Settings
from fivesafes.db import make_engine
from fivesafes.keys.local import LocalFileKeyStore
from tests.integration.audit.helpers import triggers_disabled
from tests.integration.web.test_web_login import CSRF, _log_in, client, users  # noqa: F401


def test_sign_from_the_page_publishes_and_the_page_checks_it(
    client: TestClient,  # noqa: F811
    users: dict[str, str],  # noqa: F811
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    LocalFileKeyStore(settings.keystore_path).init()
    assert _log_in(client, "gina").status_code == 303
    page = client.get("/web/governance/integrity")
    assert page.status_code == 200
    assert "The audit trail is intact" in page.text
    found = CSRF.search(page.text)
    assert found
    signed = client.post(
        "/web/governance/checkpoints", data={"csrf_token": found.group(1)}, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text
    (published,) = settings.audit_checkpoint_dir.glob("checkpoint-*.json")
    seq = json.loads(published.read_text())["seq"]
    page = client.get("/web/governance/integrity")
    assert "The audit trail is intact" in page.text
    assert f"signed checkpoint at sequence {seq}" in page.text
    # Cut below the published checkpoint and remove the stored one: the page still sees it.
    engine = make_engine(settings.database_url)
    try:
        with triggers_disabled(engine, ("audit_events", "audit_checkpoints")) as connection:
            connection.execute(text("DELETE FROM audit_events WHERE seq >= :s"), {"s": seq})
            connection.execute(text("DELETE FROM audit_checkpoints"))
    finally:
        engine.dispose()
    page = client.get("/web/governance/integrity")
    assert "The audit trail has been damaged" in page.text
    assert "truncated" in page.text
