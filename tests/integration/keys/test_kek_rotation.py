"""`fivesafes keys rotate kek` on a real SoftHSM2 token and on the local store.

What must hold: every wrapped file ends up under the new KEK and still holds the same key
(so the same pseudonyms), the old KEK is destroyed only after the last rewrap, a second
rotation works, and a process killed half-way (``os._exit`` right after the first file
was replaced: no cleanup, no ``finally``) leaves a store that opens with the same keys,
shows the rotation pending, and finishes when the command is run again.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pkcs11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pkcs11 import Attribute, ObjectClass
from typer.testing import CliRunner

from fivesafes import schema
from fivesafes.cli.main import app as cli
from fivesafes.config import reset_settings_cache
from fivesafes.errors import ConfigurationError
from fivesafes.keys import kek_rotation
from fivesafes.keys.envelope import EnvelopeError
from fivesafes.keys.kek_rotation import KekRotatingStore, replace_private, rotate_kek
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.pkcs11_store import KEK_LABEL, KEK_NEXT_LABEL, Pkcs11KeyStore
from fivesafes.keys.pseudonym import Pseudonymiser
from fivesafes.keys.store import MEMORY_KEY_NAMES
from fivesafes.keys.wrapping import unpack_blob
from tests.hsm.fixtures import SoftHsmToken
from tests.integration.keys.support import audit_events, open_token

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()


def _blob_ids(folder: Path) -> dict[str, bytes]:
    return {p.name: unpack_blob(p.read_bytes())[0] for p in sorted(folder.glob("*.wrapped"))}


def _extra_wrapped(store: KekRotatingStore, name: str) -> bytes:
    """Write ``<name>.wrapped`` (any name is rotated, not only the memory keys)."""
    data_key = secrets.token_bytes(32)
    target = store.path / f"{name}.wrapped"
    replace_private(target, store.wrap(name, data_key))
    return data_key


def _token_keks(token: SoftHsmToken) -> dict[str, list[bytes]]:
    """Every KEK object on the token, by label, looked at from a second session."""
    session = pkcs11.lib(str(token.module)).get_token(token_label=token.label).open(rw=False)
    try:
        found: dict[str, list[bytes]] = {}
        for obj in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}):
            found.setdefault(obj[Attribute.LABEL], []).append(bytes(obj[Attribute.ID]))
        return found
    finally:
        session.close()


def _pseudonyms(secret: bytes) -> list[str]:
    pseudonymiser = Pseudonymiser(secret, "nhs_number")
    return [pseudonymiser(f"{n:010d}") for n in range(5)]


@pytest.fixture
def token_store(fresh_softhsm_token: SoftHsmToken, tmp_path: Path) -> Pkcs11KeyStore:
    store = open_token(fresh_softhsm_token, tmp_path / "keys")
    store.init()
    return store


@pytest.fixture
def local_store(tmp_path: Path) -> LocalFileKeyStore:
    """A local store holding two wrapped files (the local store itself writes none)."""
    store = LocalFileKeyStore(tmp_path / "local-keys")
    store.init()
    _extra_wrapped(store, "alpha")
    _extra_wrapped(store, "beta")
    return store


# -- PKCS#11 -------------------------------------------------------------------------------


def test_rotation_rewraps_every_file_and_destroys_the_old_kek(
    token_store: Pkcs11KeyStore, fresh_softhsm_token: SoftHsmToken
) -> None:
    spool_key = _extra_wrapped(token_store, "spool-archive")
    memory = {n: token_store.secret(n) for n in ("pseudonym", "date_shift")}
    old_id, pending = token_store.kek_ids()
    assert old_id is not None
    assert pending is None
    assert set(_blob_ids(token_store.path).values()) == {old_id}

    done = rotate_kek(token_store)

    assert done.old_kek_id == old_id
    assert done.new_kek_id != old_id
    assert (done.rewrapped, done.total, done.resumed, done.promoted) == (3, 3, False, True)
    assert set(_blob_ids(token_store.path).values()) == {done.new_kek_id}
    assert _token_keks(fresh_softhsm_token) == {KEK_LABEL: [done.new_kek_id]}
    assert token_store.kek_ids() == (done.new_kek_id, None)
    reopened = open_token(fresh_softhsm_token, token_store.path)
    assert {n: reopened.unwrap_file(n) for n in memory} == memory
    assert _pseudonyms(reopened.secret("pseudonym")) == _pseudonyms(memory["pseudonym"])
    blob = (token_store.path / "spool-archive.wrapped").read_bytes()
    assert reopened.unwrap("spool-archive", blob) == spool_key
    kek = next(info for info in reopened.status() if info.name == "kek")
    assert kek.fingerprint == done.new_kek_id.hex()
    assert "pending" not in kek.location


def test_the_new_kek_has_the_token_template(
    token_store: Pkcs11KeyStore, fresh_softhsm_token: SoftHsmToken
) -> None:
    new_id = rotate_kek(token_store).new_kek_id
    session = (
        pkcs11.lib(str(fresh_softhsm_token.module))
        .get_token(token_label=fresh_softhsm_token.label)
        .open(rw=False)
    )
    try:
        (kek,) = session.get_objects({Attribute.LABEL: KEK_LABEL})
        assert bytes(kek[Attribute.ID]) == new_id
        assert kek[Attribute.SENSITIVE] is True
        assert kek[Attribute.EXTRACTABLE] is False
        assert kek[Attribute.NEVER_EXTRACTABLE] is True
        assert kek[Attribute.WRAP] is False
        assert kek[Attribute.VALUE_LEN] == 32
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            kek[Attribute.VALUE]
    finally:
        session.close()


def test_a_second_rotation_works_and_keeps_the_keys(
    token_store: Pkcs11KeyStore, fresh_softhsm_token: SoftHsmToken
) -> None:
    memory = token_store.secret("pseudonym")
    first = rotate_kek(token_store)
    second = rotate_kek(token_store)
    assert second.old_kek_id == first.new_kek_id
    assert len({first.old_kek_id, first.new_kek_id, second.new_kek_id}) == 3
    assert _token_keks(fresh_softhsm_token) == {KEK_LABEL: [second.new_kek_id]}
    assert set(_blob_ids(token_store.path).values()) == {second.new_kek_id}
    assert open_token(fresh_softhsm_token, token_store.path).unwrap_file("pseudonym") == memory


def test_while_pending_new_wraps_use_the_next_kek_and_both_unwrap(
    token_store: Pkcs11KeyStore,
) -> None:
    old_id, _ = token_store.kek_ids()
    old_blob = token_store.wrap("spool", key := secrets.token_bytes(32))
    next_id = token_store.begin_kek_rotation()
    assert token_store.begin_kek_rotation() == next_id  # made once
    assert token_store.kek_ids() == (old_id, next_id)
    new_blob = token_store.wrap("spool", key)
    assert unpack_blob(new_blob)[0] == next_id
    assert token_store.unwrap("spool", old_blob) == key == token_store.unwrap("spool", new_blob)
    kek_rotation.rewrap_file(token_store, token_store.wrapped_path("date_shift"), next_id)
    kek = next(info for info in token_store.status() if info.name == "kek")
    assert kek.fingerprint == old_id.hex()  # type: ignore[union-attr]
    assert f"rotation pending to KEK {next_id.hex()}: 1 of 2 rewrapped" in kek.location
    with pytest.raises(ConfigurationError, match=KEK_NEXT_LABEL):
        token_store.init()  # a pending rotation's KEK blocks a second ceremony too


def test_a_blob_under_an_unknown_kek_stops_the_rotation_before_anything_is_destroyed(
    token_store: Pkcs11KeyStore, fresh_softhsm_token: SoftHsmToken
) -> None:
    old_id, _ = token_store.kek_ids()
    foreign = LocalFileKeyStore(token_store.path.parent / "foreign")
    foreign.init()
    replace_private(
        token_store.path / "zz-foreign.wrapped", foreign.wrap("zz-foreign", secrets.token_bytes(32))
    )
    with pytest.raises(EnvelopeError, match="zz-foreign"):
        rotate_kek(token_store)
    keks = _token_keks(fresh_softhsm_token)
    assert keks[KEK_LABEL] == [old_id]  # the old KEK is still there
    assert len(keks[KEK_NEXT_LABEL]) == 1
    assert token_store.unwrap_file("pseudonym") == token_store.secret("pseudonym")


@pytest.mark.parametrize(
    "killed_after",
    [pytest.param(1, id="after-the-first-rewrap"), 0, 2],
)
def test_a_killed_rotation_leaves_every_key_readable_and_a_rerun_finishes(
    token_store: Pkcs11KeyStore,
    fresh_softhsm_token: SoftHsmToken,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    killed_after: int,
) -> None:
    memory = {n: token_store.secret(n) for n in ("pseudonym", "date_shift")}
    old_id, _ = token_store.kek_ids()
    environment = fresh_softhsm_token.environment(token_store.path)
    killed = _run_killed_rotation(environment, tmp_path, killed_after)
    assert killed.returncode == 9, killed.stderr

    keks = _token_keks(fresh_softhsm_token)
    assert keks[KEK_LABEL] == [old_id]  # never destroyed before the last rewrap
    (next_id,) = keks[KEK_NEXT_LABEL]
    ids = list(_blob_ids(token_store.path).values())
    assert len(ids) == 2
    assert ids.count(next_id) == killed_after  # each file wholly old or wholly new
    assert ids.count(old_id) == 2 - killed_after  # type: ignore[arg-type]
    reopened = open_token(fresh_softhsm_token, token_store.path)
    assert {n: reopened.unwrap_file(n) for n in memory} == memory
    assert list(token_store.path.glob(".*.tmp")) == []  # the replaced file was complete

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    monkeypatch.setenv("COLUMNS", "400")
    reset_settings_cache()
    status = runner.invoke(cli, ["keys", "status"])
    assert status.exit_code == 0, status.output
    pending = f"rotation pending to KEK {next_id.hex()}: {killed_after} of 2 rewrapped"
    assert pending in status.output

    rerun = runner.invoke(cli, ["keys", "rotate", "kek"])
    assert rerun.exit_code == 0, rerun.output
    assert f"old {old_id.hex()} -> new {next_id.hex()}" in rerun.stdout  # type: ignore[union-attr]
    assert "resumed" in rerun.stdout
    assert f"{2 - killed_after} of 2 wrapped keys rewrapped" in rerun.stdout
    assert _token_keks(fresh_softhsm_token) == {KEK_LABEL: [next_id]}
    assert set(_blob_ids(token_store.path).values()) == {next_id}
    final = open_token(fresh_softhsm_token, token_store.path)
    assert {n: final.unwrap_file(n) for n in memory} == memory


def test_killed_between_destroy_and_relabel_the_next_kek_serves_and_a_rerun_relabels(
    token_store: Pkcs11KeyStore, fresh_softhsm_token: SoftHsmToken
) -> None:
    memory = token_store.secret("pseudonym")
    next_id = token_store.begin_kek_rotation()
    for path in kek_rotation.wrapped_files(token_store.path):
        kek_rotation.rewrap_file(token_store, path, next_id)
    session = (
        pkcs11.lib(str(fresh_softhsm_token.module))
        .get_token(token_label=fresh_softhsm_token.label)
        .open(rw=True)
    )
    try:
        (old,) = session.get_objects({Attribute.LABEL: KEK_LABEL})
        old.destroy()  # what finish does first; the kill comes before the relabel
    finally:
        session.close()
    assert token_store.kek_ids() == (None, next_id)
    assert token_store.unwrap_file("pseudonym") == memory
    assert unpack_blob(token_store.wrap("spool", secrets.token_bytes(32)))[0] == next_id
    kek = next(info for info in token_store.status() if info.name == "kek")
    assert kek.fingerprint == next_id.hex()
    done = rotate_kek(token_store)
    assert (done.old_kek_id, done.new_kek_id, done.rewrapped) == (None, next_id, 0)
    assert _token_keks(fresh_softhsm_token) == {KEK_LABEL: [next_id]}


def test_rotation_is_audited_with_public_ids_only(
    token_store: Pkcs11KeyStore,
    fresh_softhsm_token: SoftHsmToken,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'audit.db'}"
    schema.upgrade(database)
    for name, value in fresh_softhsm_token.environment(token_store.path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database)
    reset_settings_cache()
    old_id, _ = token_store.kek_ids()
    result = runner.invoke(cli, ["keys", "rotate", "kek"])
    assert result.exit_code == 0, result.output
    new_id, _ = token_store.kek_ids()
    assert new_id is not None
    assert old_id is not None
    (details,) = audit_events(database, "keys.rotate_kek")
    assert details == {
        "keystore": "pkcs11",
        "old_kek_id": old_id.hex(),
        "new_kek_id": new_id.hex(),
        "files_rewrapped": 2,
        "wrapped_files": 2,
        "resumed": False,
    }
    text = json.dumps(details) + result.output
    for name in MEMORY_KEY_NAMES:
        assert token_store.secret(name).hex() not in text
    assert old_id.hex() in result.output
    assert new_id.hex() in result.output


def _run_killed_rotation(
    environment: dict[str, str], cwd: Path, killed_after: int = 1
) -> subprocess.CompletedProcess[str]:
    """``keys rotate kek`` in a child that dies (``os._exit``) after ``killed_after`` files
    were replaced (0: once the next KEK exists; 2 of 2: just before the old is destroyed)."""
    script = textwrap.dedent(
        f"""
        import os
        from fivesafes.keys import kek_rotation

        real = kek_rotation.rewrap_file
        replaced = 0

        def rewrap_then_die(store, path, new_kek_id):
            global replaced
            if replaced == {killed_after}:
                os._exit(9)  # a crash: no finally, no atexit, no cleanup
            rewritten = real(store, path, new_kek_id)
            replaced += rewritten
            if replaced == {killed_after}:
                os._exit(9)
            return rewritten

        kek_rotation.rewrap_file = rewrap_then_die
        from fivesafes.cli.main import app
        app(["keys", "rotate", "kek"])
        """
    )
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")}
    child_env.update(environment)
    child_env["FIVESAFES_DATABASE_URL"] = f"sqlite:///{cwd / 'absent.db'}"
    child_env["PYTHONPATH"] = os.pathsep.join([str(REPO / "platform"), str(REPO)])
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- local store ---------------------------------------------------------------------------


def _local_environment(store: LocalFileKeyStore) -> dict[str, str]:
    return {"FIVESAFES_KEYSTORE": "local", "FIVESAFES_KEYSTORE_PATH": str(store.path)}


def test_local_rotation_replaces_kek_key_and_rewraps(local_store: LocalFileKeyStore) -> None:
    keys = {
        n: local_store.unwrap(n, (local_store.path / f"{n}.wrapped").read_bytes())
        for n in ("alpha", "beta")
    }
    pseudonym = (local_store.path / "pseudonym.key").read_bytes()
    old_kek = (local_store.path / "kek.key").read_bytes()
    old_id, _ = local_store.kek_ids()
    done = rotate_kek(local_store)
    assert done.old_kek_id == old_id
    assert done.new_kek_id != old_id
    assert (done.rewrapped, done.total) == (2, 2)
    assert not local_store.next_kek_path().exists()
    new_kek = (local_store.path / "kek.key").read_bytes()
    assert new_kek != old_kek
    assert (os.stat(local_store.path / "kek.key").st_mode & 0o777) == 0o600
    assert set(_blob_ids(local_store.path).values()) == {done.new_kek_id}
    fresh = LocalFileKeyStore(local_store.path)
    for name, key in keys.items():
        assert fresh.unwrap(name, (fresh.path / f"{name}.wrapped").read_bytes()) == key
    assert (local_store.path / "pseudonym.key").read_bytes() == pseudonym
    kek = next(info for info in fresh.status() if info.name == "kek")
    assert kek.fingerprint == done.new_kek_id.hex()
    second = rotate_kek(fresh)
    assert second.old_kek_id == done.new_kek_id
    assert set(_blob_ids(local_store.path).values()) == {second.new_kek_id}


def test_local_killed_rotation_resumes(
    local_store: LocalFileKeyStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = {
        n: local_store.unwrap(n, (local_store.path / f"{n}.wrapped").read_bytes())
        for n in ("alpha", "beta")
    }
    old_id, _ = local_store.kek_ids()
    killed = _run_killed_rotation(_local_environment(local_store), tmp_path)
    assert killed.returncode == 9, killed.stderr
    fresh = LocalFileKeyStore(local_store.path)
    current, next_id = fresh.kek_ids()
    assert current == old_id
    assert next_id is not None
    assert sorted(_blob_ids(fresh.path).values()) == sorted([old_id, next_id])  # type: ignore[type-var]
    for name, key in keys.items():
        assert fresh.unwrap(name, (fresh.path / f"{name}.wrapped").read_bytes()) == key
    assert unpack_blob(fresh.wrap("spool", secrets.token_bytes(32)))[0] == next_id
    kek = next(info for info in fresh.status() if info.name == "kek")
    assert "1 of 2 rewrapped" in kek.location

    for name, value in _local_environment(local_store).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    reset_settings_cache()
    rerun = runner.invoke(cli, ["keys", "rotate", "kek"])
    assert rerun.exit_code == 0, rerun.output
    assert "resumed" in rerun.stdout
    assert LocalFileKeyStore(local_store.path).kek_ids() == (next_id, None)
    assert set(_blob_ids(local_store.path).values()) == {next_id}
    final = LocalFileKeyStore(local_store.path)
    for name, key in keys.items():
        assert final.unwrap(name, (final.path / f"{name}.wrapped").read_bytes()) == key


def test_local_rotation_without_a_kek_says_what_to_run(tmp_path: Path) -> None:
    store = LocalFileKeyStore(tmp_path / "empty")
    store.path.mkdir(mode=0o700)
    with pytest.raises(ConfigurationError, match="keys init"):
        rotate_kek(store)


@pytest.mark.parametrize("fixture", ["token_store", "local_store"])
def test_the_old_kek_is_never_destroyed_while_a_file_needs_it(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    store: KekRotatingStore = request.getfixturevalue(fixture)
    old_id, _ = store.kek_ids()
    next_id = store.begin_kek_rotation()
    first = kek_rotation.wrapped_files(store.path)[0]
    kek_rotation.rewrap_file(store, first, next_id)
    with pytest.raises(EnvelopeError, match="refusing to destroy the old KEK"):
        store.finish_kek_rotation()
    assert store.kek_ids() == (old_id, next_id)
    done = rotate_kek(store)
    assert (done.old_kek_id, done.new_kek_id, done.rewrapped) == (old_id, next_id, 1)
    assert store.kek_ids() == (next_id, None)


class _CrashError(Exception):
    """Stands for the process dying: the files on disk are what a kill would leave."""


@settings(max_examples=30, deadline=None)
@given(files=st.integers(min_value=0, max_value=4), crash_after=st.integers(0, 5))
def test_local_rotation_resumes_from_a_crash_after_any_number_of_files(
    tmp_path_factory: pytest.TempPathFactory, files: int, crash_after: int
) -> None:
    store = LocalFileKeyStore(tmp_path_factory.mktemp("local") / "keys")
    store.init()
    keys = {f"k{n}": _extra_wrapped(store, f"k{n}") for n in range(files)}
    old_id, _ = store.kek_ids()
    real = kek_rotation.replace_private
    calls = 0

    def replace_then_crash(target: Path, data: bytes) -> None:
        nonlocal calls
        if calls == crash_after:
            raise _CrashError
        real(target, data)
        calls += 1

    with mock.patch.object(kek_rotation, "replace_private", replace_then_crash):
        try:
            rotate_kek(store)
            crashed = False
        except _CrashError:
            crashed = True
    assert crashed == (crash_after < files)
    reopened = LocalFileKeyStore(store.path)
    for name, key in keys.items():  # every file readable, old or new
        assert reopened.unwrap(name, (store.path / f"{name}.wrapped").read_bytes()) == key
    if crashed:
        assert reopened.kek_ids()[0] == old_id  # the old KEK is still there
    done = rotate_kek(reopened)
    assert done.resumed == crashed
    final = LocalFileKeyStore(store.path)
    assert final.kek_ids() == (done.new_kek_id, None)
    assert set(_blob_ids(store.path).values()) <= {done.new_kek_id}
    for name, key in keys.items():
        assert final.unwrap(name, (store.path / f"{name}.wrapped").read_bytes()) == key
