"""Control characters in extracts: refused, naming the file, line and column.

A NUL byte or another control character inside a cell does not occur in a clinical
record: it means the extract is corrupt (a truncated or binary file, a database dump with
padding, text in a different encoding read as Latin-1). Passing it on would put the
character into the governed store and every release, and it can hide text from people
reviewing the output. Such a file is therefore refused whatever the column's
``on_invalid`` setting: that setting is about values that fail their column's type, while
this is about the file itself.

Refused: C0 controls except TAB, LF and CR (U+0000-U+0008, U+000B, U+000C,
U+000E-U+001F), DEL (U+007F), the C1 controls (U+0080-U+009F) and lone surrogates
(U+D800-U+DFFF, which only a JSON ``\\ud800`` escape can produce). The message names the
code point, never the cell's value.

The check costs one regular-expression scan over text that has already been decoded
(a whole CSV chunk, or a column joined into one string); finding the row and column is
done only when something was found.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Every byte except the single-byte controls: deleting these leaves only controls.
_NOT_C0 = bytes(b for b in range(256) if not ((b < 0x20 and b not in b"\t\n\r") or b == 0x7F))
_C1_UTF8 = re.compile(b"\xc2[\x80-\x9f]")  # U+0080-U+009F encoded in UTF-8


def find_control(text: str) -> int:
    """Index of the first refused character in ``text``, or -1 (one C-speed scan)."""
    match = _CONTROL.search(text)
    return -1 if match is None else match.start()


def may_hold_control(data: bytes, text: str, encoding: str) -> bool:
    """Whether decoded CSV ``text`` (from ``data``) may hold a refused character.

    For UTF-8, the raw bytes are checked instead of the text, ten times faster than the
    regular expression over ``str`` (about 3 ms per MB, as much as decoding): C0 controls
    and DEL are single bytes in any ASCII-compatible encoding, C1 controls are ``C2 80`` to
    ``C2 9F``, and strict decoding has already refused surrogates. Other encodings scan
    the text. ``True`` only means "look closer" for UTF-8 (the caller then locates it).
    """
    if codecs.lookup(encoding).name == "utf-8":
        return bool(data.translate(None, _NOT_C0)) or _C1_UTF8.search(data) is not None
    return find_control(text) >= 0


def control_reason(char: str) -> str:
    """Why a cell is refused, naming the character's code point (never the cell)."""
    code = ord(char)
    name = "NUL" if code == 0 else ("surrogate" if 0xD800 <= code <= 0xDFFF else "control")
    hint = (
        "; if the file is Windows-1252, name that encoding in the policy "
        "(input: {encoding: cp1252})"
        if 0x80 <= code <= 0x9F
        else ""
    )
    return (
        f"{name} character U+{code:04X} in the data (control characters other than tab "
        f"and line breaks mean a corrupt extract){hint}"
    )


def first_control_in_column(values: Sequence[str | None]) -> tuple[int, str] | None:
    """``(row, character)`` of the first refused character in a column, or ``None``.

    The column is joined and scanned once; rows are looked at only after a hit.
    """
    if find_control("".join([v for v in values if v])) < 0:
        return None
    for row, value in enumerate(values):
        if value and (at := find_control(value)) >= 0:
            return row, value[at]
    return None  # pragma: no cover - the joined scan found something in some value


def first_control_in_rows(rows: Sequence[Sequence[str]]) -> tuple[int, int, str] | None:
    """``(row, field, character)`` of the first refused character in parsed rows."""
    for row, fields in enumerate(rows):
        for index, value in enumerate(fields):
            if (at := find_control(value)) >= 0:
                return row, index, value[at]
    return None
