"""Safe settings: the append-only, hash-chained audit trail.

Every service records through :func:`fivesafes.audit.recorder.record`, inside the same
transaction as the action it records, so the two commit or roll back together.
"""
