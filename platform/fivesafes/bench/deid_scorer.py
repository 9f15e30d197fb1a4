"""Scores scrubbed notes against gold spans, with the rules of the de-identification dev set.

The rules (``benchmarks/deid/README.md``), implemented literally:

* an identifier **leaks** if any of its identifying tokens -- words of 3+ letters that are
  not generic ("Road", "Flat", "Medical", "Practice", "Dr"...) and tokens with 2+ digits --
  occurs in the scrubbed note more often than it occurs outside identifiers in the
  original note, or if its digits (6 or more, separators removed) still appear;
* replacement tags (``[PERSON]``, ``<PERSON>``) are ignored when reading the scrubbed note;
* recall = identifiers not leaked / all identifiers, per label and overall;
* keep = keep phrases still present verbatim / all keep phrases;
* raw structured identifiers: any input row's NHS number (in any grouping) or full
  patient name (either order, any case) anywhere in the output is a failure;
* **non-identifier words kept** (over-scrubbing): the words of the original note outside
  every gold span -- runs of 2+ letters, no digits (numbers are the keep phrases' business,
  and one-letter tokens are mostly initials and list markers) -- counted as a multiset per
  note, case-insensitive, and the share of them still in the scrubbed note (tags ignored).
  Recall alone rewards a scrubber that blanks everything; this is the other side.

Token matching is case-insensitive and whole-token: a stricter reading than case-sensitive
matching, so the score cannot be flattered by a change of case.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Words that describe an identifier without identifying anyone.
GENERIC_WORDS = frozenset(
    """
    dr mr mrs ms miss mx prof sir the and of at road rd street st lane avenue ave close
    drive way place court gardens grove terrace square crescent flat flats apartment
    studio unit house floor room suite medical practice surgery centre center health
    hospital clinic group trust nhs foundation general partnership pharmacy
    """.split()  # noqa: SIM905 - a reviewable word list
)
TAG = re.compile(r"\[[A-Z][A-Z_]*\]|<[A-Z][A-Z_]*>")
TOKEN = re.compile(r"[^\W_]+")
WORD = re.compile(r"[^\W\d_]{2,}")
# Digits with the separators people put between them (space, dash, dot, slash, brackets).
DIGIT_RUN = re.compile(r"\d(?:[\s\-./()+]*\d)*")
MIN_DIGITS = 6


@dataclass(frozen=True, slots=True)
class GoldSpan:
    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class GoldNote:
    """One note with its identifier spans and the clinical phrases that must survive."""

    text: str
    spans: tuple[GoldSpan, ...]
    keep: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Leak:
    """A leaked identifier (row, label and the gold text: synthetic data, for debugging)."""

    row: int
    label: str
    text: str


@dataclass(slots=True)
class DeidScore:
    """Totals per label, leaks, keep and raw structured-identifier failures."""

    total: Counter[str] = field(default_factory=Counter)
    leaked: Counter[str] = field(default_factory=Counter)
    keep_total: int = 0
    keep_kept: int = 0
    raw_nhs_leaks: int = 0
    raw_name_leaks: int = 0
    leaks: list[Leak] = field(default_factory=list)
    words_total: int = 0
    words_kept: int = 0
    # Non-identifier words the scrubber removed (synthetic gold text, for debugging).
    dropped_words: Counter[str] = field(default_factory=Counter)

    @property
    def recall(self) -> float:
        total = sum(self.total.values())
        return 1.0 if total == 0 else 1 - sum(self.leaked.values()) / total

    def recall_by_label(self) -> dict[str, float]:
        return {label: 1 - self.leaked[label] / n for label, n in sorted(self.total.items()) if n}

    @property
    def keep_rate(self) -> float:
        return 1.0 if self.keep_total == 0 else self.keep_kept / self.keep_total

    @property
    def words_kept_rate(self) -> float:
        """Share of non-identifier words still present after scrubbing (1.0 if none)."""
        return 1.0 if self.words_total == 0 else self.words_kept / self.words_total

    @property
    def raw_leaks(self) -> int:
        return self.raw_nhs_leaks + self.raw_name_leaks


def identifying_tokens(span_text: str) -> list[str]:
    """Lower-cased identifying tokens of one identifier, per the rules."""
    tokens = []
    for token in TOKEN.findall(span_text):
        digits = sum(c.isdigit() for c in token)
        letters = sum(c.isalpha() for c in token)
        if digits >= 2 or (digits == 0 and letters >= 3 and token.lower() not in GENERIC_WORDS):
            tokens.append(token.lower())
    return tokens


def _token_counts(text: str) -> Counter[str]:
    return Counter(t.lower() for t in TOKEN.findall(text))


def _digit_strings(text: str) -> list[str]:
    """Every digit run of ``text`` with separators removed (tags break runs)."""
    return [re.sub(r"\D", "", m.group()) for m in DIGIT_RUN.finditer(TAG.sub("|", text))]


def word_counts(text: str) -> Counter[str]:
    """Lower-cased words (2+ letters, no digits) of ``text``, tags removed first."""
    return Counter(w.lower() for w in WORD.findall(TAG.sub(" ", text)))


def score_note(gold: GoldNote, scrubbed: str, row: int, score: DeidScore) -> None:
    """Add one note's identifiers, keep phrases and non-identifier words to ``score``."""
    visible = TAG.sub(" ", scrubbed)
    out_counts = _token_counts(visible)
    out_digits = _digit_strings(scrubbed)
    outside = list(gold.text)
    for span in gold.spans:
        outside[span.start : span.end] = " " * (span.end - span.start)
    outside_text = "".join(outside)
    outside_counts = _token_counts(outside_text)
    before, after = word_counts(outside_text), word_counts(scrubbed)
    score.words_total += sum(before.values())
    for word, wanted in before.items():
        kept = min(wanted, after[word])
        score.words_kept += kept
        if kept < wanted:
            score.dropped_words[word] += wanted - kept
    for span in gold.spans:
        span_text = gold.text[span.start : span.end]
        score.total[span.label] += 1
        leaked = any(
            out_counts[token] > outside_counts[token] for token in identifying_tokens(span_text)
        )
        digits = re.sub(r"\D", "", span_text)
        if not leaked and len(digits) >= MIN_DIGITS:
            leaked = any(digits in run for run in out_digits)
        if leaked:
            score.leaked[span.label] += 1
            score.leaks.append(Leak(row, span.label, span_text))
    for phrase, wanted in Counter(gold.keep).items():
        score.keep_total += wanted
        score.keep_kept += min(wanted, scrubbed.count(phrase))


class RawIdentifierIndex:
    """Every input row's NHS number and full name, to find any of them in any output."""

    def __init__(self, nhs_numbers: Iterable[str], names: Iterable[str]) -> None:
        self.nhs = {re.sub(r"\D", "", n) for n in nhs_numbers}
        self.nhs.discard("")
        self.name_pairs: set[tuple[str, str]] = set()
        for name in names:
            parts = TOKEN.findall(name.lower())
            if len(parts) >= 2:
                self.name_pairs.add((parts[0], parts[-1]))
                self.name_pairs.add((parts[-1], parts[0]))

    def nhs_leaks(self, scrubbed: str) -> int:
        """NHS numbers of any row present in ``scrubbed`` (any grouping)."""
        found = 0
        for run in _digit_strings(scrubbed):
            for i in range(len(run) - 9):
                if run[i : i + 10] in self.nhs:
                    found += 1
        return found

    def name_leaks(self, scrubbed: str) -> int:
        """Full names of any row present in ``scrubbed`` (adjacent first/last, either order)."""
        words = TOKEN.findall(TAG.sub(" ", scrubbed).lower())
        return sum((a, b) in self.name_pairs for a, b in itertools.pairwise(words))


def score_all(
    golds: Sequence[GoldNote],
    scrubbed: Sequence[str],
    nhs_numbers: Iterable[str] = (),
    names: Iterable[str] = (),
) -> DeidScore:
    """Score every note; raw identifiers are looked for in every output."""
    if len(golds) != len(scrubbed):
        raise ValueError("one scrubbed note per gold note is required")
    score = DeidScore()
    index = RawIdentifierIndex(nhs_numbers, names)
    for row, (gold, out) in enumerate(zip(golds, scrubbed, strict=True)):
        score_note(gold, out, row, score)
        score.raw_nhs_leaks += index.nhs_leaks(out)
        score.raw_name_leaks += index.name_leaks(out)
    return score
