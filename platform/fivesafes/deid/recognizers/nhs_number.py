"""NHS numbers: ten digits in any grouping, accepted only when the mod-11 check digit holds."""

from __future__ import annotations

from typing import ClassVar

from presidio_analyzer import Pattern

from fivesafes.deid.nhs_number import has_valid_check_digit
from fivesafes.deid.recognizers.base import UkPatternRecognizer


class NhsNumberRecognizer(UkPatternRecognizer):
    """Ten digits with at most one space, dash or dot between any two (3-3-4, 10, 2-2-2-4...).

    The checksum decides: a valid number scores 1.0 wherever it is; an invalid one is not
    an NHS number (a long digit run is still caught by the generic identifier recogniser).
    """

    ENTITY = "NHS_NUMBER"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "NHS number (any grouping)",
            r"(?<![\w.\-])\d(?:(?:[ .\-]|  )?\d){9}(?![\w]|[.\-]\d)",
            0.3,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["nhs", "nhs no", "nhs number", "chi", "patient number"]

    def validate_result(self, pattern_text: str) -> bool | None:
        digits = "".join(c for c in pattern_text if c.isdigit())
        return len(digits) == 10 and has_valid_check_digit(digits)
