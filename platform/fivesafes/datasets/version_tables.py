"""Where the per-version data tables live: a fact of datasets, shared by the ingestion
that writes them, the review that samples them and the release that reads them.

On PostgreSQL they have their own schema, so the application role's rights on them are
granted apart from the governed tables; SQLite has no schemas.
"""

from __future__ import annotations

VERSION_SCHEMA = "fivesafes_versions"


def version_schema(dialect_name: str) -> str | None:
    """Where version tables live on this dialect."""
    return VERSION_SCHEMA if dialect_name == "postgresql" else None
