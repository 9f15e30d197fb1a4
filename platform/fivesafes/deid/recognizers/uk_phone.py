"""UK telephone numbers: landlines, mobiles, freephone, +44 and (0) forms."""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import Pattern

from fivesafes.deid.recognizers.base import UkPatternRecognizer

_GROUPS = r"\d{1,5}\)?(?:[ \-.]{0,2}\d){5,9}"
# An extension goes with its number: "01206 742000 ext 4512", "x4512".
_EXTENSION = r"(?:\s*[,(]?\s*(?:ext|extn|extension|x)\.?\s*:?\s*\d{2,6}\)?)?"


_EXTENSION_SPLIT = re.compile(r"(?i)\s*,?\s*(?:ext|extn|extension|x)\.?\s*:?\s*(?=\d)")


class UkPhoneRecognizer(UkPatternRecognizer):
    """National (0xxxx xxxxxx, (01255) 123456) and international (+44 7xxx...) numbers.

    ``validate_result`` checks the national significant number has 9 or 10 digits, so a
    date or a dose never passes for a phone number.
    """

    ENTITY = "PHONE"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "UK national",
            r"(?<![\w+.\-/])(?<!44 )(?<!44)(?:\(0\)\s?|\(0|0\s?)"
            + _GROUPS
            + r"(?![\d/])"
            + _EXTENSION,
            0.7,
        ),
        Pattern(
            "UK international",
            r"(?<![\w+])(?:\+|00)\s?44\s?(?:\(0\)\s?)?\(?" + _GROUPS + r"(?!\d)" + _EXTENSION,
            0.8,
        ),
        Pattern(
            "extension or bleep after a cue",
            r"(?i:\b(?:ext|extn|extension|bleep|bleep\s+no|pager|page|radio|dect|x))\.?\s*(?:no\.?|number)?"
            r"\s*[:#]?\s*(?P<id>\d{3,6})(?![\d/.:])",
            0.75,
        ),
        Pattern(
            "Other international",
            r"(?<![\w+])\+(?!44)\d{1,3}[ \-]?\(?\d{1,4}\)?(?:[ \-]?\d){6,10}(?!\d)",
            0.6,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = [
        "tel",
        "telephone",
        "phone",
        "mobile",
        "mob",
        "contact",
        "call",
        "ring",
        "number",
    ]

    def validate_result(self, pattern_text: str) -> bool | None:
        number = _EXTENSION_SPLIT.split(pattern_text, maxsplit=1)[0]
        if pattern_text.isdigit() and len(pattern_text) <= 6:
            return None  # an extension or bleep found after its cue
        digits = "".join(c for c in number if c.isdigit())
        if pattern_text.lstrip("( ").startswith("+"):
            if digits.startswith("44"):
                digits = digits[2:].removeprefix("0")  # +44 (0)20 ...
                return None if 9 <= len(digits) <= 10 else False
            return None if 8 <= len(digits) <= 15 else False
        if digits.startswith("0044"):
            digits = digits[4:].removeprefix("0")
            return None if 9 <= len(digits) <= 10 else False
        return None if 10 <= len(digits) <= 11 else False
