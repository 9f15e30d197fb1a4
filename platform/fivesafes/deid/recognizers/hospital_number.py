"""Hospital (medical record) numbers: the site's own formats plus generic shapes."""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import Pattern

from fivesafes.deid.recognizers.base import UkPatternRecognizer

_CUE = (
    r"(?i:\b(?:hosp(?:ital)?\.?\s*(?:no|num|number|id|#)|mrn|m\.r\.n|unit\s*(?:no|number)"
    r"|case\s*(?:no|number)|record\s*(?:no|number)|patient\s*(?:id|no|number)|pas\s*(?:no|id|number)?"
    r"|rxx\s*no|ref(?:erence)?\s*(?:no|number)?|id)\b\.?)"
)


class HospitalNumberRecognizer(UkPatternRecognizer):
    """A record number: the policy's regexes, letter-prefixed numbers, or after a cue.

    ``site_patterns`` are the trust's own formats from the dataset policy; they score high
    because a governance officer declared them. Generic shapes: 1-4 capitals followed by
    6-10 digits (nothing clinical looks like that), and any 4+ character code containing
    three or more digits right after a cue such as "Hosp no", "MRN" or "Unit number".
    """

    ENTITY = "HOSPITAL_NUMBER"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("letters+digits", r"\b[A-Z]{1,4}\d{6,10}[A-Z]?\b", 0.7),
        Pattern(
            "after a cue",
            _CUE + r"\s*[:#.]?\s*(?:is\s+)?(?P<id>[A-Za-z0-9][A-Za-z0-9/\-]{2,15}[A-Za-z0-9])\b",
            0.85,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["hospital", "hosp", "mrn", "unit", "record"]

    def __init__(self, site_patterns: tuple[str, ...] = ()) -> None:
        for pattern in site_patterns:
            re.compile(pattern)  # fail fast, at build time, on a bad policy regex
        patterns = [Pattern(f"site pattern {i}", p, 0.9) for i, p in enumerate(site_patterns)]
        super().__init__(patterns=patterns + list(self.PATTERNS))

    def validate_result(self, pattern_text: str) -> bool | None:
        if sum(c.isdigit() for c in pattern_text) < 3:
            return False
        return None
