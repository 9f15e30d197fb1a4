"""Describing text from an extract without quoting it: shapes instead of values.

An error must let an uploader find and fix a problem without the platform ever storing,
logging or showing a patient's identifier. Cell values are therefore never quoted; at
most their *shape* is given ("10 digits", "looks like a date", "text of 14 characters"),
which says enough to recognise the mistake (a data row read as the header, a value in the
wrong column) and nothing about the person.

Header names are structure, not data, but only when the header really is a header: a
file without its header row makes the first patient's values the "column names". So a
header name is shown only when it is safe by construction: a name the policy declares,
or a close match to one (a typo such as ``date_of_brith``) that also has the form of a
column name, or a snake_case name with an underscore (``gp_name``): no NHS number, person's
name, date, postcode, email or note has that form. Anything else is described by its
position and shape.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection

#: What a column name may look like to be shown at all (letters, digits, _ and spaces).
_NAME_FORM = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]{0,63}")
#: A snake_case name with at least one underscore: the form of a column, not of a value.
_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_DATE = re.compile(
    r"\d{1,4}[-/. ]\d{1,2}[-/. ]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?"
    r"|\d{1,2} [A-Za-z]{3,9} \d{2,4}"
)
_POSTCODE = re.compile(r"[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_NUMBERISH = re.compile(r"[\d\s()+\-.]+")
#: Similarity a header name needs to a declared name to count as a typo of it.
CLOSE_MATCH = 0.8


def value_shape(text: str) -> str:
    """A redacted description of ``text``: its kind and length, never its characters."""
    stripped = text.strip()
    if not stripped:
        return "blank" if text else "empty"
    if stripped.startswith("{") or stripped.startswith("["):
        return f"JSON-like text of {_count(len(stripped), 'character')}"
    if _EMAIL.fullmatch(stripped):
        return "looks like an email address"
    if _DATE.fullmatch(stripped):
        return "looks like a date"
    if _POSTCODE.fullmatch(stripped):
        return "looks like a postcode"
    digits = sum(ch.isdigit() for ch in stripped)
    if digits and _NUMBERISH.fullmatch(stripped):
        return _count(digits, "digit")
    length = _count(len(stripped), "character")
    if digits:
        return f"text of {length} with {_count(digits, 'digit')}"
    words = len(stripped.split())
    if words > 1:
        return f"text of {length} in {words} words"
    return f"text of {length}"


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


def close_match(name: str, declared: Collection[str]) -> str | None:
    """The declared column ``name`` is most likely a typo of, or None."""
    if not _NAME_FORM.fullmatch(name):
        return None
    found = difflib.get_close_matches(name, list(declared), n=1, cutoff=CLOSE_MATCH)
    if not found:
        lowered = {d.lower(): d for d in declared}
        return lowered.get(name.strip().lower())
    return found[0]


def safe_header_name(name: str, declared: Collection[str]) -> str | None:
    """``name`` if it may be shown (declared, or a column-shaped typo of one), else None."""
    if name in declared:
        return name
    if close_match(name, declared) is not None:
        return name
    if len(name) <= 64 and _SNAKE.fullmatch(name):
        return name
    return None


def describe_header_field(index: int, name: str, declared: Collection[str]) -> str:
    """How an error names header field ``index`` (0-based): its text only when safe."""
    shown = safe_header_name(name, declared)
    if shown is not None and (typo := close_match(name, declared)) not in (None, name):
        return f"{shown!r} (field {index + 1}; did you mean {typo!r}?)"
    if shown is not None:
        return f"{shown!r} (field {index + 1})"
    return f"field {index + 1} ({value_shape(name)})"
