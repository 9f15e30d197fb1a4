"""Regex building blocks for personal names from many traditions (shared by the cue recognisers).

Names are matched by shape, never by list: a capital letter (Latin-1 and Latin Extended-A,
so Zoë, Siân, Łukasz, Dvořák, Ó Súilleabháin), then letters, apostrophes and hyphens
(O'Neill, Al-Sayed, Smith-Jones, McDonald), optionally led by a family-name particle in
lower case (van der, de, da, al-, bin, ap, Ní, Ó, Mc...). Initials ("J." or "J") count.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from fivesafes.deid.allowlist import AllowList
from fivesafes.deid.recognizers.base import UkPatternRecognizer

UPPER = r"A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ"
LETTER = r"A-Za-zÀ-ÖØ-öø-ÿĀ-ſ"
_PARTICLES = frozenset(
    [
        "van",
        "von",
        "der",
        "den",
        "de",
        "del",
        "della",
        "di",
        "da",
        "das",
        "dos",
        "du",
        "la",
        "le",
        "st",
        "bin",
        "binti",
        "bint",
        "ibn",
        "al",
        "el",
        "ap",
        "ab",
        "ben",
        "bat",
        "ní",
        "nic",
        "ó",
        "ua",
        "mac",
        "mc",
        "ter",
        "ten",
        "op",
        "zu",
    ]
)
PARTICLE = (
    r"(?:van|von|der|den|de|del|della|di|da|das|dos|du|la|le|st|bin|binti|bint|ibn|al|el"
    r"|ap|ab|ben|bat|ní|nic|ó|ua|mac|mc|ter|ten|op|zu)"
)
WORD = rf"[{UPPER}](?:[{LETTER}]|['’\-](?=[{LETTER}]))*"
INITIAL = rf"[{UPPER}]\.?"
# "Kate Barrett", "J. Smith", "van der Merwe", "al-Hashimi", "Nguyen Thi Lan", "O'Neill".
NAME = (
    rf"(?:{INITIAL}\s+){{0,2}}(?:(?:{PARTICLE}|[{UPPER}][a-z]?)[\s\-'’])*{WORD}"
    rf"(?:\s+(?:{PARTICLE}[\s\-'’])*{WORD}){{0,3}}"
)
NAME_TOKEN = rf"(?:{WORD}|{INITIAL})"

_TOKEN = re.compile(r"[^\s,;:()]+")
# Qualifications after a name ("Dr G King MBBS FRCS"): capitalised, but no part of it.
_POST_NOMINAL = re.compile(
    r"(?:MBBS|MBChB|MBBCh|BM|BMBS|MD|MRCP|MRCGP|MRCS|MRCPsych|MRCOG|MRCPCH|FRCS|FRCP|FRCA"
    r"|FRCR|FRCOG|FRCPath|FRCPsych|RGN|RMN|RN|RNLD|RM|BSc|MSc|PhD|MPhil|DPhil|PGCert|PGDip"
    r"|MCSP|HCPC)\.?(?:\([^)]*\))?"
)
_NOT_NAME_SUFFIX = re.compile(r"(?:ologist|ology|iatrist|iatry|ician|ics|ist|ment|tion|ness)$")


def is_name_like(word: str, allow_list: AllowList) -> bool:
    """Could ``word`` be part of a name? Not if it is clinical or service vocabulary."""
    bare = word.rstrip(".,'’s")
    if not bare or not bare[0].isupper():
        return bare.lower() in _PARTICLES if bare else False
    if allow_list.is_not_name(word) or allow_list.is_not_name(bare):
        return False
    return not (len(bare) >= 7 and _NOT_NAME_SUFFIX.search(bare.lower()))


def _initial_before_name(text: str, tokens: list[tuple[int, int]], allow_list: AllowList) -> bool:
    """An initial ("G", "G.") or a two-letter name in capitals ("NA", "LI") is not
    name-like alone (both are also abbreviations) but leads a name: "Dr G King",
    "Dr NA WU"."""
    first = text[tokens[0][0] : tokens[0][1]].rstrip(".")
    return (
        len(first) <= 2
        and first.isupper()
        and len(tokens) > 1
        and is_name_like(text[tokens[1][0] : tokens[1][1]], allow_list)
    )


def trim_name(
    results: list[RecognizerResult], text: str, allow_list: AllowList
) -> list[RecognizerResult]:
    """Shrink each result to its name-like words; drop it when none is left.

    The leading word must be name-like (so "son Is" or "GP Surgery" never match); trailing
    words that are clinical vocabulary are trimmed ("Dr Patel Cardiology" -> "Patel").
    """
    kept: list[RecognizerResult] = []
    for result in results:
        tokens = [m.span() for m in _TOKEN.finditer(text, result.start, result.end)]
        while tokens and (
            not is_name_like(last := text[tokens[-1][0] : tokens[-1][1]], allow_list)
            or _POST_NOMINAL.fullmatch(last)
        ):
            tokens.pop()
        if not tokens or not (
            is_name_like(text[tokens[0][0] : tokens[0][1]], allow_list)
            or _initial_before_name(text, tokens, allow_list)
        ):
            continue
        result.start, result.end = tokens[0][0], tokens[-1][1]
        kept.append(result)
    return kept


class NamePatternRecognizer(UkPatternRecognizer):
    """Base class of the pattern recognisers of people's names.

    Capitalised words fit a name pattern whatever they mean ("Dr Patel Cardiology",
    "CXR, Bloods"), so each subclass judges its matches word by word against the
    allow-list in ``refine_matches``.
    """

    ENTITY = "PERSON"

    def __init__(self, allow_list: AllowList) -> None:
        self.allow_list = allow_list
        super().__init__()
