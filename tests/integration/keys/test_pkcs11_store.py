"""The PKCS#11 key store against a real SoftHSM2 token (tests/hsm).

Every operation of the protocol, the token attributes that keep the KEK and the signing
key inside the token, the wrapped files, the start-up errors (each naming its variable,
none showing the PIN), and the import hook a migration from the local store will use.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from pkcs11 import Attribute, ObjectClass
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fivesafes import schema
from fivesafes.app import create_app
from fivesafes.audit.chain import checkpoint_message
from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.main import app as cli
from fivesafes.config import Settings, load_settings, reset_settings_cache
from fivesafes.errors import ConfigurationError
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role
from fivesafes.keys import pkcs11_store
from fivesafes.keys.envelope import EnvelopeError
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.pkcs11_store import KEK_LABEL, SIGNING_LABEL, Pkcs11KeyStore
from fivesafes.keys.store import KeyStore, key_id, public_key_fingerprint
from fivesafes.keys.wrapping import BLOB_BYTES, pack_blob, unpack_blob
from tests.hsm.fixtures import SoftHsm, SoftHsmToken
from tests.integration.ingestion.extracts import dev_rows
from tests.integration.keys.support import ingested_rows, open_token, pseudonym_pairs

TRAIL = AuditTrail.for_operator()


@pytest.fixture
def store(fresh_softhsm_token: SoftHsmToken, tmp_path: Path) -> Pkcs11KeyStore:
    """A store on an empty token, keys initialised."""
    opened = open_token(fresh_softhsm_token, tmp_path / "keys")
    opened.init()
    return opened


def _token_session(token: SoftHsmToken) -> pkcs11.Session:
    """A second session on the token, to look at its objects from the outside."""
    # The process is already logged in (the store's session): PKCS#11 logs in per process.
    return pkcs11.lib(str(token.module)).get_token(token_label=token.label).open(rw=False)


def test_init_creates_every_key_and_reports_public_fingerprints(store: Pkcs11KeyStore) -> None:
    assert isinstance(store, KeyStore)
    infos = {info.name: info for info in store.status()}
    assert set(infos) == {"kek", "audit_signing", "pseudonym", "date_shift"}
    assert infos["audit_signing"].fingerprint == public_key_fingerprint(store.verification_key())
    assert infos["pseudonym"].fingerprint == key_id(store.secret("pseudonym"))
    assert infos["date_shift"].fingerprint == key_id(store.secret("date_shift"))
    assert len(bytes.fromhex(infos["kek"].fingerprint)) == 8
    for name in ("kek", "audit_signing"):
        assert "non-extractable" in infos[name].location
        assert store.token_label in infos[name].location
        # CKA_START_DATE is set at generation; SoftHSM2 2.6.1 cannot read it back.
        created = infos[name].created_at
        assert created is None or created.date() == datetime.now(UTC).date()
    assert infos["pseudonym"].created_at is not None
    assert "wrapped by the KEK" in infos["pseudonym"].location
    assert store.secret("pseudonym") != store.secret("date_shift")
    assert all(len(store.secret(name)) == 32 for name in ("pseudonym", "date_shift"))


def test_the_kek_and_the_signing_key_are_sensitive_and_never_extractable(
    store: Pkcs11KeyStore, fresh_softhsm_token: SoftHsmToken
) -> None:
    session = _token_session(fresh_softhsm_token)
    try:
        (kek,) = session.get_objects({Attribute.LABEL: KEK_LABEL})
        (private,) = session.get_objects(
            {Attribute.LABEL: SIGNING_LABEL, Attribute.CLASS: ObjectClass.PRIVATE_KEY}
        )
        for key in (kek, private):
            assert key[Attribute.TOKEN] is True
            assert key[Attribute.SENSITIVE] is True
            assert key[Attribute.EXTRACTABLE] is False
            assert key[Attribute.ALWAYS_SENSITIVE] is True
            assert key[Attribute.NEVER_EXTRACTABLE] is True
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                key[Attribute.VALUE]
        assert kek[Attribute.VALUE_LEN] == 32
        assert kek[Attribute.WRAP] is False  # it seals data keys, not other token keys
        assert len(kek[Attribute.ID]) == 8  # the id every blob it seals names
    finally:
        session.close()


def test_wrapped_files_are_0600_in_a_0700_folder_and_hold_no_key(
    store: Pkcs11KeyStore,
) -> None:
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700
    for name in ("pseudonym", "date_shift"):
        target = store.wrapped_path(name)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        blob = target.read_bytes()
        assert len(blob) == BLOB_BYTES
        assert store.secret(name) not in blob
    assert sorted(p.name for p in store.path.iterdir()) == [
        "date_shift.wrapped",
        "pseudonym.wrapped",
    ]


def test_a_second_init_is_refused_and_changes_nothing(
    store: Pkcs11KeyStore, fresh_softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    pseudonym = store.secret("pseudonym")
    blob = store.wrapped_path("pseudonym").read_bytes()
    with pytest.raises(ConfigurationError, match="refusing"):
        store.init()
    assert store.wrapped_path("pseudonym").read_bytes() == blob
    # A new key folder does not make the token's keys disposable either.
    elsewhere = open_token(fresh_softhsm_token, tmp_path / "other-keys")
    with pytest.raises(ConfigurationError, match=KEK_LABEL):
        elsewhere.init()
    assert not (tmp_path / "other-keys" / "pseudonym.wrapped").exists()
    assert store.secret("pseudonym") == pseudonym


def test_signatures_verify_with_the_verification_key(store: Pkcs11KeyStore) -> None:
    message = b"checkpoint 42 " + secrets.token_bytes(32)
    signature = store.sign(message)
    assert len(signature) == 64
    public = Ed25519PublicKey.from_public_bytes(store.verification_key())
    public.verify(signature, message)
    with pytest.raises(InvalidSignature):
        public.verify(signature, message + b"!")


def test_wrap_and_unwrap_round_trip_under_the_token_kek(store: Pkcs11KeyStore) -> None:
    data_key = secrets.token_bytes(32)
    blob = store.wrap("spool", data_key)
    assert data_key not in blob
    assert store.wrap("spool", data_key) != blob  # a fresh nonce every time
    assert store.unwrap("spool", blob) == data_key
    kek_id, _, _ = unpack_blob(blob)
    kek = next(info for info in store.status() if info.name == "kek")
    assert kek_id.hex() == kek.fingerprint


def test_unwrap_with_the_wrong_name_fails(store: Pkcs11KeyStore) -> None:
    blob = store.wrapped_path("pseudonym").read_bytes()
    with pytest.raises(EnvelopeError):
        store.unwrap("date_shift", blob)
    assert store.unwrap("pseudonym", blob) == store.secret("pseudonym")


def test_swapped_wrapped_files_do_not_load(
    store: Pkcs11KeyStore, fresh_softhsm_token: SoftHsmToken
) -> None:
    pseudonym, date_shift = (store.wrapped_path(n) for n in ("pseudonym", "date_shift"))
    a, b = pseudonym.read_bytes(), date_shift.read_bytes()
    pseudonym.write_bytes(b)
    date_shift.write_bytes(a)
    reopened = open_token(fresh_softhsm_token, store.path)
    with pytest.raises(EnvelopeError):
        reopened.secret("pseudonym")


def test_tampered_or_foreign_blobs_are_refused(store: Pkcs11KeyStore) -> None:
    blob = store.wrap("spool", secrets.token_bytes(32))
    kek_id, nonce, sealed = unpack_blob(blob)
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(EnvelopeError):
        store.unwrap("spool", pack_blob(kek_id, nonce, flipped))
    with pytest.raises(EnvelopeError, match="wrapped by KEK"):
        store.unwrap("spool", pack_blob(b"\x00" * 8, nonce, sealed))
    with pytest.raises(EnvelopeError):
        store.unwrap("spool", blob[:-1])


def test_only_the_memory_keys_are_ever_returned(store: Pkcs11KeyStore) -> None:
    for name in ("kek", "audit_signing"):
        with pytest.raises(ConfigurationError, match="never leaves"):
            store.secret(name)  # type: ignore[arg-type]


def test_memory_keys_are_unwrapped_once_and_cached(store: Pkcs11KeyStore) -> None:
    fresh = _open_like(store)
    pseudonym = fresh.secret("pseudonym")
    fresh.wrapped_path("pseudonym").unlink()  # a second unwrap would now fail
    assert fresh.secret("pseudonym") == pseudonym == store.secret("pseudonym")


def _open_like(store: Pkcs11KeyStore) -> Pkcs11KeyStore:
    session = pkcs11.lib(str(store.module)).get_token(token_label=store.token_label).open(rw=True)
    return Pkcs11KeyStore(
        session, token_label=store.token_label, module=store.module, keystore_path=store.path
    )


def test_one_session_serves_many_threads(store: Pkcs11KeyStore) -> None:
    public = Ed25519PublicKey.from_public_bytes(store.verification_key())
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                message = f"{n}/{i}".encode()
                public.verify(store.sign(message), message)
                key = secrets.token_bytes(32)
                assert store.unwrap(f"k{n}", store.wrap(f"k{n}", key)) == key
        except BaseException as exc:  # collected: a thread's failure must fail the test
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_reopening_gives_the_same_keys(
    store: Pkcs11KeyStore, fresh_softhsm_token: SoftHsmToken
) -> None:
    before = (store.secret("pseudonym"), store.secret("date_shift"), store.verification_key())
    store.close()
    reopened = open_token(fresh_softhsm_token, store.path)
    after = (reopened.secret("pseudonym"), reopened.secret("date_shift"))
    assert after == before[:2]
    assert reopened.verification_key() == before[2]


def test_init_imports_known_memory_keys(fresh_softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    pseudonym = secrets.token_bytes(32)
    store = open_token(fresh_softhsm_token, tmp_path / "keys")
    store.init(import_secrets={"pseudonym": pseudonym})
    assert store.secret("pseudonym") == pseudonym
    assert store.secret("date_shift") != pseudonym
    assert pseudonym not in store.wrapped_path("pseudonym").read_bytes()
    store.close()
    assert open_token(fresh_softhsm_token, tmp_path / "keys").secret("pseudonym") == pseudonym


@pytest.mark.parametrize(
    ("imported", "message"),
    [
        ({"kek": b"k" * 32}, "only pseudonym, date_shift can be imported"),
        ({"pseudonym": b"short"}, "is 5 bytes, expected 32"),
    ],
)
def test_init_refuses_a_bad_import_and_creates_nothing(
    fresh_softhsm_token: SoftHsmToken, tmp_path: Path, imported: dict[str, bytes], message: str
) -> None:
    store = open_token(fresh_softhsm_token, tmp_path / "keys")
    with pytest.raises(ConfigurationError, match=message):
        store.init(import_secrets=imported)
    assert store.status() == []
    store.init()  # nothing was left behind to block a correct init
    assert len(store.status()) == 4


def test_an_init_that_fails_part_way_leaves_nothing_behind(
    fresh_softhsm_token: SoftHsmToken, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_token(fresh_softhsm_token, tmp_path / "keys")
    real_write = pkcs11_store.create_private
    calls: list[Path] = []

    def write_then_fail(target: Path, data: bytes) -> None:
        calls.append(target)
        if len(calls) == 2:
            raise OSError("disk full")
        real_write(target, data)

    monkeypatch.setattr(pkcs11_store, "create_private", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        store.init()
    assert store.status() == []  # no KEK, no signing pair, no wrapped file
    assert list((tmp_path / "keys").iterdir()) == []
    monkeypatch.setattr(pkcs11_store, "create_private", real_write)
    store.init()
    assert {info.name for info in store.status()} == {
        "kek",
        "audit_signing",
        "pseudonym",
        "date_shift",
    }


def test_operations_before_init_say_what_to_run(
    fresh_softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    store = open_token(fresh_softhsm_token, tmp_path / "keys")
    assert store.status() == []
    with pytest.raises(EnvelopeError, match="keys init"):
        store.wrap("spool", secrets.token_bytes(32))
    with pytest.raises(ConfigurationError, match="keys init"):
        store.sign(b"x")
    with pytest.raises(ConfigurationError, match="keys init"):
        store.secret("pseudonym")


# -- start-up errors: each names its variable, none shows the PIN ------------------------


def _assert_names(exc: pytest.ExceptionInfo[ConfigurationError], variable: str, pin: str) -> None:
    assert variable in str(exc.value)
    assert pin not in str(exc.value)
    assert pin not in repr(exc.value)


def test_a_wrong_pin_names_the_pin_file_and_not_the_pin(softhsm: SoftHsm, tmp_path: Path) -> None:
    token = softhsm.new_token()  # no session open on it: the PIN is really checked
    wrong = "wrong-" + secrets.token_hex(6)
    token.pin_file.write_text(wrong + "\n")
    with pytest.raises(ConfigurationError) as exc:
        open_token(token, tmp_path / "keys")
    _assert_names(exc, "FIVESAFES_PKCS11_PIN_FILE", wrong)
    _assert_names(exc, "FIVESAFES_PKCS11_PIN_FILE", token.pin)


def test_a_missing_token_names_the_token_variable(
    softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    overrides = softhsm_token.settings_overrides(tmp_path / "keys")
    overrides["pkcs11_token"] = "no-such-token"
    with pytest.raises(ConfigurationError) as exc:
        Pkcs11KeyStore.from_settings(load_settings(**overrides))
    _assert_names(exc, "FIVESAFES_PKCS11_TOKEN", softhsm_token.pin)
    assert "no-such-token" in str(exc.value)


@pytest.mark.parametrize("module", ["missing.so", "not-a-library.so"])
def test_a_missing_or_broken_module_names_the_module_variable(
    softhsm_token: SoftHsmToken, tmp_path: Path, module: str
) -> None:
    (tmp_path / "not-a-library.so").write_bytes(b"not an ELF file")
    overrides = softhsm_token.settings_overrides(tmp_path / "keys")
    overrides["pkcs11_module"] = tmp_path / module
    with pytest.raises(ConfigurationError) as exc:
        Pkcs11KeyStore.from_settings(load_settings(**overrides))
    _assert_names(exc, "FIVESAFES_PKCS11_MODULE", softhsm_token.pin)


def test_a_missing_pin_file_names_the_pin_file_variable(
    softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    overrides = softhsm_token.settings_overrides(tmp_path / "keys")
    overrides["pkcs11_pin_file"] = tmp_path / "absent.pin"
    with pytest.raises(ConfigurationError) as exc:
        Pkcs11KeyStore.from_settings(load_settings(**overrides))
    _assert_names(exc, "FIVESAFES_PKCS11_PIN_FILE", softhsm_token.pin)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_pin_file_others_can_read_is_refused(
    softhsm_token: SoftHsmToken, tmp_path: Path, mode: int
) -> None:
    pin_file = tmp_path / "open.pin"
    pin_file.write_text(softhsm_token.pin)
    os.chmod(pin_file, mode)
    overrides = softhsm_token.settings_overrides(tmp_path / "keys")
    overrides["pkcs11_pin_file"] = pin_file
    with pytest.raises(ConfigurationError, match="0600 or 0400") as exc:
        Pkcs11KeyStore.from_settings(load_settings(**overrides))
    _assert_names(exc, "FIVESAFES_PKCS11_PIN_FILE", softhsm_token.pin)


def test_a_read_only_pin_file_is_accepted(softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    pin_file = tmp_path / "ro.pin"
    pin_file.write_text(f"  {softhsm_token.pin}\n")
    os.chmod(pin_file, 0o400)
    overrides = softhsm_token.settings_overrides(tmp_path / "keys")
    overrides["pkcs11_pin_file"] = pin_file
    store = Pkcs11KeyStore.from_settings(load_settings(**overrides))
    assert "PKCS#11 token" in store.describe()
    assert softhsm_token.pin not in store.describe()


@pytest.mark.parametrize(
    ("unset", "variable"),
    [
        ("pkcs11_module", "FIVESAFES_PKCS11_MODULE"),
        ("pkcs11_token", "FIVESAFES_PKCS11_TOKEN"),
        ("pkcs11_pin_file", "FIVESAFES_PKCS11_PIN_FILE"),
    ],
)
def test_an_unset_variable_is_named(
    softhsm_token: SoftHsmToken, tmp_path: Path, unset: str, variable: str
) -> None:
    overrides = softhsm_token.settings_overrides(tmp_path / "keys")
    overrides[unset] = None
    with pytest.raises(ConfigurationError, match=variable):
        Pkcs11KeyStore.from_settings(load_settings(**overrides))


# -- through the application ---------------------------------------------------------------

runner = CliRunner()


def _configure(
    monkeypatch: pytest.MonkeyPatch, token: SoftHsmToken, database_url: str, keys: Path
) -> Settings:
    """Point the CLI and the app (both read FIVESAFES_*) at the token and the database."""
    for name, value in token.environment(keys).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    reset_settings_cache()
    return load_settings()


def _governance_token(factory: sessionmaker[Session]) -> str:
    with factory() as session:
        user = identity.create_user(session, TRAIL, "gov", Role.GOVERNANCE)
        secret = identity.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
        session.commit()
        return secret


def test_the_app_starts_on_the_token_and_its_checkpoints_pass_audit_verify(
    fresh_softhsm_token: SoftHsmToken,
    database_url: str,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = _configure(monkeypatch, fresh_softhsm_token, database_url, tmp_path / "keys")
    made = runner.invoke(cli, ["keys", "init", "--keystore", "pkcs11"])
    assert made.exit_code == 0, made.output
    officer = _governance_token(session_factory)
    with TestClient(create_app(settings)) as client:
        assert isinstance(client.app.state.keystore, Pkcs11KeyStore)  # type: ignore[attr-defined]
        response = client.post("/audit/checkpoints", headers={"Authorization": f"Bearer {officer}"})
        assert response.status_code == 201, response.text
        checkpoint = response.json()
    store = open_token(fresh_softhsm_token, tmp_path / "keys")
    public = Ed25519PublicKey.from_public_bytes(store.verification_key())
    assert base64.b64decode(checkpoint["public_key"]) == store.verification_key()
    public.verify(
        base64.b64decode(checkpoint["signature"]),
        checkpoint_message(checkpoint["seq"], checkpoint["hash"]),
    )
    verified = runner.invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "events verified against" in verified.output


def test_a_wrong_pin_stops_the_app_naming_the_variable(
    softhsm: SoftHsm, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = softhsm.new_token()
    token.pin_file.write_text("not-the-pin\n")
    settings = _configure(monkeypatch, token, database_url, tmp_path / "keys")
    with pytest.raises(ConfigurationError, match="FIVESAFES_PKCS11_PIN_FILE") as exc:
        create_app(settings)
    assert "not-the-pin" not in str(exc.value)


def test_ingestion_with_imported_keys_gives_the_local_stores_pseudonyms(
    fresh_softhsm_token: SoftHsmToken, database_url: str, tmp_path: Path
) -> None:
    local = LocalFileKeyStore(tmp_path / "local-keys")
    local.init()
    memory = {name: local.secret(name) for name in ("pseudonym", "date_shift")}
    token_store = open_token(fresh_softhsm_token, tmp_path / "keys")
    token_store.init(import_secrets=memory)
    rows = dev_rows(40)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    second_url = f"sqlite:///{tmp_path / 'local.db'}"
    schema.upgrade(second_url)
    via_token = ingested_rows(database_url, token_store, tmp_path / "a", rows)
    via_files = ingested_rows(second_url, local, tmp_path / "b", rows)
    assert pseudonym_pairs(via_token) == pseudonym_pairs(via_files)
    assert len(set(pseudonym_pairs(via_token))) > 10
    assert {r["nhs_number"] for r in via_token}.isdisjoint({r["nhs_number"] for r in rows})


def _forms(secret: bytes) -> list[bytes]:
    """The ways a key's bytes could be written down: raw, hex, base64."""
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
    ]


def test_no_key_material_is_written_anywhere(
    fresh_softhsm_token: SoftHsmToken,
    softhsm: SoftHsm,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    database = tmp_path / "leak.db"
    schema.upgrade(f"sqlite:///{database}")
    settings = _configure(
        monkeypatch, fresh_softhsm_token, f"sqlite:///{database}", tmp_path / "keys"
    )
    made = runner.invoke(cli, ["keys", "init", "--keystore", "pkcs11"])
    assert made.exit_code == 0, made.output
    store = Pkcs11KeyStore.from_settings(settings)
    (tmp_path / "in").mkdir()
    ingested_rows(settings.database_url, store, tmp_path / "in", dev_rows(40))
    checkpoint = runner.invoke(cli, ["audit", "checkpoint", "--out", str(tmp_path / "cp.json")])
    assert checkpoint.exit_code == 0, checkpoint.output
    # Every rotation writes keys (a remap key, rewrapped blobs, a retired-keys record).
    rotations = [
        runner.invoke(cli, ["keys", "rotate", *which])
        for which in (["pseudonym", "--yes"], ["kek"], ["audit-signing"])
    ]
    for rotation in rotations:
        assert rotation.exit_code == 0, rotation.output
    status = runner.invoke(cli, ["keys", "status"])
    assert status.exit_code == 0, status.output

    secrets_ = [store.secret("pseudonym"), store.secret("date_shift")]
    secrets_ += list(store.pseudonym_remap_keys())
    assert len(secrets_) == 3
    forms = [form for secret in secrets_ for form in _forms(secret)]
    # The database, spool, key folder, checkpoints (all under tmp_path) and the token's own
    # files: the memory keys are never in the token, not even encrypted by it.
    files = [p for root in (tmp_path, softhsm.tokens) for p in root.rglob("*") if p.is_file()]
    assert database in files
    assert store.wrapped_path("pseudonym") in files
    for path in files:
        content = path.read_bytes()
        for form in forms:
            assert form not in content, f"key material in {path}"
    captured = capsys.readouterr()
    outputs = [
        made.output,
        checkpoint.output,
        *(rotation.output for rotation in rotations),
        status.output,
        captured.out,
        captured.err,
        caplog.text,
    ]
    for output in outputs:
        for form in forms:
            assert form.decode("latin-1") not in output
    assert fresh_softhsm_token.pin not in "".join(outputs)


def test_a_token_without_eddsa_is_refused_at_init_naming_the_mechanism(
    fresh_softhsm_token: SoftHsmToken, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = open_token(fresh_softhsm_token, tmp_path / "keys")
    offered = set(opened._session.token.slot.get_mechanisms())
    assert pkcs11_store.missing_mechanisms(offered) == []  # SoftHSM2 offers them all
    # A module without EdDSA: the token's real list, less that one mechanism.
    real = pkcs11_store.missing_mechanisms
    monkeypatch.setattr(
        pkcs11_store,
        "missing_mechanisms",
        lambda available: real(available - {pkcs11.Mechanism.EDDSA}),
    )
    with pytest.raises(ConfigurationError, match="lacks the mechanisms EDDSA"):
        opened.init()
    assert opened.status() == []  # nothing created
    assert not (tmp_path / "keys" / "pseudonym.wrapped").exists()


def test_missing_mechanisms_names_each_absent_one_in_order() -> None:
    required = set(pkcs11_store.REQUIRED_MECHANISMS)
    assert pkcs11_store.missing_mechanisms(required) == []
    assert pkcs11_store.missing_mechanisms(required - {pkcs11.Mechanism.AES_GCM}) == ["AES_GCM"]
    assert pkcs11_store.missing_mechanisms(set()) == [
        "EC_EDWARDS_KEY_PAIR_GEN",
        "EDDSA",
        "AES_KEY_GEN",
        "AES_GCM",
    ]
