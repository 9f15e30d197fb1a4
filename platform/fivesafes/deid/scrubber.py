"""Free-text scrubbing: Presidio + UK recognisers + the patient's own identifiers.

One :class:`FreeTextScrubber` is built per worker process (loading spaCy takes seconds)
and then called with chunks of notes. Per chunk, spaCy runs once over all notes with
``nlp.pipe``; per note, Presidio's ``AnalyzerEngine`` runs the registered recognisers
plus an ad-hoc :class:`PatientRecognizer` built from that row's structured identifiers,
using the precomputed ``nlp_artifacts``. Detections are then reconciled:

1. weak detections (spaCy NER, cues, gazetteers, address blocks) are cut at line
   breaks, colons and number words and trimmed of roles, headings and service words
   (:mod:`fivesafes.deid.span_refine`), then dropped when they are clinical vocabulary
   ("Hb 121", "TDS", "Parkinson's"); pattern, checksum and patient-specific detections
   are never dropped;
2. overlapping detections merge into one span (the strongest detection names it);
3. a word found as part of a name anywhere in the note is removed wherever else it
   appears capitalised in the same note ("Natalie Price ... Natalie said");
4. each span becomes a typed tag (``[PERSON]``, ``[NHS_NUMBER]``...), or, for dates when
   the policy shifts dates, the same date moved by the patient's offset.

The scrubber never logs text or spans: they are raw identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from fivesafes.deid.allowlist import AllowList, vocabulary
from fivesafes.deid.nlp import LANGUAGE, build_nlp_engine, load_english_words
from fivesafes.deid.patient_scrub import PatientRecognizer
from fivesafes.deid.recognizers import build_recognizers
from fivesafes.deid.recognizers.names import is_name_like
from fivesafes.deid.recognizers.uk_date import shift_date_text
from fivesafes.deid.span_refine import SpanRefiner
from fivesafes.deid.types import DateMode, PatientContext, ScrubberConfig, ScrubResult
from fivesafes.deid.windows import WINDOW_CHARS, analyze_in_windows

SCORE_THRESHOLD = 0.4
NER_SCORE = 0.45  # below every pattern and cue score, so those win Presidio's de-duplication
NER_NAME = "SpacyRecognizer"
CUE_NAMES = frozenset(
    {
        "TitledNameRecognizer",
        "CuedNameRecognizer",
        "SurnameFirstRecognizer",
        "OrganisationRecognizer",
        "GazetteerRecognizer",
        "AddressBlockRecognizer",
    }
)
_NAME_LABELS = frozenset({"PERSON"})
_WORD = re.compile(r"[^\W\d_](?:[^\W_]|['’\-](?=[^\W\d_]))*")
_LEADING_TITLE = re.compile(r"(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Sir|Dame|Nurse|Sister)\.?\s+")
_PREVIOUS_WORD = re.compile(r"([A-Za-z]+)\W*$")
_PLACE_PREPOSITIONS = vocabulary(
    "in at from to near of towards around outside inside into via for with by"
)
# Rank used to name a merged span: patient-specific and pattern matches beat cues, cues
# beat NER.
_RANK_NER, _RANK_CUE, _RANK_STRONG = 0, 1, 2


class _LeanAnalyzerEngine(AnalyzerEngine):
    """Presidio's analyser without the context pass.

    Context is handled inside each recogniser (cue regexes). Presidio's pass asks every
    recogniser to re-score its own results by filtering the full result list per
    recogniser, then runs the engine's enhancer, whose default needs lemmas (this
    pipeline has no lemmatiser) and walks every token for every result: pure overhead
    here (a fifth of the per-note cost), so the whole pass is skipped and the enhancer
    is never called. Detection, thresholds and de-duplication are Presidio's own.
    """

    def _enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: Any,
        recognizers: Any,
        context: Any = None,
    ) -> list[RecognizerResult]:
        return raw_results

    def analyze_note(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: Any,
        ad_hoc: EntityRecognizer,
    ) -> list[RecognizerResult]:
        """``analyze`` for one note, with the recogniser list looked up once per process.

        Presidio's ``analyze`` asks the registry for the recognisers on every call and
        resolves a threshold per result; on short notes that is a twentieth of the cost.
        The steps that decide anything are Presidio's own, in its order: every recogniser,
        the engine's threshold, :meth:`EntityRecognizer.remove_duplicates`. Recognisers
        with thresholds of their own go through Presidio's ``analyze`` unchanged.
        """
        if self._recognizers is None:
            found = self.registry.get_recognizers(language=LANGUAGE, entities=entities)
            self._recognizers = [] if any(r.score_thresholds for r in found) else found
        if not self._recognizers or ad_hoc.score_thresholds:
            return self.analyze(
                text=text,
                language=LANGUAGE,
                entities=entities,
                nlp_artifacts=nlp_artifacts,
                ad_hoc_recognizers=[ad_hoc],
            )
        threshold = self.default_score_threshold
        results: list[RecognizerResult] = []
        for recognizer in (*self._recognizers, ad_hoc):
            found_here = recognizer.analyze(
                text=text, entities=entities, nlp_artifacts=nlp_artifacts
            )
            results.extend(r for r in found_here or () if r.score >= threshold)
        return EntityRecognizer.remove_duplicates(results)

    _recognizers: list[EntityRecognizer] | None = None


class _Span:
    __slots__ = ("end", "label", "rank", "start")

    def __init__(self, start: int, end: int, label: str, rank: int) -> None:
        self.start, self.end, self.label, self.rank = start, end, label, rank


class FreeTextScrubber:
    """Scrubs clinical free text; build once per process, call with batches."""

    def __init__(self, config: ScrubberConfig) -> None:
        self.config = config
        # NER scores below every pattern and cue (Presidio's default gives it 0.85), so a
        # precise detection inside a loose NER span survives Presidio's de-duplication.
        self.nlp_engine = build_nlp_engine(config.spacy_model, ner_score=NER_SCORE)
        self.allow_list = AllowList(
            config.extra_allow_terms, english_words=load_english_words(self.nlp_engine.pipeline)
        )
        self.refiner = SpanRefiner(self.allow_list)
        recognizers = build_recognizers(
            self.allow_list,
            config.hospital_number_patterns,
            config.extra_places,
            config.extra_organisations,
        )
        recognizers.append(
            SpacyRecognizer(
                supported_language=LANGUAGE,
                supported_entities=["PERSON", "ORGANISATION", "LOCATION"],
                ner_strength=NER_SCORE,
            )
        )
        registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[LANGUAGE])
        self.analyzer = _LeanAnalyzerEngine(
            registry=registry,
            nlp_engine=self.nlp_engine,
            supported_languages=[LANGUAGE],
            default_score_threshold=SCORE_THRESHOLD,
        )
        entities = set(self.analyzer.get_supported_entities(LANGUAGE))
        self._entities = sorted(entities | set(PatientRecognizer.ENTITIES))

    # ----------------------------------------------------------------------------- API
    def scrub_many(
        self,
        texts: Sequence[str | None],
        contexts: Sequence[PatientContext],
        column: str,
        batch_size: int = 256,
    ) -> list[ScrubResult]:
        """Scrub a chunk of notes (``None`` gives an empty result), order preserved.

        ``column`` names the source column; it is accepted for reports and future
        per-column settings and never affects detection.
        """
        if len(texts) != len(contexts):
            raise ValueError("texts and contexts must have the same length")
        out: list[ScrubResult] = [ScrubResult("", {}) for _ in texts]
        todo = [i for i, t in enumerate(texts) if t and len(t) <= WINDOW_CHARS]
        artifacts = self.nlp_engine.pipe_artifacts(
            [texts[i] or "" for i in todo], batch_size=batch_size
        )
        for i, nlp_artifacts in zip(todo, artifacts, strict=True):
            out[i] = self._scrub_one(texts[i] or "", contexts[i], nlp_artifacts)
        for i, text in enumerate(texts):
            if text and len(text) > WINDOW_CHARS:  # analysed in windows (see windows.py)
                patient = PatientRecognizer(contexts[i])
                results = analyze_in_windows(
                    self.analyzer, self.nlp_engine, text, self._entities, [patient]
                )
                out[i] = self._replace(text, self._reconcile(text, results), contexts[i])
        return out

    def scrub(self, text: str | None, context: PatientContext | None = None) -> ScrubResult:
        """Scrub one note (convenience; batches are much faster)."""
        return self.scrub_many([text], [context or PatientContext()], column="")[0]

    # ------------------------------------------------------------------------ internals
    def _scrub_one(self, text: str, context: PatientContext, nlp_artifacts: Any) -> ScrubResult:
        patient = PatientRecognizer(context)
        results = self.analyzer.analyze_note(text, self._entities, nlp_artifacts, patient)
        spans = self._reconcile(text, results)
        return self._replace(text, spans, context)

    def _reconcile(self, text: str, results: list[RecognizerResult]) -> list[_Span]:
        candidates: list[_Span] = []
        for result in results:
            source = (result.recognition_metadata or {}).get(
                RecognizerResult.RECOGNIZER_NAME_KEY, ""
            )
            rank = (
                _RANK_NER
                if source == NER_NAME
                else (_RANK_CUE if source in CUE_NAMES else _RANK_STRONG)
            )
            start, end = result.start, result.end
            if rank == _RANK_STRONG:
                candidates.append(_Span(start, end, result.entity_type, rank))
                continue
            if rank == _RANK_NER and (title := _LEADING_TITLE.match(text, start, end)):
                start = title.end()  # keep "Dr" readable: "Dr [PERSON]", not "[PERSON]"
            pieces = self.refiner.refine(
                text, start, end, result.entity_type, from_ner=rank == _RANK_NER
            )
            for begin, stop in pieces:
                if self.allow_list.protects(text, begin, stop):
                    continue
                if rank == _RANK_NER and not self._plausible_ner(
                    text, begin, stop, result.entity_type
                ):
                    continue
                candidates.append(_Span(begin, stop, result.entity_type, rank))
        candidates.extend(self._propagate_names(text, candidates))
        return _merge(candidates, text)

    def _plausible_ner(self, text: str, start: int, end: int, label: str) -> bool:
        """NER detections with a capitalised, name-like word; places and bodies in context.

        The small model tags brand names, organisms and equipment ("Ventolin",
        "Klebsiella", "Zimmer frame") as places or organisations. A one-word place or
        organisation therefore needs a preposition before it ("lives in Leeds", "works at
        Tesco"); acronyms alone ("NHS", "ECG") are never organisations.
        """
        words = _WORD.findall(text, start, end)
        if not any(
            len(w) >= 2 and w[0].isupper() and not self.allow_list.is_not_name(w) for w in words
        ):
            return False
        if label == "PERSON":
            return True
        if all(w.isupper() for w in words):
            return False
        if len(words) >= 2:
            return True
        before = _PREVIOUS_WORD.search(text, max(0, start - 24), start)
        return before is not None and before.group(1).lower() in _PLACE_PREPOSITIONS

    def _propagate_names(self, text: str, spans: list[_Span]) -> list[_Span]:
        """Other capitalised occurrences of any word already found in a name in this note."""
        names = {
            _strip_possessive(w)
            for s in spans
            if s.label in _NAME_LABELS
            for w in _WORD.findall(text, s.start, s.end)
            if len(w) >= 3 and w[0].isupper() and is_name_like(w, self.allow_list)
        }
        found: list[_Span] = []
        for name in names:
            at = text.find(name)
            while at >= 0:
                end = at + len(name)
                if (at == 0 or not text[at - 1].isalnum()) and (
                    end == len(text) or not text[end].isalnum()
                ):
                    found.append(_Span(at, end, "PERSON", _RANK_CUE))
                at = text.find(name, end)
        return found

    def _replace(self, text: str, spans: list[_Span], context: PatientContext) -> ScrubResult:
        shift = (
            context.date_shift_days
            if self.config.date_mode == DateMode.SHIFT and context.date_shift_days is not None
            else None
        )
        pieces: list[str] = []
        counts: dict[str, int] = {}
        cursor = 0
        for span in spans:
            pieces.append(text[cursor : span.start])
            replacement = None
            if shift is not None and span.label == "DATE":
                replacement = shift_date_text(text[span.start : span.end], shift)
            pieces.append(replacement if replacement is not None else f"[{span.label}]")
            counts[span.label] = counts.get(span.label, 0) + 1
            cursor = span.end
        pieces.append(text[cursor:])
        return ScrubResult("".join(pieces), counts)


def _strip_possessive(word: str) -> str:
    return word[:-2] if word.endswith(("'s", "’s")) else word


def _merge(spans: list[_Span], text: str) -> list[_Span]:
    """Union overlapping spans; the strongest, then longest, detection names the union.

    Same-label spans separated only by spaces also merge ("[PERSON] [PERSON]" reads as
    two people where there is one).
    """
    if not spans:
        return []
    spans.sort(key=lambda s: (s.start, -s.end))
    merged: list[_Span] = []
    best: list[_Span] = []
    for span in spans:
        if merged:
            last = merged[-1]
            gap = text[last.end : span.start] if span.start > last.end else ""
            joins = span.start < last.end or (
                span.label == last.label
                and span.start >= last.end
                and gap.isspace()
                and span.label in _NAME_LABELS
            )
            if joins:
                if (span.rank, span.end - span.start) > (
                    best[-1].rank,
                    best[-1].end - best[-1].start,
                ):
                    best[-1] = span
                last.end = max(last.end, span.end)
                last.label = best[-1].label
                last.rank = max(last.rank, span.rank)
                continue
        merged.append(_Span(span.start, span.end, span.label, span.rank))
        best.append(span)
    return merged
