"""UK postcodes (CO4 5JL, SW1A 1AA, with or without the space)."""

from __future__ import annotations

from typing import ClassVar

from presidio_analyzer import Pattern

from fivesafes.deid.recognizers.base import UkPatternRecognizer


class UkPostcodeRecognizer(UkPatternRecognizer):
    """Outward code (area letters, district) then inward code (sector digit, unit letters).

    Upper case only: in lower case the shape collides with clinical text ("b12 2mg").
    The patient's own postcode is also removed in any case by the patient scrubber.
    """

    ENTITY = "POSTCODE"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("UK postcode", r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[A-Z]{2}\b", 0.75),
    ]
    CONTEXT: ClassVar[list[str]] = ["postcode", "post code", "address", "lives"]
