"""Whole-column twins of the structured value transforms, on Arrow string arrays.

Each function takes a ``pa.string()`` array without nulls (an empty cell is ``""``) and
returns either exactly what its per-cell twin gives, as
``pa.array([fn(v) if v else None for v in values.to_pylist()], pa.string())``, or ``None``
to decline. Declining is cheap and always correct: the engine then runs the twin, which
keeps its exact errors. So every fast path accepts only a shape it can prove equivalent
(strict ISO dates, ASCII text) and declines on anything else, including any value the twin
would reject: an invalid cell must reach the twin to be reported with its line number.

Why ASCII only: Python's ``\\d``, ``\\s``, ``str.strip``, ``str.split`` and ``str.upper``
are Unicode-aware and RE2's or Arrow's are not (or differently), and a non-ASCII postcode,
number or date is rare enough that the per-cell path costs nothing overall. Within ASCII,
Python's whitespace is ``\\t \\n \\v \\f \\r``, ``\\x1c``-``\\x1f`` and space (RE2's ``\\s`` lacks
``\\v`` and ``\\x1c``-``\\x1f``), so patterns here spell that class out.

Dates are parsed from the fixed-width bytes with numpy rather than ``strptime``: Arrow's
parser accepts things Python's ``date`` rejects (year 0) and is no faster.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "age_band",
    "canonical_boolean",
    "canonical_date",
    "canonical_decimal",
    "canonical_integer",
    "canonical_postcode",
    "normalise_nhs_numbers",
    "normalise_text_identifiers",
    "parse_iso_dates",
    "postcode_district",
    "postcode_sector",
    "shift_dates",
    "truncate_to_month",
    "truncate_to_year",
]

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]

#: What ``str.isspace()`` (and so ``\s``, ``strip()``, ``split()``) means on ASCII.
_WS_CHARS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
_WS = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"
_SPACE, _HYPHEN, _TAB = 0x20, 0x2D, 0x09

_OUTWARD = r"[A-Za-z]{1,2}[0-9][0-9A-Za-z]?"
_INWARD = r"[0-9][A-Za-z]{2}"
_GIR = rf"[Gg][Ii][Rr]{_WS}*0[Aa]{{2}}"
#: ``transforms._POSTCODE`` as a whole-string RE2 match (RE2's ``$`` is Python's ``\Z``).
_FULL_POSTCODE = rf"^{_WS}*(?:{_OUTWARD}{_WS}*{_INWARD}|{_GIR}){_WS}*$"
#: ``_POSTCODE`` or ``_OUTWARD``: what ``postcode_district`` accepts.
_DISTRICT_INPUT = rf"^{_WS}*(?:{_OUTWARD}(?:{_WS}*{_INWARD})?|{_GIR}){_WS}*$"
#: ``transforms._INTEGER`` around ``strip()``; at most 18 digits so int64 is exact.
_INTEGER = rf"^{_WS}*[+-]?[0-9]{{1,18}}{_WS}*$"
#: ``transforms._DECIMAL``, matched after stripping.
_DECIMAL = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"

_BOOLEAN_SPELLINGS = ("true", "t", "yes", "y", "1", "false", "f", "no", "n", "0")


@cache
def _boolean_arrays() -> tuple[pa.StringArray, pa.StringArray]:
    """The spellings and what each means, built on first use: any Arrow array built at
    import time makes pyarrow import pandas, which the local engine never needs loaded."""
    spellings = pa.array(_BOOLEAN_SPELLINGS, pa.string())
    return spellings, pa.array(["true"] * 5 + ["false"] * 5, pa.string())


_DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9]
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
_EPOCH_SHIFT = 719_468  # days from 0000-03-01 to 1970-01-01 (proleptic Gregorian)
_MIN_DAY = date(1, 1, 1).toordinal() - date(1970, 1, 1).toordinal()
_MAX_DAY = date(9999, 12, 31).toordinal() - date(1970, 1, 1).toordinal()
_NHS_WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)


class _Dates(NamedTuple):
    """A strict-ISO column's non-empty cells: their bytes (k x 10) and parts."""

    rows: Bytes
    year: Ints
    month: Ints
    day: Ints
    nonempty: Bools


# ---------------------------------------------------------------- Arrow plumbing


def _usable(values: pa.Array) -> bool:
    """Only the documented input: anything else goes to the twin unexamined."""
    return (
        isinstance(values, pa.StringArray) and values.type == pa.string() and values.null_count == 0
    )


def _offsets(values: pa.StringArray) -> npt.NDArray[np.int32]:
    buffer = values.buffers()[1]
    if buffer is None:
        return np.zeros(len(values) + 1, np.int32)
    return np.frombuffer(buffer, np.int32, count=len(values) + 1, offset=values.offset * 4)


def _data(values: pa.StringArray) -> Bytes:
    """The bytes of every cell, end to end (a view: nothing is copied)."""
    buffer = values.buffers()[2]
    if buffer is None:
        return np.zeros(0, np.uint8)
    offsets = _offsets(values)
    return np.frombuffer(buffer, np.uint8)[offsets[0] : offsets[-1]]


def _nonempty(values: pa.StringArray) -> Bools:
    nonempty: Bools = np.diff(_offsets(values)) != 0
    return nonempty


def _all_ascii(values: pa.StringArray) -> bool:
    return not bool(np.any(_data(values) >= 0x80))


def _validity(nonempty: Bools) -> tuple[pa.Buffer | None, int]:
    nulls = len(nonempty) - int(np.count_nonzero(nonempty))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(nonempty, bitorder="little")), nulls


def _null_empties(values: pa.StringArray, nonempty: Bools) -> pa.StringArray:
    """``values`` with the empty cells as nulls, reusing its buffers where it can."""
    validity, nulls = _validity(nonempty)
    if nulls == 0:
        return values
    if values.offset != 0:
        return pc.if_else(pa.array(nonempty), values, pa.scalar(None, pa.string()))
    data = values.buffers()[2] or pa.py_buffer(b"")
    return pa.StringArray.from_buffers(len(values), values.buffers()[1], data, validity, nulls)


def _from_rows(rows: Bytes, nonempty: Bools) -> pa.StringArray:
    """Fixed-width cells (one row of bytes each) at the non-empty places, nulls elsewhere."""
    width = rows.shape[1]
    offsets = np.zeros(len(nonempty) + 1, np.int32)
    np.cumsum(nonempty, dtype=np.int32, out=offsets[1:])
    offsets *= width
    validity, nulls = _validity(nonempty)
    data = pa.py_buffer(np.ascontiguousarray(rows))
    return pa.StringArray.from_buffers(len(nonempty), pa.py_buffer(offsets), data, validity, nulls)


def _fixed_rows(values: pa.StringArray, width: int) -> tuple[Bytes, Bools] | None:
    """The non-empty cells as a k x ``width`` byte matrix, if all are ``width`` bytes."""
    lengths = np.diff(_offsets(values))
    nonempty = lengths != 0
    if not np.all((lengths == width) | ~nonempty):
        return None
    return _data(values).reshape(-1, width), nonempty


def _all_nulls(count: int) -> pa.StringArray:
    return pa.nulls(count, pa.string())


# ---------------------------------------------------------------- dates


def _iso(values: pa.StringArray) -> _Dates | None:
    """The parts of a column whose every non-empty cell is a real ``YYYY-MM-DD`` date."""
    if not _usable(values):
        return None
    fixed = _fixed_rows(values, 10)
    if fixed is None:
        return None
    rows, nonempty = fixed
    if not (np.all(rows[:, 4] == _HYPHEN) and np.all(rows[:, 7] == _HYPHEN)):
        return None
    digits = rows - np.uint8(48)  # wraps below '0', so one test catches every non-digit
    if not np.all(digits[:, _DATE_DIGITS] <= 9):
        return None
    d = digits.astype(np.int64)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 5] * 10 + d[:, 6]
    day = d[:, 8] * 10 + d[:, 9]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    last = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    if not np.all(month_ok & (year >= 1) & (day >= 1) & (day <= last)):
        return None
    return _Dates(rows, year, month, day, nonempty)


def _days(dates: _Dates) -> Ints:
    """Days since 1970-01-01 (H. Hinnant's days_from_civil; years here are >= 1)."""
    year = dates.year - (dates.month <= 2)
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * ((dates.month + 9) % 12) + 2) // 5 + dates.day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    result: Ints = era * 146_097 + day_of_era - _EPOCH_SHIFT
    return result


def _iso_rows(days: Ints) -> Bytes:
    """``YYYY-MM-DD`` bytes of day numbers within 0001-01-01..9999-12-31 (civil_from_days)."""
    z = days + _EPOCH_SHIFT
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    rows = np.empty((len(days), 10), np.uint8)
    for column, part, scale in (
        (0, year, 1000),
        (1, year, 100),
        (2, year, 10),
        (3, year, 1),
        (5, month, 10),
        (6, month, 1),
        (8, day, 10),
        (9, day, 1),
    ):
        rows[:, column] = part // scale % 10 + 48
    rows[:, 4] = rows[:, 7] = _HYPHEN
    return rows


def parse_iso_dates(values: pa.StringArray) -> pa.Date32Array | None:
    """The dates of a strict-ISO column, null where a cell is empty; None otherwise."""
    dates = _iso(values)
    if dates is None:
        return None
    days = np.zeros(len(values), np.int32)
    days[dates.nonempty] = _days(dates)
    validity, nulls = _validity(dates.nonempty)
    return pa.Array.from_buffers(pa.date32(), len(values), [validity, pa.py_buffer(days)], nulls)


def canonical_date(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of ``t.canonical_date``: a valid strict-ISO cell is already its own ISO form."""
    dates = _iso(values)
    return None if dates is None else _null_empties(values, dates.nonempty)


def truncate_to_month(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of ``t.truncate_to_month`` for strict-ISO columns: the first 7 bytes."""
    dates = _iso(values)
    return None if dates is None else _from_rows(dates.rows[:, :7], dates.nonempty)


def truncate_to_year(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of ``t.truncate_to_year`` for strict-ISO columns: the first 4 bytes."""
    dates = _iso(values)
    return None if dates is None else _from_rows(dates.rows[:, :4], dates.nonempty)


def shift_dates(values: pa.StringArray, offsets: pa.Int32Array) -> pa.StringArray | None:
    """Twin of ``t.shift_date`` row by row; declines on a date with no offset (TypeError)."""
    if not isinstance(offsets, pa.Array) or len(offsets) != len(values):
        return None
    if not pa.types.is_signed_integer(offsets.type):
        return None
    dates = _iso(values)
    if dates is None:
        return None
    nonempty = dates.nonempty
    if offsets.null_count:
        if np.any(nonempty & offsets.is_null().to_numpy(zero_copy_only=False)):
            return None
        offsets = offsets.fill_null(0)
    moved = offsets.to_numpy(zero_copy_only=False).astype(np.int64)[nonempty]
    if moved.size and int(np.abs(moved).max()) > _MAX_DAY - _MIN_DAY:
        return None  # the twin overflows (OverflowError); also keeps int64 sums exact
    days = _days(dates) + moved
    if days.size and (int(days.min()) < _MIN_DAY or int(days.max()) > _MAX_DAY):
        return None
    return _from_rows(_iso_rows(days), nonempty)


def _band_text(age: int, width: int, top_code: int | None) -> str:
    """``AgeBander._band`` after the age: kept beside it so the two read alike."""
    if top_code is not None and age >= top_code:
        return f"{top_code}+"
    low = age - age % width
    return f"{low}-{low + width - 1}" if width > 1 else str(low)


def age_band(
    values: pa.StringArray, reference: date, width: int, top_code: int | None
) -> pa.StringArray | None:
    """Twin of ``t.AgeBander(reference, width, top_code)``: a table of bands by age, taken.

    Ages at or over the top code all band alike, so they are clipped to it first: the
    table then spans only the ages present below it (about a hundred strings).
    """
    if width < 1:
        raise ValueError("band width must be at least 1")
    dates = _iso(values)
    if dates is None:
        return None
    later = dates.month * 100 + dates.day > reference.month * 100 + reference.day
    ages = reference.year - dates.year - later
    if not ages.size:
        return _all_nulls(len(values))
    if int(ages.min()) < 0:
        return None  # born after the reference date: the twin raises
    if top_code is not None:
        ages = np.minimum(ages, top_code)
    low, high = int(ages.min()), int(ages.max())
    table = pa.array([_band_text(a, width, top_code) for a in range(low, high + 1)], pa.string())
    index = np.zeros(len(values), np.int32)
    index[dates.nonempty] = ages - low
    validity, nulls = _validity(dates.nonempty)
    indices = pa.Array.from_buffers(pa.int32(), len(values), [validity, pa.py_buffer(index)], nulls)
    return pc.take(table, indices)


# ---------------------------------------------------------------- postcodes


def _all_match(values: pa.StringArray, pattern: str, nonempty: Bools) -> bool:
    """Whether every non-empty cell matches (empty cells never do: they are not counted)."""
    matched = pc.match_substring_regex(values, pattern)
    return int(pc.sum(matched).as_py() or 0) == int(np.count_nonzero(nonempty))


def _compact_upper(values: pa.StringArray, pattern: str) -> tuple[pa.StringArray, Bools] | None:
    """Upper-cased cells with every whitespace removed, once all match ``pattern``."""
    if not (_usable(values) and _all_ascii(values)):
        return None
    nonempty = _nonempty(values)
    if not _all_match(values, pattern, nonempty):
        return None
    data = _data(values)
    compact = values
    if np.any(data < 0x20):  # tabs, newlines and the rest of Python's \s
        compact = pc.replace_substring_regex(compact, f"{_WS}+", "")
    elif np.any(data == _SPACE):
        compact = pc.replace_substring(compact, " ", "")
    return pc.ascii_upper(compact), nonempty


def canonical_postcode(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of ``t.canonical_postcode``: outward, one space, inward (the last three)."""
    found = _compact_upper(values, _FULL_POSTCODE)
    if found is None:
        return None
    compact, nonempty = found
    slice_ = pc.utf8_slice_codeunits
    joined = pc.binary_join_element_wise(slice_(compact, 0, -3), slice_(compact, -3), " ")
    return _null_empties(joined, nonempty)


def postcode_sector(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of ``t.postcode_sector``: outward, one space, the first inward digit."""
    found = _compact_upper(values, _FULL_POSTCODE)
    if found is None:
        return None
    compact, nonempty = found
    slice_ = pc.utf8_slice_codeunits
    joined = pc.binary_join_element_wise(slice_(compact, 0, -3), slice_(compact, -3, -2), " ")
    return _null_empties(joined, nonempty)


def postcode_district(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of ``t.postcode_district``: full postcodes lose their inward code.

    A full postcode has at least five characters without spaces and an outward code at
    most four, so length alone says which of the two a (matching) cell is.
    """
    found = _compact_upper(values, _DISTRICT_INPUT)
    if found is None:
        return None
    compact, nonempty = found
    full = pc.greater_equal(pc.binary_length(compact), 5)
    district = pc.if_else(full, pc.utf8_slice_codeunits(compact, 0, -3), compact)
    return _null_empties(district, nonempty)


# ---------------------------------------------------------------- numbers, booleans


def _stripped(values: pa.StringArray) -> pa.StringArray:
    """``str.strip()`` of every (ASCII) cell; skipped when no cell has whitespace at all."""
    if not np.any(_data(values) <= _SPACE):
        return values
    return pc.utf8_trim(values, characters=_WS_CHARS)


def canonical_integer(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of ``t.canonical_integer`` (``str(int(v.strip()))``) for up to 18 digits."""
    if not (_usable(values) and _all_ascii(values)):
        return None
    nonempty = _nonempty(values)
    if not _all_match(values, _INTEGER, nonempty):
        return None
    signed = pc.utf8_ltrim(_stripped(values), characters="+")  # at most one, by the match
    numbers = pc.cast(_null_empties(signed, nonempty), pa.int64())
    return pc.cast(numbers, pa.string())


def canonical_decimal(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of ``t.canonical_decimal``: the stripped cell, once it is a decimal number."""
    if not (_usable(values) and _all_ascii(values)):
        return None
    nonempty = _nonempty(values)
    stripped = _stripped(values)
    if not _all_match(stripped, _DECIMAL, nonempty):
        return None
    return _null_empties(stripped, nonempty)


def canonical_boolean(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of ``t.canonical_boolean``: the usual spellings, any case, looked up at once."""
    if not (_usable(values) and _all_ascii(values)):
        return None
    nonempty = _nonempty(values)
    spellings, meanings = _boolean_arrays()
    found = pc.index_in(pc.ascii_lower(_stripped(values)), value_set=spellings)
    if found.null_count != len(values) - int(np.count_nonzero(nonempty)):
        return None  # a cell that is not a boolean (empty cells are the only misses allowed)
    return pc.take(meanings, found)


# ---------------------------------------------------------------- identifiers


def normalise_nhs_numbers(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of ``normalise_nhs_number`` per cell: strip, drop spaces/hyphens/tabs, check.

    Strip comes before the separators are dropped, as in the twin: the order matters for a
    cell like ``"-\\n9434765919"``. The check digit is one matrix product over the digits.
    """
    if not (_usable(values) and _all_ascii(values)):
        return None
    nonempty = _nonempty(values)
    digits = values
    fixed = _fixed_rows(values, 10)
    if fixed is None or not np.all(fixed[0] - np.uint8(48) <= 9):
        digits = _stripped(values)
        data = _data(digits)
        for separator, code in ((" ", _SPACE), ("-", _HYPHEN), ("\t", _TAB)):
            if np.any(data == code):
                digits = pc.replace_substring(digits, separator, "")
        fixed = _fixed_rows(digits, 10)
        if fixed is None:
            return None
    rows, kept = fixed
    if not np.array_equal(kept, nonempty):
        return None  # a non-empty cell that was only whitespace and separators
    d = rows - np.uint8(48)
    if not np.all(d <= 9):
        return None
    check = 11 - (d[:, :9].astype(np.int64) @ _NHS_WEIGHTS) % 11
    check[check == 11] = 0
    if not np.all(check == d[:, 9]):  # a check of 10 never equals a digit
        return None
    return _null_empties(digits, nonempty)


def normalise_text_identifiers(values: pa.StringArray) -> pa.StringArray | None:
    """Twin of plan's ``_normalise_text_identifier``: whitespace runs to one space, upper.

    Most columns need only the upper-casing; whitespace work runs when some cell has a
    control character, a doubled space, or a space at either end.
    """
    if not (_usable(values) and _all_ascii(values)):
        return None
    nonempty = _nonempty(values)
    offsets = _offsets(values)
    data = np.frombuffer(values.buffers()[2] or b"", np.uint8)
    starts, ends = offsets[:-1][nonempty], offsets[1:][nonempty]
    spaced = data[offsets[0] : offsets[-1]] == _SPACE
    text = values
    if (
        np.any(data[offsets[0] : offsets[-1]] < 0x20)
        or np.any(spaced[1:] & spaced[:-1])
        or np.any(data[starts] == _SPACE)
        or np.any(data[ends - 1] == _SPACE)
    ):
        text = pc.replace_substring_regex(pc.utf8_trim(text, characters=_WS_CHARS), f"{_WS}+", " ")
        if not np.array_equal(_nonempty(text), nonempty):
            return None  # a cell of whitespace only: the twin says the identifier is missing
    return _null_empties(pc.ascii_upper(text), nonempty)
