"""Any other long number: six or more digits in a row is an identifier, not a result."""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import Pattern, RecognizerResult

from fivesafes.deid.recognizers.base import UkPatternRecognizer


class LongNumberRecognizer(UkPatternRecognizer):
    """Runs of 6+ digits, or 8+ digits in groups of 3+ (account, reference, fax numbers).

    Clinical values (Hb 121, eGFR 58, platelets 250) have at most four or five digits; a
    longer run is almost always a reference to a person or record, so it is removed even
    when no specific recogniser claims it. Labelled ``ID``.
    """

    ENTITY = "ID"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("6+ digits", r"(?<![\w.,])\d{6,}(?![\w]|[.,]\d)", 0.6),
        Pattern(
            "grouped 8+ digits", r"(?<![\w.,])\d{3,5}(?:[ \-]\d{3,5}){1,3}(?![\w]|[.,]\d)", 0.45
        ),
    ]

    # Clinical codes are long numbers too: "SNOMED 22298006", "Read code 1234567".
    _CODE_CUE = re.compile(
        r"(?i)\b(?:snomed(?:\s+ct)?|sct(?:id)?|concept(?:\s+id)?|code|read|ctv3|icd(?:-?10)?|opcs"
        r"|dm\+d|dmd|bnf|loinc|gtin|ean)\s*(?:code|id)?\s*[:#]?\s*$"
    )

    def refine_matches(self, text: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
        """Long numbers, except those a code cue introduces."""
        return [r for r in found if not self._CODE_CUE.search(text, max(0, r.start - 24), r.start)]

    def validate_result(self, pattern_text: str) -> bool | None:
        digits = sum(c.isdigit() for c in pattern_text)
        return None if digits >= (6 if pattern_text.isdigit() else 8) else False
