"""API views of releases."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from fivesafes.column_kinds import ColumnKind
from fivesafes.release.column_notes import METHODS
from fivesafes.release.models import ReleaseFormat, ReleaseState


class ReleaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    grant_id: int
    project_id: int
    user_id: uuid.UUID
    file_format: ReleaseFormat
    state: ReleaseState
    row_count: int
    rows_suppressed: int
    content_sha256: str | None
    byte_count: int | None
    created_at: datetime
    completed_at: datetime | None


class ColumnNoteOut(BaseModel):
    """What one released column is (``release.column_notes``: the grant page and every
    manifest say the same)."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    type: ColumnKind = Field(description="The column's type as released")
    method: str = Field(
        description="How it was made, a stable code: " + ", ".join(METHODS),
        examples=["date_shift"],
    )
    note: str = Field(description="The same, in plain words")
    description: str | None = Field(description="The dataset policy's own description")
    disclosure: str | None = Field(
        description="How the disclosure gate treats it (quasi-identifiers only)"
    )
