"""Signed crate zips: the streaming writer, the signature round trip, and tampering
with each part — each detected by the check it belongs to."""

from __future__ import annotations

import base64
import io
import json
import warnings
import zipfile
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.audit.chain import checkpoint_message
from fivesafes.crate import signing
from fivesafes.crate.package import CrateIntegrityError, project_crate, release_crate
from fivesafes.crate.verify import CHECKS, unsafe_name, verify_crate
from fivesafes.keys.store import InMemoryKeyStore, ed25519_verifies, verification_key_pem
from tests.unit.crate import samples

KEYSTORE = InMemoryKeyStore.generate()
PUBLIC = KEYSTORE.verification_key()
DATA_NAME = samples.release().file_name
DATA_SHA = samples.release().sha256 or ""

Members = list[tuple[str, bytes]]


def _crate_bytes() -> bytes:
    facts = samples.crate_facts(samples.closed_release())
    crate = release_crate(facts, KEYSTORE, samples.fake_copy(facts))
    return b"".join(crate.body)


GOOD = _crate_bytes()


def _members(data: bytes = GOOD) -> Members:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(i.filename, archive.read(i)) for i in archive.infolist()]


def _zip(members: Members) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as archive:
        warnings.simplefilter("ignore")  # duplicate names are one of the tamperings
        for name, body in members:
            archive.writestr(zipfile.ZipInfo(name), body)
    return out.getvalue()


def _failed(data: bytes, key: bytes | None = PUBLIC) -> set[str]:
    return {c.name for c in verify_crate(io.BytesIO(data), key).failed}


def test_a_release_crate_verifies_and_holds_exactly_its_three_members() -> None:
    result = verify_crate(io.BytesIO(GOOD), PUBLIC)
    assert result.valid, result.failed
    assert [c.name for c in result.checks] == list(CHECKS)
    names = [n for n, _ in _members()]
    assert names == [signing.METADATA_NAME, DATA_NAME, signing.SIGNATURE_NAME]
    assert dict(_members())[DATA_NAME] == samples.DATA
    signed = result.signed
    assert signed["kind"] == "release"
    assert signed["release_id"] == str(samples.RELEASE_ID)
    assert signed["files"] == {DATA_NAME: DATA_SHA}


def test_the_zip_is_streamed_in_many_chunks() -> None:
    facts = samples.crate_facts()
    chunks = list(release_crate(facts, KEYSTORE, samples.fake_copy(facts)).body)
    assert len(chunks) > 3
    assert verify_crate(io.BytesIO(b"".join(chunks)), PUBLIC).valid


def test_the_signature_is_domain_separated_from_audit_checkpoints() -> None:
    document = json.loads(dict(_members())[signing.SIGNATURE_NAME])
    message = signing.signing_message(document["signed"])
    assert message.startswith(b"fivesafes-ro-crate-signature-v1\n")
    # A checkpoint signs bare canonical JSON: the crate's signature is not over that.
    signature = base64.b64decode(document["signature"])
    assert ed25519_verifies(PUBLIC, signature, message)
    assert not ed25519_verifies(PUBLIC, signature, checkpoint_message(1, "0" * 64))
    assert not checkpoint_message(1, "0" * 64).startswith(signing.DOMAIN)


def test_the_pem_exported_key_reads_back_to_the_signing_key() -> None:
    assert signing.raw_public_key(verification_key_pem(KEYSTORE)) == PUBLIC


def _edit(name: str, change: Callable[[bytes], bytes]) -> bytes:
    return _zip([(n, change(b) if n == name else b) for n, b in _members()])


def _resign_with(other: InMemoryKeyStore) -> bytes:
    document = json.loads(dict(_members())[signing.SIGNATURE_NAME])
    body = signing.sign(other, document["signed"])
    return _edit(signing.SIGNATURE_NAME, lambda _: body)


def _flip_signature(body: bytes) -> bytes:
    document = json.loads(body)
    raw = bytearray(base64.b64decode(document["signature"]))
    raw[0] ^= 1
    document["signature"] = base64.b64encode(bytes(raw)).decode()
    return json.dumps(document).encode()


def _edit_signed_hash(body: bytes) -> bytes:
    document = json.loads(body)
    document["signed"]["metadata_sha256"] = "0" * 64
    return json.dumps(document).encode()


def _rename(old: str, new: str) -> bytes:
    return _zip([(new if n == old else n, b) for n, b in _members()])


TAMPERING: dict[str, tuple[Callable[[], bytes], set[str]]] = {
    "metadata edited": (
        lambda: _edit(signing.METADATA_NAME, lambda b: b.replace(b"k_required", b"k_requirex")),
        {"metadata_sha256"},
    ),
    "data file edited": (
        lambda: _edit(DATA_NAME, lambda b: b.replace(b"ZE2", b"ZE1", 1)),
        {"files"},
    ),
    "signature edited": (
        lambda: _edit(signing.SIGNATURE_NAME, _flip_signature),
        {"signature"},
    ),
    "signed hashes edited": (
        lambda: _edit(signing.SIGNATURE_NAME, _edit_signed_hash),
        {"signature", "metadata_sha256"},
    ),
    "signed by another key": (
        lambda: _resign_with(InMemoryKeyStore.generate()),
        {"key", "signature"},
    ),
    "member added": (lambda: _zip([*_members(), ("notes.txt", b"hello")]), {"members"}),
    "member removed": (
        lambda: _zip([(n, b) for n, b in _members() if n != DATA_NAME]),
        {"members", "files"},
    ),
    "member renamed": (lambda: _rename(DATA_NAME, "other.csv"), {"members", "files"}),
    "path traversal": (lambda: _rename(DATA_NAME, f"../{DATA_NAME}"), {"archive"}),
    "absolute path": (lambda: _rename(DATA_NAME, f"/tmp/{DATA_NAME}"), {"archive"}),
    "duplicate member": (
        lambda: _zip([*_members(), (DATA_NAME, b"other bytes")]),
        {"archive"},
    ),
    "signature removed": (
        lambda: _zip([(n, b) for n, b in _members() if n != signing.SIGNATURE_NAME]),
        {"signature_file"},
    ),
    "metadata removed": (
        lambda: _zip([(n, b) for n, b in _members() if n != signing.METADATA_NAME]),
        {"members", "metadata_sha256", "files", "profile"},
    ),
    "not a zip": (lambda: b"PK not really", {"archive"}),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_each_tampering_fails_exactly_its_checks(case: str) -> None:
    make, expected = TAMPERING[case]
    data = make()
    result = verify_crate(io.BytesIO(data), PUBLIC)
    assert not result.valid
    assert {c.name for c in result.failed} == expected, result.failed


def test_profile_check_fails_for_a_resigned_crate_missing_a_requirement() -> None:
    """A forger with the key could re-sign anything; the profile check still reads it."""
    members = dict(_members())
    metadata = json.loads(members[signing.METADATA_NAME])
    root = next(e for e in metadata["@graph"] if e["@id"] == "./")
    del root["sourceOrganization"]
    body = json.dumps(metadata).encode()
    signed = signing.signed_content(
        "release",
        {"release_id": str(samples.RELEASE_ID)},
        body,
        {DATA_NAME: DATA_SHA},
    )
    members[signing.METADATA_NAME] = body
    members[signing.SIGNATURE_NAME] = signing.sign(KEYSTORE, signed)
    result = verify_crate(io.BytesIO(_zip(list(members.items()))), PUBLIC)
    assert {c.name for c in result.failed} == {"profile"}
    assert "sourceOrganization" in result.failed[0].detail


def test_without_a_key_internal_consistency_is_still_checked() -> None:
    assert verify_crate(io.BytesIO(GOOD), None).valid
    assert _failed(TAMPERING["data file edited"][0](), None) == {"files"}


def test_a_copy_that_is_not_the_release_never_completes_the_zip() -> None:
    facts = samples.crate_facts()
    copy = samples.fake_copy(facts, samples.DATA[:-1] + b"!")
    body = release_crate(facts, KEYSTORE, copy).body
    with pytest.raises(CrateIntegrityError):
        b"".join(body)
    other = samples.FakeCopy(samples.DATA, DATA_NAME, "0" * 64)
    with pytest.raises(CrateIntegrityError):
        release_crate(facts, KEYSTORE, other)


def test_a_project_crate_holds_metadata_and_signature_only() -> None:
    facts = samples.crate_facts(samples.closed_release())
    data = b"".join(project_crate(facts, KEYSTORE, samples.T0).body)
    result = verify_crate(io.BytesIO(data), PUBLIC)
    assert result.valid, result.failed
    assert result.signed["kind"] == "project"
    assert result.signed["files"] == {}
    assert [n for n, _ in _members(data)] == [signing.METADATA_NAME, signing.SIGNATURE_NAME]


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [
        ("a.csv", False),
        ("../a", True),
        ("a/b", True),
        ("a\\b", True),
        ("", True),
        ("..", True),
        ("C:x", True),
        ("a\nb", True),
    ],
)
def test_unsafe_names(name: str, unsafe: bool) -> None:
    assert unsafe_name(name) is unsafe


@given(st.text(min_size=1, max_size=40))
def test_a_name_with_a_separator_is_never_safe(name: str) -> None:
    assert unsafe_name(f"{name}/x")
    assert unsafe_name(f"..\\{name}")
    if not ({"/", "\\", ":"} & set(name)) and name not in (".", "..") and name.isprintable():
        assert not unsafe_name(name)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z0-9-]{1,12}\.csv", fullmatch=True),
        st.text("0123456789abcdef", min_size=64, max_size=64),
        max_size=4,
    )
)
def test_signing_round_trip_over_any_file_list(files: dict[str, str]) -> None:
    signed = signing.signed_content("release", {"release_id": "r"}, b"{}", files)
    document = json.loads(signing.sign(KEYSTORE, signed))
    assert signing.signature_valid(PUBLIC, document)
    document["signed"]["files"] = {**files, "extra.csv": "0" * 64}
    assert not signing.signature_valid(PUBLIC, document)
