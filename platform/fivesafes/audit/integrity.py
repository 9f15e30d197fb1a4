"""Checking the chain and signing its head, as governance officers and operators do it.

Both are on the trail themselves: a verification records what it found (so a damaged
chain seen and not reported is visible later), a checkpoint records the head it signed.
The API, the web pages and the CLI come through here so each records the same event.
:mod:`fivesafes.audit.verification` and :mod:`fivesafes.audit.signing` are the checks
alone.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from fivesafes.audit.checkpoints import Checkpoint
from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.signing import make_checkpoint
from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.verification import VerifyScope, verify_against
from fivesafes.audit.verify import VerifyResult
from fivesafes.keys.store import KeyStore


def verify(session: Session, trail: AuditTrail, scope: VerifyScope) -> VerifyResult:
    """Verify the chain (see :mod:`~fivesafes.audit.verification` for the modes) and record
    the verdict."""
    result = verify_against(session, scope)
    trail.record(
        session,
        "audit.verify",
        outcome="success",
        details={
            "ok": result.ok,
            "events": result.events_verified,
            "damage": result.damage,
            "against": scope.against,
        },
    )
    return result


def checkpoint(
    session: Session, trail: AuditTrail, keystore: KeyStore, publisher: CheckpointPublisher
) -> Checkpoint:
    """Verify since the last checkpoint, sign the head and publish it; record the checkpoint.

    Signed before this call appends its own event, so the head signed is a committed one
    (see :mod:`fivesafes.audit.signing`). 409 (``ChainDamagedError``) if damaged.
    """
    made = make_checkpoint(session, keystore, publisher)
    trail.record(session, "audit.checkpoint", details={"seq": made.seq})
    return made
