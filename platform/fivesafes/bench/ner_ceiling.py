"""The spaCy NER-only ceiling of the free-text benchmark, and the rounds that time it.

Plain Presidio is the baseline the scrubber must beat; this is the limit it cannot pass.
spaCy's named-entity recogniser is about 70% of the scrubber's time on a note, so the
same notes through ``nlp.pipe`` with only the ``ner`` component (the pipeline the scrubber
itself loads, :func:`fivesafes.deid.nlp.load_ner_pipeline`), in as many ``spawn`` worker
processes as the scrubber gets and in the same chunks, is the physical limit of its
model: the report's scrubber/ceiling ratio says how close the engine comes to it (1.0
would mean the recognisers, reconciliation and replacement cost nothing). Each note is
given to spaCy as the scrubber gives it (:func:`fivesafes.deid.nlp.ner_view`: line breaks
as spaces, numbers blanked, same length): on the raw notes spaCy has a third more tokens
to read, and the "ceiling" measured a small run 7% slower than the whole scrubber.

:func:`time_rounds` times plain Presidio, the scrubber and, when given, the ceiling on
the same slice of notes in each round, the order rotated every round, so the machine's
load falls on all three; the per-round seconds give each ratio its spread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fivesafes.bench.report import spread
from fivesafes.bench.warm_pool import WarmPool, one_thread_per_worker
from fivesafes.config import DEFAULT_SPACY_MODEL
from fivesafes.deid.types import PatientContext

_worker_nlp: Any = None


def _init_ner_worker(model_name: str) -> None:
    global _worker_nlp  # noqa: PLW0603 - one pipeline per worker process, by design
    one_thread_per_worker()
    from fivesafes.deid.nlp import load_ner_pipeline  # noqa: PLC0415 - worker-only

    _worker_nlp = load_ner_pipeline(model_name)


def _ner_ready(_: int) -> bool:
    return _worker_nlp is not None


def _ner_chunk(texts: list[str]) -> int:
    """Entities found in ``texts`` (counted so the work cannot be skipped)."""
    from fivesafes.deid.nlp import ner_view  # noqa: PLC0415 - worker-only

    views = [ner_view(text) for text in texts]
    return sum(len(doc.ents) for doc in _worker_nlp.pipe(views, batch_size=len(views) or 1))


class NerPool(WarmPool):
    """A warmed-up ``spawn`` pool of NER-only spaCy pipelines (the ceiling)."""

    def __init__(self, workers: int, model_name: str = DEFAULT_SPACY_MODEL) -> None:
        super().__init__(
            workers, _init_ner_worker, (model_name,), _ner_ready, "load the spaCy pipeline"
        )

    def pipe(self, texts: Sequence[str], size: int) -> float:
        """Seconds to run NER over ``texts`` in chunks of ``size``."""
        chunks = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        start = time.perf_counter()
        sum(self._pool.imap(_ner_chunk, chunks))
        return time.perf_counter() - start


@dataclass(slots=True)
class Rounds:
    """Outputs and per-round seconds of each side (ceiling seconds 0 when not timed)."""

    plain_out: list[str] = field(default_factory=list)
    ours_out: list[str] = field(default_factory=list)
    plain: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    ceiling: list[float] = field(default_factory=list)

    def speed_spread(self) -> tuple[float, float] | None:
        """Spread of the rounds' scrubber/Presidio ratios (plain seconds / our seconds)."""
        if not self.ours:
            return None
        return spread([p / o for p, o in zip(self.plain, self.ours, strict=True)])

    def ceiling_ratio(self) -> float | None:
        """Our notes/s over the ceiling's, over all rounds (ceiling s / our s)."""
        if not self.ceiling or not sum(self.ours):
            return None
        return sum(self.ceiling) / sum(self.ours)

    def ceiling_spread(self) -> tuple[float, float] | None:
        if not self.ceiling:
            return None
        return spread([c / o for c, o in zip(self.ceiling, self.ours, strict=True)])


def time_rounds(
    plain: Any,
    pool: Any,
    texts: Sequence[str],
    contexts: Sequence[PatientContext],
    rounds: int,
    chunks_per_worker: int,
    ceiling: NerPool | None = None,
) -> Rounds:
    """Each round times every side on the same slice of notes, order rotated per round.

    ``pool`` is a :class:`fivesafes.bench.deid_bench.ScrubPool`; the ceiling gets the
    chunk size the pool uses for the same slice, so both feed spaCy the same batches.
    """
    out = Rounds()
    step = max(1, -(-len(texts) // rounds))
    for index, at in enumerate(range(0, len(texts), step)):
        part, part_contexts = texts[at : at + step], contexts[at : at + step]
        size = max(5, min(50, len(part) // (pool.workers * chunks_per_worker)))

        def run_plain(part: Sequence[str] = part) -> None:
            start = time.perf_counter()
            out.plain_out.extend(plain.scrub_all(part))
            out.plain.append(time.perf_counter() - start)

        def run_ours(
            part: Sequence[str] = part, part_contexts: Sequence[PatientContext] = part_contexts
        ) -> None:
            scrubbed, seconds = pool.scrub(part, part_contexts, chunks_per_worker)
            out.ours_out.extend(scrubbed)
            out.ours.append(seconds)

        def run_ceiling(part: Sequence[str] = part, size: int = size) -> None:
            assert ceiling is not None
            out.ceiling.append(ceiling.pipe(part, size))

        sides = [run_plain, run_ours] + ([run_ceiling] if ceiling is not None else [])
        shift = index % len(sides)
        for run in sides[shift:] + sides[:shift]:
            run()
    return out


def render_ceiling(notes: int, rounds: Rounds | None) -> list[str]:
    """The NER-only ceiling's line and the spreads, when they were timed."""
    if rounds is None or not rounds.ours:
        return []
    lines = []
    speed = rounds.speed_spread()
    if speed is not None:
        low, high = speed
        lines.append(f"  ratio spread over {len(rounds.ours)} rounds {low:.2f}-{high:.2f}x")
    ratio, found = rounds.ceiling_ratio(), rounds.ceiling_spread()
    if ratio is not None and found is not None:
        lines.append(
            f"  spaCy NER-only ceiling (same workers) {notes / sum(rounds.ceiling):8.1f} notes/s; "
            f"scrubber at {ratio:.2f} of it (rounds {found[0]:.2f}-{found[1]:.2f})"
        )
    return lines
