"""Overlapping windows over a long note, so NER runs in memory bounded by the window.

spaCy refuses texts over ``nlp.max_length`` (1,000,000 characters) and needs roughly
1 GB of working memory per 100,000 characters of one ``Doc``; Presidio's de-duplication
of results is quadratic in the number of results per call. A note of any length is
therefore analysed window by window: each window is at most :data:`WINDOW_CHARS` long,
ends at a line break or other whitespace where one exists near its end, and the next
window starts :data:`OVERLAP_CHARS` before that cut (at a word start). An identifier
shorter than the overlap that crosses a cut is therefore whole in at least one window,
with at least a few hundred characters of left context for the cue and NER recognisers.

Results of all windows are mapped back to full-text offsets and simply pooled: a span
seen in two windows (or two slightly different spans for the same thing) overlaps
itself and is merged by the scrubber's ordinary reconciliation, which then runs once
over the whole note (name propagation, replacement) exactly as for a short note.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult

from fivesafes.deid.nlp import LANGUAGE, OfflineSpacyNlpEngine

#: Longest text analysed in one piece. Notes up to this length take the ordinary path
#: (one spaCy ``Doc``); 20,000 characters is several pages, far beyond a typical note,
#: and a ``Doc`` of that size costs tens of MB, not GB.
WINDOW_CHARS = 20_000
#: Characters shared by consecutive windows: far longer than any identifier (the longest
#: are addresses, under 200 characters) plus context for the cue recognisers.
OVERLAP_CHARS = 500
#: How far back from a window's hard end a whitespace cut is looked for.
_CUT_SEARCH = 2_000
#: Windows handed to spaCy at a time (``nlp.pipe`` batch): bounds the live ``Doc`` memory.
_NLP_BATCH = 2
_SPACES = (" ", "\t", "\r", "\f", "\v", "\u00a0")


@dataclass(frozen=True, slots=True)
class Window:
    """``text[start:end]`` of the note being analysed (full-text offsets)."""

    start: int
    end: int


def split_windows(
    text: str, size: int = WINDOW_CHARS, overlap: int = OVERLAP_CHARS
) -> Iterator[Window]:
    """Windows covering ``text``: each at most ``size`` long, consecutive ones overlapping.

    Every character is in some window, and every substring of at most ``overlap // 2``
    characters is whole in at least one. Lazy and linear: each cut is found with a
    bounded backward search, never by scanning from the start of the text.
    """
    if size <= 2 * overlap or overlap < 0:
        raise ValueError("window size must exceed twice the overlap")
    length = len(text)
    start = 0
    while True:
        end = start + size
        if end >= length:
            yield Window(start, length)
            return
        cut = _cut(text, start + 2 * overlap, end)
        yield Window(start, cut)
        start = _word_start(text, cut - overlap, cut)


def _cut(text: str, lowest: int, end: int) -> int:
    """The end of a window: just after the last newline, else whitespace, near ``end``."""
    floor = max(lowest, end - _CUT_SEARCH)
    at = text.rfind("\n", floor, end)
    if at < 0:
        at = max(text.rfind(space, floor, end) for space in _SPACES)
    return at + 1 if at >= 0 else end  # one enormous "word": a hard cut


def _word_start(text: str, start: int, limit: int) -> int:
    """``start`` moved forward past a partial word (a window never begins mid-word)."""
    if start == 0 or text[start - 1].isspace():
        return start
    for at in range(start, min(limit, start + 100)):
        if text[at].isspace():
            return at + 1
    return start  # no whitespace nearby: keep the full overlap, mid-word


def analyze_in_windows(
    analyzer: AnalyzerEngine,
    nlp_engine: OfflineSpacyNlpEngine,
    text: str,
    entities: list[str],
    ad_hoc_recognizers: list[EntityRecognizer],
) -> list[RecognizerResult]:
    """Presidio's results for a long ``text``, window by window, in full-text offsets.

    spaCy runs over the windows lazily (:data:`_NLP_BATCH` at a time), so at most that
    many window-sized ``Doc`` objects exist at once. Each result keeps only what the
    scrubber's reconciliation reads, with one metadata dictionary shared per
    recogniser, so a note dense with identifiers costs a few dozen bytes per result.
    """
    spans = list(split_windows(text))
    artifacts = nlp_engine.pipe_artifacts(
        (text[w.start : w.end] for w in spans), batch_size=_NLP_BATCH
    )
    shared: dict[str, dict[str, Any]] = {}
    pooled: list[RecognizerResult] = []
    for window, nlp_artifacts in zip(spans, artifacts, strict=True):
        results = analyzer.analyze(
            text=text[window.start : window.end],
            language=LANGUAGE,
            entities=entities,
            nlp_artifacts=nlp_artifacts,
            ad_hoc_recognizers=ad_hoc_recognizers,
        )
        for result in results:
            metadata = result.recognition_metadata or {}
            name = str(metadata.get(RecognizerResult.RECOGNIZER_NAME_KEY, ""))
            result.recognition_metadata = shared.setdefault(
                name, {RecognizerResult.RECOGNIZER_NAME_KEY: name}
            )
            result.analysis_explanation = None  # type: ignore[assignment]  # Presidio default
            result.start += window.start
            result.end += window.start
        pooled.extend(results)
    return pooled
