"""Shared value types between the engine (structured columns) and the free-text scrubber.

The engine reads a row, pulls the patient's own identifiers out of the structured columns
the policy marks as context, and hands them to the scrubber with the row's free text: the
CRATE approach, which removes a patient's name or NHS number from their note even where
named-entity recognition misses it. These values are raw identifiers: they live only in
memory, in the worker that is scrubbing that row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from fivesafes.config import DEFAULT_SPACY_MODEL


class DateMode(StrEnum):
    """What happens to a date found in free text."""

    TAG = "tag"  # replaced by [DATE]
    SHIFT = "shift"  # moved by the patient's keyed offset, format kept


@dataclass(frozen=True, slots=True)
class PatientContext:
    """The patient's own identifiers from the row's structured columns (raw, in memory only)."""

    names: tuple[str, ...] = ()
    nhs_numbers: tuple[str, ...] = ()
    dates: tuple[date, ...] = ()
    postcodes: tuple[str, ...] = ()
    address_parts: tuple[str, ...] = ()
    other_identifiers: tuple[str, ...] = ()
    date_shift_days: int | None = None


@dataclass(frozen=True, slots=True)
class ScrubberConfig:
    """Everything a scrubber needs to build itself in a worker process (picklable)."""

    spacy_model: str = DEFAULT_SPACY_MODEL
    hospital_number_patterns: tuple[str, ...] = ()
    date_mode: DateMode = DateMode.TAG
    extra_allow_terms: tuple[str, ...] = ()
    # The site's own gazetteer entries (catchment villages, practices, care homes).
    extra_places: tuple[str, ...] = ()
    extra_organisations: tuple[str, ...] = ()


@dataclass(slots=True)
class ScrubResult:
    """A scrubbed text and how many entities of each type were replaced in it."""

    text: str
    entities: dict[str, int] = field(default_factory=dict)
