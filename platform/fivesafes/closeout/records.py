"""Attestations as JSON-able records, for the project's RO-Crate and for exports.

Usernames, not user ids, name the submitter and reviewer: the crate is read by people
outside the platform, and a username is what the platform shows them elsewhere.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.closeout.models import AttestationState, DestructionAttestation


def attestation_record(a: DestructionAttestation) -> dict[str, Any]:
    """One attestation: what was attested, its hash, who submitted and who reviewed it."""
    copies = json.loads(a.copies)
    return {
        "id": a.id,
        "release_id": str(a.release_id),
        "destroyed_by": a.destroyed_by,
        "destroyed_on": a.destroyed_on.isoformat(),
        "method": a.method,
        "copies": [str(c) for c in copies],
        "declaration": a.declaration,
        "signed_name": a.signed_name,
        "content_sha256": a.content_sha256,
        "submitted_by": a.submitter.username,
        "submitted_at": a.submitted_at.isoformat(),
        "state": a.state.value,
        "reviewed_by": a.reviewer.username if a.reviewer is not None else None,
        "reviewed_at": a.reviewed_at.isoformat() if a.reviewed_at is not None else None,
    }


def accepted_attestations(
    session: Session, project_id: int, release_id: uuid.UUID | None = None
) -> list[DestructionAttestation]:
    """The project's accepted attestations (of one release, if given), oldest first."""
    query = select(DestructionAttestation).where(
        DestructionAttestation.project_id == project_id,
        DestructionAttestation.state == AttestationState.ACCEPTED,
    )
    if release_id is not None:
        query = query.where(DestructionAttestation.release_id == release_id)
    return list(session.scalars(query.order_by(DestructionAttestation.id)))
