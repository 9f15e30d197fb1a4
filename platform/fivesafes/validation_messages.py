"""One wording for "this input is invalid", wherever it is shown.

FastAPI's ``RequestValidationError`` and pydantic's ``ValidationError`` both report a list
of problems, each with a location (``("body", "columns", 0)``) and a message. The API's
error body, the web forms and the CLI all say them the same way, ``location: message``,
through this module; it depends on nothing but the shape of those lists (no framework),
so any entry point may use it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

#: What a problem is, as pydantic and FastAPI give it (a ``loc`` and a ``msg``).
Problem = Mapping[str, object]


def _location(problem: Problem, skip: Collection[str]) -> list[str]:
    loc = problem.get("loc", ())
    parts = loc if isinstance(loc, Sequence) and not isinstance(loc, str) else ()
    return [str(p) for p in parts if p not in skip]


def problem_messages(
    problems: Iterable[Problem],
    *,
    skip: Collection[str] = (),
    whole: str = "body",
    labels: Mapping[str, str] | None = None,
) -> list[str]:
    """``"location: message"`` for each problem.

    ``skip`` drops location parts that only say where the input came from (``body``,
    ``query``); ``whole`` names a problem with the whole input (no location left).
    ``labels`` is for forms: a problem is then named by the label of its field (the
    first part of its location), however deep inside the field it lies.
    """
    out = []
    for problem in problems:
        parts = _location(problem, skip)
        if labels is not None:
            where = labels.get(parts[0], parts[0]) if parts else whole
        else:
            where = ".".join(parts) or whole
        out.append(f"{where}: {problem.get('msg', 'invalid')}")
    return out


def describe_problems(
    problems: Iterable[Problem], *, skip: Collection[str] = (), whole: str = "body"
) -> str:
    """All problems in one line (an API error message, a CLI error)."""
    return "; ".join(problem_messages(problems, skip=skip, whole=whole)) or "invalid request"
