"""`fivesafes keys rotate pseudonym`: every stored pseudonym re-mapped to a new generation,
linkage across extracts kept, projects' pseudonyms and dates unchanged unless reissued,
opt-outs still applied, an interrupted rotation resumed, on both databases and with the
PKCS#11 store."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fivesafes.access.models import Project
from fivesafes.audit.models import AuditEvent
from fivesafes.cli.main import app
from fivesafes.config import Settings, reset_settings_cache
from fivesafes.datasets import version_tables
from fivesafes.datasets.models import DatasetVersion, OptOut, OptOutList
from fivesafes.db import session_scope, utcnow
from fivesafes.deid.nhs_number import normalise_nhs_number
from fivesafes.ingestion.optouts import load_optouts
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.pseudonym import Pseudonymiser
from fivesafes.keys.remap import PseudonymChain
from fivesafes.keys.store import KeyStore
from fivesafes.release.pseudonym_rotation import rotate_pseudonyms
from tests.factories.datasets import load_policies
from tests.factories.extracts import ADMISSION_OUTPUT, admission_rows, nhs_numbers
from tests.factories.release_world import World, build
from tests.hsm.fixtures import SoftHsmToken
from tests.integration.access.helpers import TRAIL, make_project
from tests.integration.release.test_release_api import _download

OPTED_OUT = 5  # index of the patient on the opt-out list (loaded before the rotation)


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    return build(settings, session_factory, tmp_path)


def _use_store(world: World, store: KeyStore) -> None:
    """Make the world's server and ingestor use ``store`` (same keys, another home)."""
    world.client.app.state.keystore = store  # type: ignore[attr-defined]
    world.extracts.ingestor.keystore = store


def _stored(world: World, version_id: int) -> list[str]:
    """The patient pseudonyms a version's table holds, as stored."""
    with world.factory() as session:
        version = session.get(DatasetVersion, version_id)
        assert version is not None
        schema = version_tables.version_schema(session.get_bind().dialect.name)
        name = f'"{schema}"."{version.table_name}"' if schema else f'"{version.table_name}"'
        return list(session.scalars(text(f"SELECT nhs_number FROM {name}")))


def _generation(world: World, version_id: int) -> int:
    with world.factory() as session:
        version = session.get(DatasetVersion, version_id)
        assert version is not None
        return version.pseudonym_generation


def _release(world: World, grant: int) -> list[tuple[str, ...]]:
    """The released rows (pseudonym, shifted date, the rest), order aside (rows are
    shuffled)."""
    response = _download(world, grant)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    return sorted(tuple(row.values()) for row in rows)


def _everything(world: World) -> str:
    """Every value of every table in the database (version tables included), as text."""
    parts = []
    with world.factory() as session:
        bind = session.get_bind()
        inspector = inspect(bind)
        schemas = {None, version_tables.version_schema(bind.dialect.name)}
        for schema in schemas:
            for table in inspector.get_table_names(schema=schema):
                name = f'"{schema}"."{table}"' if schema else f'"{table}"'
                rows = session.execute(text(f"SELECT * FROM {name}"))
                parts.extend(repr(tuple(row)) for row in rows)
    return "\n".join(parts)


def _load_opt_outs(world: World, store: KeyStore, numbers: list[str]) -> None:
    path = world.tmp / "optouts.csv"
    path.write_text("nhs_number\n" + "\n".join(numbers) + "\n", encoding="utf-8")
    with session_scope(world.factory) as session:
        load_optouts(session, TRAIL, path, store)


def _first_version(world: World) -> int:
    with world.factory() as session:
        found = session.scalar(select(DatasetVersion.id).order_by(DatasetVersion.id).limit(1))
        assert found is not None
        return found


def _rotate(world: World, store: KeyStore, *, reissue: bool = False) -> None:
    outcome = rotate_pseudonyms(
        world.factory, store, TRAIL, reissue_projects=reissue, confirm=lambda _a, _b: True
    )
    assert outcome is not None


def _check_rotation(world: World, store: KeyStore) -> None:
    """The whole story on one world whose store is ``store``."""
    numbers = nhs_numbers(60)
    version_a = _first_version(world)
    grant = world.grant("a")
    released_before = _release(world, grant)
    stored_before = _stored(world, version_a)
    _load_opt_outs(world, store, [numbers[OPTED_OUT]])
    with world.factory() as session:
        digests_before = set(session.scalars(select(OptOut.digest)))

    _rotate(world, store)

    # Nothing made at generation 1 is left anywhere: not a pseudonym, not an opt-out digest.
    assert store.pseudonym_remap_keys()
    assert len(store.pseudonym_remap_keys()) == 1
    assert _generation(world, version_a) == 2
    everything = _everything(world)
    assert not [p for p in stored_before if p in everything]
    assert not [d for d in digests_before if d in everything]
    chain = PseudonymChain(store.pseudonym_remap_keys())
    assert sorted(_stored(world, version_a)) == sorted(chain.move_hex(stored_before, 1, 2))
    with world.factory() as session:
        listing = session.scalars(select(OptOutList)).one()
        assert listing.pseudonym_generation == 2
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action.in_(
                    ["keys.rotate_pseudonym", "dataset_version.pseudonyms_remapped"]
                )
            )
        ).all()
    remapped = [json.loads(e.details) for e in events if e.action.endswith("remapped")]
    assert remapped == [
        {
            "dataset_version_id": version_a,
            "generation_from": 1,
            "generation_to": 2,
            "rows": 120,
            "columns": 1,
            "values": 120,
            "data_table": "present",
        }
    ]
    phases = [json.loads(e.details)["phase"] for e in events if e.action == "keys.rotate_pseudonym"]
    assert phases == ["start", "complete"]

    # The project pinned at generation 1 gets exactly what it got before.
    assert _release(world, grant) == released_before

    # A new extract of the same patients is stored at generation 2, linked to the first.
    view = world.extracts.ingested("admissions", admission_rows(seed=6))
    version_b = view.dataset_version
    assert version_b is not None
    b_id = _version_id(world, version_b)
    assert _generation(world, b_id) == 2
    stored_a, stored_b = set(_stored(world, version_a)), set(_stored(world, b_id))
    plain = Pseudonymiser(store.secret("pseudonym"), "nhs_number")
    expected = {chain.move_hex([plain(normalise_nhs_number(n))], 1, 2)[0]: n for n in numbers}
    assert stored_a == set(expected)
    # The opted-out patient (matched through the carried list) is left out of B only.
    assert stored_b == set(expected) - {p for p, n in expected.items() if n == numbers[OPTED_OUT]}
    # The project's pseudonyms for B's patients are the ones it already had.
    rows_b = _release(world, grant)
    released_b = {row[0] for row in rows_b}
    released_a = {row[0] for row in released_before}
    assert released_b < released_a
    assert len(released_a - released_b) == 1

    # Reissuing (the governance officer's decision) changes the project's pseudonyms.
    _rotate(world, store, reissue=True)
    with world.factory() as session:
        generations = set(session.scalars(select(Project.pseudonym_generation)))
    assert generations == {3}
    assert _generation(world, version_a) == 3
    reissued = _release(world, grant)
    assert {row[0] for row in reissued}.isdisjoint(released_b)
    admitted = ADMISSION_OUTPUT.index("admission_date")  # shifted by the project's offsets
    assert sorted(r[admitted] for r in reissued) != sorted(r[admitted] for r in rows_b)


def _version_id(world: World, version: object) -> int:
    number = getattr(version, "number", version)
    with world.factory() as session:
        found = session.scalar(
            select(DatasetVersion.id).where(DatasetVersion.number == number).limit(1)
        )
        assert found is not None
        return found


def test_rotation_keeps_linkage_and_pinned_projects(world: World) -> None:
    _check_rotation(world, world.keystore)


def _local_copy(world: World, folder: Path) -> LocalFileKeyStore:
    """The world's keys as a local key store folder (what a subprocess can open)."""
    folder.mkdir(mode=0o700)
    for name in ("pseudonym", "date_shift", "kek", "audit_signing"):
        target = folder / f"{name}.key"
        target.write_bytes(world.keystore._keys[name])
        target.chmod(0o600)
    store = LocalFileKeyStore(folder)
    _use_store(world, store)
    return store


_INTERRUPTED = """
import os, sys
from fivesafes.release import pseudonym_rotation as job
original = job.remap_version
def remap_then_die(*args, **kwargs):
    done = original(*args, **kwargs)
    if done is not None:
        os._exit(17)  # killed right after the first version committed
    return done
job.remap_version = remap_then_die
from fivesafes.cli.main import app
sys.argv = ["fivesafes", "keys", "rotate", "pseudonym", "--yes"]
app()
"""


def test_an_interrupted_rotation_resumes_without_another_key(
    world: World, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _local_copy(world, tmp_path / "local-keys")
    world.extracts.ingested("admissions", admission_rows(seed=6))
    with world.factory() as session:
        versions = list(session.scalars(select(DatasetVersion.id).order_by(DatasetVersion.id)))
    assert len(versions) == 2
    before = {v: _stored(world, v) for v in versions}
    environment = {
        **os.environ,
        "FIVESAFES_DATABASE_URL": database_url,
        "FIVESAFES_KEYSTORE_PATH": str(store.path),
    }
    killed = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == 17, killed.stderr
    assert len(store.pseudonym_remap_keys()) == 1
    assert [_generation(world, v) for v in versions] == [2, 1]

    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(store.path))
    reset_settings_cache()
    result = CliRunner().invoke(app, ["keys", "rotate", "pseudonym"])  # no --yes: no prompt
    assert result.exit_code == 0, result.output
    assert "resumed and finished" in result.stdout
    assert len(LocalFileKeyStore(store.path).pseudonym_remap_keys()) == 1
    assert [_generation(world, v) for v in versions] == [2, 2]
    chain = PseudonymChain(store.pseudonym_remap_keys())
    for version, values in before.items():
        assert sorted(_stored(world, version)) == sorted(chain.move_hex(values, 1, 2))
    with world.factory() as session:
        remapped = session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "dataset_version.pseudonyms_remapped"
            )
        ).all()
    assert sorted(json.loads(d)["dataset_version_id"] for d in remapped) == versions


def test_the_command_asks_warns_and_needs_a_current_database(
    world: World, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _local_copy(world, tmp_path / "local-keys")
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(store.path))
    reset_settings_cache()
    runner = CliRunner()
    declined = runner.invoke(app, ["keys", "rotate", "pseudonym"], input="n\n")
    assert declined.exit_code != 0
    assert store.pseudonym_remap_keys() == ()
    done = runner.invoke(
        app, ["keys", "rotate", "pseudonym", "--reissue-project-pseudonyms"], input="y\n"
    )
    assert done.exit_code == 0, done.output
    assert "breaking its linkage across downloads" in done.stderr
    assert "2 projects reissued" in done.stdout
    assert len(store.pseudonym_remap_keys()) == 1
    monkeypatch.setenv("COLUMNS", "400")  # rich tables fold to the terminal width
    status = runner.invoke(app, ["keys", "status"])
    assert status.exit_code == 0, status.output
    assert "pseudonym-remap-2" in status.stdout
    assert store.pseudonym_remap_keys()[0].hex() not in status.stdout
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    reset_settings_cache()
    missing = runner.invoke(app, ["keys", "rotate", "pseudonym", "--yes"])
    assert missing.exit_code != 0
    assert "no database at FIVESAFES_DATABASE_URL" in missing.stderr
    assert not (tmp_path / "absent.db").exists()


def test_rotation_with_the_pkcs11_store(
    world: World, fresh_softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    from fivesafes.keys.pkcs11_store import Pkcs11KeyStore  # noqa: PLC0415

    token = fresh_softhsm_token
    folder = tmp_path / "hsm-keys"
    store = Pkcs11KeyStore.open(token.module, token.label, token.pin, folder)
    try:
        store.init(
            import_secrets={
                "pseudonym": world.keystore.secret("pseudonym"),
                "date_shift": world.keystore.secret("date_shift"),
            }
        )
        _use_store(world, store)
        _check_rotation(world, store)
        wrapped = sorted(p.name for p in folder.glob("pseudonym-remap-*.wrapped"))
        assert wrapped == ["pseudonym-remap-2.wrapped", "pseudonym-remap-3.wrapped"]
        assert all((folder / name).stat().st_mode & 0o077 == 0 for name in wrapped)
        names = [info.name for info in store.status()]
        assert "pseudonym-remap-3" in names
        material = [k.hex() for k in store.pseudonym_remap_keys()]
        assert not any(m in (folder / n).read_bytes().hex() for m in material for n in wrapped)
    finally:
        store.close()


LINKED_POLICY = """\
dataset: linked
version: 1
columns:
  nhs_number: {type: nhs_number, role: patient_id}
  mrn: {type: string, role: identifier, action: pseudonymise}
  sex: {type: string, role: keep}
"""


def test_every_pseudonym_column_is_remapped_and_nulls_stay_null(world: World) -> None:
    with session_scope(world.factory) as session:
        load_policies(session, world.tmp, {"linked": LINKED_POLICY})
    numbers = nhs_numbers(12)
    rows = [
        {"nhs_number": n, "mrn": "" if i % 3 == 0 else f"MRN{i:04d}", "sex": "MF"[i % 2]}
        for i, n in enumerate(numbers)
    ]
    view = world.extracts.ingested("linked", rows, columns=["nhs_number", "mrn", "sex"])
    with world.factory() as session:
        version = session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.number == view.dataset_version)
            .order_by(DatasetVersion.id.desc())
        ).first()
        assert version is not None
        version_id, table = version.id, version.table_name

    def read() -> list[tuple[str | None, str | None, str]]:
        with world.factory() as session:
            schema = version_tables.version_schema(session.get_bind().dialect.name)
            name = f'"{schema}"."{table}"' if schema else f'"{table}"'
            found = session.execute(text(f"SELECT nhs_number, mrn, sex FROM {name}"))
            return sorted((a, b, c) for a, b, c in found)

    before = read()
    _rotate(world, world.keystore)
    after = read()
    chain = PseudonymChain(world.keystore.pseudonym_remap_keys())
    step = {old: chain.move_hex([old], 1, 2)[0] for row in before for old in row[:2] if old}
    assert after == sorted(
        (step[a] if a else a, step[b] if b else b, c)
        for a, b, c in before  # type: ignore[index]
    )
    assert sum(1 for row in after if row[1] is None) == 4
    assert _generation(world, version_id) == 2


def test_a_project_created_after_a_rotation_starts_at_the_new_generation(world: World) -> None:
    """It has released nothing, so it has no linkage to keep: its project keys never derive
    from the retired generation's key, while the projects created before stay pinned."""
    _rotate(world, world.keystore)
    with session_scope(world.factory) as session:
        officer = session.merge(world.people["officer"].user)
        lead = session.merge(world.people["a"].user)
        late = make_project(session, world.policy, officer, lead, now=utcnow())
        assert late.pseudonym_generation == 2
        earlier = session.scalars(
            select(Project.pseudonym_generation).where(Project.id.in_(world.projects.values()))
        ).all()
    assert earlier == [1, 1]
