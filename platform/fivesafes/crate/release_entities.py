"""The entities of one release: its dataset version and upload, the disclosure gate,
the delivered file's hash, the run itself and the destruction of its copies.

Like :mod:`fivesafes.crate.entities`, each function adds to the graph and returns the
ids the root ``mentions`` (docs/crates.md has the mapping table).
"""

from __future__ import annotations

import json
from typing import Any

import fivesafes
from fivesafes.crate.entities import ACCESS_POLICY, GATE, TRE, WORKFLOW, person
from fivesafes.crate.facts import Person, ReleaseFacts
from fivesafes.crate.graph import Graph, local_id, ref, refs, when
from fivesafes.crate.terms import COMPLETED, FAILED, SHA256_TERM, SHP


def dataset_version(graph: Graph, release: ReleaseFacts) -> tuple[str, list[str]]:
    """The dataset version, its policy, its upload and the de-identification that made it."""
    data = release.manifest.get("dataset", {})
    name, number = data.get("name", "?"), data.get("version", "?")
    version_id = local_id("dataset", f"{name}-v{number}")
    policy_id = graph.add(
        local_id("policy", f"{name}-v{data.get('policy_version')}"),
        "CreativeWork",
        name=f"De-identification policy of {name}, version {data.get('policy_version')}",
        version=str(data.get("policy_version")),
        sha256=data.get("policy_sha256"),
        encodingFormat="application/yaml",
    )
    graph.add(
        version_id,
        "Dataset",
        name=f"{name} version {number}",
        version=str(number),
        dateCreated=when(release.version_created_at),
        description=f"{data.get('version_rows')} rows; sensitivity {release.sensitivity}",
        conformsTo=ref(policy_id),
    )
    mentioned: list[str] = []
    source = local_id("source", data.get("source_sha256"))
    graph.add(
        source,
        "File",
        name="Source extract (not held in this crate)",
        sha256=data.get("source_sha256"),
    )
    upload = release.upload
    if upload is not None:
        mentioned.append(
            graph.add(
                local_id("upload", upload.id),
                "ReceiveAction",
                name=f"Upload {upload.id} received",
                identifier=upload.id,
                endTime=when(upload.received_at),
                agent=ref(person(graph, upload.uploaded_by)) if upload.uploaded_by else None,
                object=ref(source),
                actionStatus=COMPLETED,
            )
        )
    engines = _deid_software(graph, release.manifest.get("software", {}).get("deidentification"))
    mentioned.append(
        graph.add(
            local_id("deidentify", f"{name}-v{number}"),
            "CreateAction",
            name=f"De-identification of the source extract into {name} version {number}",
            endTime=when(release.version_created_at),
            instrument=refs([policy_id, *engines]),
            object=ref(source),
            result=ref(version_id),
            actionStatus=COMPLETED,
        )
    )
    return version_id, mentioned


def _deid_software(graph: Graph, versions: Any) -> list[str]:
    """The de-identification engine, spaCy, its model and Presidio, as software."""
    if not isinstance(versions, dict):
        return []
    ids = []
    for key, value in sorted(versions.items()):
        if isinstance(value, dict):  # {"name": model, "version": ...}
            label, version = str(value.get("name")), value.get("version")
        else:
            label, version = key, value
        ids.append(
            graph.add(
                local_id("software", label),
                "SoftwareApplication",
                name=label if key != "engine" else "fivesafes de-identification engine",
                softwareVersion=str(version) if version is not None else None,
                description=f"de-identification: {key}",
            )
        )
    return ids


def disclosure(graph: Graph, release: ReleaseFacts, targets: list[str]) -> str:
    """The disclosure gate's decision, as the profile's DisclosureCheck assessment."""
    gate: dict[str, Any] = release.manifest.get("disclosure", {})
    rid = release.id
    graph.add(
        GATE,
        "SoftwareApplication",
        name="fivesafes disclosure gate (k-anonymity and small numbers)",
        softwareVersion=fivesafes.__version__,
        provider=ref(TRE),
    )
    results = []
    for key in (
        "k_required",
        "k_achieved",
        "counted_by",
        "quasi_identifiers",
        "small_classes",
        "small_number_threshold",
        "rows_in_scope",
        "patients_in_scope",
        "classes",
        "classes_suppressed",
        "rows_suppressed",
    ):
        value = gate.get(key)
        results.append(
            graph.add(
                local_id(f"disclosure-{rid}", key),
                "PropertyValue",
                name=key,
                value=json.dumps(value) if isinstance(value, list | dict) else value,
            )
        )
    for index, driver in enumerate(gate.get("suppression_drivers", [])):
        results.append(
            graph.add(
                local_id(f"disclosure-{rid}-driver", index),
                "PropertyValue",
                name=f"suppression driver: {driver.get('quasi_identifier')}",
                value=driver.get("rows_suppressed_without_it"),
                description="rows that would be suppressed without this quasi-identifier",
            )
        )
    k = gate.get("k_required")
    return graph.add(
        local_id("disclosure", rid),
        "AssessAction",
        additionalType=ref(SHP + "DisclosureCheck"),
        name=f"Disclosure gate (k={k}): passed, {gate.get('rows_suppressed', 0)} rows "
        f"suppressed, k achieved {gate.get('k_achieved')}",
        startTime=when(release.created_at),
        endTime=when(release.created_at),
        object=refs(["./", *targets]),
        instrument=ref(ACCESS_POLICY),
        agent=ref(GATE),
        result=refs(results),
        actionStatus=COMPLETED,
    )


def checksum(graph: Graph, release: ReleaseFacts, file_id: str) -> str:
    """The SHA-256 of the delivered bytes, computed while they streamed out."""
    graph.add(SHA256_TERM, "DefinedTerm", name="sha-256 algorithm")
    return graph.add(
        local_id("checksum", release.id),
        "UpdateAction",
        additionalType=ref(SHP + "GenerateCheckValue"),
        name=f"SHA-256 of release {release.id} recorded as it was delivered",
        endTime=when(release.completed_at),
        object=ref(file_id),
        instrument=ref(SHA256_TERM),
        agent=ref(WORKFLOW),
        actionStatus=COMPLETED,
    )


def release_run(graph: Graph, release: ReleaseFacts, project_id: int, targets: list[str]) -> str:
    """The release itself: the profile's CreateAction (the run of ``mainEntity``)."""
    grant_terms = release.manifest.get("grant", {})
    terms = graph.add(
        local_id("query", f"grant-{release.grant.id}"),
        "PropertyValue",
        name=f"Approved query of grant {release.grant.id}",
        value=json.dumps(
            {
                "columns": grant_terms.get("columns"),
                "row_filter": grant_terms.get("row_filter"),
                "date_granularity": grant_terms.get("date_granularity"),
            },
            sort_keys=True,
        ),
    )
    version = local_id("dataset", _version_key(release))
    return graph.add(
        local_id("release", release.id),
        "CreateAction",
        name=f"Release {release.id} under grant {release.grant.id}: {release.state}",
        identifier=f"urn:uuid:{release.id}",
        startTime=when(release.created_at),
        endTime=when(release.completed_at),
        agent=ref(person(graph, release.recipient, project_id)),
        instrument=ref(WORKFLOW),
        object=refs([version, terms]),
        result=refs(targets),
        actionStatus=COMPLETED if release.state == "completed" else FAILED,
    )


def _version_key(release: ReleaseFacts) -> str:
    data = release.manifest.get("dataset", {})
    return f"{data.get('name', '?')}-v{data.get('version', '?')}"


def destruction(graph: Graph, release: ReleaseFacts, target: str) -> list[str]:
    """Accepted destruction attestations of the release, and the platform copy's end."""
    mentioned = []
    for record in release.attestations:
        aid = record.get("id")
        attested = graph.add(
            local_id("attestation", aid),
            "DeleteAction",
            name=f"Destruction of the copies of release {release.id} attested by "
            f"{record.get('submitted_by')}",
            description=f"Destroyed by {record.get('destroyed_by')} on "
            f"{record.get('destroyed_on')}; method: {record.get('method')}; copies: "
            f"{json.dumps(record.get('copies'))}; declaration: {record.get('declaration')} "
            f"(signed: {record.get('signed_name')})",
            endTime=record.get("destroyed_on"),
            startTime=record.get("submitted_at"),
            agent=ref(person(graph, Person(str(record.get("submitted_by"))))),
            object=ref(target),
            identifier=record.get("content_sha256"),
            actionStatus=COMPLETED,
        )
        mentioned.append(attested)
        mentioned.append(
            graph.add(
                local_id("attestation-review", aid),
                "AssessAction",
                name=f"Destruction attestation {aid} accepted by {record.get('reviewed_by')}",
                endTime=record.get("reviewed_at"),
                agent=ref(person(graph, Person(str(record.get("reviewed_by"))))),
                object=ref(attested),
                actionStatus=COMPLETED,
            )
        )
    copy = release.copy_destruction
    if copy is not None:
        agent = person(graph, copy.destroyed_by) if copy.destroyed_by else WORKFLOW
        mentioned.append(
            graph.add(
                local_id("platform-copy-destroyed", release.id),
                "DeleteAction",
                name=f"Platform's retained copy of release {release.id} destroyed",
                description=copy.reason,
                endTime=when(copy.destroyed_at),
                agent=ref(agent),
                object=ref(target),
                actionStatus=COMPLETED,
            )
        )
    return mentioned
