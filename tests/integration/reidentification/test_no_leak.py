"""After the whole path, no NHS number is anywhere it should not be: not in any table
(data, version, audit, request tables: only as ciphertext in ``reidentification_records``,
which must not contain it in clear either), not in the audit details, not in any log.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.models import AuditEvent
from fivesafes.config import Settings
from fivesafes.reidentification.models import ReidentificationRecord
from tests.integration.reidentification.e2e_world import build
from tests.integration.reidentification.test_full_path import ACTION, PATH, REASON


def _forms(number: str) -> list[str]:
    return [number, f"{number[:3]} {number[3:6]} {number[6:]}"]


def test_no_nhs_number_outside_the_encrypted_table(
    settings: Settings,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    world = build(settings, session_factory, tmp_path)
    people = world.people
    made = world.client.post(PATH, json=world.body("a", 2), headers=people["researcher"].auth)
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    for officer in ("officer", "guardian"):
        done = world.client.post(f"{PATH}/{rid}/approve", json=REASON, headers=people[officer].auth)
        assert done.status_code == 200, done.text
    executed = world.client.post(f"{PATH}/{rid}/execute", headers=people["reidentifier"].auth)
    assert executed.status_code == 200, executed.text
    revealed = [s["nhs_number"] for s in executed.json()["subjects"]]
    truth = world.released["a"].truth
    assert sorted(revealed) == sorted(truth[p] for p in sorted(truth)[:2])
    reidentifier = people["reidentifier"].auth
    acted = world.client.post(f"{PATH}/{rid}/action", json=ACTION, headers=reidentifier)
    assert acted.status_code == 200
    # Refusals too: their messages and audit records must not carry the numbers.
    world.client.post(f"{PATH}/{rid}/execute", headers=people["reidentifier"].auth)
    forms = [f for n in world.nhs_numbers for f in _forms(n)]
    pattern = re.compile("|".join(re.escape(f) for f in forms))
    assert pattern.search(executed.text), "the scan would not see a number where one is"

    with session_factory() as session:
        engine = session.get_bind()
        tables = inspect(engine).get_table_names()
        assert "reidentification_records" in tables
        leaks = []
        for table in tables:
            quoted = engine.dialect.identifier_preparer.quote(table)
            for row in session.execute(text(f"SELECT * FROM {quoted}")):
                for value in row:
                    shown = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    if pattern.search(shown):
                        leaks.append(table)
        assert leaks == [], f"NHS numbers stored in clear in {sorted(set(leaks))}"
        records = session.scalar(select(ReidentificationRecord.id).limit(1))
        assert records is not None, "the flagged dataset kept no encrypted record"
        details = [str(d) for d in session.scalars(select(AuditEvent.details))]
        assert details
        assert not any(pattern.search(d) for d in details)
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert not pattern.search(logged + caplog.text), "an NHS number reached the logs"
