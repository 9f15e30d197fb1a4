"""Text the database cannot store is refused at the door, on every route.

PostgreSQL's ``text`` cannot hold a NUL character: a NUL in a path, a query string, a JSON
field or a form field used to reach the database and come back as a 500 (``DataError``).
SQLite would store it, and a value that differs by an invisible NUL is a confusion
waiting to happen either way. This dependency (installed on the whole app) answers 422
naming where the NUL was, never the value. The upload's body is not read here: it is a
file, streamed to the encrypted spool, and its cells are checked by the readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qsl

from starlette.requests import Request

from fivesafes.errors import InvalidInputError

NUL = "\x00"
#: Routes whose body is a file, never parsed as text here.
FILE_ROUTES = frozenset({"upload.create"})


class NulCharacterError(InvalidInputError):
    code = "invalid_text"

    def __init__(self, where: str) -> None:
        super().__init__(f"{where[:100]}: text may not contain NUL (\\x00) characters")


def _strings(value: object, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a decoded JSON document (keys too), with where it sits."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", str(key)
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


async def reject_nul(request: Request) -> None:
    """422 if the path, query string or a text body holds a NUL character."""
    for name, value in request.path_params.items():
        if NUL in str(value):
            raise NulCharacterError(f"path.{name}")
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            raise NulCharacterError(f"query.{name.replace(NUL, '?')}")
    route = request.scope.get("route")
    if request.method in ("GET", "HEAD", "OPTIONS") or getattr(route, "name", None) in FILE_ROUTES:
        return
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in ("application/json", "application/x-www-form-urlencoded"):
        return
    body = await request.body()  # already read (and capped) for the route's own parsing
    if kind == "application/x-www-form-urlencoded":
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            if NUL in name or NUL in value:
                raise NulCharacterError(f"form.{name.replace(NUL, '?')}")
        return
    try:
        document = json.loads(body) if body else None
    except ValueError:
        return  # the route's own parsing refuses it, naming the problem
    for where, text in _strings(document, "body"):
        if NUL in text:
            raise NulCharacterError(where.replace(NUL, "?"))
