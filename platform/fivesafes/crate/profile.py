"""The Five Safes RO-Crate 0.4 properties a fivesafes crate must have, checked offline.

Not a general RO-Crate validator: it checks what the profile REQUIRES (and the SHOULDs
this platform always meets, so their absence means a broken or edited crate), from the
metadata alone. ``crate verify`` and the tests use this one function. Each problem names
the entity and the property, e.g. ``root: conformsTo does not include the profile``.
"""

from __future__ import annotations

from typing import Any

from fivesafes.crate.terms import ACTION_STATUSES, COMPLETED, PROFILE, SHP

_ACTIONS = frozenset(
    {
        "Action",
        "AssessAction",
        "AuthorizeAction",
        "CreateAction",
        "DeleteAction",
        "ReceiveAction",
        "UpdateAction",
    }
)
_RO_CRATE_VERSIONS = ("1.2", "1.3")


def _types(entity: dict[str, Any]) -> set[str]:
    value = entity.get("@type")
    return {value} if isinstance(value, str) else {str(t) for t in value or []}


def _ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(i["@id"]) for i in items if isinstance(i, dict) and "@id" in i]


def _index(metadata: dict[str, Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    graph = metadata.get("@graph")
    if not isinstance(graph, list):
        problems.append("@graph is missing or not a list")
        return {}
    index: dict[str, dict[str, Any]] = {}
    for entity in graph:
        if not isinstance(entity, dict) or not isinstance(entity.get("@id"), str):
            problems.append("@graph: an entity without an @id")
            continue
        if entity["@id"] in index:
            problems.append(f"{entity['@id']}: @id appears twice")
        index[entity["@id"]] = entity
    return index


def _context(metadata: dict[str, Any], problems: list[str]) -> None:
    context = metadata.get("@context")
    contexts = context if isinstance(context, list) else [context]
    wanted = [f"https://w3id.org/ro/crate/{v}/context" for v in _RO_CRATE_VERSIONS]
    if not any(c in wanted for c in contexts):
        problems.append("@context: not an RO-Crate 1.2+ context")


def _descriptor(index: dict[str, dict[str, Any]], problems: list[str]) -> None:
    descriptor = index.get("ro-crate-metadata.json")
    if descriptor is None:
        problems.append("ro-crate-metadata.json: metadata descriptor missing")
        return
    if _ids(descriptor.get("about")) != ["./"]:
        problems.append("ro-crate-metadata.json: about is not ./")
    wanted = {f"https://w3id.org/ro/crate/{v}" for v in _RO_CRATE_VERSIONS}
    if not set(_ids(descriptor.get("conformsTo"))) & wanted:
        problems.append("ro-crate-metadata.json: conformsTo is not RO-Crate 1.2+")


def _action(entity_id: str, entity: dict[str, Any], problems: list[str]) -> None:
    if not entity.get("name"):
        problems.append(f"{entity_id}: name missing")
    status = entity.get("actionStatus")
    if status not in ACTION_STATUSES:
        problems.append(f"{entity_id}: actionStatus missing or not a schema.org status")
    if status == COMPLETED and "AssessAction" in _types(entity) and not entity.get("endTime"):
        problems.append(f"{entity_id}: endTime missing on a completed assessment")
    if "agent" in entity and not _ids(entity["agent"]) and entity["agent"] != []:
        problems.append(f"{entity_id}: agent is not a reference")


def _root(index: dict[str, dict[str, Any]], kind: str, problems: list[str]) -> list[dict[str, Any]]:
    root = index.get("./")
    if root is None:
        problems.append("./: root data entity missing")
        return []
    if "Dataset" not in _types(root):
        problems.append("root: @type is not Dataset")
    if PROFILE not in _ids(root.get("conformsTo")):
        problems.append("root: conformsTo does not include the profile")
    for prop in ("name", "datePublished", "publisher", "license"):
        if not root.get(prop):
            problems.append(f"root: {prop} missing")
    main = _ids(root.get("mainEntity"))
    if len(main) != 1 or main[0] not in index:
        problems.append("root: mainEntity missing or not described")
    project = _ids(root.get("sourceOrganization"))
    if len(project) != 1 or "Project" not in _types(index.get(project[0], {})):
        problems.append("root: sourceOrganization is not a described Project")
    mentioned = [index[i] for i in _ids(root.get("mentions")) if i in index]
    if len(mentioned) != len(_ids(root.get("mentions"))):
        problems.append("root: mentions an entity that is not described")
    runs = [
        e for e in mentioned if "CreateAction" in _types(e) and _ids(e.get("instrument")) == main
    ]
    if kind == "release" and len(runs) != 1:
        problems.append("root: mentions no CreateAction of mainEntity (the release)")
    for run in runs:
        agents = _ids(run.get("agent"))
        if not agents or not all("Person" in _types(index.get(a, {})) for a in agents):
            problems.append(f"{run['@id']}: agent is not a described Person")
    if kind == "release":
        parts = set(_ids(root.get("hasPart")))
        if not parts:
            problems.append("root: hasPart lists no file")
        for run in runs:
            if not set(_ids(run.get("result"))) or not set(_ids(run.get("result"))) <= parts:
                problems.append(f"{run['@id']}: result is not a file in hasPart")
        phases = {a for e in mentioned for a in _ids(e.get("additionalType"))}
        for phase in ("DisclosureCheck", "SignOff"):
            if SHP + phase not in phases:
                problems.append(f"root: mentions no {phase} assessment")
    return mentioned


def _files(index: dict[str, dict[str, Any]], problems: list[str]) -> None:
    for entity_id, entity in index.items():
        if "File" not in _types(entity) or entity_id.startswith("#source-"):
            continue
        for prop in ("sha256", "contentSize", "encodingFormat"):
            if not entity.get(prop):
                problems.append(f"{entity_id}: {prop} missing")


def _dangling(index: dict[str, dict[str, Any]], problems: list[str]) -> None:
    for entity_id, entity in index.items():
        for prop, value in entity.items():
            if prop.startswith("@") or prop in ("conformsTo", "inDefinedTermSet"):
                continue
            for target in _ids(value):
                if target.startswith("#") and target not in index:
                    problems.append(f"{entity_id}: {prop} refers to {target}, not described")


def profile_problems(metadata: Any, kind: str) -> list[str]:
    """What ``metadata`` (a parsed ro-crate-metadata.json) lacks; empty when it conforms.

    ``kind`` is ``release`` (one release with its file) or ``project``."""
    if not isinstance(metadata, dict):
        return ["metadata is not a JSON object"]
    problems: list[str] = []
    _context(metadata, problems)
    index = _index(metadata, problems)
    _descriptor(index, problems)
    for entity in _root(index, kind, problems):
        if _types(entity) & _ACTIONS:
            _action(entity["@id"], entity, problems)
    _files(index, problems)
    _dangling(index, problems)
    if PROFILE not in index:
        problems.append(f"{PROFILE}: profile entity missing")
    return problems
