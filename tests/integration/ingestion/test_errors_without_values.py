"""No error path of an upload lets a patient's identifier out: not the database, not the
API, not the upload page, not the log.

A property test builds, for every way an upload can fail on its content (a file without
its header, JSON Lines named .csv, a bad date, NHS number, postcode or type, a control
character, a field over the limit, an undeclared key, a stray quote), an extract whose
cells are identifier-shaped values drawn by hypothesis: NHS numbers, names, dates of
birth, postcodes, email addresses. It ingests it as an uploader, then greps the stored
``uploads`` row, every audit event, ``GET /uploads/{id}``, the web upload page and the
captured log for each value. A header-only file is refused unless the policy allows it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.audit.models import AuditEvent
from fivesafes.config import Settings, reset_settings_cache
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import Upload
from fivesafes.db import session_scope
from fivesafes.deid.nhs_number import check_digit
from fivesafes.identity.models import Role
from fivesafes.ingestion.ingestor import Ingestor
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.ingestion.runner import IngestionRunner
from fivesafes.keys.store import InMemoryKeyStore
from tests.factories.people import Person, person
from tests.integration.access.helpers import TRAIL
from tests.integration.ingestion.extracts import COLUMNS, policy_text
from tests.unit.deid.xlsx_parts import handmade_xlsx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FIELD_LIMIT = 1024  # FIVESAFES_MAX_FIELD_BYTES for these tests (its smallest value)

# Words that cannot occur in any message, page or log line by chance.
FIRST = ["Siobhan", "Tadeusz", "Gwendolyn", "Farouk", "Oluwaseun", "Priyanka", "Ingeborg"]
LAST = ["Okonkwo", "Abernethy", "Nkemelu", "Vasquez", "Szczepanski", "Thorvaldsen"]


@st.composite
def nhs_numbers(draw: st.DrawFn) -> str:
    nine = draw(st.text("0123456789", min_size=9, max_size=9).filter(lambda s: s[0] != "0"))
    check = check_digit(nine)
    return nine + str(check) if check is not None else nine + "0"


@dataclass(frozen=True)
class Patient:
    nhs: str
    name: str
    dob: str
    postcode: str
    email: str

    @property
    def secrets(self) -> list[str]:
        return [self.nhs, self.name, *self.name.split(), self.dob, self.postcode, self.email]

    def row(self) -> dict[str, str]:
        return {
            "nhs_number": self.nhs,
            "patient_name": self.name,
            "date_of_birth": self.dob,
            "postcode": self.postcode,
            "sex": "F",
            "ethnicity": "A",
            "admission_date": "2023-04-05",
            "diagnosis_code": "I10",
        }


patients = st.builds(
    Patient,
    nhs=nhs_numbers(),
    name=st.builds(lambda f, s: f"{f} {s}", st.sampled_from(FIRST), st.sampled_from(LAST)),
    dob=st.builds(
        lambda y, m, d, uk: f"{d:02d}/{m:02d}/{y}" if uk else f"{y}-{m:02d}-{d:02d}",
        st.integers(1921, 2009),
        st.integers(1, 12),
        st.integers(1, 28),
        st.booleans(),
    ),
    postcode=st.builds(
        lambda a, n, d, b: f"{a}{n} {d}{b}",
        st.sampled_from(["WN", "CO", "LS", "BD", "YO"]),
        st.integers(1, 29),
        st.integers(0, 9),
        st.sampled_from(["QX", "JZ", "UW", "HY"]),
    ),
    email=st.builds(
        lambda f, s: f"{f.lower()}.{s.lower()}@example.org",
        st.sampled_from(FIRST),
        st.sampled_from(LAST),
    ),
)


def csv_bytes(rows: list[dict[str, str]], header: list[str] | None = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows([[row.get(c, "") for c in COLUMNS] for row in rows])
    return out.getvalue().encode()


def with_cell(p: Patient, column: str, value: str) -> bytes:
    return csv_bytes(
        [Patient("9434765919", "A B", "1970-01-01", "M1 1AE", "x").row()] * 3
        + [{**p.row(), column: value}]
    )


def parquet_bytes(rows: list[dict[str, str]], names: list[str] = COLUMNS) -> bytes:
    out = io.BytesIO()
    table = pa.table({n: [r.get(c, "") for r in rows] for n, c in zip(names, COLUMNS, strict=True)})
    pq.write_table(table, out)
    return out.getvalue()


def xlsx_bytes(rows: list[dict[str, str]], header: list[str] | None = COLUMNS) -> bytes:
    body = [[r.get(c, "") for c in COLUMNS] for r in rows]
    return handmade_xlsx([header, *body] if header is not None else body)


#: Every content error path: (file name, bytes) of an extract that fails on it.
PATHS: dict[str, Callable[[Patient], tuple[str, bytes]]] = {
    "headerless": lambda p: ("e.csv", csv_bytes([p.row(), p.row()], header=None)),
    "jsonl_named_csv": lambda p: ("e.csv", (json.dumps(p.row()) + "\n").encode()),
    "undeclared_header": lambda p: (
        "e.csv",
        csv_bytes([p.row()], header=[*COLUMNS[:-1], p.name]).replace(b"\n", b",x\n", 1),
    ),
    "bad_date": lambda p: ("e.csv", with_cell(p, "date_of_birth", f"{p.name} {p.dob}")),
    "bad_nhs_number": lambda p: ("e.csv", with_cell(p, "nhs_number", p.email)),
    "bad_nhs_digits": lambda p: ("e.csv", with_cell(p, "nhs_number", p.nhs[:9] + "x")),
    "bad_postcode": lambda p: ("e.csv", with_cell(p, "postcode", f"{p.postcode} {p.name}")),
    "bad_type": lambda p: ("e.csv", with_cell(p, "admission_date", p.postcode)),
    "control_char": lambda p: ("e.csv", with_cell(p, "patient_name", p.name + "\x01")),
    "too_long": lambda p: (
        "e.csv",
        with_cell(p, "patient_name", " ".join([p.name, p.email, p.nhs] * 40)),
    ),
    "stray_quote": lambda p: (
        "e.csv",
        with_cell(p, "patient_name", "x").replace(b"x,", f'{p.name}"{p.nhs}",'.encode(), 1),
    ),
    "jsonl_undeclared_key": lambda p: (
        "e.jsonl",
        (json.dumps(p.row()) + "\n" + json.dumps({**p.row(), p.nhs: p.name}) + "\n").encode(),
    ),
    "xlsx_headerless": lambda p: ("e.xlsx", xlsx_bytes([p.row(), p.row()], header=None)),
    "xlsx_bad_date": lambda p: (
        "e.xlsx",
        xlsx_bytes([{**p.row(), "date_of_birth": f"{p.dob} {p.postcode}"}]),
    ),
    "parquet_values_as_names": lambda p: (
        "e.parquet",
        parquet_bytes([p.row()], names=[*COLUMNS[:1], p.name, *COLUMNS[2:]]),
    ),
    "parquet_bad_nhs": lambda p: (
        "e.parquet",
        parquet_bytes([{**p.row(), "nhs_number": f"{p.nhs} {p.email}"}]),
    ),
    "jsonl_bad_nhs": lambda p: (
        "e.jsonl",
        (json.dumps({**p.row(), "nhs_number": p.name}) + "\n").encode(),
    ),
}


@dataclass
class World:
    client: TestClient
    factory: sessionmaker[Session]
    ingestor: Ingestor
    uploader: Person
    page: TestClient
    folder: Path
    count: int = 0

    def upload(self, name: str, data: bytes) -> Any:
        self.count += 1
        path = self.folder / f"{self.count}-{name}"
        path.write_bytes(data)
        return ingest_file(self.ingestor, self.uploader.trail, "episodes", path)

    def everything_said_about(self, upload_id: Any) -> Iterator[tuple[str, str]]:
        """Where an upload's failure is told: stored row, audit, API and web page."""
        with self.factory() as session:
            upload = session.get(Upload, upload_id)
            assert upload is not None
            yield "uploads row", f"{upload.errors} {upload.report} {upload.filename}"
            for event in session.scalars(select(AuditEvent)):
                yield (
                    "audit event",
                    json.dumps(
                        {k: str(v) for k, v in vars(event).items() if not k.startswith("_")}
                    ),
                )
        api = self.client.get(f"/uploads/{upload_id}", headers=self.uploader.auth)
        assert api.status_code == 200, api.text
        yield "GET /uploads/{id}", api.text
        page = self.page.get(f"/web/uploads/{upload_id}")
        assert page.status_code == 200
        yield "upload page", page.text


@pytest.fixture
def world(
    settings: Settings,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    monkeypatch.setenv("FIVESAFES_MAX_FIELD_BYTES", str(FIELD_LIMIT))
    reset_settings_cache()
    policy = tmp_path / "episodes.yaml"
    policy.write_text(policy_text())
    with session_scope(session_factory) as session:
        datasets.load_policy_file(session, TRAIL, policy)
        uploader = person(session, Role.UPLOADER, "up")
    app = create_app(settings)
    ingestor = Ingestor(session_factory, InMemoryKeyStore.generate())
    app.state.ingestion_runner = IngestionRunner(ingestor)
    client = TestClient(app, base_url="https://testserver")
    page = TestClient(app, base_url="https://testserver")
    token = CSRF.search(page.get("/web/login").text)
    assert token
    signed_in = page.post(
        "/web/login/token",
        data={"csrf_token": token.group(1), "token": uploader.token},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    return World(client, session_factory, ingestor, uploader, page, tmp_path)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_no_error_path_lets_an_identifier_out(
    world: World, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.DEBUG)

    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(patient=patients)
    def check(patient: Patient) -> None:
        caplog.clear()
        name, data = PATHS[path](patient)
        view = world.upload(name, data)
        assert view.state == "failed", f"{path} did not fail"
        assert view.errors
        assert all(e.code != "internal_error" for e in view.errors), view.errors
        told = [*world.everything_said_about(view.id), ("log", caplog.text)]
        for where, text in told:
            for secret in patient.secrets:
                assert secret not in text, f"{path}: {secret!r} appears in the {where}"

    check()


def test_the_headerless_upload_says_what_is_wrong_by_position_and_shape(world: World) -> None:
    patient = Patient("9434765919", "Siobhan Okonkwo", "1970-01-02", "WN8 7QX", "s@example.org")
    view = world.upload("e.csv", csv_bytes([patient.row()], header=None))
    error = view.errors[0]
    assert (error.line, error.code) == (1, "invalid_file")
    assert "field 1 (10 digits)" in error.message
    assert "field 3 (looks like a date)" in error.message
    assert "does the file lack its header row?" in error.message


def test_a_field_over_the_limit_is_refused_naming_it(world: World) -> None:
    patient = Patient("9434765919", "Siobhan Okonkwo", "1970-01-02", "WN8 7QX", "s@example.org")
    view = world.upload("e.csv", with_cell(patient, "patient_name", "n" * (FIELD_LIMIT + 1)))
    error = view.errors[0]
    assert (error.code, error.line, error.column) == ("input_limit_exceeded", 5, "patient_name")
    assert "FIVESAFES_MAX_FIELD_BYTES" in error.message


# ------------------------------------------------------------------- header-only files


HEADER_ONLY = (",".join(COLUMNS) + "\n").encode()


def test_a_header_only_file_is_refused(world: World) -> None:
    view = world.upload("e.csv", HEADER_ONLY)
    assert view.state == "failed"
    assert view.dataset_version is None
    error = view.errors[0]
    assert error.code == "empty_extract"
    assert "allow_empty: true" in error.message


def test_a_header_only_file_is_a_zero_row_version_when_the_policy_allows(
    world: World, tmp_path: Path
) -> None:
    policy = tmp_path / "episodes-empty.yaml"
    policy.write_text(policy_text().replace("version: 1", "version: 2\nallow_empty: true"))
    with session_scope(world.factory) as session:
        datasets.load_policy_file(session, TRAIL, policy)
    view = world.upload("e.csv", HEADER_ONLY + b"\n")
    assert view.state == "succeeded", view.errors
    assert view.rows_processed == 0
