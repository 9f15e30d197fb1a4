"""Names and places by what they are, in any case: gazetteer look-ups steered by cues.

NER finds "Natalie Price" in a sentence of news English; it misses "OKAFOR, Chidi", "seen
with daughter kerry", "lives in Wivenhoe" and most names from outside its training data.
This recogniser reads every word once and asks three questions of it: is it a listed
personal name or UK/Irish place (:mod:`fivesafes.deid.gazetteers`), is it also a word
English writes in lower case ("will", "hope", "bath"), and what is around it (a kinship or
role word, a place preposition, another name). Then:

* a capitalised listed name that is not an English word is a person wherever it stands
  ("Okafor", "Priya"), in capitals too when four letters or more, or beside another name;
* a listed name that is an English word ("Will", "Rose", "Hope") counts only next to an
  unambiguous name part or after a cue ("wife Rose", "Rose Okafor");
* in lower case, a listed name counts only after a kinship or role cue ("husband dave",
  "d/w sister joy") or beside such a name;
* an unknown capitalised word (in no list, not English, not clinical) joins a name it
  touches ("Chidi Okafor" when only "Okafor" is listed), and so do initials ("J.Okafor");
* a capitalised listed place is a location ("Wivenhoe", "Great Bromley",
  "Stoke-by-Nayland"); one that is an English word ("Bath", "Street") or any place in lower
  case only after a place cue ("lives in", "moved from", "near").

Clinical vocabulary (the allow-list) is never a name here, and every result passes the
scrubber's allow-list check like other cue-based detections, so "Parkinson's disease"
stays.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from presidio_analyzer import RecognizerResult

from fivesafes.deid.allowlist import AllowList, vocabulary
from fivesafes.deid.gazetteers import Gazetteers, index_phrases, load_gazetteers
from fivesafes.deid.recognizers.base import UkLocalRecognizer, make_result
from fivesafes.deid.recognizers.cued_name import STRONG_CUES, VERBS_BEFORE_WEAK, WEAK_CUES
from fivesafes.deid.recognizers.names import LETTER, UPPER

# Words (with the digits of "FY1" or "CT2"), initials ("R."), numbers, and single marks.
_TOKEN = re.compile(rf"[{UPPER}]\.|[{LETTER}](?:[{LETTER}0-9]|['’\-](?=[{LETTER}]))*|\d[\w.]*|\S")
_SENTENCE_END = frozenset(".!?:;\n•*|")
# Words before a place: "lives in", "moved from", "walks to the shop in".
PLACE_CUES = vocabulary(
    """
    in at from to near nr towards toward around outside via of into lives living lived
    moved moving born raised grew resides residing relocated returned visiting visited
    travelled traveled drove drives walks walked village town city
    """
)
STRONG_PLACE_CUES = vocabulary("lives living lived moved born raised resides residing relocated")
# Never read as a name or place however the lists are filled: months, weekdays, words
# that open clinical headings.
_NEVER = vocabulary(
    """
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday
    friday saturday sunday mon tue tues wed thu thur thurs fri sat sun today tomorrow
    yesterday am pm
    """
)
# Words that follow a kinship word without being a name ("son will", "wife says").
_NOT_AFTER_CUE = vocabulary(
    """
    will may can could would should might must shall is was are were has had have be been
    being does did do says said reports reported states stated rang called phoned visited
    visiting visits present here there also and or but not no who which that this the a an
    his her their its at in on to from with by for of as aware informed updated happy
    concerned worried upset well unwell very too still now then today again both all
    """
)
_PARTICLES = vocabulary("van von der den de del della di da das dos du la le al el bin ibn ap")
# Words that name a thing after a person ("Lister Ward", "Nightingale House"): never
# part of the person's name.
_STRUCTURE_WORDS = vocabulary(
    """
    ward wards bay bed unit clinic theatre suite wing block road street lane avenue close
    drive way house court hospital surgery practice centre center school college
    university trust group team service services home lodge hall building
    """
)

# Inflections of English words are English too ("fundraising", "mobilised").
_SUFFIXES = (
    ("ing", ""),
    ("ing", "e"),
    ("ed", ""),
    ("ed", "e"),
    ("s", ""),
    ("es", ""),
    ("ies", "y"),
    ("er", ""),
    ("ers", ""),
    ("ly", ""),
    ("ised", "ise"),
    ("ized", "ize"),
)
# An identifier on the same line: a long number, a record number, an age and sex ("81M").
_LINE_ID = re.compile(r"\d{6,}|\b[A-Z]{1,4}\d{5,}|\b\d{1,3}\s?[MF]\b|\b\d{3}[ \-]\d{3}[ \-]\d{4}\b")
# A numbered list entry: number, one to four words (a name), then an age and sex ("81M").
_LIST_ENTRY = re.compile(
    rf"^[ \t]*(?:\d{{1,2}}[.)]|[-*•])[ \t]+(?P<who>[{LETTER}][{LETTER}'’\-]*"
    rf"(?:,?[ \t][{LETTER}][{LETTER}'’\-.]*){{0,3}}),?[ \t]+\d{{1,3}}[ \t]?[MF]\b",
    re.MULTILINE,
)
_SHORT_LINE = re.compile(r"^[ \t]*\S[^\n]{0,59}$", re.MULTILINE)
_LOWER, _TITLE, _CAPS, _INITIAL, _OTHER = range(5)
_NAME_GAPS = frozenset({" ", "  ", "-", " -", "- "})


class GazetteerRecognizer(UkLocalRecognizer):
    """Listed names and places, in any case, with cues deciding the ambiguous ones."""

    ENTITIES = ("PERSON", "LOCATION")
    NAME_SCORE = 0.7
    PLACE_SCORE = 0.7

    def __init__(
        self,
        allow_list: AllowList,
        gazetteers: Gazetteers | None = None,
        extra_places: frozenset[str] = frozenset(),
    ) -> None:
        self.allow_list = allow_list
        g = gazetteers or load_gazetteers()
        # Eponyms stay listed ("Turner", "Wilson" are people too): the scrubber's allow-list
        # keeps "Turner syndrome" and "Wilson's disease" whatever finds them.
        clinical = allow_list.not_names | _NEVER
        self.names = (g.first_names | g.surnames) - clinical
        self.first_names = g.first_names - clinical
        self.common = g.common_words | clinical
        places = g.places | {p.lower() for p in extra_places}
        self.places = frozenset(p for p in places if " " not in p) - _NEVER
        self.place_phrases = (
            g.place_phrases if not extra_places else index_phrases(frozenset(places))
        )
        self.place_starts = self.places | frozenset(self.place_phrases)
        super().__init__()

    # ------------------------------------------------------------------------- analysis
    def find(self, text: str) -> list[RecognizerResult]:
        """Every name run and place found (see the module docstring for the rules)."""
        doc = _Doc(text)
        marks = self._name_marks(doc)
        found: list[RecognizerResult] = []
        n = len(doc.tokens)
        place_starts = self.place_starts
        i = 0
        while i < n:
            if i in marks:
                j = i
                while j + 1 in marks and doc.adjacent(j, j + 1):
                    j += 1
                found.append(self._result("PERSON", doc.starts[i], doc.ends[j]))
                i = j + 1
                continue
            bare = doc.bare(i)
            if bare in place_starts and (end := self._place_at(doc, i, bare)) is not None:
                found.append(self._result("LOCATION", doc.starts[i], doc.ends[end]))
                i = end + 1
                continue
            i += 1
        return found

    def _result(self, entity: str, start: int, end: int) -> RecognizerResult:
        score = self.NAME_SCORE if entity == "PERSON" else self.PLACE_SCORE
        return make_result(entity, start, end, score, self._metadata)

    def _name_marks(self, doc: _Doc) -> set[int]:
        """Indices of words that are part of a personal name."""
        strong: set[int] = set()
        weak: set[int] = set()
        names, common = self.names, self.common
        for i, bare in enumerate(doc.bares):
            if bare not in names and not (("-" in bare or "'" in bare) and self._compound(bare)):
                continue
            shape = doc.shape(i)
            if shape in (_OTHER, _INITIAL) or bare in _STRUCTURE_WORDS:
                continue
            is_common = bare in common
            if shape == _TITLE:
                if not is_common or self._cued(doc, i):
                    strong.add(i)
                elif not doc.sentence_start(i):
                    weak.add(i)
            elif shape == _CAPS:
                if (not is_common and len(bare) >= 4) or self._cued(doc, i):
                    strong.add(i)
                else:
                    weak.add(i)
            elif bare not in _NOT_AFTER_CUE or (
                bare in self.first_names and doc.ends_clause(i) and self._cued(doc, i)
            ):
                if self._cued(doc, i):
                    strong.add(i)  # "husband dave", "daughter rose"
                else:
                    weak.add(i)  # lower case: only beside a cued name
        for i in self._unlisted_after_cue(doc):
            strong.add(i)
        for i in self._initial_and_surname(doc):
            strong.update((i, i + 1))
        for i in self._unknown_pairs(doc):
            strong.update((i, i + 1))
        for i in self._name_lines(doc):
            strong.add(i)
        for i in self._patient_list_names(doc):
            strong.add(i)
        # A listed first name then a listed surname, both capitalised: "John Smith".
        for i in sorted(weak):
            if (
                i + 1 in weak
                and doc.bare(i) in self.first_names
                and doc.shape(i) == doc.shape(i + 1) != _LOWER
                and doc.adjacent(i, i + 1)
            ):
                strong.update((i, i + 1))
        marks = set(strong)
        # Grow each name over touching weak words, unknown capitalised words, initials and
        # particles, outwards from what is already marked.
        frontier = sorted(strong)
        n = len(doc.tokens)
        while frontier:
            grown: list[int] = []
            for i in frontier:
                for k, before in ((i - 1, True), (i + 1, False)):
                    if k < 0 or k >= n or k in marks:
                        continue
                    if not (doc.adjacent(k, i) if before else doc.adjacent(i, k)):
                        continue
                    if (
                        doc.shape(k) == _LOWER
                        and doc.shape(i) != _LOWER
                        and not (before and doc.bare(k) in _PARTICLES)
                    ):
                        continue
                    if k in weak or self._companion(doc, k, before):
                        marks.add(k)
                        grown.append(k)
            frontier = grown
            if not frontier:
                frontier = [k for k in self._coordinated(doc, marks) if k not in marks]
                marks.update(frontier)
        return marks

    def _coordinated(self, doc: _Doc, marks: set[int]) -> Iterator[int]:
        """A name joined to a found one by "/", "&" or "and": "Crew Jing Cheung / Glen".

        Coordination pairs like with like, so a listed name that is also a word ("Glen",
        "Hunter") counts there.
        """
        for k in range(2, len(doc.tokens)):
            if k in marks or doc.shape(k) not in (_TITLE, _CAPS) or k - 2 not in marks:
                continue
            if doc.bares[k - 1] not in {"/", "&", "and"}:
                continue
            bare = doc.bares[k]
            if bare in _STRUCTURE_WORDS or bare in _NEVER or self.allow_list.is_not_name(bare):
                continue
            if bare in self.names or self._unknown(bare):
                yield k

    def _unknown(self, bare: str) -> bool:
        """Not English, not clinical, not in any list: probably a name nobody listed.

        English is SCOWL's lower-case list (``common``), not the WordNet index the
        allow-list also knows: WordNet holds proper nouns ("Faisal", "MacLeod", "Gosling")
        that are names, not words. Hyphenated words are unknown when every part is
        ("al-sayed", "abu-bakr"), a family-name particle counting as unknown.
        """
        if "-" in bare:
            parts = [p for p in bare.split("-") if p]
            return (
                len(parts) > 1
                and any(len(p) >= 3 for p in parts)
                and all(p in _PARTICLES or (p.isalpha() and self._unknown(p)) for p in parts)
            )
        return (
            len(bare) >= 3
            and bare.isalpha()
            and bare not in self.common
            and bare not in _NEVER
            and not self.allow_list.is_not_name(bare)
            and not self._english(bare)
        )

    def _english(self, bare: str) -> bool:
        """A SCOWL word or an inflection of one ("fundraising", "mobilised", "bloods").

        The stem must have four letters: "Sayed" is no inflection of "say".
        """
        return bare in self.common or any(
            bare.endswith(suffix)
            and len(bare) - len(suffix) >= 4
            and bare[: -len(suffix)] + tail in self.common
            for suffix, tail in _SUFFIXES
        )

    def _unlisted_after_cue(self, doc: _Doc) -> Iterator[int]:
        """An unknown word right after a kinship or role cue, in lower case or capitals:
        "grandson tobenna", "FY1 FAISAL MALIK" (title case is the cue recognisers' job)."""
        cues = STRONG_CUES
        for j, cue in enumerate(doc.bares[:-1]):
            if cue not in cues:
                continue
            i = j + 1
            while i < len(doc.tokens) and doc.tokens[i] in ":(-":
                i += 1
            if i >= len(doc.tokens):
                continue
            shape, bare = doc.shape(i), doc.bares[i]
            if shape == _LOWER:
                if self._unknown(bare) and bare not in _NOT_AFTER_CUE:
                    yield i
            elif shape == _CAPS and self._unknown_caps(bare):
                yield i

    def _unknown_pairs(self, doc: _Doc) -> Iterator[int]:
        """Two capitalised words side by side that no list knows: a name nobody listed.

        Drugs, organisms and eponyms are single listed words; two unknown capitalised words
        together are a person (or a place) far more often than not. In capitals the words
        could be abbreviations, so there the line must also hold an identifier (a long
        number, a record number or an age and sex such as "81M"), as patient lists do; so
        must a listed first name and surname that are both English words ("Will Church").
        """
        shapes = doc.shapes
        for i in range(len(doc.tokens) - 1):
            shape = shapes[i]
            if shape not in (_TITLE, _CAPS) or shapes[i + 1] != shape:
                continue
            if not doc.adjacent(i, i + 1):
                continue
            a, b = doc.bares[i], doc.bares[i + 1]
            listed_a = a in self.names and a not in self.common
            if (
                a in self.first_names
                and b in self.names
                and a not in _NEVER
                and b not in _STRUCTURE_WORDS
                and self._line_has_id(doc, i)
            ):
                yield i  # "3. Will Church 67F": listed first name and surname beside an id
            elif shape == _TITLE:
                if (self._unknown(a) and (self._unknown(b) or b in self.names)) or (
                    listed_a and self._unknown(b)
                ):
                    yield i
            elif self._unknown_caps(a) and self._unknown_caps(b) and self._line_has_id(doc, i):
                yield i

    def _unknown_caps(self, bare: str) -> bool:
        """A word in capitals that is no English word and no clinical abbreviation."""
        return (
            len(bare) >= 3
            and bare.isalpha()
            and bare not in _NEVER
            and not self._english(bare)
            and not self.allow_list.is_not_name(bare)
            and not self.allow_list.is_allowed_text(bare)
        )

    def _line_has_id(self, doc: _Doc, i: int) -> bool:
        text = doc.text
        start = text.rfind("\n", 0, doc.starts[i]) + 1
        end = text.find("\n", doc.ends[i])
        return _LINE_ID.search(text, start, len(text) if end < 0 else end) is not None

    def _initial_and_surname(self, doc: _Doc) -> Iterator[int]:
        """An initial then a capitalised surname: "R.Leung", "J. Okafor", "P Moldovan".

        A bare "A" or "I" is more often an article or a pronoun, so after one of those the
        surname must be a listed one that is not an English word.
        """
        shapes = doc.shapes
        for i in range(len(doc.tokens) - 1):
            if shapes[i] != _INITIAL or shapes[i + 1] != _TITLE:
                continue
            gap = doc.text[doc.ends[i] : doc.starts[i + 1]]
            if gap not in {"", " "}:
                continue
            bare = doc.bares[i + 1]
            if bare in _STRUCTURE_WORDS or bare in _NEVER or self.allow_list.is_not_name(bare):
                continue
            dotted = doc.tokens[i].endswith(".")
            if not dotted and doc.tokens[i] in {"A", "I"}:
                if bare in self.names and bare not in self.common:
                    yield i
            elif bare in self.names or self._unknown(bare):
                # "G King", "T Marsh": an initial makes a surname that is also a word a name.
                yield i

    def _patient_list_names(self, doc: _Doc) -> Iterator[int]:
        """The words between a list number and an age and sex: "2. GLEN GOSLING  81M".

        Patient lists (MDT, handover, theatre and bed lists) write one patient per line
        in this order whatever the names are, so the structure decides, not the lists.
        """
        for line in _LIST_ENTRY.finditer(doc.text):
            i = bisect.bisect_left(doc.starts, line.start("who"))
            j = bisect.bisect_left(doc.starts, line.end("who")) - 1
            words = range(i, j + 1)
            if not words or any(doc.shape(k) == _LOWER for k in words):
                continue
            if all(self.allow_list.is_allowed_text(doc.tokens[k]) for k in words):
                continue
            yield from (
                k
                for k in words
                if doc.shape(k) != _OTHER and not self.allow_list.is_not_name(doc.tokens[k])
            )

    def _name_lines(self, doc: _Doc) -> Iterator[int]:
        """A line holding only a name, as sign-offs and lists write them ("tiago silva")."""
        text = doc.text
        n = len(doc.tokens)
        for line in _SHORT_LINE.finditer(text):
            if len(line.group().split()) > 3:
                continue
            i = bisect.bisect_left(doc.starts, line.start())
            j = bisect.bisect_left(doc.starts, line.end()) - 1
            if i > j:
                continue
            # The last line of a note is its sign-off: there a listed name that is also a
            # word ("may", "cooper", "blessing") is the writer.
            last = j == n - 1 and i > 0
            if self._all_name_words(doc, range(i, j + 1), last):
                yield from range(i, j + 1)

    def _all_name_words(self, doc: _Doc, line: range, sign_off: bool = False) -> bool:
        listed = 0
        for k in line:
            bare = doc.bares[k]
            if doc.shape(k) == _INITIAL:
                continue
            if doc.shape(k) == _OTHER or bare in _STRUCTURE_WORDS or bare in _NEVER:
                return False
            if bare in self.names and (sign_off or bare not in self.common):
                listed += 1
            elif not self._unknown(bare):
                return False
        # A sign-off is a name even when no list knows it ("eilidh", "Alemu").
        return listed >= 1 or sign_off

    def _compound(self, bare: str) -> bool:
        """ "Smith-Jones", "O'Neill": every part listed, one of them a real (non-English) name."""
        parts = [p for p in re.split(r"[-']", bare) if p]
        return (
            len(parts) > 1
            and all(len(p) >= 2 and p in self.names for p in parts)
            and any(len(p) >= 3 and p not in self.common for p in parts)
        )

    def _companion(self, doc: _Doc, k: int, before_name: bool) -> bool:
        """A word that belongs to the neighbouring name without being listed itself."""
        shape = doc.shape(k)
        bare = doc.bare(k)
        if shape == _INITIAL:
            return before_name
        if shape == _LOWER:  # lower-case names only join lower-case ones ("kerry lewandowska")
            return (before_name and bare in _PARTICLES) or (
                doc.shape(k + (1 if before_name else -1)) == _LOWER and self._unknown(bare)
            )
        if shape == _OTHER or bare in self.common or bare in _STRUCTURE_WORDS:
            return False
        if self.allow_list.is_not_name(bare) or self._english(bare):
            return False
        return not (shape == _CAPS and len(bare) <= 3)

    def _cued(self, doc: _Doc, i: int) -> bool:
        """Is there a kinship, role or action cue right before word ``i``?"""
        j = i - 1
        while j >= 0 and doc.tokens[j] in ":(,-'’":
            j -= 1
        if j < 0:
            return False
        cue = doc.tokens[j].lower()
        if cue in STRONG_CUES:
            return True
        return cue in WEAK_CUES and j > 0 and doc.tokens[j - 1].lower() in VERBS_BEFORE_WEAK

    def _place_at(self, doc: _Doc, i: int, bare: str) -> int | None:
        """Index of the last word of a place starting at word ``i``, or None."""
        shape = doc.shape(i)
        if shape in (_OTHER, _INITIAL):
            return None
        for phrase in self.place_phrases.get(bare, ()):
            end = doc.match_phrase(i, phrase)
            if end is None:
                continue
            ambiguous = shape == _LOWER or all(p in self.common for p in phrase)
            if ambiguous and not self._place_cued(doc, i, strong=shape == _LOWER):
                continue
            return end
        if bare not in self.places or len(bare) < 3:
            return None
        if shape == _LOWER or bare in self.common:
            return i if self._place_cued(doc, i, strong=shape == _LOWER) else None
        if shape == _CAPS and len(bare) < 4:
            return None
        return i

    def _place_cued(self, doc: _Doc, i: int, strong: bool = False) -> bool:
        """A place word just before ("in", "moved from"); in lower case a stronger one."""
        cues = STRONG_PLACE_CUES if strong else PLACE_CUES
        for j in range(i - 1, max(-1, i - 4), -1):
            token = doc.bares[j]
            if token in cues:
                return True
            if strong and token not in {"in", "to", "from", "at", "near", "the"}:
                return False
            if not token[0].isalpha() and token != ",":  # noqa: S105 - a word, not a secret
                return False
        return False


def _bare(token: str) -> str:
    """Lower case, curly apostrophe straightened, possessive dropped ("Okafor's" -> "okafor")."""
    lower = token.lower()
    if "’" in lower:
        lower = lower.replace("’", "'")
    return lower[:-2] if lower.endswith("'s") else lower


def _shape(token: str) -> int:
    if len(token) == 1:
        return _INITIAL if token.isupper() else _OTHER
    if len(token) == 2 and token[1] == "." and token[0].isupper():
        return _INITIAL
    if not token[0].isalpha():
        return _OTHER
    if token.isupper():
        return _CAPS
    if token[0].isupper():
        return _TITLE
    return _LOWER


class _Doc:
    """A note's words with lazily computed properties (most words are never looked at)."""

    __slots__ = ("bares", "ends", "shapes", "starts", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        matches = list(_TOKEN.finditer(text))
        self.tokens = [m.group() for m in matches]
        self.starts = [m.start() for m in matches]
        self.ends = [m.end() for m in matches]
        self.bares = [_bare(t) for t in self.tokens]
        self.shapes = [_shape(t) for t in self.tokens]

    def bare(self, i: int) -> str:
        return self.bares[i]

    def shape(self, i: int) -> int:
        return self.shapes[i]

    def sentence_start(self, i: int) -> bool:
        if i == 0:
            return True
        gap = self.text[self.ends[i - 1] : self.starts[i]]
        return self.tokens[i - 1] in _SENTENCE_END or "\n" in gap

    def ends_clause(self, i: int) -> bool:
        """Word ``i`` closes its clause: a full stop, comma or bracket, or the line ends."""
        if i + 1 >= len(self.tokens):
            return True
        return (
            self.tokens[i + 1] in {".", ",", ";", ")"}
            or "\n" in self.text[self.ends[i] : self.starts[i + 1]]
        )

    def adjacent(self, a: int, b: int) -> bool:
        """Words of one name: a space, a hyphen, nothing after an initial ("J.Okafor"), or
        a comma after a surname in capitals ("OKAFOR, Chidi")."""
        gap = self.text[self.ends[a] : self.starts[b]]
        if gap in _NAME_GAPS:
            return True
        if gap == "":
            return self.shapes[a] == _INITIAL
        return gap in {", ", ","} and self.shapes[a] == _CAPS and self.shapes[b] == _TITLE

    def match_phrase(self, i: int, phrase: tuple[str, ...]) -> int | None:
        """Last index of ``phrase`` written word for word from ``i`` (single spaces)."""
        j = i
        for k, part in enumerate(phrase):
            if j >= len(self.tokens) or self.bares[j] != part:
                return None
            if k and self.text[self.ends[j - 1] : self.starts[j]] != " ":
                return None
            j += 1
        return j - 1
