"""People named after a title: "Dr Kate Barrett", "Mrs O'Neill", "Prof. van der Merwe"."""

from __future__ import annotations

from typing import ClassVar

from presidio_analyzer import Pattern, RecognizerResult

from fivesafes.deid.recognizers.names import NAME, WORD, NamePatternRecognizer, trim_name

TITLES = (
    r"(?:Dr|DR|Doctor|Mr|MR|Mrs|MRS|Ms|MS|Miss|MISS|Mx|Prof|PROF|Professor|Sister|Sr|Nurse"
    r"|Matron|Rev|Revd|Reverend|Fr|Father|Dame|Sir|Lady|Lord|Cllr|Councillor|Capt|Captain"
    r"|Sgt|Master|Madam|Mme|Mlle|Herr|Frau|Sra|Hr)"
)


class TitledNameRecognizer(NamePatternRecognizer):
    """The capitalised words after a title are a name, whatever NER thinks.

    Titles are the strongest cue clinical text has; a small NER model trained on news
    misses unfamiliar surnames after "Dr" often enough that this cue is worth its own
    recogniser. Trailing words that are never names ("Dr Patel Cardiology") are trimmed.
    """

    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("title + name", rf"\b{TITLES}\b\.?\s+(?P<id>{NAME})", 0.85),
        Pattern(
            "name + post-nominals",
            rf"\b(?P<id>{WORD}\s+{WORD})\s*,?\s+(?:MBBS|MBChB|MRCP|MRCGP|FRCS|FRCP|RGN|RMN|RN)\b",
            0.8,
        ),
    ]

    def refine_matches(self, text: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
        """Title-cued names, trimmed to their name-like words."""
        return trim_name(found, text, self.allow_list)
