"""A harder de-identification evaluation corpus: generator, seeds and honesty rules.

``generate(seed, n)`` returns ``n`` synthetic NHS trust documents (letters, discharge
summaries, MDT lists, clipped ward notes ...) with gold identifier spans, keep phrases and
the patient's structured row. Deterministic per seed.

Honesty rule: :data:`HELDOUT_SEEDS` are never used while tuning the scrubber. Only
:data:`TUNING_SEEDS` may be inspected for leaks; held-out seeds also draw names, places
and organisations that tuning seeds never produce, and synthesise about one name in ten
from syllables, so tuning cannot memorise them. See README.md.
"""

from __future__ import annotations

from tests.deid_corpus.builder import LABELS, CorpusDoc, Span
from tests.deid_corpus.generator import HELDOUT_SEEDS, SHAPES, TUNING_SEEDS, generate, is_heldout

__all__ = [
    "HELDOUT_SEEDS",
    "LABELS",
    "SHAPES",
    "TUNING_SEEDS",
    "CorpusDoc",
    "Span",
    "generate",
    "is_heldout",
]
