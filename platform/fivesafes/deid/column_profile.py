"""A column of an extract as the engine sees it: a bounded sample, then counts.

Used to draft policies (:mod:`fivesafes.deid.policy_draft`): the sample is read by the
ingestion readers, each value is tried with the engine's own type checks (the NHS number
check digit, the postcode, date and number parsers) and the distinct values are read by
the free-text scrubber's recognisers. A :class:`ColumnProfile` holds only counts and
detected types: sampled values live in memory while the profile is made, nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fivesafes.deid import transforms as t
from fivesafes.deid.io.csv_source import parse_csv_chunk
from fivesafes.deid.io.sources import open_source
from fivesafes.deid.io.types import Cell, CellProblem, Chunk, ParsedChunk, Source
from fivesafes.deid.nhs_number import is_valid_nhs_number
from fivesafes.deid.plan import Scrubber
from fivesafes.deid.types import PatientContext
from fivesafes.errors import InputFileError, InvalidInputError

DEFAULT_SAMPLE_ROWS = 1000
MAX_SAMPLE_ROWS = 100_000
#: Distinct values per column the recognisers read (the type checks read every one).
DETECT_LIMIT = 200
#: Entity types the recognisers report that point at a person, a place or a record.
IDENTIFYING = frozenset(
    {
        "PERSON",
        "NHS_NUMBER",
        "POSTCODE",
        "DATE",
        "PHONE",
        "EMAIL",
        "NI_NUMBER",
        "HOSPITAL_NUMBER",
        "ID",
        "ADDRESS",
        "URL",
        "LOCATION",
        "ORGANISATION",
    }
)
#: Entities that, found in a column name itself, say the "header" is a row of data.


@dataclass(frozen=True, slots=True)
class Sample:
    """The first rows of an extract, column by column (raw values: memory only)."""

    file: str
    format: str
    header: list[str]
    columns: list[list[Cell]]

    @property
    def rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def read_sample(path: Path, rows: int, *, encoding: str = "utf-8") -> Sample:
    """At most ``rows`` rows of the extract at ``path``, read with the ingestion readers."""
    if not 1 <= rows <= MAX_SAMPLE_ROWS:
        raise InvalidInputError(
            f"sample rows must be between 1 and {MAX_SAMPLE_ROWS:,}", code="invalid_sample_rows"
        )
    source = open_source(path, encoding=encoding)
    try:
        header = list(source.header)
        columns: list[list[Cell]] = [[] for _ in header]
        taken = 0
        for chunk in source.chunks(min(rows, 1000)):
            parsed = _parsed(source, chunk, header, encoding)
            keep = min(parsed.row_count, rows - taken)
            for index, values in enumerate(parsed.columns):
                columns[index].extend(values[:keep])
            taken += keep
            if taken >= rows:
                break
    finally:
        source.close()
    return Sample(source.file, source.format, header, columns)


def _parsed(source: Source, chunk: Chunk, header: list[str], encoding: str) -> ParsedChunk:
    try:
        if chunk.csv_bytes is not None:
            return parse_csv_chunk(chunk, header, encoding)
        return ParsedChunk.of_columns(chunk)
    except CellProblem as problem:
        raise InputFileError(
            problem.reason, file=source.file, line=problem.line, column=problem.column
        ) from None


# --- profiling a column ------------------------------------------------------------------

#: The engine's own type checks: each takes a stripped value and says whether it fits.
CHECKS: dict[str, Callable[[str], object]] = {
    "nhs_number": is_valid_nhs_number,
    "postcode": t.canonical_postcode,
    "date": t.parse_date,
    "datetime": t.parse_datetime,
    "integer": t.canonical_integer,
    "decimal": t.canonical_decimal,
    "boolean": t.canonical_boolean,
}


def _passes(check: Callable[[str], object], value: str) -> bool:
    try:
        result = check(value)
    except t.InvalidValueError:
        return False
    return result is not False


@dataclass(slots=True)
class ColumnProfile:
    """What the sample says about one column: counts and detected types, never values."""

    name: str
    values: int = 0  # non-empty sampled values
    empty: int = 0
    distinct: int = 0
    valid: dict[str, int] = field(default_factory=dict)  # type -> values that fit it
    entities: dict[str, int] = field(default_factory=dict)  # entity -> values holding it
    detected_in: int = 0  # distinct values read by the recognisers
    identified_in: int = 0  # of those, values holding any identifying entity
    mean_words: float = 0.0
    mean_length: float = 0.0
    leading_zeros: int = 0  # digit strings written with a leading zero (codes, telephones)

    def share(self, kind: str) -> float:
        return self.valid.get(kind, 0) / self.values if self.values else 0.0

    def entity_share(self, entity: str) -> float:
        return self.entities.get(entity, 0) / self.detected_in if self.detected_in else 0.0

    @property
    def identified_share(self) -> float:
        return self.identified_in / self.detected_in if self.detected_in else 0.0

    def found(self) -> str:
        """The detections, as a reviewer reads them: ``PERSON in 38 of 40 values``."""
        if not self.entities:
            return f"no identifier found by the recognisers in {self.detected_in} values read"
        parts = [
            f"{entity} in {count}"
            for entity, count in sorted(self.entities.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        return f"recognisers found {', '.join(parts)} of {self.detected_in} values read"


def profile_column(name: str, cells: Sequence[Cell], scrubber: Scrubber) -> ColumnProfile:
    """Count what the engine's checks and recognisers make of one column's sample."""
    profile = ColumnProfile(name)
    values = [c.strip() for c in cells if c is not None and c.strip()]
    profile.values, profile.empty = len(values), len(cells) - len(values)
    if not values:
        return profile
    distinct = list(dict.fromkeys(values))
    profile.distinct = len(distinct)
    for kind, check in CHECKS.items():
        profile.valid[kind] = sum(1 for v in values if _passes(check, v))
    profile.mean_words = sum(len(v.split()) for v in values) / len(values)
    profile.mean_length = sum(len(v) for v in values) / len(values)
    profile.leading_zeros = sum(1 for v in values if len(v) > 1 and v[0] == "0" and v.isdigit())
    read = distinct[:DETECT_LIMIT]
    results = scrubber.scrub_many(read, [PatientContext()] * len(read), column=name)
    profile.detected_in = len(read)
    for result in results:
        for entity in result.entities:
            profile.entities[entity] = profile.entities.get(entity, 0) + 1
        if IDENTIFYING.intersection(result.entities):
            profile.identified_in += 1
    return profile
