"""Names written surname first in capitals, as patient systems print them: "KAY, Ruth"."""

from __future__ import annotations

from typing import Any, ClassVar

from presidio_analyzer import Pattern, RecognizerResult

from fivesafes.deid.allowlist import AllowList
from fivesafes.deid.recognizers.base import UkPatternRecognizer
from fivesafes.deid.recognizers.names import LETTER, UPPER, WORD

_CAPS = rf"[{UPPER}][{UPPER}'’\-]+"


class SurnameFirstRecognizer(UkPatternRecognizer):
    """An all-capitals surname, a comma, then capitalised forenames.

    Abbreviation lists ("CXR, Bloods", "ECG, Echo") have the same shape, so every word
    must be name-like (none in the allow-list or the never-a-name vocabulary).
    """

    ENTITY = "PERSON"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "SURNAME, Forename",
            rf"\b{_CAPS}(?:[\s\-]{_CAPS})?,\s*[{UPPER}][{LETTER}'’\-]+(?:[\s\-]{WORD})?(?![{LETTER}])",
            0.7,
        ),
    ]

    def __init__(self, allow_list: AllowList) -> None:
        self.allow_list = allow_list
        super().__init__()

    def analyze(
        self,
        text: str,
        entities: list[str] | None = None,
        nlp_artifacts: Any = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        """Surname-first names whose every word could be a name."""
        return [
            r
            for r in super().analyze(text, entities, nlp_artifacts, regex_flags)
            if not any(
                self.allow_list.is_not_name(w.strip(",")) for w in text[r.start : r.end].split()
            )
        ]
