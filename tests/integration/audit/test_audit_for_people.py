"""The trail as people read it: usernames beside ids (API, CSV, page), refused downloads
recorded against their grant, the page's CSV link and timeline, on both dialects."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.audit import queries, review
from fivesafes.audit.external import anchors_from_export
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.timeline import Grain
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.identity import passwords
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role
from fivesafes.keys.local import LocalFileKeyStore
from tests.factories.release_world import World, build
from tests.integration.audit.helpers import insert_at

TRAIL = AuditTrail.for_operator()
PASSWORD = "a long enough passphrase"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def client(settings: Settings) -> TestClient:
    LocalFileKeyStore(settings.keystore_path).init()
    # https: the session cookie is Secure, and httpx keeps it off plain http.
    return TestClient(create_app(settings), base_url="https://testserver")


@pytest.fixture
def officer(session_factory: sessionmaker[Session]) -> dict[str, str]:
    """gina (governance, a password and a token), made by the operator at the shell."""
    with session_factory() as session:
        user = identity.create_user(session, TRAIL, "gina", Role.GOVERNANCE)
        passwords.set_password(session, TRAIL, user, PASSWORD)
        secret = identity.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
        session.commit()
        return {"id": str(user.id), "token": secret}


def _auth(who: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {who['token']}"}


def _log_in(client: TestClient, username: str) -> None:
    token = CSRF.search(client.get("/web/login").text)
    assert token is not None
    done = client.post(
        "/web/login",
        data={"csrf_token": token.group(1), "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303


def test_the_api_and_its_csv_name_each_actor_beside_the_id(
    client: TestClient, officer: dict[str, str], tmp_path: Path
) -> None:
    assert client.get("/audit/verify", headers=_auth(officer)).status_code == 200
    client.get("/me", headers={"Authorization": "Bearer fs_not-a-token"})
    events = client.get("/audit/events", headers=_auth(officer)).json()["events"]
    verified = next(e for e in events if e["action"] == "audit.verify")
    assert (verified["actor_id"], verified["actor_username"]) == (officer["id"], "gina")
    operator = next(e for e in events if e["actor_role"] == "operator")
    assert operator["actor_id"].startswith("os:")
    assert operator["actor_username"] is None
    anonymous = next(e for e in events if e["actor_id"] is None)
    assert anonymous["actor_username"] is None

    exported = client.get("/audit/events.csv", headers=_auth(officer))
    assert exported.status_code == 200
    reader = csv.DictReader(io.StringIO(exported.text))
    assert tuple(reader.fieldnames or ()) == queries.CSV_COLUMNS
    rows = list(reader)
    mine = [r for r in rows if r["actor_id"] == officer["id"]]
    assert mine  # at least the view and the export themselves
    assert {r["actor_username"] for r in mine} == {"gina"}
    assert {r["actor_username"] for r in rows if r["actor_id"].startswith("os:")} == {""}
    # The username is not part of the hashed record: the export still anchors verification,
    # and so does one made before the column existed.
    path = tmp_path / "events.csv"
    path.write_text(exported.text)
    assert [a.seq for a in anchors_from_export(path)] == [int(r["seq"]) for r in rows]
    legacy = tmp_path / "legacy.csv"
    with legacy.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(queries.HASHED_CSV_COLUMNS)
        writer.writerows([r[c] for c in queries.HASHED_CSV_COLUMNS] for r in rows)
    assert [a.hash for a in anchors_from_export(legacy)] == [r["hash"] for r in rows]


def test_the_page_shows_usernames_links_its_filters_to_the_csv_and_refuses_bad_dates(
    client: TestClient, officer: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    _log_in(client, "gina")
    page = client.get("/web/governance/audit", params={"action": "web.", "since": "2026-01-01"})
    assert page.status_code == 200
    assert ">gina</a>" in page.text
    # the id stays available: the name links to the actor's events, by id
    assert f"actor={officer['id']}" in page.text
    assert 'role="img"' in page.text
    link = re.search(r'id="audit-csv" href="([^"]+)"', page.text)
    assert link is not None
    url = urlsplit(link.group(1).replace("&amp;", "&"))
    assert url.path == "/audit/events.csv"
    assert parse_qs(url.query) == {"action": ["web."], "since": ["2026-01-01T00:00:00.000000Z"]}
    exported = client.get(link.group(1).replace("&amp;", "&"))
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows
    assert {r["action"] for r in rows} <= {"web.login", "web.governance.audit"}
    assert {r["actor_username"] for r in rows if r["action"] == "web.login"} == {"gina"}

    by_name = client.get("/web/governance/audit", params={"actor": "gina", "action": "audit."})
    link = re.search(r'id="audit-csv" href="([^"]+)"', by_name.text)
    assert link is not None
    assert f"actor={officer['id']}" in link.group(1)

    for since, until, message in (
        ("2026-02-30", "", "From (date): 2026-02-30 is not a date"),
        ("2026-03-02", "2026-03-01", "To (date) is before From (date)"),
    ):
        bad = client.get("/web/governance/audit", params={"since": since, "until": until})
        assert bad.status_code == 422
        assert message in bad.text
        assert 'name="since"' in bad.text  # the form is still there to correct
    with session_factory() as session:
        refused = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "web.governance.audit", AuditEvent.outcome == "failed"
            )
        ).all()
    assert [json.loads(e.details)["code"] for e in refused] == ["invalid_filter"] * 2


def test_refused_downloads_are_recorded_against_their_grant(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    world: World = build(settings, session_factory, tmp_path)
    grant = world.grant("a")
    outsider = world.people["outsider"].auth
    assert world.client.get(f"/grants/{grant}/data", headers=outsider).status_code == 403
    web = world.client.get(f"/web/research/grants/{grant}/download", headers=outsider)
    assert web.status_code == 403
    assert web.headers["content-type"].startswith("text/html")
    with session_factory() as session:
        denied = session.scalars(
            select(AuditEvent).where(AuditEvent.outcome == "denied").order_by(AuditEvent.seq)
        ).all()
    downloads = [e for e in denied if e.action in ("release.download", "web.grant_download")]
    assert [(e.action, e.target_type, e.target_id) for e in downloads] == [
        ("release.download", "grant", str(grant)),
        ("web.grant_download", "grant", str(grant)),
    ]
    assert {json.loads(e.details)["route"] for e in downloads} == {
        "/grants/{grant_id}/data",
        "/web/research/grants/{grant_id}/download",
    }
    assert {e.actor_id for e in downloads} == {str(world.people["outsider"].user.id)}
    # An officer reviewing the grant's history now sees the refusals beside its approval.
    history = world.client.get(
        "/audit/events",
        params={"target_type": "grant", "target_id": str(grant)},
        headers=world.people["officer"].auth,
    ).json()["events"]
    assert {"release.download", "web.grant_download"} <= {e["action"] for e in history}
    assert {e["actor_username"] for e in history if e["outcome"] == "denied"} == {
        world.people["outsider"].username
    }


SPREAD = [
    (datetime(2021, 3, 4, 23, 59, 59, tzinfo=UTC), "success"),
    (datetime(2021, 3, 5, 0, 0, 1, tzinfo=UTC), "denied"),
    (datetime(2024, 7, 1, 12, 30, tzinfo=UTC), "success"),
    (datetime(2024, 7, 1, 12, 30, 40, tzinfo=UTC), "success"),
    (datetime(2024, 7, 1, 13, 5, tzinfo=UTC), "failed"),
]


def test_the_database_counts_per_minute_hour_and_day_in_utc(engine: Engine) -> None:
    insert_at(engine, SPREAD)
    only = queries.EventFilter(action="test.event")
    with Session(engine) as session:
        per_minute = sorted(queries.counts(session, only, Grain.MINUTE))
        per_day = sorted(queries.counts(session, only, Grain.DAY))
        per_hour = sorted(queries.counts(session, only, Grain.HOUR))
        assert queries.extent(session, only) == (SPREAD[0][0], SPREAD[-1][0])
    assert per_minute == [
        (datetime(2021, 3, 4, 23, 59, tzinfo=UTC), "success", 1),
        (datetime(2021, 3, 5, 0, 0, tzinfo=UTC), "denied", 1),
        (datetime(2024, 7, 1, 12, 30, tzinfo=UTC), "success", 2),
        (datetime(2024, 7, 1, 13, 5, tzinfo=UTC), "failed", 1),
    ]
    assert [(m.hour, o, n) for m, o, n in per_hour] == [
        (23, "success", 1),
        (0, "denied", 1),
        (12, "success", 2),
        (13, "failed", 1),
    ]
    assert [(m.date().isoformat(), n) for m, _, n in per_day] == [
        ("2021-03-04", 1),
        ("2021-03-05", 1),
        ("2024-07-01", 1),
        ("2024-07-01", 2),
    ]


@pytest.mark.parametrize(
    ("since", "until", "step", "bars"),
    [
        (
            datetime(2024, 7, 1, 12, 30, tzinfo=UTC),
            datetime(2024, 7, 1, 13, 30, tzinfo=UTC),
            "minute",
            60,
        ),
        (datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 2, tzinfo=UTC), "30 minutes", 48),
        (datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 8, 1, tzinfo=UTC), "day", 31),
        (None, None, "month", 41),
    ],
)
def test_the_timeline_of_a_window(
    engine: Engine, since: datetime | None, until: datetime | None, step: str, bars: int
) -> None:
    insert_at(engine, SPREAD)
    flt = queries.EventFilter(action="test.event", since=since, until=until)
    with Session(engine) as session:
        found = review.timeline(session, flt)
    expected = sum(
        1 for m, _ in SPREAD if (since is None or m >= since) and (until is None or m < until)
    )
    assert found is not None
    assert (found.step.name, len(found.bars)) == (step, bars)
    assert found.total == expected


def test_an_empty_trail_has_no_timeline(engine: Engine) -> None:
    with Session(engine) as session:
        assert review.timeline(session, queries.EventFilter(action="nothing.")) is None
