"""Start-up recovery: what a dead process left unfinished can never finish.

An upload's spool key lives only in the memory of the process that accepted it, so when
that process is gone every upload it left ``queued`` or ``running`` is unreadable: it is
failed (audited, the uploader told to upload again), the data tables no version points at
are dropped, and the spool files deleted. While the server runs, the watchdog
(:mod:`fivesafes.ingestion.watchdog`) does the same for single orphaned uploads.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.models import DatasetVersion, Upload
from fivesafes.db import session_scope
from fivesafes.ingestion import storage
from fivesafes.ingestion.failures import fail_upload
from fivesafes.ingestion.leases import UNFINISHED
from fivesafes.ingestion.spool import remove_orphans

INTERRUPTED = "interrupted: the server stopped before this upload finished; upload it again"


def recover_interrupted(session_factory: sessionmaker[Session], spool_dir: Path) -> int:
    """At start-up: fail uploads a dead process left queued or running; drop their tables.

    Returns how many uploads were marked failed.
    """
    errors = [{"code": "interrupted", "message": INTERRUPTED}]
    with session_scope(session_factory) as session:
        stuck = list(session.scalars(select(Upload.id).where(Upload.state.in_(UNFINISHED))))
        failed = sum(
            fail_upload(session, upload_id, errors, AuditTrail.for_operator())
            for upload_id in stuck
        )
        referenced = set(session.scalars(select(DatasetVersion.table_name)))
    engine = session_factory.kw["bind"]
    names = [n for n in storage.version_table_names(engine) if n not in referenced]
    if names:
        with engine.begin() as connection:
            for name in names:
                storage.drop_table(connection, name)
    remove_orphans(spool_dir)
    return failed
