"""``ro-crate-metadata.json`` for a release crate and a project crate.

RO-Crate 1.2 following the Five Safes RO-Crate profile 0.4 (``graph.PROFILE``). A
release crate describes one release and holds its file; a project crate describes the
project and every release (their hashes, not their data), with the accepted destruction
attestations and the platform's copy destruction records. The metadata is built from
the records only, so it is the same every time it is built for the same records:
``datePublished`` is when the release completed (or the newest record of a project), not
when the crate was asked for.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fivesafes.crate import entities, release_entities
from fivesafes.crate.facts import CrateFacts, ReleaseFacts
from fivesafes.crate.graph import Graph, local_id, ref, refs, when
from fivesafes.crate.terms import PROFILE


def _dump(metadata: dict[str, Any]) -> bytes:
    """The metadata file's bytes (what the signature's ``metadata_sha256`` covers)."""
    return json.dumps(metadata, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")


def _common(graph: Graph, facts: CrateFacts) -> list[str]:
    entities.profile_entity(graph)
    entities.tre(graph, facts)
    entities.project(graph, facts.project)
    software = facts.releases[-1].manifest.get("software", {}) if facts.releases else {}
    entities.workflow(graph, software if isinstance(software, dict) else {})
    return entities.project_approval(graph, facts.project)


def _release_entities(
    graph: Graph, facts: CrateFacts, release: ReleaseFacts, file_id: str
) -> list[str]:
    """Everything said about one release, its file entity being ``file_id``."""
    pid = facts.project.id
    version_id, mentioned = release_entities.dataset_version(graph, release)
    mentioned = [
        release_entities.release_run(graph, release, pid, [file_id]),
        *entities.grant(graph, release.grant, pid, version_id),
        *mentioned,
        release_entities.disclosure(graph, release, [file_id]),
    ]
    if release.sha256 is not None:
        mentioned.append(release_entities.checksum(graph, release, file_id))
    mentioned.extend(release_entities.destruction(graph, release, file_id))
    return mentioned


def _file_properties(release: ReleaseFacts) -> dict[str, Any]:
    return {
        "name": f"Release {release.id} ({release.manifest.get('rows_released')} rows)",
        "sha256": release.sha256,
        "contentSize": str(release.byte_count) if release.byte_count is not None else None,
        "encodingFormat": release.media_type,
        "dateCreated": when(release.completed_at),
    }


def release_metadata(facts: CrateFacts) -> dict[str, Any]:
    """The metadata of the crate of ``facts.releases[0]`` (which holds its file)."""
    (release,) = facts.releases
    graph = Graph()
    mentioned = _common(graph, facts)
    file_id = graph.add_file(release.file_name, **_file_properties(release))
    mentioned = _release_entities(graph, facts, release, file_id) + mentioned
    dsa = entities.agreement(graph, facts.project)
    data = release.manifest.get("dataset", {})
    graph.root(
        name=f"Release {release.id} of {data.get('name')} version {data.get('version')} "
        f"to project {facts.project.id}",
        description="A data release of the fivesafes trusted research environment: the "
        "released file, how it was approved, made and checked.",
        identifier=f"urn:uuid:{release.id}",
        conformsTo=ref(PROFILE),
        mainEntity=ref(entities.WORKFLOW),
        sourceOrganization=ref(local_id("project", facts.project.id)),
        mentions=refs(mentioned),
        datePublished=when(release.completed_at or release.created_at),
        publisher=ref(entities.TRE),
        license=ref(dsa),
    )
    return graph.generate()


def project_metadata(facts: CrateFacts, *, published_at: datetime) -> dict[str, Any]:
    """The project's crate: every release described, none of their data held."""
    graph = Graph()
    mentioned = _common(graph, facts)
    for release in facts.releases:
        file_id = graph.add(local_id("file", release.id), "File", **_file_properties(release))
        mentioned.extend(_release_entities(graph, facts, release, file_id))
    dsa = entities.agreement(graph, facts.project)
    graph.root(
        name=f"Project {facts.project.id}: {facts.project.title}",
        description="The record of a fivesafes project: its governance, every release "
        "made to it (by SHA-256; the data are not in this crate) and the proof that "
        "their copies were destroyed.",
        identifier=f"fivesafes:project:{facts.project.id}",
        conformsTo=ref(PROFILE),
        mainEntity=ref(entities.WORKFLOW),
        sourceOrganization=ref(local_id("project", facts.project.id)),
        mentions=refs(mentioned),
        datePublished=when(published_at),
        publisher=ref(entities.TRE),
        license=ref(dsa),
    )
    return graph.generate()


def metadata_bytes(metadata: dict[str, Any]) -> bytes:
    return _dump(metadata)
