"""The harder evaluation corpus in the de-identification benchmark (tuning and held-out).

The corpus generator lives with the tests (``tests/deid_corpus``: it is evaluation code,
not platform code, and ships with the repository, not the wheel). The benchmark is a dev
tool run from a checkout, so it loads the generator from ``<repo root>/tests/deid_corpus``
by file location; when that folder is absent (an installed wheel) the corpus sections are
skipped and the report says so.

Two seed groups, reported separately: **tuning** seeds (inspect their leaks, tune on
them) and **held-out** seeds (report the figures, never look at the leaks while tuning).
The bars apply to the held-out group; the tuning group is there to show the gap.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from fivesafes.bench.deid_scorer import DeidScore, GoldNote, GoldSpan

REPO_ROOT = Path(__file__).resolve().parents[3]
CORPUS_PACKAGE = REPO_ROOT / "tests" / "deid_corpus"
# Documents per seed: three seeds per group give ~450 documents, several times longer
# than a dev note; both groups together take a few minutes on 2 cores.
DOCS_PER_SEED = 150

# The bars (issue text), per corpus.
HELDOUT_BARS = {"recall": 0.99, "label": 0.97, "keep": 0.97, "words": 0.98, "speed": 5.0}
DEV_BARS = {"recall": 0.995, "label": 0.97, "keep": 0.95, "speed": 5.0}


def load_generator() -> ModuleType | None:
    """``tests.deid_corpus`` from the checkout, or None when the folder is not there.

    Imported as the package ``tests.deid_corpus`` with the repository root on ``sys.path``
    (its modules import each other by that name); a ``tests`` package of some other
    distribution already imported would shadow it, so that case is checked.
    """
    if not (CORPUS_PACKAGE / "__init__.py").exists():
        return None
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    spec = importlib.util.find_spec("tests")
    if spec is None or spec.origin is None or Path(spec.origin).parent != REPO_ROOT / "tests":
        return None
    return importlib.import_module("tests.deid_corpus")


@dataclass(slots=True)
class Corpus:
    """Generated documents as the benchmark needs them: CSV rows (note included), gold."""

    name: str
    seeds: tuple[int, ...]
    rows: list[dict[str, str]]
    golds: list[GoldNote]
    shapes: list[str]
    docs: list[Any] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [g.text for g in self.golds]


def build_corpus(module: ModuleType, name: str, seeds: Sequence[int], per_seed: int) -> Corpus:
    """Generate ``per_seed`` documents per seed, in seed order."""
    corpus = Corpus(name, tuple(seeds), [], [], [])
    for seed in seeds:
        for doc in module.generate(seed, per_seed):
            corpus.rows.append({**doc.row, "clinical_note": doc.text})
            corpus.golds.append(
                GoldNote(
                    doc.text,
                    tuple(GoldSpan(s.start, s.end, s.label) for s in doc.spans),
                    tuple(doc.keep),
                )
            )
            corpus.shapes.append(doc.shape)
            corpus.docs.append(doc)
    return corpus


@dataclass(slots=True)
class CorpusReport:
    """Quality (and, when timed, speed) of one seed group."""

    name: str
    seeds: tuple[int, ...]
    notes: int
    workers: int
    quality: DeidScore
    quality_via: str
    plain_quality: DeidScore | None = None
    plain_seconds: float = 0.0
    ours_seconds: float = 0.0
    barred: bool = False  # the held-out group carries the bars

    @property
    def ratio(self) -> float:
        if not (self.plain_seconds and self.ours_seconds):
            return 0.0
        return self.plain_seconds / self.ours_seconds

    def bars(self) -> list[tuple[str, bool]]:
        """(description, met) for every held-out bar."""
        q, b = self.quality, HELDOUT_BARS
        worst = min(q.recall_by_label().values(), default=1.0)
        return [
            (f"recall {q.recall:.4f} >= {b['recall']}", q.recall >= b["recall"]),
            (f"every label >= {b['label']} (worst {worst:.4f})", worst >= b["label"]),
            (f"keep {q.keep_rate:.4f} >= {b['keep']}", q.keep_rate >= b["keep"]),
            (
                f"non-identifier words kept {q.words_kept_rate:.4f} >= {b['words']}",
                q.words_kept_rate >= b["words"],
            ),
            (f"raw structured identifiers {q.raw_leaks} == 0", q.raw_leaks == 0),
            (f"speed {self.ratio:.2f}x >= {b['speed']}x", self.ratio >= b["speed"]),
        ]

    def passed(self) -> bool:
        return not self.barred or all(ok for _, ok in self.bars())

    def render(self) -> str:
        q = self.quality
        lines = [
            f"Corpus, {self.name} seeds {', '.join(map(str, self.seeds))}: {self.notes} "
            f"documents, quality via {self.quality_via}",
            *render_quality(q),
        ]
        if self.plain_quality is not None:
            p = self.plain_quality
            lines.append(
                f"  plain Presidio quality: recall {p.recall:.4f}, keep {p.keep_rate:.4f}, "
                f"words kept {p.words_kept_rate:.4f}, raw leaks {p.raw_leaks}"
            )
        if self.plain_seconds and self.ours_seconds:
            lines += render_speed(self.notes, self.plain_seconds, self.ours_seconds, self.workers)
        if self.barred:
            lines += [f"  [{'PASS' if ok else 'FAIL'}] {text}" for text, ok in self.bars()]
        else:
            lines.append("  (tuning seeds: reported for comparison, no bars)")
        return "\n".join(lines)


def render_quality(q: DeidScore) -> list[str]:
    """Per-label recall, keep, words kept and raw leaks (counts and rates, no text)."""
    lines = [f"  identifier recall  {q.recall:.4f}"]
    for label, recall in q.recall_by_label().items():
        kept = q.total[label] - q.leaked[label]
        lines.append(f"    {label:<14} {recall:.4f}  ({kept}/{q.total[label]})")
    lines += [
        f"  keep               {q.keep_rate:.4f}  ({q.keep_kept}/{q.keep_total})",
        f"  non-identifier words kept {q.words_kept_rate:.4f}  ({q.words_kept}/{q.words_total})",
        f"  raw NHS numbers in output {q.raw_nhs_leaks}, raw patient names {q.raw_name_leaks}",
    ]
    return lines


def render_speed(notes: int, plain: float, ours: float, workers: int) -> list[str]:
    """Notes per second of both, same notes, same run, and the ratio."""
    return [
        f"  plain Presidio (1 process)     {notes / plain:8.1f} notes/s",
        f"  fivesafes scrubber ({workers} workers) {notes / ours:8.1f} notes/s",
        f"  ratio                          {plain / ours:8.2f}x",
    ]
