"""UK National Insurance numbers (QQ 12 34 56 C), with or without spaces."""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import Pattern

from fivesafes.deid.recognizers.base import UkPatternRecognizer

# HMRC never issues these prefixes (and D, F, I, Q, U, V never appear in one).
_INVALID_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


class NiNumberRecognizer(UkPatternRecognizer):
    """Two prefix letters, six digits (optionally spaced in pairs), suffix A-D."""

    ENTITY = "NI_NUMBER"
    FLAGS = re.IGNORECASE
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "NI number",
            r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][ \-]?\d{2}[ \-]?\d{2}[ \-]?\d{2}[ \-]?[A-D]\b",
            0.85,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["national insurance", "ni", "nino", "ni number"]

    def validate_result(self, pattern_text: str) -> bool | None:
        if pattern_text[:2].upper() in _INVALID_PREFIXES:
            return False
        return None
