"""``generate(seed, n)``: documents drawn shape by shape from one ``random.Random``."""

from __future__ import annotations

import random

# Importing the shape modules registers their shapes.
from tests.deid_corpus import shapes_letters, shapes_notes  # noqa: F401
from tests.deid_corpus.builder import CorpusDoc, DocBuilder
from tests.deid_corpus.context import SHAPES, Ctx

TUNING_SEEDS = (1, 2, 3)
"""Seeds the scrubber may be tuned on (inspect their leaks freely)."""

HELDOUT_SEEDS = (101, 102, 103)
"""Held-out seeds: never used while tuning. Report their figures, do not look at leaks."""


def is_heldout(seed: int) -> bool:
    """Held-out mode: the held-out seeds, and any seed of 100 or more."""
    return seed in HELDOUT_SEEDS or seed >= 100


def generate(seed: int, n: int) -> list[CorpusDoc]:
    """``n`` documents for ``seed``; shapes cycle in a seed-shuffled order so all appear."""
    rng = random.Random(seed)
    heldout = is_heldout(seed)
    names = sorted(SHAPES)
    docs: list[CorpusDoc] = []
    order: list[str] = []
    for _ in range(n):
        if not order:
            order = names[:]
            rng.shuffle(order)
        label = order.pop()
        doc_rng = random.Random(rng.getrandbits(64))
        ctx = Ctx(doc_rng, heldout)
        builder = DocBuilder()
        SHAPES[label](builder, ctx)
        docs.append(builder.build(label, ctx.row()))
    return docs
