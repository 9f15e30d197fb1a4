"""The metadata builder, from fixture facts: the profile's properties, the records each
entity comes from, and what must never appear (e-mails, upload file names)."""

from __future__ import annotations

import json
import socket
import uuid
from typing import Any

import pytest

from fivesafes.crate.metadata import project_metadata, release_metadata
from fivesafes.crate.profile import profile_problems
from fivesafes.crate.terms import COMPLETED, FAILED, PROFILE
from tests.unit.crate import samples


def _index(metadata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["@id"]: e for e in metadata["@graph"]}


def _typed(metadata: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in metadata["@graph"] if kind in json.dumps(e.get("additionalType", ""))]


def test_release_metadata_conforms_and_maps_each_record() -> None:
    metadata = release_metadata(samples.crate_facts(samples.closed_release()))
    assert profile_problems(metadata, "release") == []
    assert metadata["@context"] == "https://w3id.org/ro/crate/1.2/context"
    index = _index(metadata)
    root = index["./"]
    assert root["conformsTo"] == {"@id": PROFILE}
    assert root["sourceOrganization"] == {"@id": "#project-3"}
    project = index["#project-3"]
    assert project["@type"] == "Project"
    assert project["name"] == "Readmissions after hip surgery"
    assert index[project["ethicsPolicy"]["@id"]]["identifier"] == "REC 24/NW/0001"
    dsa = index[root["license"]["@id"]]
    assert dsa["identifier"] == "DSA-2026-017"
    terms = {index[m["@id"]]["termCode"] for m in dsa["mentions"]}
    assert terms == {"6.1.e-public-task", "9.2.j-archiving-research-statistics"}
    # The release: the CreateAction run of mainEntity by the recipient, with its file.
    run = index[f"#release-{samples.RELEASE_ID}"]
    assert run["@type"] == "CreateAction"
    assert run["instrument"] == root["mainEntity"]
    assert run["agent"] == {"@id": "#user-lead-ann"}
    assert run["actionStatus"] == COMPLETED
    data = index[samples.release().file_name]
    assert data["@type"] == "File"
    assert data["sha256"] == samples.release().sha256
    assert data["contentSize"] == str(len(samples.DATA))
    assert data["encodingFormat"].startswith("text/csv")
    # Two officers' sign-offs, the grant issued by both.
    signoffs = [e for e in _typed(metadata, "SignOff") if e["@id"].startswith("#review-")]
    assert {s["agent"]["@id"] for s in signoffs} == {"#user-gov-bob", "#user-gov-cat"}
    assert all(s["endTime"] == samples.T0.isoformat() for s in signoffs)
    assert "overridden" in index["#review-2"]["name"]
    grant = index["#grant-7"]
    assert grant["@type"] == "AuthorizeAction"
    assert {a["@id"] for a in grant["agent"]} == {"#user-gov-bob", "#user-gov-cat"}
    # The disclosure gate as an assessment with k, suppressed rows and drivers.
    (gate,) = _typed(metadata, "DisclosureCheck")
    results = {index[r["@id"]]["name"]: index[r["@id"]]["value"] for r in gate["result"]}
    assert results["k_required"] == 5
    assert results["rows_suppressed"] == 2
    assert results["suppression driver: postcode"] == 0
    assert index[gate["agent"]["@id"]]["provider"] == {"@id": "#tre"}
    # The dataset version, its policy hash and upload provenance.
    version = index["#dataset-admissions-v2"]
    policy = index[version["conformsTo"]["@id"]]
    assert policy["sha256"] == "cd" * 32
    upload = index[f"#upload-{samples.release().upload.id}"]  # type: ignore[union-attr]
    assert upload["agent"] == {"@id": "#user-op-dan"}
    assert index[upload["object"]["@id"]]["sha256"] == "ab" * 32
    # De-identification engine and model as software.
    software = {
        e["name"]: e.get("softwareVersion")
        for e in metadata["@graph"]
        if e["@type"] == "SoftwareApplication"
    }
    assert software["en_core_web_sm"] == "3.7.1"
    assert software["fivesafes de-identification engine"] == "fivesafes 0.1"
    # The release pipeline (mainEntity) with the versions the release was made with.
    pipeline = index[root["mainEntity"]["@id"]]
    assert pipeline["softwareVersion"] == "0.1"
    assert software["pyarrow"] == "17.0.0"
    assert software["sqlalchemy"] == "2.0.30"
    # The accepted attestation and the platform copy's destruction.
    attested = index["#attestation-11"]
    assert attested["@type"] == "DeleteAction"
    assert "laptop LT-42" in attested["description"]
    assert index["#attestation-review-11"]["agent"] == {"@id": "#user-gov-bob"}
    assert index[f"#platform-copy-destroyed-{samples.RELEASE_ID}"]["description"] == (
        "project closed"
    )


def test_people_are_usernames_only_and_no_upload_file_name() -> None:
    text = json.dumps(release_metadata(samples.crate_facts()))
    assert "@" not in text.replace('"@', "")  # no e-mail address anywhere
    persons = [
        e for e in release_metadata(samples.crate_facts())["@graph"] if e["@type"] == "Person"
    ]
    assert {p["name"] for p in persons} == {"lead-ann", "gov-bob", "gov-cat", "op-dan"}
    assert all(set(p) <= {"@id", "@type", "name", "identifier", "memberOf"} for p in persons)
    assert "filename" not in text


def test_a_rejecting_review_is_a_failed_signoff() -> None:
    one = samples.release()
    reviews = (
        *one.grant.reviews[:1],
        one.grant.reviews[1].__class__(3, samples.OFFICER_2, "reject", samples.T0, False),
    )
    grant = one.grant.__class__(**{**_fields(one.grant), "reviews": reviews})
    metadata = release_metadata(samples.crate_facts(samples.release(grant=grant)))
    index = _index(metadata)
    assert index["#review-3"]["actionStatus"] == FAILED
    assert index["#grant-7"]["agent"] == [{"@id": "#user-gov-bob"}]


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def test_project_metadata_lists_releases_by_hash_without_their_files() -> None:
    second = samples.release(id=uuid.UUID(int=77), file_name="grant-7-release-x.csv")
    facts = samples.crate_facts(samples.closed_release(), second)
    metadata = project_metadata(facts, published_at=samples.T0)
    assert profile_problems(metadata, "project") == []
    index = _index(metadata)
    assert "hasPart" not in index["./"]
    files = [e for e in metadata["@graph"] if e["@type"] == "File" and e["@id"].startswith("#file")]
    assert len(files) == 2
    assert all(f["sha256"] == samples.release().sha256 for f in files)
    runs = [
        e
        for e in metadata["@graph"]
        if e["@type"] == "CreateAction" and e.get("instrument") == {"@id": "#release-workflow"}
    ]
    assert len(runs) == 2
    assert "#attestation-11" in index


def test_building_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """rocrate is only given dictionaries: with every socket refused, it still builds."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the crate builder opened a socket")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert profile_problems(release_metadata(samples.crate_facts()), "release") == []


def test_the_same_records_give_the_same_metadata() -> None:
    assert release_metadata(samples.crate_facts()) == release_metadata(samples.crate_facts())
