"""`keys rotate audit-signing`: old checkpoints verify with the retired key, new ones with
the new key, and the retired keys are believed only through attestations up to the
current key.

Run against the local store and a real SoftHSM2 token (tests/hsm), on SQLite and
PostgreSQL where the audit chain is involved; a rotation killed at each step (``os._exit``
in a child process) is run again and must finish.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fivesafes.audit.chain import checkpoint_message
from fivesafes.audit.checkpoints import Checkpoint, public_key_b64, sign_head
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.recorder import chain_head
from fivesafes.audit.signing import make_checkpoint
from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.trust import TrustedKeys, trusted_keys
from fivesafes.audit.verification import VerifyScope, verify_against
from fivesafes.audit.verify import VerifyResult, stored_checkpoints
from fivesafes.cli.main import app as cli
from fivesafes.config import Settings, load_settings, reset_settings_cache
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.retired import (
    RETIRED_FILE,
    RetiredKeysError,
    make_record,
    read_retired_file,
    retire_signing_key,
    write_retired_file,
)
from fivesafes.keys.signing_rotation import RotatableSigningStore, rotate_signing_key
from fivesafes.keys.store import InMemoryKeyStore, public_key_fingerprint
from tests.hsm.fixtures import SoftHsm, SoftHsmToken
from tests.integration.keys.support import audit_events

runner = CliRunner()
TRAIL = AuditTrail.for_operator()
REPO = Path(__file__).resolve().parents[3]


# -- the two stores, opened afresh whenever a test asks ---------------------------------


@dataclass
class StoreKind:
    """How to open one kind of store over one folder (and token)."""

    name: str
    folder: Path
    token: SoftHsmToken | None = None

    def settings(self, **overrides: Any) -> Settings:
        if self.token is not None:
            overrides |= self.token.settings_overrides(self.folder)
        else:
            overrides |= {"keystore_path": self.folder}
        return load_settings(**overrides)

    def open(self) -> RotatableSigningStore:
        if self.token is None:
            return LocalFileKeyStore(self.folder)
        from fivesafes.keys.pkcs11_store import Pkcs11KeyStore  # noqa: PLC0415

        return Pkcs11KeyStore.from_settings(self.settings())

    def environment(self) -> dict[str, str]:
        if self.token is not None:
            return self.token.environment(self.folder)
        return {"FIVESAFES_KEYSTORE": "local", "FIVESAFES_KEYSTORE_PATH": str(self.folder)}


@pytest.fixture(params=["local", "pkcs11"])
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> StoreKind:
    """An initialised store of each kind (the token is a fresh SoftHSM2 one)."""
    folder = tmp_path / "keys"
    if request.param == "local":
        made = StoreKind("local", folder)
        LocalFileKeyStore(folder).init()
        return made
    hsm: SoftHsm = request.getfixturevalue("softhsm")
    made = StoreKind("pkcs11", folder, hsm.new_token())
    store = made.open()
    store.init()  # type: ignore[attr-defined]
    return made


@pytest.fixture
def local(tmp_path: Path) -> LocalFileKeyStore:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    return store


# -- the chain ---------------------------------------------------------------------------


def _append(factory: sessionmaker[Session], n: int) -> None:
    with factory() as session:
        for i in range(n):
            TRAIL.record(session, "test.event", target_type="thing", details={"i": i})
        session.commit()


def _checkpoint(
    factory: sessionmaker[Session], store: Any, published: Path | None = None
) -> Checkpoint:
    with factory() as session:
        publisher = None if published is None else CheckpointPublisher(published)
        made = make_checkpoint(session, store, publisher)
        session.commit()
    return made


def _final(factory: sessionmaker[Session], store: Any, published: Path) -> Callable[[], int]:
    return lambda: _checkpoint(factory, store, published).seq


def _verify(
    factory: sessionmaker[Session], trusted: TrustedKeys | str, published: Path | None
) -> VerifyResult:
    with factory() as session:
        return verify_against(session, VerifyScope(trusted, published))


# -- rotation, end to end ----------------------------------------------------------------


def test_checkpoints_before_and_after_two_rotations_verify(
    kind: StoreKind, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    published = tmp_path / "published"
    store = kind.open()
    key_a = store.verification_key()
    _append(session_factory, 3)
    first = _checkpoint(session_factory, store, published)
    _append(session_factory, 2)

    one = rotate_signing_key(store, final_checkpoint=_final(session_factory, store, published))
    key_b = store.verification_key()
    assert key_b != key_a
    assert (one.old_fingerprint, one.new_fingerprint) == (
        public_key_fingerprint(key_a),
        public_key_fingerprint(key_b),
    )
    assert one.last_seq == 5  # the final checkpoint, signed by the old key, covers the head
    assert not one.resumed
    _append(session_factory, 2)
    second = _checkpoint(session_factory, store, published)  # the new key signs
    assert second.signature_valid(public_key_b64(store))
    assert not second.signature_valid(base64.b64encode(key_a).decode())
    assert first.signature_valid(base64.b64encode(key_a).decode())

    two = rotate_signing_key(store, final_checkpoint=_final(session_factory, store, published))
    key_c = store.verification_key()
    _append(session_factory, 1)
    _checkpoint(session_factory, store, published)

    retired = store.retired_verification_keys()
    assert [r.public_key for r in retired] == [key_a, key_b]
    assert [r.successor_fingerprint for r in retired] == [
        public_key_fingerprint(key_b),
        public_key_fingerprint(key_c),
    ]
    assert retired[0].valid_until == retired[1].valid_from
    assert two.last_seq == retired[1].last_seq

    # Fresh stores (another process) see the same: the whole chain verifies, from the
    # store's trusted keys and from the configured ones.
    again = kind.open()
    result = _verify(session_factory, TrustedKeys(public_key_b64(again), retired), published)
    assert result.ok, result.message
    assert result.checkpoints_checked == 10  # 5 stored, the same 5 published
    configured = VerifyScope.configured(kind.settings(audit_checkpoint_dir=published), again)
    with session_factory() as session:
        assert verify_against(session, configured).ok
    # Without the retired keys the old checkpoints are signed by an untrusted key.
    alone = _verify(session_factory, public_key_b64(again), published)
    assert alone.damage == "bad_checkpoint"
    assert "does not verify with the trusted public key" in alone.message


def test_the_old_private_key_is_gone(kind: StoreKind, tmp_path: Path) -> None:
    store = kind.open()
    old_public = store.verification_key()
    old_seed = (kind.folder / "audit_signing.key").read_bytes() if kind.token is None else None
    rotate_signing_key(store, final_checkpoint=lambda: None)
    new_public = store.verification_key()
    names = sorted(p.name for p in kind.folder.iterdir())
    assert not [n for n in names if ".next" in n or ".old" in n or n.endswith(".tmp")]
    assert RETIRED_FILE in names
    if kind.token is None:
        assert old_seed is not None
        for path in kind.folder.iterdir():
            assert old_seed not in path.read_bytes(), path
        assert names == [
            "audit_signing.key",
            RETIRED_FILE,
            "date_shift.key",
            "kek.key",
            "pseudonym.key",
        ]
        return
    import pkcs11  # noqa: PLC0415
    from pkcs11 import Attribute, ObjectClass  # noqa: PLC0415

    from fivesafes.keys.pkcs11_store import SIGNING_LABEL, SIGNING_NEXT_LABEL  # noqa: PLC0415

    token = kind.token
    session = pkcs11.lib(str(token.module)).get_token(token_label=token.label).open(rw=False)
    try:
        ed_private = [
            obj
            for obj in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
            if obj[Attribute.LABEL] in (SIGNING_LABEL, SIGNING_NEXT_LABEL)
        ]
        (private,) = ed_private  # the old private key was destroyed, not kept aside
        assert private[Attribute.LABEL] == SIGNING_LABEL
        publics = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: private[Attribute.ID]}
            )
        )
        assert len(publics) == 1
        assert not list(session.get_objects({Attribute.LABEL: SIGNING_NEXT_LABEL}))
    finally:
        session.close()
    fresh = kind.open()
    assert fresh.verification_key() == new_public != old_public
    assert [r.public_key for r in fresh.retired_verification_keys()] == [old_public]


def test_a_checkpoint_the_retired_key_signs_after_retirement_is_refused(
    local: LocalFileKeyStore, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    published = tmp_path / "published"
    stolen = InMemoryKeyStore({"audit_signing": (local.path / "audit_signing.key").read_bytes()})
    _append(session_factory, 2)
    done = rotate_signing_key(local, final_checkpoint=_final(session_factory, local, published))
    assert done.last_seq == 2
    _append(session_factory, 3)
    trusted = TrustedKeys(public_key_b64(local), local.retired_verification_keys())
    assert _verify(session_factory, trusted, published).ok

    # The leaked retired key signs the new head (seq 5 > last_seq 2) straight into the database.
    with session_factory() as session:
        seq, head = chain_head(session)
        forged = sign_head(session, stolen, seq, head)
        session.commit()
    assert forged.signature_valid(base64.b64encode(stolen.verification_key()).decode())
    result = _verify(session_factory, trusted, published)
    assert result.damage == "bad_checkpoint"
    assert result.first_bad_seq == 5
    assert "after its retirement (seq 5 is beyond its last_seq 2)" in result.message
    assert not trusted.verifies(forged)
    with session_factory() as session:
        final = [c for _, c in stored_checkpoints(session) if c.seq == done.last_seq]
    assert final
    assert trusted.verifies(final[0])  # the old key's own final checkpoint is still good
    assert not TrustedKeys(trusted.current).verifies(final[0])
    # Signing refuses to build on it either.
    with pytest.raises(Exception, match="after its retirement"):
        _checkpoint(session_factory, local)


def test_a_retired_key_signing_within_last_seq_but_after_retirement_is_refused(
    local: LocalFileKeyStore, session_factory: sessionmaker[Session]
) -> None:
    """The time bound: a checkpoint re-signed for an old head, later than valid_until."""
    stolen = InMemoryKeyStore({"audit_signing": (local.path / "audit_signing.key").read_bytes()})
    _append(session_factory, 2)
    rotate_signing_key(local, final_checkpoint=_final(session_factory, local, Path("published")))
    with session_factory() as session:
        head = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 1))
        assert head is not None
        sign_head(session, stolen, 1, head)
        session.commit()
    trusted = TrustedKeys(public_key_b64(local), local.retired_verification_keys())
    result = _verify(session_factory, trusted, None)
    assert result.damage == "bad_checkpoint"
    assert "after its validity" in result.message


# -- the CLI, and an offline verifier ----------------------------------------------------


@pytest.fixture
def cli_env(
    kind: StoreKind, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> StoreKind:
    for name, value in kind.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("FIVESAFES_AUDIT_CHECKPOINT_DIR", str(tmp_path / "published"))
    return kind


def _run(*args: str) -> tuple[int, str, str]:
    reset_settings_cache()  # each command reads the environment as it is now
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_rotate_command_is_audited_and_audit_verify_passes_over_both_keys(
    cli_env: StoreKind,
    database_url: str,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _append(session_factory, 3)
    code, _, err = _run("audit", "checkpoint", "--out", str(tmp_path / "before.json"))
    assert code == 0, err
    old = cli_env.open()
    old_fingerprint = public_key_fingerprint(old.verification_key())
    if hasattr(old, "close"):
        old.close()

    code, out, err = _run("keys", "rotate", "audit-signing")
    assert code == 0, err
    (event,) = audit_events(database_url, "keys.rotate_audit_signing")
    store = cli_env.open()
    new_fingerprint = public_key_fingerprint(store.verification_key())
    assert f"old {old_fingerprint} -> new {new_fingerprint}" in out
    assert event["old_fingerprint"] == old_fingerprint
    assert event["new_fingerprint"] == new_fingerprint
    final = audit_events(database_url, "audit.checkpoint")[-1]  # the rotation's, by the old key
    assert event["last_seq"] == final["seq"] == store.retired_verification_keys()[0].last_seq

    code, _, err = _run("audit", "checkpoint")  # the new key signs from now on
    assert code == 0, err
    code, out, err = _run("audit", "verify", "--checkpoint", str(tmp_path / "before.json"))
    assert code == 0, err + out
    assert out.startswith("OK")

    # An auditor's machine: the exported public key and retired keys, no key store.
    pem = tmp_path / "auditor" / "audit.pem"
    pem.parent.mkdir()
    code, out, err = _run("keys", "export-public", "--out", str(pem))
    assert code == 0, err
    exported = pem.with_suffix(".retired.json")
    assert f"written to {exported}" in out
    assert [r.fingerprint for r in read_retired_file(exported)] == [old_fingerprint]
    current = public_key_b64(store)
    if hasattr(store, "close"):
        store.close()
    for name in ("FIVESAFES_KEYSTORE", "FIVESAFES_PKCS11_MODULE", "FIVESAFES_PKCS11_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FIVESAFES_PKCS11_PIN_FILE", raising=False)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "no-keys-here"))
    code, out, err = _run(
        "audit", "verify", "--trusted-key", current, "--retired-keys", str(exported)
    )
    assert code == 0, err + out
    monkeypatch.setenv("FIVESAFES_AUDIT_PUBLIC_KEY", current)
    monkeypatch.setenv("FIVESAFES_AUDIT_RETIRED_KEYS_FILE", str(exported))
    code, out, err = _run("audit", "verify")
    assert code == 0, err + out
    monkeypatch.delenv("FIVESAFES_AUDIT_RETIRED_KEYS_FILE")
    code, out, err = _run("audit", "verify")  # without the retired keys: old ones fail
    assert code == 1
    assert "bad_checkpoint" in out + err, out + err

    # A tampered copy is refused, naming the file.
    data = json.loads(exported.read_text())
    data["keys"][0]["last_seq"] += 100
    exported.write_text(json.dumps(data))
    code, _, err = _run("audit", "verify", "--retired-keys", str(exported))
    assert code == 1
    assert str(exported) in err
    assert "attestation does not verify" in err


def test_export_public_writes_no_retired_file_before_any_rotation(
    local: LocalFileKeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(local.path))
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    code, _, err = _run("keys", "export-public", "--out", str(tmp_path / "k.pem"))
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("k.")) == ["k.pem"]


def test_rotation_without_a_database_says_last_seq_is_unknown(
    local: LocalFileKeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(local.path))
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    code, out, err = _run("keys", "rotate", "audit-signing")
    assert code == 0, err
    assert "no final checkpoint signed with the old key" in err
    assert "keys.rotate_audit_signing was not audited" in err
    assert "unknown (no database)" in out
    (record,) = local.retired_verification_keys()
    assert record.last_seq is None


# -- forged records ----------------------------------------------------------------------


def _rotated_twice(local: LocalFileKeyStore) -> Path:
    rotate_signing_key(local, final_checkpoint=lambda: 4)
    rotate_signing_key(local, final_checkpoint=lambda: 9)
    return local.path / RETIRED_FILE


def _edit(path: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    data = json.loads(path.read_text())
    edit(data["keys"])
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda keys: keys[0].update(last_seq=400), "attestation does not verify"),
        (
            lambda keys: keys[1].update(valid_until="2099-01-01T00:00:00.000000Z"),
            "attestation does not verify",
        ),
        (
            lambda keys: keys[0].update(attestation=base64.b64encode(bytes(64)).decode()),
            "attestation",
        ),
        (lambda keys: keys[0].pop("attestation"), "fields missing (attestation)"),
        (lambda keys: keys.reverse(), "out of order"),
        (lambda keys: keys.insert(1, dict(keys[0])), "twice"),
    ],
    ids=["last_seq", "valid_until", "zero_attestation", "no_attestation", "reordered", "dup"],
)
def test_a_tampered_or_reordered_file_is_refused_naming_it(
    local: LocalFileKeyStore, edit: Callable[[list[dict[str, Any]]], None], message: str
) -> None:
    path = _rotated_twice(local)
    _edit(path, edit)
    with pytest.raises(RetiredKeysError, match=re.escape(RETIRED_FILE)) as refused:
        local.retired_verification_keys()
    assert message in str(refused.value)


def test_key_order_inside_a_record_does_not_matter(local: LocalFileKeyStore) -> None:
    """The attestation covers the canonical form (RFC 8785), not the file's spelling."""
    path = _rotated_twice(local)
    before = local.retired_verification_keys()
    data = json.loads(path.read_text())
    data["keys"] = [dict(reversed(list(entry.items()))) for entry in data["keys"]]
    path.write_text(json.dumps(data, indent=4))
    assert local.retired_verification_keys() == before


def test_a_key_of_an_attacker_who_can_write_the_folder_is_refused(
    local: LocalFileKeyStore,
) -> None:
    """Without the current private key no record can join the chain."""
    path = _rotated_twice(local)
    records = list(read_retired_file(path))
    mine, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    mine_public = mine.public_key().public_bytes_raw()
    other_public = other.public_key().public_bytes_raw()
    current = local.verification_key()
    earlier = records[0].valid_until - timedelta(seconds=1)
    # the attacker's key retired "before" the oldest, attested by a key of their own
    own = make_record(mine.sign, mine_public, other_public, None, earlier, 1)
    claimed = replace(own, successor_fingerprint=records[0].fingerprint)
    write_retired_file(path, [claimed, *records])
    with pytest.raises(RetiredKeysError, match="does not verify with its successor"):
        local.retired_verification_keys()
    # the attacker's key as the newest retired one, claiming the current key as successor
    newest = make_record(other.sign, other_public, mine_public, None, records[-1].valid_until, 9)
    forged = replace(newest, successor_fingerprint=public_key_fingerprint(current))
    write_retired_file(path, [*records, forged])
    with pytest.raises(RetiredKeysError, match="does not verify with its successor"):
        local.retired_verification_keys()
    # the last record's successor is not the current key (an older file, a stale key)
    write_retired_file(path, records[:1])
    with pytest.raises(RetiredKeysError, match="the trusted current key"):
        local.retired_verification_keys()


def test_a_stale_trusted_key_refuses_the_file(local: LocalFileKeyStore) -> None:
    old = base64.b64encode(local.verification_key()).decode()
    _rotated_twice(local)
    with pytest.raises(RetiredKeysError, match="stale trusted key"):
        trusted_keys(load_settings(keystore_path=local.path, audit_public_key=old), local)


_FIELDS = [
    "public_key",
    "fingerprint",
    "valid_from",
    "valid_until",
    "last_seq",
    "successor_fingerprint",
    "attestation",
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(index=st.integers(0, 1), field=st.sampled_from(_FIELDS), salt=st.integers(1, 10**6))
def test_any_change_to_a_field_is_refused(
    local_twice: Path, index: int, field: str, salt: int
) -> None:
    path, original = local_twice, local_twice.read_text()
    data = json.loads(original)
    entry = data["keys"][index]
    value = entry[field]
    if field == "last_seq":
        entry[field] = value + salt
    elif field in ("valid_from", "valid_until"):
        entry[field] = f"20{10 + salt % 89:02d}-01-01T00:00:00.{salt % 999999:06d}Z"
    elif field in ("public_key", "attestation"):
        raw = bytearray(base64.b64decode(value))
        raw[salt % len(raw)] ^= 1 + salt % 255
        entry[field] = base64.b64encode(bytes(raw)).decode()
    else:
        entry[field] = format((int(value, 16) + salt) % 16**16, "016x")
    try:
        path.write_text(json.dumps(data))
        store = LocalFileKeyStore(path.parent)
        with pytest.raises(RetiredKeysError, match=re.escape(str(path))):
            store.retired_verification_keys()
    finally:
        path.write_text(original)


@pytest.fixture
def local_twice(local: LocalFileKeyStore) -> Path:
    return _rotated_twice(local)


def test_retire_signing_key_for_a_migration(tmp_path: Path) -> None:
    """The hook the local -> PKCS#11 migration calls, carrying the old store's records."""
    old = LocalFileKeyStore(tmp_path / "old")
    old.init()
    rotate_signing_key(old, final_checkpoint=lambda: 3)
    history = old.retired_verification_keys()
    new = LocalFileKeyStore(tmp_path / "new")
    new.init()
    record = retire_signing_key(
        new,
        old_public_key=old.verification_key(),
        valid_from=history[-1].valid_until,
        valid_until=history[-1].valid_until.replace(year=history[-1].valid_until.year + 1),
        last_seq=7,
        inherited=history,
    )
    chain = new.retired_verification_keys()
    assert chain == (*history, record)
    assert record.successor_fingerprint == public_key_fingerprint(new.verification_key())
    again = retire_signing_key(
        new,
        old_public_key=old.verification_key(),
        valid_from=None,
        valid_until=record.valid_until,
        last_seq=7,
    )
    assert again == record  # a rerun of the migration adds nothing
    assert new.retired_verification_keys() == chain
    memory = InMemoryKeyStore.generate()
    kept = retire_signing_key(
        memory,
        old_public_key=new.verification_key(),
        valid_from=None,
        valid_until=record.valid_until,
        last_seq=None,
    )
    assert memory.retired_verification_keys() == (kept,)


# -- a crash at every step, then a rerun -------------------------------------------------

_CHILD = """
import sys
from pathlib import Path
sys.path[:0] = [sys.argv[5] + "/platform", sys.argv[5]]
from tests.integration.keys.test_signing_rotation import child_rotation
child_rotation(sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4])
"""


def child_rotation(kind: str, url: str, published: Path, crash_at: str) -> None:
    """In a child process: rotate, and die (``os._exit``) once step ``crash_at`` is done."""
    from fivesafes.config import load_settings as load  # noqa: PLC0415
    from fivesafes.db import make_engine, make_session_factory  # noqa: PLC0415
    from fivesafes.keys.open import open_keystore  # noqa: PLC0415

    store = open_keystore(load())
    engine = make_engine(url)
    factory = make_session_factory(engine)

    def step(name: str) -> None:
        if name == crash_at:
            os._exit(17)

    rotate_signing_key(store, final_checkpoint=_final(factory, store, published), step=step)  # type: ignore[arg-type]
    os._exit(0)


def _crash(kind: StoreKind, url: str, published: Path, crash_at: str, code: int = 17) -> None:
    env = {**os.environ, **kind.environment(), "FIVESAFES_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, kind.name, url, str(published), crash_at, str(REPO)],
        cwd=published.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == code, done.stderr


_STEPS = {
    "local": ["successor", "final_checkpoint", "recorded", "linked", "replaced"],
    "pkcs11": ["successor", "final_checkpoint", "recorded", "destroyed", "relabelled"],
}


@pytest.mark.parametrize("crash_at", ["successor", "final_checkpoint", "recorded", "half", "end"])
def test_a_rotation_killed_at_any_step_finishes_when_run_again(
    kind: StoreKind,
    database_url: str,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    crash_at: str,
) -> None:
    step = {"half": _STEPS[kind.name][3], "end": _STEPS[kind.name][4]}.get(crash_at, crash_at)
    published = tmp_path / "published"
    store = kind.open()
    old_public = store.verification_key()
    if hasattr(store, "close"):
        store.close()
    _append(session_factory, 3)
    before = _checkpoint(session_factory, kind.open(), published)
    _append(session_factory, 1)

    _crash(kind, database_url, published, step)

    if step in ("successor", "final_checkpoint", "recorded"):
        # The old key is still the one in force, and everything still verifies with it.
        interrupted = kind.open()
        assert interrupted.verification_key() == old_public
        trusted = TrustedKeys(public_key_b64(interrupted), interrupted.retired_verification_keys())
        assert _verify(session_factory, trusted, published).ok

    rerun = kind.open()
    done = rotate_signing_key(rerun, final_checkpoint=_final(session_factory, rerun, published))
    assert done.resumed
    assert done.old_fingerprint == public_key_fingerprint(old_public)
    fresh = kind.open()
    assert fresh.verification_key() != old_public
    (retired,) = fresh.retired_verification_keys()
    assert retired.public_key == old_public
    assert retired.last_seq is not None
    assert retired.last_seq >= before.seq
    _append(session_factory, 2)
    after = _checkpoint(session_factory, fresh, published)
    assert after.signature_valid(public_key_b64(fresh))
    trusted = TrustedKeys(public_key_b64(fresh), fresh.retired_verification_keys())
    result = _verify(session_factory, trusted, published)
    assert result.ok, result.message
    leftovers = [p.name for p in kind.folder.iterdir() if ".next" in p.name or ".old" in p.name]
    assert leftovers == []
    if kind.token is None:
        assert [p.name for p in kind.folder.iterdir() if p.name.endswith(".tmp")] == []


def test_a_rotation_refuses_to_start_over_a_tampered_file(local: LocalFileKeyStore) -> None:
    path = _rotated_twice(local)
    _edit(path, lambda keys: keys[0].update(last_seq=1000))
    current = local.verification_key()
    with pytest.raises(RetiredKeysError, match="attestation does not verify"):
        rotate_signing_key(local, final_checkpoint=lambda: 1)
    assert local.verification_key() == current
    assert not local.next_signing_key_path().exists()


def test_a_running_store_signs_with_the_new_key_once_another_process_rotates(
    kind: StoreKind, database_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """A server left running across ``keys rotate audit-signing`` does not sign with the
    retired key: the local store re-reads its key file, the token store looks the pair up."""
    published = tmp_path / "published"
    running = kind.open()
    old = running.verification_key()
    _append(session_factory, 2)
    _crash(kind, database_url, published, crash_at="never", code=0)
    assert running.verification_key() != old
    _append(session_factory, 1)
    made = _checkpoint(session_factory, running, published)
    assert made.signature_valid(public_key_b64(running))
    trusted = TrustedKeys(public_key_b64(running), running.retired_verification_keys())
    assert _verify(session_factory, trusted, published).ok


_OLD, _NEW = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()


@settings(max_examples=60, deadline=None)
@given(
    last_seq=st.one_of(st.none(), st.integers(0, 10**6)),
    seq=st.integers(1, 10**6),
    minutes=st.integers(-120, 120),
)
def test_a_retired_key_is_trusted_exactly_up_to_its_last_seq_and_retirement(
    last_seq: int | None, seq: int, minutes: int
) -> None:
    old_public = _OLD.public_key().public_bytes_raw()
    new_public = _NEW.public_key().public_bytes_raw()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    until = start + timedelta(minutes=60)
    record = make_record(_NEW.sign, new_public, old_public, start, until, last_seq)
    made = start + timedelta(minutes=minutes)
    head = "ab" * 32
    checkpoint = Checkpoint(
        seq=seq,
        hash=head,
        created_at=made.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        public_key=base64.b64encode(old_public).decode(),
        signature=base64.b64encode(_OLD.sign(checkpoint_message(seq, head))).decode(),
    )
    trusted = TrustedKeys(base64.b64encode(new_public).decode(), (record,))
    # Only the end of the period binds (valid_from is informational: see RetiredKey.refusal).
    within = (last_seq is None or seq <= last_seq) and made <= until
    assert trusted.verifies(checkpoint) is within
    assert not TrustedKeys(trusted.current).verifies(checkpoint)
