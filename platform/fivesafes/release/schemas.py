"""API views of releases."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

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
