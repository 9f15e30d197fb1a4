"""UK National Insurance numbers (QQ 12 34 56 C), with or without spaces."""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import Pattern

from fivesafes.deid.recognizers.base import UkPatternRecognizer


class NiNumberRecognizer(UkPatternRecognizer):
    """Two prefix letters, six digits (optionally spaced in pairs), suffix A-D.

    Any two letters are accepted, not only the prefixes HMRC issues: a mistyped or
    example number ("QQ 12 34 56 C") is still somebody's attempt at an identifier.
    """

    ENTITY = "NI_NUMBER"
    FLAGS = re.IGNORECASE
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "NI number",
            r"\b[A-Z]{2}[ \-]?\d{2}[ \-]?\d{2}[ \-]?\d{2}[ \-]?[A-D]\b",
            0.85,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["national insurance", "ni", "nino", "ni number"]
