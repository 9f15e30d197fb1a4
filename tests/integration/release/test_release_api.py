"""Releases end to end in process, on both dialects: project pseudonyms, the disclosure
gate, refusals before any byte, column and filter selection, CSV safety, manifests."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select, text

from fivesafes.access.models import Grant
from fivesafes.audit.models import AuditEvent
from fivesafes.datasets.models import DatasetVersion
from fivesafes.db import session_scope, utcnow
from fivesafes.ingestion.optouts import load_optouts
from fivesafes.ingestion.storage import qualified_name
from tests.factories.extracts import ADMISSION_OUTPUT as ALL_OUTPUT
from tests.factories.extracts import admission_rows as extract_rows
from tests.factories.release_world import EXEMPT_DATASET, World
from tests.integration.access.helpers import TRAIL


def _download(world: World, grant: int, who: str = "a", fmt: str = "csv") -> Any:
    response = world.client.get(
        f"/grants/{grant}/data", params={"format": fmt}, headers=world.people[who].auth
    )
    if response.status_code == 200:
        # Every release that started must have completed: all rows the gate let through
        # were sent (the stream checks), and its hash recorded.
        manifest = world.client.get(
            response.headers["X-Release-Manifest"], headers=world.people[who].auth
        ).json()
        assert manifest["state"] == "completed", manifest
        assert manifest["content"]["sha256"] == hashlib.sha256(response.content).hexdigest()
    return response


def _csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def test_csv_release_pseudonyms_gate_manifest_and_audit(world: World) -> None:
    grant = world.grant("a")
    response = _download(world, grant)
    assert response.status_code == 200, response.text
    rows = _csv(response.content)
    assert list(rows[0]) == ALL_OUTPUT
    # 60 patients x 2 rows; patient 0 is alone in district ZE1 (k=5): 2 rows suppressed.
    assert len(rows) == 118
    assert not any(r["postcode"] == "ZE1" for r in rows)
    assert all(len(r["nhs_number"]) == 32 for r in rows)
    release_id = response.headers["X-Release-Id"]
    manifest = world.client.get(
        f"/releases/{release_id}/manifest", headers=world.people["a"].auth
    ).json()
    assert manifest["content"]["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert manifest["content"]["bytes"] == len(response.content)
    assert manifest["state"] == "completed"
    gate = manifest["disclosure"]
    assert gate["rows_suppressed"] == 2
    assert gate["k_required"] == 5
    assert gate["k_achieved"] >= 5
    assert gate["quasi_identifiers"] == ["date_of_birth", "postcode"]
    assert "admission_date" in gate["quasi_identifiers_not_counted"]
    assert [d["quasi_identifier"] for d in gate["suppression_drivers"]] == ["postcode"]
    assert manifest["rows_released"] == 118
    listed = world.client.get(f"/grants/{grant}/releases", headers=world.people["officer"].auth)
    assert [r["id"] for r in listed.json()] == [release_id]
    with world.factory() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.target_id == release_id).order_by(AuditEvent.seq)
        ).all()
    assert [e.action for e in events] == ["release.download", "release.complete"]


def _admissions(body: bytes) -> dict[str, list[str]]:
    """Each released pseudonym's admission dates."""
    out: dict[str, list[str]] = {}
    for row in _csv(body):
        out.setdefault(row["nhs_number"], []).append(row["admission_date"])
    return {k: sorted(v) for k, v in out.items()}


def test_two_projects_never_share_pseudonyms_and_each_is_stable(world: World) -> None:
    grant_a, grant_b = world.grant("a"), world.grant("b", requester="b")
    first_a = _admissions(_download(world, grant_a).content)
    again_a = _admissions(_download(world, grant_a).content)
    only_b = _admissions(_download(world, grant_b, "b").content)
    assert len(first_a) == 59
    # Pseudonyms and date shifts are the project's own, the same on every download.
    assert first_a == again_a
    assert not set(first_a) & set(only_b)
    assert sorted(first_a.values()) != sorted(only_b.values())
    # A shift moves all of a patient's dates alike: intervals between admissions are kept.
    gaps = sorted(
        (date.fromisoformat(b) - date.fromisoformat(a)).days
        for a, b in (v for v in first_a.values() if len(v) == 2)
    )
    stored = extract_rows()
    by_patient: dict[str, list[str]] = {}
    for r in stored:
        if r["postcode"] != "ZE1 0AA":  # suppressed
            by_patient.setdefault(r["nhs_number"], []).append(r["admission_date"])
    assert gaps == sorted(
        (date.fromisoformat(max(v)) - date.fromisoformat(min(v))).days for v in by_patient.values()
    )
    # A new dataset version (same patients, new admissions): project A's values stay.
    world.ingest(extract_rows(seed=99))
    later_a = _admissions(_download(world, grant_a).content)
    assert set(later_a) == set(first_a)


def test_rare_combination_refused_when_policy_says_refuse(world: World) -> None:
    world.use_policy(small_classes="refuse")
    grant = world.grant("a")
    response = _download(world, grant)
    assert response.status_code == 409
    body = response.json()["error"]
    assert body["code"] == "disclosure_refused"
    assert "postcode" in body["message"]
    # Without the rare quasi-identifier the same policy releases everything.
    ok = _download(world, world.grant("a", columns=["nhs_number", "date_of_birth", "sex"]))
    assert ok.status_code == 200
    assert len(_csv(ok.content)) == 120


def test_small_number_threshold_refuses_tiny_releases(world: World) -> None:
    grant = world.grant("a", row_filter="postcode = 'ZE1'")
    response = _download(world, grant)
    assert response.status_code == 409
    assert "small-number threshold" in response.json()["error"]["message"]


def test_expired_revoked_and_outsiders_get_403_before_any_byte(world: World) -> None:
    grant = world.grant("a")
    outsider = _download(world, grant, "outsider")
    assert outsider.status_code == 403
    assert outsider.headers["content-type"].startswith("application/json")
    revoked = world.grant("a")
    world.client.post(
        f"/grants/{revoked}/revoke",
        json={"reason": "Data sharing agreement suspended."},
        headers=world.people["officer"].auth,
    )
    response = _download(world, revoked)
    assert response.status_code == 403
    assert "revoked" in response.json()["error"]["message"]
    with session_scope(world.factory) as session:
        session.get(Grant, grant).expires_at = utcnow() - timedelta(minutes=1)  # type: ignore[union-attr]
    expired = _download(world, grant)
    assert expired.status_code == 403
    assert "nhs_number" not in expired.text
    with world.factory() as session:
        denied = session.scalars(
            select(AuditEvent.action).where(AuditEvent.outcome == "denied")
        ).all()
    officer = world.people["officer"].auth
    releases = world.client.get(f"/grants/{grant}/releases", headers=officer)
    assert denied.count("release.download") == 3
    assert releases.json() == []


def test_columns_filter_and_formula_injection(world: World) -> None:
    grant = world.grant("a", columns=["length_of_stay", "comment", "sex"], row_filter="sex = 'F'")
    response = _download(world, grant)
    assert response.status_code == 200, response.text
    rows = _csv(response.content)
    assert rows
    assert list(rows[0]) == ["length_of_stay", "comment", "sex"]
    assert {r["sex"] for r in rows} == {"F"}
    assert len(rows) == sum(1 for r in extract_rows() if r["sex"] == "F")
    comments = {r["comment"] for r in rows}
    assert comments <= {'\'=HYPERLINK("x")', "'+1", "'-x", "'@SUM(A1)", "ok, fine"}
    assert any(int(r["length_of_stay"]) < 0 for r in rows)  # numbers are not prefixed
    assert "'-" not in {r["length_of_stay"][:2] for r in rows}
    # No quasi-identifier was granted: nothing to suppress, every row counted and sent.
    manifest = world.client.get(
        response.headers["X-Release-Manifest"], headers=world.people["a"].auth
    ).json()
    assert manifest["state"] == "completed"
    assert manifest["rows_released"] == manifest["disclosure"]["rows_in_scope"] == len(rows)


def test_parquet_and_jsonl_are_typed_and_match_the_manifest(world: World) -> None:
    grant = world.grant("a", date_granularity="year")
    parquet = _download(world, grant, fmt="parquet")
    assert parquet.status_code == 200, parquet.text
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.schema.field("length_of_stay").type == "int64"
    assert table.schema.field("admission_date").type == "int64"  # year
    manifest = world.client.get(
        parquet.headers["X-Release-Manifest"], headers=world.people["a"].auth
    ).json()
    assert manifest["content"]["sha256"] == hashlib.sha256(parquet.content).hexdigest()
    # By year the admission dates are counted too (shifts are random keys: the count varies).
    assert 100 < table.num_rows == manifest["rows_released"] <= 118
    lines = _download(world, grant, fmt="jsonl").content.decode().splitlines()
    first = json.loads(lines[0])
    assert len(lines) == table.num_rows
    assert isinstance(first["length_of_stay"], int)
    assert first["comment"] in {'=HYPERLINK("x")', "+1", "-x", "@SUM(A1)", "ok, fine"}


def test_rows_leave_in_a_new_random_order_each_time(world: World) -> None:
    grant = world.grant("a")
    orders = [
        [(r["nhs_number"], r["admission_date"]) for r in _csv(_download(world, grant).content)]
        for _ in range(2)
    ]
    assert sorted(orders[0]) == sorted(orders[1])
    assert orders[0] != orders[1]  # 118 rows: the same order twice by chance is 1 in 118!
    # Not the order stored either: that has each patient's two admissions side by side.
    neighbours = sum(a[0] == b[0] for a, b in zip(orders[0], orders[0][1:], strict=False))
    assert neighbours < 20


def test_decimals_timestamps_and_booleans_keep_their_values(world: World) -> None:
    grant = world.grant("a", columns=["weight_kg", "discharged_at", "readmitted"])
    rows = _csv(_download(world, grant).content)
    # Decimals keep their scale on both dialects, and are exact text in Parquet too
    # (fivesafes.column_kinds): never a binary float.
    assert {r["weight_kg"] for r in rows} == {"72.50", "0.125", "", "-3"}
    assert {r["discharged_at"] for r in rows} == {"2024-03-01T10:30:00Z", ""}
    assert {r["readmitted"] for r in rows} == {"true", "false", ""}
    table = pq.read_table(io.BytesIO(_download(world, grant, fmt="parquet").content))
    assert table.schema.field("weight_kg").type == "string"
    assert table.schema.field("discharged_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("readmitted").type == "bool"
    assert set(table.column("weight_kg").to_pylist()) == {"72.50", "0.125", None, "-3"}
    stamps = {v.isoformat() if v else None for v in table.column("discharged_at").to_pylist()}
    assert stamps == {"2024-03-01T10:30:00+00:00", None}


def test_hostile_filter_literals_stay_literals(world: World) -> None:
    # On PostgreSQL COPY takes no bound parameters: literals are quoted by psycopg.
    hostile = "'x''); DROP TABLE releases; --', 'a\\b', '=HYPERLINK(\"x\")'"
    grant = world.grant(
        "a",
        columns=["comment", "weight_kg"],
        row_filter=f"comment in ({hostile}) or comment = 'ok, fine'",
    )
    response = _download(world, grant)
    assert response.status_code == 200, response.text
    rows = _csv(response.content)
    expected = [r for r in extract_rows() if r["comment"] in ('=HYPERLINK("x")', "ok, fine")]
    assert len(rows) == len(expected) == 48
    assert {r["comment"] for r in rows} == {'\'=HYPERLINK("x")', "ok, fine"}
    listed = world.client.get(f"/grants/{grant}/releases", headers=world.people["officer"].auth)
    assert listed.status_code == 200
    assert len(listed.json()) == 1


def test_released_classes_hold_k_patients_at_every_granularity(world: World) -> None:
    """k-anonymity checked on what was released: every combination of the released
    quasi-identifiers holds at least k distinct (project) pseudonyms. Date-shifted dates
    released by month or year are counted as released; by day they are not (and the
    manifest says why)."""
    k = world.policy.release.min_k
    # By month with every quasi-identifier, classes would be too small to release at all.
    cases = [
        ("day", ALL_OUTPUT),
        ("month", ["nhs_number", "admission_date"]),
        ("year", ALL_OUTPUT),
    ]
    for granularity, columns in cases:
        grant = world.grant("a", date_granularity=granularity, columns=columns)
        response = _download(world, grant)
        assert response.status_code == 200, response.text
        manifest = world.client.get(
            response.headers["X-Release-Manifest"], headers=world.people["a"].auth
        ).json()
        gate = manifest["disclosure"]
        counted = gate["quasi_identifiers"]
        declared = [q for q in ("date_of_birth", "postcode", "admission_date") if q in columns]
        if granularity == "day":
            assert counted == declared[:-1]
            assert "admission_date" in gate["quasi_identifiers_not_counted"]
        else:
            assert counted == declared
            assert gate["quasi_identifiers_not_counted"] == {}
        people: dict[tuple[str, ...], set[str]] = {}
        rows = _csv(response.content)
        for row in rows:
            people.setdefault(tuple(row[q] for q in counted), set()).add(row["nhs_number"])
        assert min(len(p) for p in people.values()) >= k
        assert len(rows) == 120 - gate["rows_suppressed"]
        width = {"day": 10, "month": 7, "year": 4}[granularity]  # 2024-03-01, 2024-03, 2024
        assert {len(r["admission_date"]) for r in rows} == {width}


def test_opted_out_patients_are_not_released_from_an_exempt_dataset(world: World) -> None:
    # Exempt datasets keep opted-out patients' rows (flagged); releases leave them out.
    rows = extract_rows()
    opted = sorted({r["nhs_number"] for r in rows})[:3]
    listing = world.tmp / "optouts.txt"
    listing.write_text("\n".join(opted) + "\n")
    with session_scope(world.factory) as session:
        load_optouts(session, TRAIL, listing, world.keystore)
    world.ingest(rows, dataset=EXEMPT_DATASET)
    grant = world.grant("a", dataset=EXEMPT_DATASET)
    response = _download(world, grant)
    assert response.status_code == 200, response.text
    manifest = world.client.get(
        response.headers["X-Release-Manifest"], headers=world.people["a"].auth
    ).json()
    gate = manifest["disclosure"]
    opted_rows = sum(1 for r in rows if r["nhs_number"] in opted)
    assert opted_rows == 6
    assert gate["rows_in_scope"] == len(rows) - opted_rows
    assert gate["patients_in_scope"] == 60 - 3
    assert len(_csv(response.content)) == gate["rows_in_scope"] - gate["rows_suppressed"]
    # The same patients are in the data: the exclusion is the release's, not ingestion's.
    with world.factory() as session:
        version = session.scalars(select(DatasetVersion).order_by(DatasetVersion.id.desc())).first()
        assert version is not None
        table = qualified_name(session.connection(), version.table_name)
        flagged = session.execute(
            text(f"SELECT count(*) FROM {table} WHERE nddo_opted_out")
        ).scalar_one()
    assert flagged == opted_rows


def test_a_release_larger_than_allowed_is_refused_before_any_byte(world: World) -> None:
    app: Any = world.client.app
    app.state.settings = app.state.settings.model_copy(update={"release_max_rows": 100})
    response = _download(world, world.grant("a"))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "release_too_large"
    assert "more than 100 rows" in error["message"]
    assert "nhs_number" not in response.text
    narrower = world.grant("a", row_filter="sex = 'F'")
    assert _download(world, narrower).status_code == 200
    with world.factory() as session:
        refused = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "release.download")
        ).all()
    assert [e.outcome for e in refused] == ["failed", "success"]
