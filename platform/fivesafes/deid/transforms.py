"""Pure, fast value transforms for structured columns.

The engine applies these column by column over hundreds of thousands of rows a second,
so parsing avoids ``strptime`` (a regex and ``int`` are several times faster) and caches
results where values repeat (dates of birth, admission dates). Every failure raises
:class:`InvalidValueError` with a reason that never repeats the value: it may be an identifier.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from functools import lru_cache

import numpy as np
import pyarrow as pa

from fivesafes.keys.batch_hmac import BatchHmacSha256, leading_uint64
from fivesafes.keys.derivation import derive_key
from fivesafes.keys.pseudonym import HmacSha256


class InvalidValueError(ValueError):
    """A cell that does not fit its declared type; the message is safe to show."""


_CACHE = 4096  # per function; bounded so memory does not grow with input size
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?")
_UK_DATE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?")
_UK_DATETIME = re.compile(
    r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})[T ](\d{1,2}):(\d{2})(?::(\d{2}))?"
)
#: Two-digit years at or below this are 20xx, above it 19xx (fixed, so output is stable).
TWO_DIGIT_YEAR_PIVOT = date.today().year % 100


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year <= TWO_DIGIT_YEAR_PIVOT else 1900
    return year


@lru_cache(maxsize=_CACHE)
def parse_date(text: str) -> date:
    """A date in ISO (2024-03-12) or UK day-first form (12/03/2024, 12-03-24, 12.3.2024)."""
    value = text.strip()
    try:
        match = _ISO_DATE.fullmatch(value)
        if match is not None:
            return date(int(match[1]), int(match[2]), int(match[3]))
        match = _UK_DATE.fullmatch(value)
        if match is not None:
            return date(_year(match[4]), int(match[3]), int(match[1]))
    except ValueError:
        raise InvalidValueError("not a valid calendar date") from None
    raise InvalidValueError("not a date in a recognised format (YYYY-MM-DD or DD/MM/YYYY)")


def parse_datetime(text: str) -> datetime:
    """A date and time in ISO form or UK day-first form (12/03/2024 14:05[:30])."""
    value = text.strip()
    try:
        if _ISO_DATETIME.match(value):
            return datetime.fromisoformat(value)
        match = _UK_DATETIME.fullmatch(value)
        if match is not None:
            return datetime(
                _year(match[4]),
                int(match[3]),
                int(match[1]),
                int(match[5]),
                int(match[6]),
                int(match[7] or 0),
            )
        return datetime.combine(parse_date(value), datetime.min.time())
    except InvalidValueError:
        pass
    except ValueError:
        raise InvalidValueError("not a valid date and time") from None
    raise InvalidValueError("not a date-time in a recognised format (YYYY-MM-DD HH:MM[:SS])")


@lru_cache(maxsize=_CACHE)
def canonical_date(text: str) -> str:
    """The ISO form of a date given in any accepted form."""
    return parse_date(text).isoformat()


def canonical_datetime(text: str) -> str:
    """The ISO form (``YYYY-MM-DDTHH:MM:SS``) of a date-time given in any accepted form."""
    return parse_datetime(text).isoformat(timespec="seconds")


class DateShifter:
    """Per-patient date offsets derived from a key: consistent within a patient, never stored.

    The offset is HMAC(date-shift key, normalised patient id) mapped onto
    [-max_days, -1] U [1, max_days]: never zero, so no patient's dates stay unshifted, and
    intervals between one patient's dates are preserved exactly. It pickles as its slots
    (the derived key's HMAC and ``max_days``): worker processes never receive the master.
    """

    __slots__ = ("_batch", "_mac", "max_days")

    def __init__(self, master: bytes, max_days: int) -> None:
        if max_days < 1:
            raise ValueError("max_days must be at least 1")
        key = derive_key(master, "date_shift")
        self._mac = HmacSha256(key)
        self._batch = BatchHmacSha256(key)
        self.max_days = max_days

    def offset(self, patient_key: str) -> int:
        """The offset in days for one patient (normalised identifier)."""
        digest = self._mac.digest(patient_key.encode("utf-8"))
        value = int.from_bytes(digest[:8], "big") % (2 * self.max_days)
        return value - self.max_days if value < self.max_days else value - self.max_days + 1

    def offsets_array(self, patient_keys: pa.StringArray) -> pa.Int32Array:
        """:meth:`offset` of a whole column of patient keys at once (null stays null)."""
        digests = self._batch.digests(patient_keys)
        span = np.uint64(2 * self.max_days)
        value = (leading_uint64(digests) % span).astype(np.int64) - self.max_days
        shifted = np.where(value < 0, value, value + 1).astype(np.int32)
        mask = digests.is_null().to_numpy(zero_copy_only=False) if digests.null_count else None
        return pa.array(shifted, pa.int32(), mask=mask)


_DAYS = [timedelta(days=n) for n in range(-3660, 3661)]


def _delta(days: int) -> timedelta:
    return _DAYS[days + 3660] if -3660 <= days <= 3660 else timedelta(days=days)


def shift_date(text: str, offset: int) -> str:
    """``text`` (any accepted date form) moved by ``offset`` days, in ISO form."""
    return (parse_date(text) + _delta(offset)).isoformat()


def shift_datetime(text: str, offset: int) -> str:
    """``text`` (any accepted date-time form) moved by ``offset`` days, time kept."""
    return (parse_datetime(text) + _delta(offset)).isoformat(timespec="seconds")


@lru_cache(maxsize=_CACHE)
def truncate_to_month(text: str) -> str:
    """``YYYY-MM`` of a date or date-time."""
    parsed = parse_date(text) if len(text) <= 10 else parse_datetime(text)
    return f"{parsed.year:04d}-{parsed.month:02d}"


@lru_cache(maxsize=_CACHE)
def truncate_to_year(text: str) -> str:
    """``YYYY`` of a date or date-time (also: date of birth to year)."""
    parsed = parse_date(text) if len(text) <= 10 else parse_datetime(text)
    return f"{parsed.year:04d}"


class AgeBander:
    """Date of birth to an age band at a fixed reference date (``40-44``, top-coded ``90+``).

    A fixed reference date (from the policy) keeps output reproducible: the same extract
    de-identified next year gives the same bands.
    """

    def __init__(self, reference: date, width: int, top_code: int | None = None) -> None:
        if width < 1:
            raise ValueError("band width must be at least 1")
        self.reference = reference
        self.width = width
        self.top_code = top_code
        self._cached = lru_cache(maxsize=_CACHE)(self._band)

    def age(self, born: date) -> int:
        """Completed years at the reference date."""
        ref = self.reference
        return ref.year - born.year - ((ref.month, ref.day) < (born.month, born.day))

    def _band(self, text: str) -> str:
        age = self.age(parse_date(text))
        if age < 0:
            raise InvalidValueError("date of birth is after the policy's reference date")
        if self.top_code is not None and age >= self.top_code:
            return f"{self.top_code}+"
        low = age - age % self.width
        return f"{low}-{low + self.width - 1}" if self.width > 1 else str(low)

    def __call__(self, text: str) -> str:
        return self._cached(text)

    def __reduce__(self) -> tuple[object, ...]:
        return (AgeBander, (self.reference, self.width, self.top_code))


# Outward code: area (1-2 letters) + district (digit + optional digit/letter); inward: digit
# + two letters. GIR 0AA is the one historic exception. Any case, any spacing.
_POSTCODE = re.compile(
    r"\s*(?:([A-Za-z]{1,2}[0-9][0-9A-Za-z]?)\s*([0-9][A-Za-z]{2})|([Gg][Ii][Rr])\s*(0[Aa]{2}))\s*"
)
_OUTWARD = re.compile(r"\s*([A-Za-z]{1,2}[0-9][0-9A-Za-z]?)\s*")


def split_postcode(text: str) -> tuple[str, str]:
    """(outward, inward) of a UK postcode in any case, with or without its space."""
    match = _POSTCODE.fullmatch(text)
    if match is None:
        raise InvalidValueError("not a UK postcode")
    if match[1]:
        return match[1].upper(), match[2].upper()
    return match[3].upper(), match[4].upper()


def postcode_district(text: str) -> str:
    """The outward code (district), e.g. ``WN8``; an outward code alone is accepted too."""
    match = _POSTCODE.fullmatch(text)
    if match is not None and match[1]:
        return match[1].upper()
    outward = _OUTWARD.fullmatch(text)
    if outward is not None:
        return outward[1].upper()
    return split_postcode(text)[0]


def postcode_sector(text: str) -> str:
    """The sector: outward code plus the first inward digit, e.g. ``WN8 7``."""
    outward, inward = split_postcode(text)
    return f"{outward} {inward[0]}"


def canonical_postcode(text: str) -> str:
    """A full postcode in standard form (``WN8 7YH``)."""
    outward, inward = split_postcode(text)
    return f"{outward} {inward}"


_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def canonical_integer(text: str) -> str:
    """An integer without sign noise or leading zeros."""
    value = text.strip()
    if not _INTEGER.fullmatch(value):
        raise InvalidValueError("not an integer")
    return str(int(value))


def canonical_decimal(text: str) -> str:
    """A decimal number, as written (precision is kept)."""
    value = text.strip()
    if not _DECIMAL.fullmatch(value):
        raise InvalidValueError("not a decimal number")
    return value


_BOOLEANS = {
    "true": "true",
    "t": "true",
    "yes": "true",
    "y": "true",
    "1": "true",
    "false": "false",
    "f": "false",
    "no": "false",
    "n": "false",
    "0": "false",
}


def canonical_boolean(text: str) -> str:
    """``true`` or ``false`` from the usual spellings (yes/no, y/n, 1/0, t/f)."""
    try:
        return _BOOLEANS[text.strip().lower()]
    except KeyError:
        raise InvalidValueError("not a boolean (true/false, yes/no, 1/0)") from None


class NumberBander:
    """A number to the half-open band that contains it, written ``[10,20)``."""

    def __init__(self, width: Decimal) -> None:
        if width <= 0:
            raise ValueError("band width must be positive")
        self.width = width

    def __call__(self, text: str) -> str:
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            raise InvalidValueError("not a number") from None
        if not value.is_finite():
            raise InvalidValueError("not a finite number")
        low = (value / self.width).to_integral_value(rounding=ROUND_FLOOR) * self.width
        return f"[{_plain(low)},{_plain(low + self.width)})"


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text
