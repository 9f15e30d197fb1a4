"""Unfamiliar names with no title or relation before them: "Oluwadamilare was tearful".

Small NER models trained on news text miss names they have rarely seen, which is
exactly the names of patients and relatives from many backgrounds. Two generic signals
catch them without any list of names:

* a capitalised word that is neither an English word (the model's own WordNet lemma
  index) nor clinical vocabulary, followed by a verb people do ("was", "reports",
  "said", "attended"...);
* a capitalised word followed by a relationship in brackets or apposition: "Kemi
  (sister)", "Tomasz, her son", and a possessive before one: "Dominika's mother".
"""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import RecognizerResult

from fivesafes.deid.allowlist import AllowList
from fivesafes.deid.recognizers.base import UkLocalRecognizer, make_result
from fivesafes.deid.recognizers.cued_name import RELATION_WORDS
from fivesafes.deid.recognizers.names import WORD

PERSON_VERBS = (
    r"was|is|has|had|reports?|reported|said|says|states?|stated|denies|denied|came|comes"
    r"|attended|attends|feels|felt|complains?|complained|wants|wanted|would|will|lives|lived"
    r"|presented|presents|describes?|described|remains|seems|seemed|appears|appeared"
    r"|declined|agreed|refused|asked|explained|told|mentioned|called|phoned|rang|visited"
    r"|brought|became|went|returned|arrived|left|gets|got|looks|looked|tolerated"
    r"|understood|consented|took|takes|uses|works|worked|smokes|drinks|does|did|can|could"
    r"|should|might|must|wishes|hopes|prefers|needs|needed|walks|walked|sleeps|slept|cried"
    r"|spoke|speaks|admits|admitted|confirms|confirmed|reported"
)


class UncuedNameRecognizer(UkLocalRecognizer):
    """Unknown capitalised words acting as a person (subject of a verb, or a relative)."""

    ENTITY = "PERSON"
    ENTITIES = (ENTITY,)
    SUBJECT_SCORE = 0.6
    RELATIVE_SCORE = 0.75
    SUBJECT: ClassVar[re.Pattern[str]] = re.compile(
        rf"(?P<id>{WORD}(?:\s+{WORD})?)\s+(?:{PERSON_VERBS})\b"
    )
    RELATIVE: ClassVar[re.Pattern[str]] = re.compile(
        rf"(?P<id>{WORD}(?:\s+{WORD})?)(?:\s*\(\s*(?i:{RELATION_WORDS})\s*\)"
        rf"|,\s+(?i:(?:his|her|their|the\s+patient's|pt's|patient's)\s+(?:{RELATION_WORDS}))\b"
        rf"|['’]s\s+(?i:{RELATION_WORDS})\b)"
    )

    def __init__(self, allow_list: AllowList) -> None:
        self.allow_list = allow_list
        super().__init__()

    def find(self, text: str) -> list[RecognizerResult]:
        """Names found by the subject-verb and relative signals."""
        if not self.allow_list.english:
            return []
        found: list[RecognizerResult] = []
        for pattern, score, need_unknown in (
            (self.SUBJECT, self.SUBJECT_SCORE, True),
            (self.RELATIVE, self.RELATIVE_SCORE, False),
        ):
            for match in pattern.finditer(text):
                start, end = match.span("id")
                words = text[start:end].split()
                # Keep only the trailing run of plausible name words ("Today Kemi" -> "Kemi").
                keep: list[str] = []
                for word in reversed(words):
                    if not self._name_word(word, need_unknown):
                        break
                    keep.insert(0, word)
                if not keep:
                    continue
                start = end - len(" ".join(keep))
                found.append(make_result(self.ENTITY, start, end, score, self._metadata))
        return found

    def _name_word(self, word: str, need_unknown: bool) -> bool:
        bare = word.rstrip("'’s") if word.endswith(("'s", "’s")) else word
        if len(bare) < 2 or bare.isupper() or self.allow_list.is_not_name(bare):
            return False
        return not (need_unknown and self.allow_list.is_known_word(bare))
