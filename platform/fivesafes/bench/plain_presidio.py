"""Plain Presidio, as shipped: the baseline the scrubber's speed is compared against.

The benchmark must compare like with like, so this is Presidio's own default analyser
configuration (``conf/default.yaml`` NLP settings, every default recogniser, the default
context enhancer) with exactly one change: the spaCy model is the one installed here,
because Presidio's default ``en_core_web_lg`` is not installed and would be downloaded.
Each note goes through ``AnalyzerEngine.analyze`` and ``AnonymizerEngine.anonymize`` one at
a time, which is how Presidio is used out of the box.

tldextract is made offline first (see :func:`fivesafes.deid.nlp.make_tldextract_offline`):
the baseline's email recogniser would otherwise try to download the public-suffix list,
which on an air-gapped host stalls rather than fails, and would time the network, not
Presidio.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import presidio_analyzer
import yaml
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_anonymizer import AnonymizerEngine

from fivesafes.config import DEFAULT_SPACY_MODEL
from fivesafes.deid.nlp import make_tldextract_offline


def _default_nlp_configuration(model_name: str) -> dict[str, Any]:
    """Presidio's packaged default NLP configuration with only the model name swapped."""
    conf_file = Path(presidio_analyzer.__file__).parent / "conf" / "default.yaml"
    configuration: dict[str, Any] = yaml.safe_load(conf_file.read_text(encoding="utf-8"))
    for model in configuration["models"]:
        if model["lang_code"] == "en":
            model["model_name"] = model_name
    return configuration


class PlainPresidio:
    """Out-of-the-box Presidio analyser + anonymiser, one note per call."""

    def __init__(self, model_name: str = DEFAULT_SPACY_MODEL) -> None:
        make_tldextract_offline()
        provider = NlpEngineProvider(nlp_configuration=_default_nlp_configuration(model_name))
        self.analyzer = AnalyzerEngine(
            nlp_engine=provider.create_engine(), supported_languages=["en"]
        )
        self.anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]

    def scrub(self, text: str) -> str:
        """Analyse then anonymise one note with Presidio's defaults (``<ENTITY_TYPE>`` tags)."""
        results = self.analyzer.analyze(text=text, language="en")
        anonymized = self.anonymizer.anonymize(text=text, analyzer_results=cast(Any, results))
        return str(anonymized.text)

    def scrub_all(self, texts: Sequence[str]) -> list[str]:
        """Scrub every note in order, sequentially (the baseline is single-process)."""
        return [self.scrub(text) for text in texts]
