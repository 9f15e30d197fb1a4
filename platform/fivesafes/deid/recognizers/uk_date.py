"""Dates as UK notes write them, and a format-keeping date shift.

Numeric day-first dates (12/03/2024, 12-03-2024, 12.03.24), ISO (2024-03-12), written
dates (3rd March 2024, 3 Mar 2024, March 3rd 2024, 3rd of March), month-year (March 2024,
Mar-24) and day-month without a year ("on 3 March"). A bare year or "6 weeks" is clinical
content and left alone. :func:`shift_date_text` moves a found date by the patient's
offset and writes it back in the same format, for policies that shift rather than tag.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import ClassVar

from presidio_analyzer import Pattern, RecognizerResult

from fivesafes.deid.recognizers.base import UkPatternRecognizer, make_result

MONTHS_FULL = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
MONTHS_ABBR = [m[:3] for m in MONTHS_FULL]
_MONTH_NUMBER: dict[str, int] = {}
for _i, _m in enumerate(MONTHS_FULL, start=1):
    _MONTH_NUMBER[_m.lower()] = _i
    _MONTH_NUMBER[_m[:3].lower()] = _i
_MONTH_NUMBER["sept"] = 9

MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
DAY = r"(?:0?[1-9]|[12]\d|3[01])"
ORD = r"(?:st|nd|rd|th)?"
YEAR = r"(?:(?:19|20)\d{2}|'?\d{2})"
WEEKDAY = (
    r"(?:Mon(?:day)?|Tue(?:s(?:day)?)?|Wed(?:nesday|s)?|Thu(?:r(?:s(?:day)?)?)?|Fri(?:day)?"
    r"|Sat(?:urday)?|Sun(?:day)?)\.?,?\s+(?:the\s+)?"
)
# A time written with a date belongs to it ("14/03/2023 0915", "14-Mar-2023 09:15"): four
# digits, h:mm[:ss] or an am/pm hour, never a dose ("12/03/2023 1000 mg" keeps its dose).
TIME = (
    r"(?:(?:[01]\d|2[0-3])[0-5]\d(?:\s*(?:hrs|hr|h)\b)?|(?:[01]?\d|2[0-3])[:.][0-5]\d(?::[0-5]\d)?"
    r"(?:\s*(?:hrs|hr|h|am|pm)\b)?|(?:1[0-2]|0?[1-9])\s*(?:am|pm)\b)"
    r"(?!\s*(?:mg|mcg|g|ml|units?|iu|mmol|kg|%|/))"
)
AFTER_TIME = r"(?:,\s*|\s+|\s*[@\-]\s*)(?:at\s+)?" + TIME + r"(?![\w:])"
DAY_MONTH = r"(?<![\w/.\-])" + DAY + r"/(?:0?[1-9]|1[0-2])(?![\w/]|[.\-]\d)"
# A day/month with no year ("25/12") is a date only after a word that introduces one;
# "GCS 14/15", "power 4/5", "3/12 history" (three months) stay.
DM_CUES = (
    r"on|since|from|until|till|to|by|dated|due|wef|w/c|before|after|seen|admitted|discharged"
    r"|reviewed|appt|appointment|booked|planned|scheduled|dob|d\.o\.b|date|dd|last\s+seen"
    r"|started|stopped|commenced|ceased|returning|return|next|starting|planning|tci|op|surgery"
)
# After a review cue "6/12" and "5/7" are durations (six months, five days): there only
# day/month pairs that cannot be read so are dates ("r/v 28/04").
REVIEW_CUES = r"r/v|rv|review|f/u|fu|follow[\s\-]up|recall|repeat|recheck|re-check"

_NUMERIC = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})")
_ISO = re.compile(r"(\d{4})([/.\-])(\d{1,2})\2(\d{1,2})")
_TEXTUAL_DMY = re.compile(
    r"(\d{1,2})(st|nd|rd|th)?(\s+of\s+|[\s\-]+)([A-Za-z]+)(\.?)(?:(,?[\s\-]+'?)(\d{2,4}))?"
)
_TEXTUAL_MDY = re.compile(r"([A-Za-z]+)(\.?\s+)(\d{1,2})(st|nd|rd|th)?(?:(,?\s+)(\d{4}))?")
_TEXTUAL_MY = re.compile(r"([A-Za-z]+)(\.?[\s\-]+'?)(\d{2,4})")


class UkDateRecognizer(UkPatternRecognizer):
    """Calendar dates in the forms UK clinicians write them."""

    ENTITY = "DATE"
    FLAGS = re.IGNORECASE
    # Core shapes only: weekdays and times around a date are added by :meth:`analyze`
    # looking beside each match (a pattern that allowed them at every position of every
    # note cost five times as much).
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "numeric d/m/y",
            r"(?<![\w/.\-])"
            + DAY
            + r"([/.\-])(?:0?[1-9]|1[0-2])\1(?:\d{4}|\d{2})(?![\w/]|[.\-]\d)",
            0.85,
        ),
        Pattern(
            "numeric m/d/y",
            r"(?<![\w/.\-])(?:0?[1-9]|1[0-2])([/.\-])(?:1[3-9]|2\d|3[01])\1(?:\d{4}|\d{2})"
            r"(?![\w/]|[.\-]\d)",
            0.6,
        ),
        Pattern(
            "ISO y-m-d",
            r"(?<![\w/.\-])(?:19|20)\d{2}([/.\-])(?:0?[1-9]|1[0-2])\1" + DAY + r"(?![\w/]|[.\-]\d)",
            0.9,
        ),
        Pattern(
            "ISO 8601 date-time",
            r"(?<![\w/.\-])(?:19|20)\d{2}-?(?:0[1-9]|1[0-2])-?(?:0[1-9]|[12]\d|3[01])[T ]"
            r"(?:[01]\d|2[0-3]):?[0-5]\d(?::?[0-5]\d(?:[.,]\d+)?)?"
            r"(?:Z|[+\-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?(?![\w:])",
            0.95,
        ),
        Pattern(
            "d Month [y]",
            r"\b"
            + DAY
            + ORD
            + r"(?:\s+of\s+|[\s\-]+)"
            + MONTH
            + r"(?:,?[\s\-]+"
            + YEAR
            + r")?(?![\w])",
            0.85,
        ),
        Pattern(
            "Month d[, y]",
            r"\b(?=[ADFJMNOSadfjmnos])"
            + MONTH
            + r"\s+"
            + DAY
            + ORD
            + r"(?:,?\s+(?:19|20)\d{2})?\b",
            0.6,
        ),
        Pattern(
            "Month y",
            r"\b(?=[ADFJMNOSadfjmnos])" + MONTH + r"[\s\-]+(?:(?:19|20)\d{2}|'\d{2})\b",
            0.6,
        ),
        Pattern(
            "numeric m/yyyy",
            r"(?<![\w/.\-])(?:0?[1-9]|1[0-2])[/.\-](?:19|20)\d{2}(?![\w/]|[.\-]\d)",
            0.5,
        ),
        Pattern(
            "compact yyyymmdd", r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b", 0.4
        ),
    ]
    DAY_MONTH_SCORE = 0.75
    _DAY_MONTH = re.compile(DAY_MONTH)
    _LEFT = re.compile(
        r"(?:\b" + WEEKDAY + r")?(?:(?<![\w:.])" + TIME + r"(?:\s+on\s+|\s*,\s*|\s+))?\Z", re.I
    )
    _RIGHT = re.compile(AFTER_TIME, re.I)
    _DM_CUED = re.compile(r"(?:\b(?:" + DM_CUES + r")\s*:?\s+|\b" + WEEKDAY + r")\Z", re.I)
    _DM_REVIEW = re.compile(r"\b(?:" + REVIEW_CUES + r")\s*:?\s*(?:on\s+)?\Z", re.I)
    _DM_DURATION = re.compile(r"(?:0?[1-9]|1[0-2])/12|0?[1-7]/7")
    _REACH = 40  # characters looked at beside a date for a weekday, a time or a cue

    def refine_matches(self, text: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
        """Dates, each widened to the weekday before and the time beside it."""
        results = found + self._day_months(text)
        for result in results:
            left = self._LEFT.search(text, max(0, result.start - self._REACH), result.start)
            if left is not None and left.start() < result.start:
                result.start = left.start()
            right = self._RIGHT.match(text, result.end)
            if right is not None:
                result.end = right.end()
        return results

    def _day_months(self, text: str) -> list[RecognizerResult]:
        """ "25/12" is a date only where something says so ("on 25/12", "Tue 25/12", a time
        after it, the start of an entry, "15/03:"), and after a review cue unless it reads
        as a duration ("r/v 6/12" is six months)."""
        found: list[RecognizerResult] = []
        for m in self._DAY_MONTH.finditer(text):
            start, end = m.span()
            reach = max(0, start - self._REACH)
            line_start = text.rfind("\n", reach, start) + 1 if "\n" in text[reach:start] else 0
            dated = (
                self._DM_CUED.search(text, reach, start) is not None
                or self._RIGHT.match(text, end) is not None
                or text.startswith(":", end)
                or (
                    text[line_start:start].strip() == ""
                    and (line_start > 0 or start < self._REACH)
                    and self._DM_DURATION.fullmatch(m.group()) is None
                )
                or (
                    self._DM_REVIEW.search(text, reach, start) is not None
                    and self._DM_DURATION.fullmatch(m.group()) is None
                )
            )
            if dated:
                found.append(
                    make_result(self._entity, start, end, self.DAY_MONTH_SCORE, self._metadata)
                )
        return found

    CONTEXT: ClassVar[list[str]] = [
        "dob",
        "born",
        "date",
        "on",
        "seen",
        "admitted",
        "discharged",
        "since",
        "from",
        "until",
        "clinic",
        "appointment",
    ]

    def invalidate_result(self, pattern_text: str) -> bool | None:
        # "May" alone is matched only with a day or year; lower-case "may 20" (a verb) is not a
        # date unless the month is written with a capital or digits surround it.
        stripped = pattern_text.strip()
        return stripped[:3] == "may" and not stripped[:1].isdigit()


def two_digit_year(two_digits: int, reference: date | None = None) -> int:
    """A two-digit year read as the most recent year not more than 10 years in the future."""
    today = reference or date.today()
    year = 2000 + two_digits
    return year if year <= today.year + 10 else year - 100


def month_number(name: str) -> int | None:
    """1-12 for a month name or abbreviation in any case ("Mar", "march", "Sept."), else None."""
    return _MONTH_NUMBER.get(name.rstrip(".").lower())


def _month_text(original: str, month: int) -> str:
    """The month name in the style of ``original`` (full/abbreviated, case)."""
    full = MONTHS_FULL[month - 1]
    name = full if len(original.rstrip(".")) > 3 and original.lower() != "sept" else full[:3]
    if original.isupper():
        return name.upper()
    if original.islower():
        return name.lower()
    return name


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _num(value: int, like: str) -> str:
    """``value`` zero-padded to the width of ``like``."""
    return str(value).zfill(len(like))


_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_LEADING_WEEKDAY = re.compile(
    r"(" + WEEKDAY.replace(r"\.?,?\s+(?:the\s+)?", "") + r")(\.?,?\s+(?:the\s+)?)", re.I
)
_LEADING_TIME = re.compile(TIME + r"(?:\s+on\s+|\s*,\s*|\s+)", re.I)
_TRAILING_TIME = re.compile(AFTER_TIME + r"$", re.I)
_ISO_TIME = re.compile(r"(\d{4}-?\d{2}-?\d{2})([T ].+)")
_DAY_MONTH_ONLY = re.compile(r"(\d{1,2})/(\d{1,2})")


def _weekday_text(original: str, weekday: int) -> str:
    full = _WEEKDAYS[weekday]
    size = len(original.rstrip("."))
    name = full if size > 4 else full[:size]
    if original.isupper():
        return name.upper()
    return name.lower() if original.islower() else name


def shift_date_text(text: str, days: int) -> str | None:
    """``text`` (one date as found) moved by ``days``, in the same format; None if unparsed.

    A weekday in front is rewritten for the shifted date (the old weekday would narrow the
    real date down); a time with the date is kept as written.
    """
    text = text.strip()
    if m := _ISO_TIME.fullmatch(text):
        core = m[1] if "-" in m[1] else f"{m[1][:4]}-{m[1][4:6]}-{m[1][6:]}"
        shifted = _shift_core(core, days)
        if shifted is None:
            return None
        return (shifted[0] if "-" in m[1] else shifted[0].replace("-", "")) + m[2]
    weekday = _LEADING_WEEKDAY.match(text)
    if weekday:
        text = text[weekday.end() :]
    prefix = suffix = ""
    shifted = _shift_core(text, days)
    if shifted is None:  # a time before or after the date ("0915 14/03/2023", "... 09:15")
        if (lead := _LEADING_TIME.match(text)) and lead.end() < len(text):
            prefix, text = text[: lead.end()], text[lead.end() :]
        if (trail := _TRAILING_TIME.search(text)) and trail.start() > 0:
            text, suffix = text[: trail.start()], trail.group()
        shifted = _shift_core(text, days)
    if shifted is None and (dm := _DAY_MONTH_ONLY.fullmatch(text)):
        with_year = _shift_core(f"{dm[1]}/{dm[2]}/{date.today().year}", days)
        if with_year is not None:
            shifted = with_year[0].rsplit("/", 1)[0], with_year[1]
    if shifted is None:
        return None
    moved, moved_date = shifted
    if weekday:
        moved = _weekday_text(weekday[1], moved_date.weekday()) + weekday[2] + moved
    return prefix + moved + suffix


def _shift_core(text: str, days: int) -> tuple[str, date] | None:
    """A bare date (no weekday, no time) moved by ``days`` in its own format, and the date.

    Only the forms with a day can be shifted exactly; month-year forms are shifted by
    moving their first day. Unparseable text returns None and the caller tags it.
    """
    text = text.strip()
    delta = timedelta(days=days)
    try:
        if m := _ISO.fullmatch(text):
            d = date(int(m[1]), int(m[3]), int(m[4])) + delta
            return f"{d.year}{m[2]}{_num(d.month, m[3])}{m[2]}{_num(d.day, m[4])}", d
        if m := _NUMERIC.fullmatch(text):
            first, second, year_text = int(m[1]), int(m[3]), m[4]
            year = int(year_text) if len(year_text) == 4 else two_digit_year(int(year_text))
            day_first = second <= 12
            day, month = (first, second) if day_first else (second, first)
            d = date(year, month, day) + delta
            year_out = str(d.year) if len(year_text) == 4 else f"{d.year % 100:02d}"
            a, b = (d.day, d.month) if day_first else (d.month, d.day)
            return f"{_num(a, m[1])}{m[2]}{_num(b, m[3])}{m[2]}{year_out}", d
        if (m := _TEXTUAL_DMY.fullmatch(text)) and m[4].lower() in _MONTH_NUMBER:
            year_text = m[7] or ""
            year = (
                int(year_text)
                if len(year_text) == 4
                else (two_digit_year(int(year_text)) if year_text else date.today().year)
            )
            d = date(year, _MONTH_NUMBER[m[4].lower()], int(m[1])) + delta
            out = _num(d.day, m[1]) + (_ordinal(d.day) if m[2] else "") + m[3]
            out += _month_text(m[4], d.month) + m[5]
            if year_text:
                out += m[6] + (str(d.year) if len(year_text) == 4 else f"{d.year % 100:02d}")
            return out, d
        if (m := _TEXTUAL_MDY.fullmatch(text)) and m[1].lower() in _MONTH_NUMBER:
            year = int(m[6]) if m[6] else date.today().year
            d = date(year, _MONTH_NUMBER[m[1].lower()], int(m[3])) + delta
            out = _month_text(m[1], d.month) + m[2] + str(d.day) + (_ordinal(d.day) if m[4] else "")
            return out + (m[5] + str(d.year) if m[6] else ""), d
        if (m := _TEXTUAL_MY.fullmatch(text)) and m[1].lower() in _MONTH_NUMBER:
            year_text = m[3]
            year = int(year_text) if len(year_text) == 4 else two_digit_year(int(year_text))
            d = date(year, _MONTH_NUMBER[m[1].lower()], 1) + delta
            year_out = str(d.year) if len(year_text) == 4 else f"{d.year % 100:02d}"
            return _month_text(m[1], d.month) + m[2] + year_out, d
    except (ValueError, OverflowError):
        return None
    return None
