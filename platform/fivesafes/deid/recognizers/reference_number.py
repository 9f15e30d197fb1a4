"""Reference numbers of other shapes: other trusts' record numbers, police, council and
court references, passports, vehicle registrations, professional registrations.

Each system writes its own shape, so shape alone is not enough to list them all; what they
share is a cue before them ("crime ref", "passport no", "case number", "GMC") or a mix of
letters and many digits that clinical writing never produces. Clinical codes (SNOMED CT,
ICD-10, OPCS, dm+d) are digits too: the long-number recogniser leaves those alone after a
code cue.
"""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import Pattern, RecognizerResult

from fivesafes.deid.allowlist import vocabulary
from fivesafes.deid.recognizers.base import UkPatternRecognizer, make_result

# Words that introduce a reference ("crime ref", "passport no", "collar", "GMC").
CUE_WORDS = vocabulary(
    """
    passport crime incident occurrence log cad cris police case claim policy licence license
    dvla registration reg vehicle plate account acct member membership employee staff
    payroll badge gmc nmc hcpc gphc upn uln pupil student chi h&c ho ukvi brp visa referral
    ticket booking ubrn ers e-referral ereferral order specimen sample lab accession
    encounter rxx ref reference our your court docket file tenancy council housing benefit
    uc nino insurance serial device pacemaker implant collar warrant shoulder callsign job
    mash lado office sign pin
    """
)
# Words between a cue and its reference: "crime ref no.", "case number is".
_LINKS = vocabulary("ref reference no num number id is of # : - . no.")
_WORD = re.compile(r"[A-Za-z&+#\-]+")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/-.")


class ReferenceNumberRecognizer(UkPatternRecognizer):
    """Cued references of any shape with two or more digits, and unmistakable shapes.

    Shapes that start with a capital run as patterns; the rest start from the note's digit
    runs (a few per note), each grown to its whole token and then judged, which costs far
    less than trying a cue alternation at every position of every note.
    """

    ENTITY = "ID"
    PATTERNS: ClassVar[list[Pattern]] = [
        # Current and older UK number plates: "AB12 CDE", "AB12CDE", "P123 ABC".
        Pattern(
            "vehicle registration",
            r"\b(?:[A-Z]{2}\d{2}\s?[A-Z]{3}|[A-Z]\d{1,3}\s?[A-Z]{3})\b",
            0.75,
        ),
        # Another trust's code and its number in groups: "NNUH 290 3117".
        Pattern(
            "letters and grouped digits",
            r"\b(?!(?:NHS|CHI|TEL|MOB|FAX|EXT|DOB|MRN|REF|NO)\b)[A-Z]{2,5}[ \-]\d{3}[ \-]\d{3,4}\b",
            0.7,
        ),
    ]
    CUED_SCORE = 0.8
    SHAPE_SCORE = 0.7
    _DIGITS = re.compile(r"\d+")
    # Letters then digits with separators or a check letter: "RGT-123456", "K1234567X",
    # "SC-2023-0456", "LA/23/01234"; digits then a check letter: "1234567A"; police
    # references "42/123456/23"; any token mixing letters with five or more digits.
    _SHAPES = re.compile(
        r"[A-Z]{1,5}[\-/]\d{4,10}[A-Z]?|[A-Z]{1,5}[\-/]\d{2,4}[\-/]\d{3,8}|\d{6,10}[A-Z]"
        r"|\d{1,5}/\d{3,8}/\d{2,5}"
        r"|(?=[A-Za-z]*\d)(?=\d*[A-Za-z])(?=(?:[A-Za-z]*\d){5})[A-Za-z0-9]{6,20}"
    )
    # A dose or a measure is a number and its unit, nothing else: "10000units", "2x500mg";
    # "27N4111G" (an NMC PIN) ends in a letter that is no gram.
    _UNIT = re.compile(r"(?i)\d+(?:[.,/x\-]\d+)*(?:mg|mcg|ml|units?|iu|mmol|kg|g|mm|cm|hrs?|am|pm)")
    _REACH = 60

    def refine_matches(self, text: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
        """Capitalised shapes by pattern; digit-bearing tokens by cue or by shape."""
        results = found
        seen_end = -1
        for run in self._DIGITS.finditer(text):
            if run.start() < seen_end:
                continue
            start, end = run.start(), run.end()
            while start > 0 and text[start - 1] in _TOKEN_CHARS:
                start -= 1
            while end < len(text) and text[end] in _TOKEN_CHARS:
                end += 1
            while end > start and not text[end - 1].isalnum():
                end -= 1  # a full stop after the reference is not part of it
            while start < end and not text[start].isalnum():
                start += 1
            seen_end = end
            token = text[start:end]
            if len(token) < 2 or self._UNIT.fullmatch(token):
                continue
            begin = self._cued_start(text, start)
            if begin is not None and sum(c.isdigit() for c in token) >= 2 and len(token) <= 26:
                results.append(
                    make_result(self.ENTITY, begin, end, self.CUED_SCORE, self._metadata)
                )
            elif self._SHAPES.fullmatch(token):
                results.append(
                    make_result(self.ENTITY, start, end, self.SHAPE_SCORE, self._metadata)
                )
        return results

    def _cued_start(self, text: str, start: int) -> int | None:
        """Where a cued reference starts (with a prefix such as "CAD "), or None if uncued."""
        window = text[max(0, start - self._REACH) : start]
        if window and not window[-1].isspace() and window[-1] not in ":#.-(":
            return None
        words = _WORD.findall(window)[-5:]
        # "crime ref CAD 5616": a short code in capitals between the cue and the number.
        if words and 2 <= len(words[-1]) <= 6 and words[-1].isupper() and window.endswith(" "):
            prefix = words[-1]
            if len(words) > 1 and self._is_cue(words[:-1]) and window.rstrip().endswith(prefix):
                return start - len(window) + len(window.rstrip()) - len(prefix)
        return start if self._is_cue(words) else None

    @staticmethod
    def _is_cue(words: list[str]) -> bool:
        lowered = [w.lower() for w in words]
        # Link words are dropped ("crime ref no."), unless nothing before them is a cue:
        # then "Ref" is the cue itself ("Jan. Ref CAD 4051").
        while len(lowered) > 1 and lowered[-1] in _LINKS:
            if lowered[-1] in CUE_WORDS and lowered[-2] not in CUE_WORDS | _LINKS:
                break
            lowered.pop()
        return bool(lowered) and lowered[-1] in CUE_WORDS

    def invalidate_result(self, pattern_text: str) -> bool | None:
        # "10000units" is a dose, not a reference.
        return bool(self._UNIT.fullmatch(pattern_text))
