"""Address blocks: the lines around a street or a postcode, each part on its own line.

Letters put an address one part a line::

    Rowan House
    46 Jessica Road
    Wivenhoe
    Colchester
    Essex
    CO7 9AB

A village on its own line has no cue and is in no list a small NER model knows, but its
place in the block says what it is. Anchored on a line that is certainly an address (a UK
postcode, or a house number with a street), the block grows up and down over short lines
of capitalised words; every such line is an identifier. Lines that only describe a
service ("Department of Cardiology"), labelled lines ("Tel:", "Dear", "Re:") and sentences
end the block.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from fivesafes.deid.recognizers.base import UkLocalRecognizer, make_result
from fivesafes.deid.recognizers.names import LETTER, UPPER
from fivesafes.deid.recognizers.street_address import STREET_TYPES
from fivesafes.deid.service_words import EDGE_WORDS, GENERIC_SERVICE_WORDS

_POSTCODE_LINE = re.compile(
    r"(?:.*[\s,])?(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[A-Z]{2}\s*$", re.IGNORECASE
)
_STREET_LINE = re.compile(
    rf"^(?:(?:Flat|Apartment|Apt|Unit)\s+\d+[A-Za-z]?,?\s+)?\d{{1,4}}[A-Za-z]?,?\s+"
    rf"(?:[{UPPER}][{LETTER}'’\-]*\s+){{0,3}}[{UPPER}][{LETTER}'’\-]*\.?,?$"
)
# A block line: capitalised words (and house numbers), commas, hyphens and apostrophes.
_BLOCK_LINE = re.compile(
    rf"^(?:[\d]{{1,4}}[A-Za-z]?,?\s+)?[{UPPER}\d][{LETTER}\d'’&.\-]*"
    rf"(?:,?\s+(?:[{UPPER}\d][{LETTER}\d'’&.\-]*|of|on|the|upon|by|in|le|la|de|under|cum|and))*,?$"
)
_LABELS = re.compile(
    r"(?i)^(?:tel|telephone|fax|mob|mobile|email|e-mail|web|dear|re|ref|our|your|nhs|dob|d\.o\.b"
    r"|date|hospital|patient|name|gp|cc|to|from|subject|diagnosis|clinic|dictated|typed|yours"
    r"|kind|regards|signed|private|confidential|urgent)\b"
)
_MAX_WORDS = 7
_MAX_CHARS = 64
_REACH = 6  # lines above or below the anchor


class AddressBlockRecognizer(UkLocalRecognizer):
    """Every line of an address block, anchored on a postcode or a numbered street."""

    ENTITIES = ("ADDRESS", "LOCATION")
    SCORE = 0.7

    def __init__(self) -> None:
        super().__init__(name="AddressBlock")
        self._generic = GENERIC_SERVICE_WORDS | EDGE_WORDS | {t.lower() for t in STREET_TYPES}

    def find(self, text: str) -> list[RecognizerResult]:
        """One result per address-block line."""
        if "\n" not in text:
            return []
        lines: list[tuple[int, int]] = []
        at = 0
        for line in text.split("\n"):
            lines.append((at, at + len(line)))
            at += len(line) + 1
        content = [text[s:e].strip() for s, e in lines]
        anchors = [
            i
            for i, line in enumerate(content)
            if line
            and len(line) <= _MAX_CHARS
            and (_POSTCODE_LINE.match(line) or _STREET_LINE.match(line))
        ]
        if not anchors:
            return []
        chosen = {i for i in anchors if self._block_line(content[i])}
        for anchor in anchors:
            for step in (-1, 1):
                i = anchor + step
                while 0 <= i < len(lines) and abs(i - anchor) <= _REACH:
                    if i in anchors:
                        i += step
                        continue
                    if not self._block_line(content[i]):
                        break
                    chosen.add(i)
                    i += step
        found: list[RecognizerResult] = []
        for i in sorted(chosen):
            start, end = lines[i]
            lead = len(text[start:end]) - len(text[start:end].lstrip())
            begin, stop = start + lead, start + lead + len(content[i])
            entity = "ADDRESS" if any(c.isdigit() for c in content[i]) else "LOCATION"
            found.append(make_result(entity, begin, stop, self.SCORE, self._metadata))
        return found

    def _block_line(self, line: str) -> bool:
        if not line or len(line) > _MAX_CHARS or len(line.split()) > _MAX_WORDS:
            return False
        if _LABELS.match(line) or not _BLOCK_LINE.match(line):
            return False
        words = [w.strip(",.'’").lower() for w in line.split()]
        return not all(w in self._generic or w.isdigit() for w in words)
