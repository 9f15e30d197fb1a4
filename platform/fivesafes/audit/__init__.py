"""Safe settings: the append-only, hash-chained audit trail.

Every service records through its :class:`~fivesafes.audit.trail.AuditTrail`
(``trail.record(session, "action", ...)``), which hands an
:class:`~fivesafes.audit.entry.AuditEntry` to the recorder inside the same transaction as
the action it records, so the two commit or roll back together. Reading, verifying and
checkpointing the trail are use cases of their own (:mod:`~fivesafes.audit.review`,
:mod:`~fivesafes.audit.integrity`): they are audited too.
"""
