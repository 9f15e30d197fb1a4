"""The de-identification bench's figures for the one report (issue 21).

Speed is barred against plain Presidio and reported against the spaCy NER-only ceiling
(:mod:`fivesafes.bench.ner_ceiling`), each with the spread of its rounds; the quality rates
the bars are on are carried too (they do not move with the machine).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fivesafes.bench.deid_corpora import DEV_BARS, HELDOUT_BARS
from fivesafes.bench.ner_ceiling import Rounds
from fivesafes.bench.report import Figure

if TYPE_CHECKING:
    from fivesafes.bench.deid_bench import DeidBenchmark


def deid_figures(bench: DeidBenchmark) -> list[Figure]:
    """Speed against plain Presidio (barred) and the NER-only ceiling (reported), per
    timed group, and the quality rates the bars are on (machine-independent)."""
    found: list[Figure] = []
    groups: list[tuple[str, Rounds | None, int, float]] = [
        ("dev", bench.dev_rounds, bench.notes, DEV_BARS["speed"])
    ]
    barred = [c for c in bench.corpora if c.barred and c.plain_seconds]
    for corpus in barred:
        groups.append(("held-out", bench.heldout_rounds, corpus.notes, HELDOUT_BARS["speed"]))
    for name, rounds, notes, bar in groups:
        if rounds is None or not rounds.ours:
            continue
        ours = notes / sum(rounds.ours)
        plain = notes / sum(rounds.plain)
        found.append(
            Figure(
                f"scrubber / plain Presidio, {name} ({notes:,} notes)",
                ours,
                "notes/s",
                "plain Presidio, 1 process",
                plain,
                ours / plain,
                rounds.speed_spread(),
                bar,
                context=f"{bench.workers} workers, {len(rounds.ours)} rounds",
            )
        )
        ratio = rounds.ceiling_ratio()
        if ratio is not None:
            found.append(
                Figure(
                    f"scrubber / spaCy NER-only ceiling, {name}",
                    ours,
                    "notes/s",
                    f"nlp.pipe, ner only, {bench.workers} workers",
                    notes / sum(rounds.ceiling),
                    ratio,
                    rounds.ceiling_spread(),
                    context="how close to the model's limit (1.0 = nothing but NER)",
                )
            )
    q = bench.quality
    found.append(Figure("dev recall", q.recall, "", ratio=q.recall, bar=DEV_BARS["recall"]))
    for corpus in barred or [c for c in bench.corpora if c.barred]:
        h = corpus.quality
        found.append(
            Figure("held-out recall", h.recall, "", ratio=h.recall, bar=HELDOUT_BARS["recall"])
        )
    return found
