"""The signed hand-over manifest: written last and signed; any change is refused, by name."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.audit.checkpoints import public_key_b64
from fivesafes.audit.trust import TrustedKeys
from fivesafes.handover.manifest import (
    MANIFEST_NAME,
    HandoverRefusedError,
    build_manifest,
    sha256_file,
    signed_message,
    verify_directory,
    write_manifest,
)
from fivesafes.keys.retired import RetiredKey
from fivesafes.keys.store import InMemoryKeyStore, public_key_fingerprint

POLICY_SHA = "ab" * 32


@dataclass(frozen=True)
class FakePolicy:
    dataset: str = "admissions"
    version: int = 3
    sha: str = POLICY_SHA

    @property
    def content_hash(self) -> str:
        return self.sha


PARTS = {"part-00000.csv": b"a,b\r\n1,2\r\n", "sub/part-00001.csv": b"a,b\r\n3,4\r\n"}


def _handover(directory: Path, keystore: InMemoryKeyStore, **overrides: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in PARTS.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    fields: dict[str, Any] = {
        "policy_name": "admissions",
        "policy_version": 3,
        "policy_sha256": POLICY_SHA,
        "input_rows": 3,
        "output_rows": 2,
        "files": {name: sha256_file(directory / name) for name in PARTS},
        "engine": "local",
        "report_counts": {"PERSON": 4},
        "output_format": "csv",
    }
    fields.update(overrides)
    return write_manifest(directory, build_manifest(**fields), keystore)


@pytest.fixture
def keystore() -> InMemoryKeyStore:
    return InMemoryKeyStore.generate()


def _refusal(
    directory: Path, trusted: TrustedKeys | str, policy: Any = None
) -> HandoverRefusedError:
    with pytest.raises(HandoverRefusedError) as caught:
        verify_directory(directory, trusted, policy=policy or FakePolicy())
    return caught.value


def test_a_good_hand_over_verifies(tmp_path: Path, keystore: InMemoryKeyStore) -> None:
    path = _handover(tmp_path / "out", keystore)
    envelope = json.loads(path.read_text())
    verified = verify_directory(tmp_path / "out", public_key_b64(keystore), policy=FakePolicy())
    assert verified.files == envelope["manifest"]["files"]
    assert verified.signer_fingerprint == public_key_fingerprint(keystore.verification_key())
    assert (
        verified.manifest_sha256 == hashlib.sha256(signed_message(envelope["manifest"])).hexdigest()
    )
    assert verified.output_rows == 2
    assert verified.engine == "local"
    assert verified.read_part("sub/part-00001.csv") == PARTS["sub/part-00001.csv"]
    assert "engine" in envelope["manifest"]["versions"]
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


def test_spark_bookkeeping_files_are_ignored(tmp_path: Path, keystore: InMemoryKeyStore) -> None:
    _handover(tmp_path / "out", keystore)
    (tmp_path / "out" / "_SUCCESS").write_bytes(b"")
    (tmp_path / "out" / ".part-00000.csv.crc").write_bytes(b"crc")
    verify_directory(tmp_path / "out", public_key_b64(keystore), policy=FakePolicy())


def test_no_manifest_is_unsigned(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "part-00000.csv").write_bytes(b"a\r\n")
    refused = _refusal(tmp_path / "out", public_key_b64(InMemoryKeyStore.generate()))
    assert refused.code == "handover_unsigned"
    assert MANIFEST_NAME in refused.message


def test_another_key_is_not_trusted(tmp_path: Path, keystore: InMemoryKeyStore) -> None:
    _handover(tmp_path / "out", keystore)
    refused = _refusal(tmp_path / "out", public_key_b64(InMemoryKeyStore.generate()))
    assert refused.code == "handover_bad_signature"
    assert str(tmp_path / "out" / MANIFEST_NAME) in refused.message


def test_a_retired_key_is_trusted_within_its_life(
    tmp_path: Path, keystore: InMemoryKeyStore
) -> None:
    _handover(tmp_path / "out", keystore)
    successor = InMemoryKeyStore.generate()
    old = keystore.verification_key()

    def retired(until: datetime) -> RetiredKey:
        record = RetiredKey(
            public_key=old,
            fingerprint=public_key_fingerprint(old),
            valid_from=None,
            valid_until=until,
            last_seq=10,
            successor_fingerprint=public_key_fingerprint(successor.verification_key()),
            attestation=b"",
        )
        return RetiredKey(
            **{**record.__dict__, "attestation": successor.sign(record.attested_message())}
        )

    later = datetime.now(UTC) + timedelta(days=1)
    trusted = TrustedKeys(public_key_b64(successor), (retired(later),))
    assert verify_directory(tmp_path / "out", trusted, policy=FakePolicy()).signed_by_retired_key
    earlier = TrustedKeys(
        public_key_b64(successor), (retired(datetime.now(UTC) - timedelta(days=1)),)
    )
    assert "after its retirement" in _refusal(tmp_path / "out", earlier).message


@pytest.mark.parametrize(
    ("policy", "stated"),
    [
        (FakePolicy(version=4), "v3"),
        (FakePolicy(sha="cd" * 32), "v3"),
        (FakePolicy(dataset="outpatients"), "admissions v3"),
    ],
)
def test_another_policy_is_refused(
    tmp_path: Path, keystore: InMemoryKeyStore, policy: FakePolicy, stated: str
) -> None:
    _handover(tmp_path / "out", keystore)
    refused = _refusal(tmp_path / "out", public_key_b64(keystore), policy)
    assert refused.code == "handover_policy_mismatch"
    assert stated in refused.message


@pytest.mark.parametrize(
    ("change", "code", "named"),
    [
        (
            lambda d: (d / "part-00000.csv").write_bytes(b"a,b\r\n1,3\r\n"),
            "handover_altered_file",
            "part-00000.csv",
        ),
        (
            lambda d: (d / "part-00000.csv").write_bytes(b"a,b\r\n"),
            "handover_altered_file",
            "part-00000.csv",
        ),
        (
            lambda d: (d / "sub" / "part-00001.csv").unlink(),
            "handover_missing_file",
            "part-00001.csv",
        ),
        (
            lambda d: (d / "part-00002.csv").write_bytes(b"a,b\r\n"),
            "handover_extra_file",
            "part-00002.csv",
        ),
        (lambda d: (d / "sub" / ".tmp.part").write_bytes(b""), "handover_extra_file", ".tmp.part"),
    ],
    ids=["altered", "truncated", "missing", "extra", "hidden-extra"],
)
def test_file_changes_are_refused_naming_the_file(
    tmp_path: Path, keystore: InMemoryKeyStore, change: Any, code: str, named: str
) -> None:
    _handover(tmp_path / "out", keystore)
    change(tmp_path / "out")
    refused = _refusal(tmp_path / "out", public_key_b64(keystore))
    assert refused.code == code
    assert named in refused.message


def test_a_symbolic_link_is_refused(tmp_path: Path, keystore: InMemoryKeyStore) -> None:
    _handover(tmp_path / "out", keystore)
    (tmp_path / "elsewhere.csv").write_bytes(PARTS["part-00000.csv"])
    (tmp_path / "out" / "part-00000.csv").unlink()
    (tmp_path / "out" / "part-00000.csv").symlink_to(tmp_path / "elsewhere.csv")
    assert "symbolic link" in _refusal(tmp_path / "out", public_key_b64(keystore)).message


def test_a_file_swapped_after_verification_is_refused_on_reading(
    tmp_path: Path, keystore: InMemoryKeyStore
) -> None:
    _handover(tmp_path / "out", keystore)
    verified = verify_directory(tmp_path / "out", public_key_b64(keystore), policy=FakePolicy())
    (tmp_path / "out" / "part-00000.csv").write_bytes(b"a,b\r\n9,9\r\n")
    with pytest.raises(HandoverRefusedError, match=r"part-00000\.csv: altered"):
        verified.read_part("part-00000.csv")


@pytest.mark.parametrize(
    "bad",
    [
        {"files": {"../x.csv": "00" * 32}},
        {"files": {"/etc/passwd": "00" * 32}},
        {"files": {MANIFEST_NAME: "00" * 32}},
        {"engine": "hadoop"},
        {"output_format": "xlsx"},
        {"output_rows": 4},
        {"policy_sha256": "nothex"},
        {"report_counts": {"PERSON": -1}},
        {"opt_out_list": 0},
        {"opt_out_list": "1"},
        {"opt_out_list": True},
    ],
)
def test_build_refuses_a_malformed_manifest(bad: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "policy_name": "admissions",
        "policy_version": 1,
        "policy_sha256": POLICY_SHA,
        "input_rows": 3,
        "output_rows": 2,
        "files": {},
        "engine": "spark",
        "report_counts": {},
        "output_format": "parquet",
    } | bad
    with pytest.raises(ValueError, match="not a valid hand-over manifest"):
        build_manifest(**fields)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _paths(item, (*prefix, key))] or [prefix]
    return [prefix]


def _replaced(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x" if value else "x"
    if value is None:
        return "x"
    return {"x": 1}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_change_of_any_manifest_field_is_refused(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    keystore = InMemoryKeyStore.generate()
    directory = tmp_path_factory.mktemp("h") / "out"
    path = _handover(directory, keystore)
    envelope = json.loads(path.read_text())
    target = data.draw(st.sampled_from(_paths(envelope["manifest"])))
    changed = copy.deepcopy(envelope)
    holder = changed["manifest"]
    for key in target[:-1]:
        holder = holder[key]
    holder[target[-1]] = _replaced(holder[target[-1]])
    path.write_text(json.dumps(changed))
    refused = _refusal(directory, public_key_b64(keystore))
    assert refused.code == "handover_bad_signature"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_change_of_any_file_byte_is_refused(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    keystore = InMemoryKeyStore.generate()
    directory = tmp_path_factory.mktemp("h") / "out"
    _handover(directory, keystore)
    name = data.draw(st.sampled_from(sorted(PARTS)))
    content = bytearray((directory / name).read_bytes())
    position = data.draw(st.integers(0, len(content) - 1))
    content[position] ^= data.draw(st.integers(1, 255))
    (directory / name).write_bytes(bytes(content))
    refused = _refusal(directory, public_key_b64(keystore))
    assert refused.code == "handover_altered_file"
    assert name in refused.message


def test_the_signature_and_fingerprint_fields_are_checked(
    tmp_path: Path, keystore: InMemoryKeyStore
) -> None:
    path = _handover(tmp_path / "out", keystore)
    envelope = json.loads(path.read_text())
    for field, value, expected in [
        ("signature", base64.b64encode(b"\0" * 64).decode(), "does not verify"),
        ("signature", "not base64!", "not an Ed25519 signature"),
        ("public_key_fingerprint", "0" * 16, "does not name the key"),
    ]:
        path.write_text(json.dumps({**envelope, field: value}))
        assert expected in _refusal(tmp_path / "out", public_key_b64(keystore)).message
    path.write_text(json.dumps(envelope["manifest"]))
    assert _refusal(tmp_path / "out", public_key_b64(keystore)).code == "handover_unsigned"
    path.write_text("{not json")
    assert "not JSON" in _refusal(tmp_path / "out", public_key_b64(keystore)).message
