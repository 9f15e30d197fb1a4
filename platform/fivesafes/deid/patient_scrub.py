"""Patient-specific scrubbing (the CRATE approach): the row's own identifiers, in any form.

NER and generic patterns miss what they have not been trained on; the structured columns
of the same row say exactly what this patient's name, NHS number, date of birth and
postcode are. :class:`PatientRecognizer` turns a :class:`PatientContext` into look-up
sets, matched against candidates from scanners compiled once per process, so it finds
those values however the note writes them:

* names: every part of every name, any case ("KAY, Ruth", "ruth kay", "Kay" alone),
  with a possessive; hyphenated names also by their halves. A part that is an everyday
  English word ("May", "Day", "Will", "Ward") is matched only when capitalised or next to
  another part of the name ("may day"), so "day 3" and "ward round" survive;
* NHS numbers and other identifiers: the same characters with any spaces, dashes or dots
  between them;
* dates: day, month and year in any order and style (12/03/1961, 1961-03-12, 12.3.61,
  12th March 1961, March 12, 1961);
* postcodes: with or without the space, any case;
* address parts: the phrase with flexible spacing, any case (single generic words such as
  "Road" are skipped).

The recogniser is built per row, used once and dropped: the raw values never leave the
worker's memory.
"""

from __future__ import annotations

import re
from datetime import date

from presidio_analyzer import RecognizerResult

from fivesafes.deid.allowlist import vocabulary
from fivesafes.deid.recognizers.base import UkLocalRecognizer, make_result
from fivesafes.deid.recognizers.uk_date import month_number, two_digit_year
from fivesafes.deid.types import PatientContext

PATIENT_SCORE = 1.0

# Everyday words that are also names: matched only when capitalised in the note.
COMMON_WORD_NAMES = vocabulary(
    """
may day will mark bill hope grace joy faith rose lily iris ivy holly hazel dawn summer
april june august autumn win sunny rich young long short small little king bishop cook
baker butcher mason miller turner taylor carter porter ward hall wood woods field fields
green white black brown gray grey bell best brook brooks bush cross dean fish fox frost
gold hill house lane moon moss new north park parks pool price rice rock rose sharp snow
spring stone street swift wall waters west wise bone bridge chance close cole cotton
dole drew fair hart hunt lamb law lord love major marsh mills noble page pike power read
reed rush sale sand sage shaw star steel strong sweet vine wells wolf worth sun lee ali
art guy jack ray sue pat jean max bob don gay eve nick rob bay bed sister mum son case
care chase lock low nurse down still well
    """
)
_GENERIC_ADDRESS_WORDS = vocabulary("flat road street lane avenue close drive way house court the")

# Scanners compiled once per process; per note only set look-ups run. Compiling a regex
# per patient cost ~4 ms a note, more than spaCy's share of the budget.
_WORD = re.compile(r"[^\W\d_](?:[^\W_]|['’\-](?=[^\W\d_]))*")
_NAME_GAP = re.compile(r"\s*,\s*|\s+|-")  # "KAY, Ruth", "ruth kay"; not ". " (sentences)
_DIGIT_RUN = re.compile(r"(?<![^\W\d_])\d(?:[\s.\-/]{0,2}\d)*(?![^\W\d_])")
_POSTCODE = re.compile(r"(?<![^\W_])[a-z]{1,2}\d[a-z\d]?\s*\d[a-z]{2}(?![^\W_])", re.IGNORECASE)
_DATE_CANDIDATE = re.compile(
    r"(?<![\w])(?:"
    r"(?P<a>\d{1,4})(?:st|nd|rd|th)?(?:\s+of)?[\s/.\-]+(?P<b>\d{1,2}|[A-Za-z]{3,9}\.?),?[\s/.\-]+'?(?P<c>\d{2,4})"
    r"|(?P<m>[A-Za-z]{3,9})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{2,4})"
    r"|(?P<compact>\d{6}|\d{8})"
    r")(?![\w])"
)


def _name_parts(name: str) -> set[str]:
    """Every part of a name worth matching, lower-cased: words and hyphen halves, no initials."""
    parts: set[str] = set()
    for word in re.split(r"[\s,]+", name.strip()):
        bare = word.strip(".'’()").lower().replace("’", "'")
        if len(bare) >= 2:
            parts.add(bare)
        for separator in "-'":
            if separator in bare:
                parts.update(p for p in bare.split(separator) if len(p) >= 2)
    return parts


def _bare(token: str) -> str:
    """A word without a possessive ending, lower-cased."""
    lower = token.lower()
    for suffix in ("'s", "’s", "'", "’"):
        if lower.endswith(suffix):
            return lower[: -len(suffix)]
    return lower


def _candidate_dates(match: re.Match[str]) -> set[date]:
    """Every calendar date a matched date-like string could mean (any order)."""
    out: set[date] = set()
    if match["compact"]:
        c = match["compact"]
        splits = [(c[:2], c[2:4], c[4:]), (c[4:] if len(c) == 6 else c[6:], c[2:4], c[:2])]
        if len(c) == 8:
            splits = [(c[:2], c[2:4], c[4:]), (c[6:], c[4:6], c[:4])]
        for d, m, y in splits:
            _add_date(out, y, m, d)
        return out
    if match["m"]:
        month = month_number(match["m"])
        if month:
            _add_date(out, match["y"], str(month), match["d"])
        return out
    a, b, c = match["a"], match["b"], match["c"]
    month = month_number(b) if not b.isdigit() else None
    if month:
        _add_date(out, c, str(month), a)
    elif len(a) == 4:
        _add_date(out, a, b, c)
    else:
        _add_date(out, c, b, a)  # day first (UK)
        _add_date(out, c, a, b)  # month first
    return out


def _add_date(out: set[date], year: str, month: str, day: str) -> None:
    try:
        y = int(year) if len(year) == 4 else two_digit_year(int(year))
        out.add(date(y, int(month), int(day)))
    except ValueError:
        pass


class PatientRecognizer(UkLocalRecognizer):
    """Finds one patient's own identifiers in their note (an ad-hoc Presidio recogniser)."""

    ENTITIES = ("PERSON", "NHS_NUMBER", "DATE", "POSTCODE", "ADDRESS", "ID")
    SOURCE = "Patient"

    def __init__(self, context: PatientContext) -> None:
        super().__init__(name="Patient")
        self.name_parts: set[str] = set()
        for name in context.names:
            self.name_parts |= _name_parts(name)
        self.numbers = {
            "".join(c for c in n if c.isdigit()): "NHS_NUMBER" for n in context.nhs_numbers
        }
        self.numbers.update(
            ("".join(c for c in v if c.isdigit()), "ID")
            for v in context.other_identifiers
            if v.isdigit() or all(c.isdigit() or c in " -./" for c in v)
        )
        self.numbers = {k: v for k, v in self.numbers.items() if len(k) >= 6}
        self.dates = set(context.dates)
        self.postcodes = {"".join(p.split()).upper() for p in context.postcodes if p.strip()}
        # Rare inputs (address lines, alphanumeric identifiers) get a regex of their own.
        literal = [
            ("ADDRESS", part)
            for part in context.address_parts
            if len(part.strip()) >= 3 and part.strip().lower() not in _GENERIC_ADDRESS_WORDS
        ] + [
            ("ID", v)
            for v in context.other_identifiers
            if len(v.strip()) >= 3 and not all(c.isdigit() or c in " -./" for c in v)
        ]
        self._literals = [
            (entity, re.compile(r"(?<![\w])" + _flexible(value) + r"(?![\w])", re.IGNORECASE))
            for entity, value in literal
        ]

    def find(self, text: str) -> list[RecognizerResult]:
        """Every occurrence of the patient's identifiers, score 1.0."""
        spans: list[tuple[str, int, int]] = []
        if self.name_parts:
            spans.extend(self._names(text))
        if self.numbers:
            spans.extend(self._numbers(text))
        if self.dates:
            for m in _DATE_CANDIDATE.finditer(text):
                if _candidate_dates(m) & self.dates:
                    spans.append(("DATE", m.start(), m.end()))
        if self.postcodes:
            for m in _POSTCODE.finditer(text):
                if "".join(m.group().split()).upper() in self.postcodes:
                    spans.append(("POSTCODE", m.start(), m.end()))
        for entity, pattern in self._literals:
            spans.extend((entity, m.start(), m.end()) for m in pattern.finditer(text))
        return [
            make_result(entity, start, end, PATIENT_SCORE, self._metadata)
            for entity, start, end in spans
        ]

    def _names(self, text: str) -> list[tuple[str, int, int]]:
        """Name parts in any case; everyday-word parts only capitalised or next to another part.

        ``str.find`` on the lower-cased note (C speed) instead of a per-patient regex.
        """
        lower = text.lower().replace("’", "'")
        if len(lower) != len(text):  # a character whose lower case is longer (rare)
            return self._names_by_token(text)
        hits: list[tuple[int, int, str]] = []
        for part in self.name_parts:
            at = lower.find(part)
            while at >= 0:
                end = at + len(part)
                if (at == 0 or not lower[at - 1].isalnum()) and (
                    end == len(lower) or not lower[end].isalnum()
                ):
                    hits.append((at, end, part))
                at = lower.find(part, at + 1)
        hits.sort()
        found: list[tuple[str, int, int]] = []
        for i, (start, end, part) in enumerate(hits):
            if part in COMMON_WORD_NAMES and not text[start].isupper():
                beside = (i > 0 and _adjacent(text, hits[i - 1][1], start)) or (
                    i + 1 < len(hits) and _adjacent(text, end, hits[i + 1][0])
                )
                if not beside:
                    continue
            found.append(("PERSON", start, end))
        return found

    def _names_by_token(self, text: str) -> list[tuple[str, int, int]]:
        """Slow path for notes whose lower case changes length: compare word by word."""
        return [
            ("PERSON", m.start(), m.end())
            for m in _WORD.finditer(text)
            if _bare(m.group()) in self.name_parts
            and (_bare(m.group()) not in COMMON_WORD_NAMES or m.group()[0].isupper())
        ]

    def _numbers(self, text: str) -> list[tuple[str, int, int]]:
        """The patient's numbers inside any digit run, whatever separates the digits."""
        found: list[tuple[str, int, int]] = []
        for m in _DIGIT_RUN.finditer(text):
            positions = [m.start() + i for i, c in enumerate(m.group()) if c.isdigit()]
            digits = "".join(text[p] for p in positions)
            for number, entity in self.numbers.items():
                at = digits.find(number)
                while at >= 0:
                    found.append((entity, positions[at], positions[at + len(number) - 1] + 1))
                    at = digits.find(number, at + 1)
        return found


def _adjacent(text: str, end: int, start: int) -> bool:
    return _NAME_GAP.fullmatch(text, end, start) is not None


def _flexible(value: str) -> str:
    """Regex for ``value``'s letters and digits with any separators between them."""
    return r"[\s.\-]*".join(re.escape(c) for c in value if c.isalnum())
