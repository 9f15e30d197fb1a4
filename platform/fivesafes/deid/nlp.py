"""Offline construction of the spaCy pipeline and the Presidio NLP engine.

Two things here exist only to keep the platform off the network and fast:

* Presidio's :class:`SpacyNlpEngine` downloads ``en_core_web_lg`` when the configured model
  is missing. NHS trust servers are often air-gapped, so the pipeline is loaded here with
  :func:`spacy.load` (which never downloads) and handed to an engine whose ``load`` does
  nothing. A missing model is a configuration error, reported by name.
* Only the components named-entity recognition needs are kept. In ``en_core_web_sm`` the
  ``ner`` component embeds its own tok2vec, so the shared ``tok2vec`` feeds only the tagger
  and parser: dropping it (with tagger, parser, attribute ruler and lemmatiser) gives
  identical entities at twice the speed (measured: 106 vs 211 notes/s on one core, same
  entities on all 2,000 dev notes). For pipelines whose ``ner`` *listens* to a shared
  tok2vec or transformer (``en_core_web_trf``), that upstream component is kept.

tldextract (used by Presidio's email and URL recognisers) downloads the public-suffix list
on first use; :func:`make_tldextract_offline` points it at the snapshot bundled in the
wheel instead.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import spacy
import tldextract.tldextract as tld_module
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from spacy.language import Language
from spacy.lookups import Lookups
from spacy.tokens import Doc

from fivesafes.errors import ConfigurationError

LANGUAGE = "en"

# Components that consume NER's input or output but that NER never listens to.
_NOT_NEEDED_FOR_NER = (
    "tagger",
    "parser",
    "attribute_ruler",
    "lemmatizer",
    "senter",
    "morphologizer",
    "textcat",
    "textcat_multilabel",
    "entity_linker",
    "entity_ruler",
    "span_ruler",
)
_SHARED_EMBEDDERS = ("tok2vec", "transformer")

# spaCy's labels mapped to the platform's entity names. DATE/TIME, numbers and the like are
# left to the regex recognisers: spaCy's DATE also covers "6 weeks" and "today", which are
# clinical content, not identifiers.
NER_ENTITY_MAPPING: dict[str, str] = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "ORG": "ORGANISATION",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
}
NER_LABELS_IGNORED = (
    "NORP",
    "DATE",
    "TIME",
    "CARDINAL",
    "ORDINAL",
    "QUANTITY",
    "MONEY",
    "PERCENT",
    "PRODUCT",
    "EVENT",
    "WORK_OF_ART",
    "LAW",
    "LANGUAGE",
)

_tld_lock = threading.Lock()
_tld_offline = False


def make_tldextract_offline() -> None:
    """Make tldextract's module-level extractor use its bundled public-suffix snapshot.

    Presidio's ``EmailRecognizer`` calls ``tldextract.extract``, which goes through the
    module global ``TLD_EXTRACTOR``; by default that fetches the list from the internet
    and caches it under the user's home. Replacing it with an extractor that has no URLs
    and no disk cache keeps every process that builds a scrubber (or the plain-Presidio
    baseline) off the network. Idempotent.
    """
    global _tld_offline  # noqa: PLW0603 - a process-wide switch, set once
    with _tld_lock:
        if _tld_offline:
            return
        tld_module.TLD_EXTRACTOR = tld_module.TLDExtract(
            suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
        )
        _tld_offline = True


def load_ner_pipeline(model_name: str) -> Language:
    """Load an installed spaCy pipeline with only what named-entity recognition needs.

    Raises :class:`ConfigurationError` when the model is not installed: the platform
    never downloads one (``spacy.load`` does not; Presidio's engine would).
    """
    try:
        nlp = spacy.load(model_name, exclude=list(_NOT_NEEDED_FOR_NER))
    except OSError as exc:
        raise ConfigurationError(
            f"spaCy model {model_name!r} is not installed; install its package "
            "(see requirements/model.txt) or set FIVESAFES_SPACY_MODEL"
        ) from exc
    if "ner" not in nlp.pipe_names:
        raise ConfigurationError(f"spaCy model {model_name!r} has no 'ner' component")
    for name in _SHARED_EMBEDDERS:
        if name in nlp.pipe_names:
            listeners = getattr(nlp.get_pipe(name), "listening_components", [])
            if "ner" not in listeners:
                nlp.remove_pipe(name)
    return nlp


class OfflineSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine around an already-loaded pipeline; never downloads.

    The artifacts carry entities only (see :meth:`doc_to_artifacts`).
    """

    def __init__(self, nlp: Language, ner_score: float = 0.85) -> None:
        super().__init__(
            models=[{"lang_code": LANGUAGE, "model_name": nlp.meta.get("name", "custom")}],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping=dict(NER_ENTITY_MAPPING),
                labels_to_ignore=list(NER_LABELS_IGNORED),
                default_score=ner_score,
            ),
        )
        self.nlp = {LANGUAGE: nlp}  # type: ignore[assignment]  # Presidio annotates None
        self.pipeline = nlp
        self._default_score = float(self.ner_model_configuration.default_score or 0.85)

    def load(self) -> None:
        """Already loaded in ``__init__``; overridden so nothing is ever downloaded."""

    def pipe_artifacts(self, texts: Iterable[str], batch_size: int = 256) -> Iterator[NlpArtifacts]:
        """Run the pipeline over a batch with ``nlp.pipe`` and yield one artifact per text.

        NER reads each text through :func:`ner_view` (same length, so every offset holds).
        """
        for doc in self.pipeline.pipe((ner_view(t) for t in texts), batch_size=batch_size):
            yield self.doc_to_artifacts(doc)

    def doc_to_artifacts(self, doc: Doc) -> NlpArtifacts:
        """Lean conversion of a spaCy ``Doc`` into Presidio's artifacts.

        Only the entities are read downstream (the scrubber's recognisers scan the text
        themselves and Presidio's context pass is switched off), so the per-token lists
        Presidio would fill (token offsets, lemmas, and the keywords derived from them)
        are left empty: building them cost a millisecond a note, a fifth of spaCy's own
        time.
        """
        entities, scores = self._get_updated_entities(
            list(doc.ents), [self._default_score] * len(doc.ents)
        )
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[],
            lemmas=[],
            nlp_engine=self,
            language=LANGUAGE,
            scores=scores,
        )

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> Any:
        return self.doc_to_artifacts(doc)


_LINE_BREAKS = str.maketrans({"\n": " ", "\r": " "})


# A word with digits and no letter ("14/03/2023", "01206", "500mg" keeps its letters).
_NUMBER_WORD = re.compile(r"(?<!\S)(?:[^\s\w]|[\d_])*\d(?:[^\s\w]|[\d_])*(?!\S)")


def ner_view(text: str) -> str:
    """``text`` as NER reads it: line breaks as spaces, numbers blanked; same length.

    spaCy makes every line break a token of its own, and numbers (dates, phone numbers,
    results, codes) are a third of the tokens of a clinical letter; the network spends
    its time on them for nothing, since the names, places and organisations it is asked
    for have no digits and the patterns find every number. Blanked to spaces, every
    offset still holds. Detections never cross a line anyway: the scrubber splits weak
    ones at the breaks of the original text.
    """
    return _NUMBER_WORD.sub(_blank, text.translate(_LINE_BREAKS))


def _blank(match: re.Match[str]) -> str:
    return " " * (match.end() - match.start())


def load_english_words(nlp: Language) -> frozenset[str]:
    """Lower-case English words from the pipeline's own lemmatiser tables (WordNet index).

    Used to tell an unfamiliar capitalised word (probably a name: "Oluwadamilare was
    tearful") from an English one ("Mobility was poor"). The tables ship inside the model
    package even though the lemmatiser component is not run; a model without them yields
    an empty set, which only switches that heuristic off.
    """
    model_dir = Path(str(nlp.path)) if getattr(nlp, "path", None) else None
    if model_dir is None:
        return frozenset()
    words: set[str] = set()
    for table_dir in model_dir.glob("lemmatizer/lookups"):
        lookups = Lookups().from_disk(table_dir)
        if lookups.has_table("lemma_index"):
            for entries in lookups.get_table("lemma_index").values():
                words.update(w for w in entries if w.isalpha())
    return frozenset(words)


def build_nlp_engine(model_name: str, ner_score: float = 0.85) -> OfflineSpacyNlpEngine:
    """The NLP engine the scrubber hands to Presidio's ``AnalyzerEngine``."""
    make_tldextract_offline()
    return OfflineSpacyNlpEngine(load_ner_pipeline(model_name), ner_score)
