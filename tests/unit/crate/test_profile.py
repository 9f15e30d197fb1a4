"""The profile validator: a conforming crate passes; each required property removed is
reported, naming it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from fivesafes.crate.facts import CrateFacts
from fivesafes.crate.metadata import project_metadata, release_metadata
from fivesafes.crate.profile import profile_problems
from fivesafes.crate.terms import PROFILE
from tests.unit.crate import samples

Metadata = dict[str, Any]


def _entity(metadata: Metadata, entity_id: str) -> dict[str, Any]:
    return next(e for e in metadata["@graph"] if e["@id"] == entity_id)


def _assessment(metadata: Metadata, phase: str) -> dict[str, Any]:
    return next(
        e for e in metadata["@graph"] if phase in str(e.get("additionalType", {}).get("@id"))
    )


def _run(metadata: Metadata) -> dict[str, Any]:
    return _entity(metadata, f"#release-{samples.RELEASE_ID}")


def _drop(get: Callable[[Metadata], dict[str, Any]], prop: str) -> Callable[[Metadata], None]:
    def mutate(metadata: Metadata) -> None:
        del get(metadata)[prop]

    return mutate


def _root(metadata: Metadata) -> dict[str, Any]:
    return _entity(metadata, "./")


def _descriptor(metadata: Metadata) -> dict[str, Any]:
    return _entity(metadata, "ro-crate-metadata.json")


def _file(metadata: Metadata) -> dict[str, Any]:
    return _entity(metadata, samples.release().file_name)


def _remove(entity_id: str) -> Callable[[Metadata], None]:
    def mutate(metadata: Metadata) -> None:
        metadata["@graph"] = [e for e in metadata["@graph"] if e["@id"] != entity_id]

    return mutate


def _set(
    get: Callable[[Metadata], dict[str, Any]], prop: str, value: Any
) -> Callable[[Metadata], None]:
    def mutate(metadata: Metadata) -> None:
        get(metadata)[prop] = value

    return mutate


def _no_phase(phase: str) -> Callable[[Metadata], None]:
    def mutate(metadata: Metadata) -> None:
        for entity in metadata["@graph"]:
            if phase in str(entity.get("additionalType", {}).get("@id")):
                del entity["additionalType"]

    return mutate


def _context(metadata: Metadata) -> None:
    metadata["@context"] = "https://w3id.org/ro/crate/1.1/context"


CASES: dict[str, tuple[Callable[[Metadata], None], str]] = {
    "context": (_context, "@context"),
    "descriptor": (_remove("ro-crate-metadata.json"), "metadata descriptor missing"),
    "descriptor about": (_drop(_descriptor, "about"), "about is not ./"),
    "descriptor conformsTo": (_drop(_descriptor, "conformsTo"), "conformsTo is not RO-Crate"),
    "root": (_remove("./"), "root data entity missing"),
    "root conformsTo": (_drop(_root, "conformsTo"), "conformsTo does not include the profile"),
    "root mainEntity": (_drop(_root, "mainEntity"), "mainEntity"),
    "root sourceOrganization": (_drop(_root, "sourceOrganization"), "sourceOrganization"),
    "project entity": (_remove("#project-3"), "sourceOrganization is not a described Project"),
    "root mentions": (_drop(_root, "mentions"), "no CreateAction"),
    "root name": (_drop(_root, "name"), "root: name missing"),
    "root datePublished": (_drop(_root, "datePublished"), "datePublished missing"),
    "root publisher": (_drop(_root, "publisher"), "publisher missing"),
    "root license": (_drop(_root, "license"), "license missing"),
    "root hasPart": (_drop(_root, "hasPart"), "hasPart lists no file"),
    "run instrument": (_drop(_run, "instrument"), "no CreateAction of mainEntity"),
    "run agent": (_drop(_run, "agent"), "agent is not a described Person"),
    "run actionStatus": (_drop(_run, "actionStatus"), "actionStatus missing"),
    "run result": (_drop(_run, "result"), "result is not a file in hasPart"),
    "run name": (_drop(_run, "name"), "name missing"),
    "agent person": (_remove("#user-lead-ann"), "agent is not a described Person"),
    "disclosure check": (_no_phase("DisclosureCheck"), "no DisclosureCheck"),
    "sign-off": (_no_phase("SignOff"), "no SignOff"),
    "disclosure endTime": (
        lambda m: _assessment(m, "DisclosureCheck").pop("endTime"),
        "endTime missing",
    ),
    "disclosure status": (
        lambda m: _assessment(m, "DisclosureCheck").update(actionStatus="done"),
        "actionStatus missing or not a schema.org status",
    ),
    "file sha256": (_drop(_file, "sha256"), "sha256 missing"),
    "file contentSize": (_drop(_file, "contentSize"), "contentSize missing"),
    "file encodingFormat": (_drop(_file, "encodingFormat"), "encodingFormat missing"),
    "profile entity": (_remove(PROFILE), "profile entity missing"),
    "dangling reference": (_remove("#tre"), "refers to #tre, not described"),
    "duplicate id": (
        lambda m: m["@graph"].append(copy.deepcopy(_root(m))),
        "@id appears twice",
    ),
    "wrong mentions": (
        _set(_root, "mentions", [{"@id": "#nothing"}]),
        "mentions an entity that is not described",
    ),
}


@pytest.fixture(scope="module")
def good() -> Metadata:
    return release_metadata(samples.crate_facts(samples.closed_release()))


def test_a_built_crate_conforms(good: Metadata) -> None:
    assert profile_problems(good, "release") == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_missing_requirement_is_named(good: Metadata, case: str) -> None:
    mutate, expected = CASES[case]
    metadata = copy.deepcopy(good)
    mutate(metadata)
    problems = profile_problems(metadata, "release")
    assert any(expected in p for p in problems), problems


def test_not_an_object_is_a_problem() -> None:
    assert profile_problems([], "release") == ["metadata is not a JSON object"]


def test_a_project_crate_needs_no_release_but_its_runs_must_be_valid() -> None:
    empty = project_metadata(CrateFacts(samples.project(), ()), published_at=samples.T0)
    assert profile_problems(empty, "project") == []
    assert any("no CreateAction" in p for p in profile_problems(empty, "release"))
    full = project_metadata(samples.crate_facts(), published_at=samples.T0)
    next(
        e for e in full["@graph"] if e["@type"] == "CreateAction" and "release-8c" in e["@id"]
    ).pop("agent")
    assert any("agent is not a described Person" in p for p in profile_problems(full, "project"))
