"""Shared types of path and query parameters, validated before any route code runs.

Ids are PostgreSQL ``integer`` columns: a number beyond 2**31 - 1 used to reach the
database and come back as a 500 (``integer out of range``). Declared here once, every
route refuses it with 422 naming the parameter, and the OpenAPI schema says the bounds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

#: The largest value of a PostgreSQL ``integer`` (the type of every serial id here).
MAX_ID = 2**31 - 1
#: The largest audit sequence number (a PostgreSQL ``bigint``).
MAX_SEQ = 2**63 - 1

#: A numeric id in the path (project, request, grant, dataset version number).
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: An optional numeric id in the query string.
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
