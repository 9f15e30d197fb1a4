"""Weak detections cut to what identifies: one line, no role or heading words at the edges.

spaCy's small model and the cue patterns read words around a name as part of it: "SN
Hassan", "Mother Anh", "PMH Meniere's", "DIAGNOSIS\\nLewy", "Bangor Community Mental
Health Team". Removing those words loses clinical content and hides the structure of the
note, without making anyone less identifiable. So every weak (NER or cue) detection is

1. split at line breaks: a name, a place or an organisation never runs across lines in
   clinical documents (headings, lists and address blocks put one item on each line);
2. trimmed at both ends of words that are never part of an identifier: roles and kinship
   words ("SN", "Mother", "Crew"), headings and abbreviations ("PMH", "DIAGNOSIS"),
   generic service words ("Community", "Team", "Department", "of"), titles and
   post-nominals ("MBChB", "GMC"); for a person also English words that are not names
   ("Falls", "Following", "Requested");
3. dropped when nothing identifying is left.

Strong detections (patterns with checksums or shapes, the patient's own identifiers) are
never refined: privacy wins a tie.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from fivesafes.deid.allowlist import AllowList, vocabulary
from fivesafes.deid.gazetteers import load_gazetteers
from fivesafes.deid.recognizers.cued_name import STRONG_CUES
from fivesafes.deid.service_words import EDGE_WORDS, GENERIC_SERVICE_WORDS

_WORD = re.compile(r"[^\s,;:()\[\]/|]+")
# Where a detection is cut in pieces: line breaks, colons and bars (a name never spans
# them), and for anything but an address a word with digits ("SNOMED 22298006 - Hope").
_PLACE_SEPARATORS = re.compile(r"[\n:;|]")
_SEPARATORS = re.compile(r"[\n:;|]|(?<!\S)\S*\d\S*(?!\S)")


_JOINING = vocabulary(
    "the a an of and & at to from in by with for re cc dr mr mrs ms miss mx prof professor dear"
)


class SpanRefiner:
    """Cuts weak detections to their identifying core (see the module docstring)."""

    def __init__(self, allow_list: AllowList) -> None:
        self.allow_list = allow_list
        g = load_gazetteers()
        self.names = g.first_names | g.surnames
        self.first_names, self.surnames = g.first_names, g.surnames
        self.common = g.common_words
        self.edge = EDGE_WORDS | STRONG_CUES
        self.generic = GENERIC_SERVICE_WORDS | self.edge

    def refine(
        self, text: str, start: int, end: int, label: str, from_ner: bool = False
    ) -> Iterator[tuple[int, int]]:
        """The identifying pieces of ``text[start:end]``, cut at separators, edges trimmed.

        ``from_ner``: an organisation or place made only of service words is dropped only
        when NER proposed it; the cue recognisers judge that themselves, with the names
        ("Ward Medical Practice") that a generic list cannot tell apart.
        """
        separators = _PLACE_SEPARATORS if label == "ADDRESS" else _SEPARATORS
        if separators.search(text, start, end) is None:
            piece = self._trim(text, start, end, label, from_ner)
            if piece is not None:
                yield piece
            return
        at = start
        for cut in [*separators.finditer(text, start, end), None]:
            stop = end if cut is None else cut.start()
            if stop > at:
                piece = self._trim(text, at, stop, label, from_ner)
                if piece is not None:
                    yield piece
            if cut is not None:
                at = cut.end()

    def _trim(
        self, text: str, start: int, end: int, label: str, from_ner: bool
    ) -> tuple[int, int] | None:
        words = [m.span() for m in _WORD.finditer(text, start, end)]
        # A detection that stops inside a word ("HbA" of "HbA1c") did not find a name.
        if words and words[-1][1] < len(text) and text[words[-1][1]].isalnum():
            words.pop()
        if words and words[0][0] > 0 and text[words[0][0] - 1].isalnum():
            words.pop(0)
        # A named organisation or place found by its own pattern keeps its words ("Porter
        # Medical Practice", "Macmillan Cancer Support"): only joining words are trimmed.
        lenient = not from_ner and label != "PERSON"
        edge = self._joining if lenient else self._edge
        while words and edge(text[words[0][0] : words[0][1]], label):
            words.pop(0)
        while words and edge(text[words[-1][0] : words[-1][1]], label):
            if label == "PERSON" and len(words) > 1 and self._surname_after_name(text, words):
                break  # "Jake Ward", "Lawrence Day": a surname that is also a word
            words.pop()
        if not words:
            return None
        if label == "PERSON" and all(len(text[s:e].strip(".")) <= 1 for s, e in words):
            return None  # initials alone ("S:", "D.O.B", "T2DM") name nobody
        if (
            from_ner
            and label != "PERSON"
            and all(_bare(text[s:e]) in self.generic for s, e in words)
        ):
            return None
        return words[0][0], words[-1][1]

    @staticmethod
    def _joining(word: str, label: str) -> bool:
        bare = _bare(word)
        return bare in _JOINING or not any(c.isalnum() for c in bare)

    def _surname_after_name(self, text: str, words: list[tuple[int, int]]) -> bool:
        """A word after a listed first name is a surname unless it names a service: "Jake
        Ward", "GLEN GOSLING" (a capitalised surname nobody listed that is also a word), not
        "Rose Clinic" or "Anh present"."""
        word = text[words[-1][0] : words[-1][1]]
        last = _bare(word)
        previous = _bare(text[words[-2][0] : words[-2][1]])
        if previous not in self.first_names or previous in self.edge or not word[0].isupper():
            return False
        return last in self.surnames or (
            last not in self.generic and not self.allow_list.is_allowed_text(last)
        )

    def _edge(self, word: str, label: str) -> bool:
        bare = _bare(word)
        if not bare or not any(c.isalpha() for c in bare):
            return label != "ADDRESS" or not any(c.isdigit() for c in bare)
        if label != "ADDRESS" and any(c.isdigit() for c in bare):
            return True  # names have no digits: "J44.1 - Slept", "Falls x3"
        if bare in self.edge or self.allow_list.is_allowed_text(bare):
            return True
        if label == "PERSON":
            # Service words and English words that are not names are no part of a person
            # ("Hassan Dietitian", "Falls", "Following").
            return bare in self.generic or (bare in self.common and bare not in self.names)
        return False


def _bare(word: str) -> str:
    bare = word.strip(".'’-").lower()
    return bare[:-2] if bare.endswith(("'s", "’s")) else bare
