"""Names written surname first in capitals, as patient systems print them: "KAY, Ruth"."""

from __future__ import annotations

from typing import ClassVar

from presidio_analyzer import Pattern, RecognizerResult

from fivesafes.deid.recognizers.names import LETTER, UPPER, WORD, NamePatternRecognizer

_CAPS = rf"[{UPPER}][{UPPER}'’\-]+"


class SurnameFirstRecognizer(NamePatternRecognizer):
    """An all-capitals surname, a comma, then capitalised forenames.

    Abbreviation lists ("CXR, Bloods", "ECG, Echo") have the same shape, so every word
    must be name-like (none in the allow-list or the never-a-name vocabulary).
    """

    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "SURNAME, Forename",
            rf"\b{_CAPS}(?:[\s\-]{_CAPS})?,\s*[{UPPER}][{LETTER}'’\-]+(?:[\s\-]{WORD})?(?![{LETTER}])",
            0.7,
        ),
    ]

    def refine_matches(self, text: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
        """Surname-first names whose every word could be a name."""
        return [
            r
            for r in found
            if not any(
                self.allow_list.is_not_name(w.strip(",")) for w in text[r.start : r.end].split()
            )
        ]
