"""A lean Presidio pattern recogniser: compiled once, case-sensitive, with context words.

Presidio's :class:`PatternRecognizer` compiles with ``IGNORECASE`` by default (which is why
plain Presidio reads "Hb 121" as a person-like token and "500mg TDS" as a licence number)
and leaves context to an engine-wide enhancer that needs lemmas. Here each recogniser
declares, Presidio style, class constants ``PATTERNS`` (whose regex may name a group
``id``: only that group is reported, so a cue like "Hosp no" can anchor the match without
being scrubbed) and ``CONTEXT`` (lower-case cue words looked for just before the match,
which raise the score), and overrides ``validate_result`` for checksums and
``refine_matches`` to trim, drop or add to what the patterns found. The pattern loop is
tight because it runs on every note: the scrubber's per-note budget is about two
milliseconds beyond spaCy itself.

Recognisers that are code rather than patterns (cues, gazetteers, the patient's own
identifiers) derive from :class:`UkLocalRecognizer` and implement ``find``. Both bases
own Presidio's ``analyze`` signature, so a recogniser states only what it finds.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any, ClassVar

from presidio_analyzer import LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult

# Presidio's score conventions: a checksum that passes makes a match certain.
MAX_SCORE = 1.0
CONTEXT_BOOST = 0.35
CONTEXT_WINDOW = 48  # characters before the match searched for context words


def make_result(
    entity: str, start: int, end: int, score: float, metadata: dict[str, Any]
) -> RecognizerResult:
    """A Presidio result carrying the recogniser's name (the scrubber ranks by source)."""
    return RecognizerResult(entity, start, end, score, recognition_metadata=metadata)


def result_metadata(source: str, identifier: str) -> dict[str, Any]:
    """The metadata every result of one recogniser shares, built once per recogniser.

    ``source`` is the name the scrubber ranks the result by; ``identifier`` is Presidio's
    per-instance id, which its own result filtering matches on.
    """
    return {
        RecognizerResult.RECOGNIZER_NAME_KEY: source,
        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: identifier,
    }


class UkPatternRecognizer(PatternRecognizer):
    """Base class: subclasses set ``ENTITY``, ``PATTERNS`` and optionally ``CONTEXT``."""

    ENTITY: ClassVar[str] = ""
    PATTERNS: ClassVar[list[Pattern]] = []
    CONTEXT: ClassVar[list[str]] = []
    FLAGS: ClassVar[int] = 0
    name: str
    patterns: list[Pattern]

    def __init__(
        self,
        patterns: list[Pattern] | None = None,
        context: list[str] | None = None,
        supported_entity: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            supported_entity=supported_entity or self.ENTITY,
            patterns=list(patterns if patterns is not None else self.PATTERNS),
            context=list(context if context is not None else self.CONTEXT),
            supported_language="en",
            global_regex_flags=self.FLAGS,
            name=name or type(self).__name__,
        )
        self._compiled = [(p.score, re.compile(p.regex, self.FLAGS)) for p in self.patterns]
        words = sorted(self.context, key=len, reverse=True)
        self._context_re = (
            re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
            if words
            else None
        )
        self._entity = self.supported_entities[0]
        self._metadata = result_metadata(self.name, self.id)

    def analyze(
        self,
        text: str,
        entities: list[str] | None = None,
        nlp_artifacts: Any = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        """Presidio's entry point: the pattern matches, as :meth:`refine_matches` keeps them."""
        return self.refine_matches(text, self._pattern_matches(text))

    def refine_matches(self, text: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
        """What this recogniser reports of its pattern matches: all of them unless overridden.

        Subclasses trim matches to their name-like words, drop those a code cue
        introduces, or add what no single pattern can find (digit runs judged by cue).
        """
        return found

    def _pattern_matches(self, text: str) -> list[RecognizerResult]:
        """Every match of every pattern, validated, with context-raised scores."""
        results: list[RecognizerResult] = []
        for base_score, compiled in self._compiled:
            has_id = "id" in compiled.groupindex
            for match in compiled.finditer(text):
                start, end = match.span("id") if has_id else match.span()
                if start >= end:
                    continue
                matched = text[start:end]
                valid = self.validate_result(matched)
                if valid is False or self.invalidate_result(matched):
                    continue
                score = MAX_SCORE if valid else base_score
                if score < MAX_SCORE and self._context_re is not None:
                    window = text[max(0, match.start() - CONTEXT_WINDOW) : start]
                    if self._context_re.search(window):
                        score = min(MAX_SCORE, score + CONTEXT_BOOST)
                results.append(make_result(self._entity, start, end, score, self._metadata))
        return results

    def validate_result(self, pattern_text: str) -> bool | None:
        """True: certain (score 1.0); False: not this entity; None: keep the pattern score."""
        return None

    def invalidate_result(self, pattern_text: str) -> bool | None:
        """True drops the match (Presidio semantics)."""
        return None


class UkLocalRecognizer(LocalRecognizer):
    """Base class of the recognisers written as code: subclasses set ``ENTITIES``, ``find``.

    ``SOURCE`` is the recogniser name the results carry (the class name unless set); the
    scrubber ranks a result by it, so it must match the names the scrubber knows.
    """

    ENTITIES: ClassVar[tuple[str, ...]] = ()
    SOURCE: ClassVar[str | None] = None

    def __init__(self, name: str | None = None, context: list[str] | None = None) -> None:
        super().__init__(
            supported_entities=list(self.ENTITIES),
            supported_language="en",
            context=context,
            name=name or type(self).__name__,
        )
        self._metadata = result_metadata(self.SOURCE or type(self).__name__, self.id)

    def load(self) -> None:
        """Nothing to load: what a recogniser looks things up in is built by its constructor."""

    def analyze(
        self, text: str, entities: list[str] | None = None, nlp_artifacts: Any = None
    ) -> list[RecognizerResult]:
        """Presidio's entry point; these recognisers need neither entities nor spaCy's output."""
        return self.find(text)

    @abstractmethod
    def find(self, text: str) -> list[RecognizerResult]:
        """Every result in ``text``."""
