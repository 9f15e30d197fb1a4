"""Reference numbers of other shapes: other trusts' record numbers, police, council and
court references, passports, vehicle registrations, professional registrations.

Each system writes its own shape, so shape alone is not enough to list them all; what they
share is a cue before them ("crime ref", "passport no", "case number", "GMC") or a mix of
letters and many digits that clinical writing never produces. Clinical codes (SNOMED CT,
ICD-10, OPCS, dm+d) are digits too: the long-number recogniser leaves those alone after a
code cue.
"""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import Pattern

from fivesafes.deid.recognizers.base import UkPatternRecognizer

_CUE = (
    r"(?i:\b(?:passport|crime|incident|occurrence|log|cad|cris|police|case|claim|policy"
    r"|licen[cs]e|dvla|registration|reg|vehicle|plate|account|acct|member(?:ship)?|employee"
    r"|staff|payroll|badge|gmc|nmc|hcpc|gphc|upn|uln|pupil|student|chi|h&c|home\s+office|ho"
    r"|ukvi|brp|visa|referral|ticket|booking|ubrn|ers|e-?referral|order|specimen|sample|lab"
    r"|accession|encounter|rxx|ref|reference|our|your|court|docket|file|tenancy|council"
    r"|housing|benefit|uc|nino|insurance|serial|device|pacemaker|implant)"
    r"(?:\s+(?:ref(?:erence)?|no|num(?:ber)?|id|#|code))*\b\.?)"
)


class ReferenceNumberRecognizer(UkPatternRecognizer):
    """Cued references of any shape with two or more digits, and unmistakable shapes."""

    ENTITY = "ID"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "after a cue",
            _CUE + r"\s*(?:(?i:ref(?:erence)?|no|num(?:ber)?|id|is|of)\b\.?\s*)*[:#.\-]?\s*"
            r"(?P<id>(?=[A-Za-z0-9/\-.]*\d[A-Za-z0-9/\-.]*\d)[A-Za-z0-9][A-Za-z0-9/\-.]{1,24}"
            r"[A-Za-z0-9])(?![\w/\-])",
            0.8,
        ),
        # Current and older UK number plates: "AB12 CDE", "AB12CDE", "P123 ABC".
        Pattern(
            "vehicle registration",
            r"\b(?:[A-Z]{2}\d{2}\s?[A-Z]{3}|[A-Z]\d{1,3}\s?[A-Z]{3})\b",
            0.75,
        ),
        # Letters then digits with separators or a check letter: "RGT-123456", "K1234567X",
        # "SC-2023-0456", "LA/23/01234"; digits then a check letter: "1234567A".
        Pattern(
            "letters, digits and check letters",
            r"\b(?:[A-Z]{1,5}[\-/]\d{4,10}[A-Z]?|[A-Z]{1,5}[\-/]\d{2,4}[\-/]\d{3,8}|\d{6,10}[A-Z])\b",
            0.75,
        ),
        # "42/123456/23" (police), "123/4567/89".
        Pattern("slashed reference", r"(?<![\w/])\d{1,5}/\d{3,8}/\d{2,5}(?![\w/])", 0.7),
        # Any token mixing letters with five or more digits: "ABC12345", "2023NHS12345".
        Pattern(
            "letters with five or more digits",
            r"\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])(?=(?:[A-Za-z]*\d){5})[A-Za-z0-9]{6,20}\b",
            0.65,
        ),
    ]
    _UNIT = re.compile(r"(?i)\d(?:mg|mcg|ml|units?|iu|mmol|kg|g|mm|cm|hrs?|am|pm)$")

    def invalidate_result(self, pattern_text: str) -> bool | None:
        # "10000units" is a dose; a bare year or a time is not a reference.
        return bool(self._UNIT.search(pattern_text))
