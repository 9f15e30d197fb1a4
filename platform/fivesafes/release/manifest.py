"""The release manifest: the machine-readable disclosure record of one release.

Written with the release record before the first byte leaves; the SHA-256 and size of the
content delivered are only known when the stream completes, so they are stored on the
release then, and :func:`manifest_view` adds them (with the release's state) on reading.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

import fivesafes
from fivesafes.access.policy import AccessPolicy
from fivesafes.keys.store import key_id
from fivesafes.release.column_notes import column_notes
from fivesafes.release.disclosure import GateResult
from fivesafes.release.download import Download
from fivesafes.release.models import Release
from fivesafes.release.pseudonyms import ProjectPseudonyms
from fivesafes.release.query import ReleasePlan

MANIFEST_VERSION = 1


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def build_manifest(
    release_id: str,
    download: Download,
    plan: ReleasePlan,
    gate: GateResult,
    policy: AccessPolicy,
    pseudonyms: ProjectPseudonyms,
) -> dict[str, Any]:
    recipient, created_at, fmt = download.user, download.now, download.fmt.value
    grant, version = download.grant, plan.version
    report = json.loads(version.report or "{}")
    # What each column is, in the words of the grant page (release.column_notes).
    columns = [
        {"name": n.name, "type": n.type.value, "treatment": n.note, "method": n.method}
        for n in column_notes(plan)
    ]
    shifted = [c.name for c in plan.columns if c.treatment == "project_date_shift"]
    return {
        "manifest_version": MANIFEST_VERSION,
        "release_id": release_id,
        "created_at": created_at.isoformat(),
        "format": fmt,
        "recipient": {"user_id": str(recipient.id), "username": recipient.username},
        "grant": {
            "id": grant.id,
            "request_id": grant.request_id,
            "project_id": grant.project_id,
            "expires_at": grant.expires_at.isoformat(),
            "columns": [c.name for c in plan.columns],
            "row_filter": grant.row_filter,
            "date_granularity": plan.granularity,
        },
        "dataset": {
            "name": grant.dataset.name,
            "version": version.number,
            "version_rows": version.row_count,
            "source_sha256": version.source_sha256,
            "policy_version": version.policy_version.version,
            "policy_sha256": version.policy_version.content_sha256,
        },
        "access_policy": {
            "version": policy.version,
            "release": policy.release.model_dump(mode="json"),
        },
        "columns": columns,
        "pseudonyms": {
            "scheme": "AES-256 keyed permutation of the stored 128-bit pseudonym (brought "
            "to the project's pseudonym generation) under HKDF(that generation's key, "
            "'project', project id), in hex",
            "pseudonym_generation": pseudonyms.generations.project,
            "project_key_id": key_id(pseudonyms.key),
            "stable_across": "downloads and dataset versions of this project",
        },
        "date_shift": (
            {"columns": shifted, "per": "patient and project", "max_days": pseudonyms.max_days}
            if shifted
            else None
        ),
        "opt_out": {
            "applied_at_ingestion": not plan.opt_out_flagged,
            "flagged_rows_excluded_here": plan.opt_out_flagged,
        },
        "disclosure": gate.as_manifest(),
        "rows_released": gate.rows_released,
        "row_order": "shuffled",
        "content": {
            "sha256": None,
            "bytes": None,
            "note": "SHA-256 of the bytes delivered, computed while streaming and recorded "
            "on the release when the stream completes; GET /releases/{id}/manifest "
            "returns them once known",
        },
        "software": {
            "platform": f"fivesafes {fivesafes.__version__}",
            "pyarrow": _version("pyarrow"),
            "sqlalchemy": _version("sqlalchemy"),
            "deidentification": report.get("versions"),
        },
    }


def manifest_view(release: Release) -> dict[str, Any]:
    """The stored manifest with what the stream completion recorded."""
    manifest: dict[str, Any] = json.loads(release.manifest)
    manifest["state"] = release.state
    manifest["content"] = {
        **manifest.get("content", {}),
        "sha256": release.content_sha256,
        "bytes": release.byte_count,
        "completed_at": release.completed_at.isoformat() if release.completed_at else None,
    }
    return manifest
