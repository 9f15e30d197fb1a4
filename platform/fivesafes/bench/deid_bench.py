"""The free-text de-identification benchmark: quality on the dev set, speed against Presidio.

In one run, on the same dev notes:

1. **plain Presidio** (:mod:`fivesafes.bench.plain_presidio`): analyse + anonymise per note,
   single process, Presidio's default configuration with only the spaCy model swapped;
2. **our scrubber** with ``workers`` processes (a ``spawn`` pool; each worker builds its
   :class:`FreeTextScrubber` once in the pool initialiser, chunks of notes go through
   ``scrub_many``, order preserved). Both timings exclude construction (model loading),
   which is paid once per process, not per note;
3. **quality** through the real engine (``fivesafes.deid.engine.deidentify_file`` with
   ``policies/datasets/sample-extract.yaml``) when it is importable, else through the pool's output,
   scored by :mod:`fivesafes.bench.deid_scorer`; plus the two halves of the dev set
   separately (tune on one, check on the other) and plain Presidio's own quality;
4. **external**: per-entity recall on presidio-research's ``synth_dataset_v2.json``.

Nothing here prints note text: reports carry counts and rates only.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from fivesafes.bench.deid_scorer import DeidScore, GoldNote, GoldSpan, score_all, score_note
from fivesafes.deid.types import PatientContext, ScrubberConfig

DEV_CSV = "deid/dev-extract.csv"
DEV_GOLD = "deid/dev-extract.gold.jsonl"
EXTERNAL = "external/presidio-research/synth_dataset_v2.json"
POLICY = Path(__file__).resolve().parents[3] / "policies" / "datasets" / "sample-extract.yaml"
CHUNK = 50  # small enough that both workers finish together, large enough for nlp.pipe

# presidio-research labels -> ours. AGE, TITLE (job titles) and NRP (nationality) are not
# identifiers under the platform's policy and are not scored.
EXTERNAL_LABELS = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "ADDRESS",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "DATE_TIME": "DATE",
    "ZIP_CODE": "POSTCODE",
    "GPE": "LOCATION",
    "ORGANIZATION": "ORGANISATION",
    "CREDIT_CARD": "ID",
    "IBAN_CODE": "ID",
    "US_SSN": "ID",
    "IP_ADDRESS": "ID",
    "US_DRIVER_LICENSE": "ID",
    "DOMAIN_NAME": "URL",
}


@dataclass(slots=True)
class DevSet:
    """The dev extract: structured identifiers per row, notes and gold."""

    rows: list[dict[str, str]]
    golds: list[GoldNote]

    @property
    def texts(self) -> list[str]:
        return [g.text for g in self.golds]

    def contexts(self) -> list[PatientContext]:
        return [context_from_row(r) for r in self.rows]


def context_from_row(row: dict[str, str]) -> PatientContext:
    """The CRATE context of one dev row: its name, NHS number, date of birth, postcode."""
    try:
        dob: tuple[date, ...] = (date.fromisoformat(row["date_of_birth"]),)
    except ValueError:
        dob = ()
    return PatientContext(
        names=(row["patient_name"],),
        nhs_numbers=(row["nhs_number"],),
        dates=dob,
        postcodes=(row["postcode"],),
    )


def load_dev_set(data_dir: Path, limit: int | None = None) -> DevSet:
    """Read the dev CSV and its gold file (same order), optionally the first ``limit`` rows."""
    with (data_dir / DEV_CSV).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    golds = []
    with (data_dir / DEV_GOLD).open(encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            golds.append(
                GoldNote(
                    item["text"],
                    tuple(GoldSpan(s["start"], s["end"], s["label"]) for s in item["spans"]),
                    tuple(k["text"] for k in item["keep"]),
                )
            )
    if limit is not None:
        rows, golds = rows[:limit], golds[:limit]
    return DevSet(rows, golds)


# ---------------------------------------------------------------- worker-pool plumbing
_worker_scrubber: Any = None


def _init_worker(config: ScrubberConfig) -> None:
    global _worker_scrubber  # noqa: PLW0603 - one scrubber per worker process, by design
    # One thread per worker: the pool already uses every core it is given.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    from fivesafes.deid.scrubber import FreeTextScrubber  # noqa: PLC0415 - worker-only

    _worker_scrubber = FreeTextScrubber(config)


def _ready(_: int) -> bool:
    return _worker_scrubber is not None


def _scrub_chunk(chunk: tuple[list[str], list[PatientContext]]) -> list[str]:
    texts, contexts = chunk
    return [r.text for r in _worker_scrubber.scrub_many(texts, contexts, "clinical_note")]


def scrub_with_pool(
    texts: Sequence[str], contexts: Sequence[PatientContext], workers: int, config: ScrubberConfig
) -> tuple[list[str], float]:
    """Scrub with a warmed-up process pool; returns outputs (in order) and seconds taken."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(config,)) as pool:
        if not all(pool.map(_ready, range(workers * 2), chunksize=1)):
            raise RuntimeError("a worker failed to build its scrubber")
        chunks = [
            (list(texts[i : i + CHUNK]), list(contexts[i : i + CHUNK]))
            for i in range(0, len(texts), CHUNK)
        ]
        start = time.perf_counter()
        out = [text for part in pool.imap(_scrub_chunk, chunks) for text in part]
        seconds = time.perf_counter() - start
        pool.close()
        pool.join()
    return out, seconds


# ------------------------------------------------------------------------- the report
@dataclass(slots=True)
class DeidBenchmark:
    """Everything the benchmark measured (counts and rates only, no text)."""

    notes: int
    workers: int
    plain_seconds: float = 0.0
    ours_seconds: float = 0.0
    quality: DeidScore = field(default_factory=DeidScore)
    quality_via: str = ""
    halves: list[tuple[str, DeidScore]] = field(default_factory=list)
    plain_quality: DeidScore = field(default_factory=DeidScore)
    external: DeidScore | None = None
    external_sentences: int = 0
    parent_peak_mb: float = 0.0
    worker_peak_mb: float = 0.0

    @property
    def plain_rate(self) -> float:
        return self.notes / self.plain_seconds if self.plain_seconds else 0.0

    @property
    def ours_rate(self) -> float:
        return self.notes / self.ours_seconds if self.ours_seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.ours_rate / self.plain_rate if self.plain_rate else 0.0

    def passed(self) -> bool:
        """The issue's bars: recall, per-label recall, raw leaks, keep, speed ratio."""
        q = self.quality
        return (
            q.recall >= 0.99
            and all(r >= 0.97 for r in q.recall_by_label().values())
            and q.raw_leaks == 0
            and q.keep_rate >= 0.95
            and self.ratio >= 5.0
        )

    def render(self) -> str:
        q = self.quality
        lines = [
            f"De-identification benchmark: {self.notes} dev notes, {self.workers} workers",
            f"  quality via {self.quality_via}",
            f"  identifier recall  {q.recall:.4f}  (bar >= 0.99)",
        ]
        for label, recall in q.recall_by_label().items():
            kept = q.total[label] - q.leaked[label]
            lines.append(f"    {label:<14} {recall:.4f}  ({kept}/{q.total[label]})")
        lines += [
            f"  keep               {q.keep_rate:.4f}  ({q.keep_kept}/{q.keep_total}, bar >= 0.95)",
            f"  raw NHS numbers in output {q.raw_nhs_leaks}, raw patient names {q.raw_name_leaks}",
        ]
        for name, half in self.halves:
            worst = min(half.recall_by_label().values(), default=1.0)
            lines.append(
                f"  {name}: recall {half.recall:.4f}, min label {worst:.4f}, "
                f"keep {half.keep_rate:.4f}"
            )
        p = self.plain_quality
        lines += [
            f"  plain Presidio quality: recall {p.recall:.4f}, keep {p.keep_rate:.4f}, "
            f"raw leaks {p.raw_leaks}",
            "Speed",
            f"  plain Presidio (1 process)     {self.plain_rate:8.1f} notes/s",
            f"  fivesafes scrubber ({self.workers} workers) {self.ours_rate:8.1f} notes/s",
            f"  ratio                          {self.ratio:8.2f}x  (bar >= 5x)",
            f"  peak RSS: parent {self.parent_peak_mb:.0f} MB (holds plain Presidio), "
            f"largest worker {self.worker_peak_mb:.0f} MB",
        ]
        if self.external is not None:
            e = self.external
            lines.append(
                f"External: presidio-research synth_dataset_v2 ({self.external_sentences} "
                f"sentences), recall by mapped label"
            )
            for label, recall in e.recall_by_label().items():
                kept = e.total[label] - e.leaked[label]
                lines.append(f"    {label:<14} {recall:.4f}  ({kept}/{e.total[label]})")
        lines.append("RESULT: " + ("PASS" if self.passed() else "FAIL"))
        return "\n".join(lines)


def _score_external(path: Path, config: ScrubberConfig) -> tuple[DeidScore, int]:
    from fivesafes.deid.scrubber import FreeTextScrubber  # noqa: PLC0415 - heavy import

    items = json.loads(path.read_text(encoding="utf-8"))
    golds = []
    for item in items:
        spans = tuple(
            GoldSpan(s["start_position"], s["end_position"], EXTERNAL_LABELS[s["entity_type"]])
            for s in item["spans"]
            if s["entity_type"] in EXTERNAL_LABELS
        )
        golds.append(GoldNote(item["full_text"], spans))
    scrubber = FreeTextScrubber(config)
    outputs = scrubber.scrub_many(
        [g.text for g in golds], [PatientContext()] * len(golds), "external"
    )
    score = DeidScore()
    for row, (gold, out) in enumerate(zip(golds, outputs, strict=True)):
        score_note(gold, out.text, row, score)
    return score, len(golds)


def _quality_via_engine(dev: DevSet, workers: int) -> list[str] | None:
    """Scrubbed notes from the real engine and the sample policy, or None if unavailable."""
    try:
        from fivesafes.deid.engine import deidentify_file  # noqa: PLC0415 - optional
        from fivesafes.deid.policy import load_policy  # noqa: PLC0415
        from fivesafes.keys.store import InMemoryKeyStore  # noqa: PLC0415
    except ImportError:
        return None
    if not POLICY.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="fivesafes-deid-bench-") as tmp:
        source, target = Path(tmp) / "dev.csv", Path(tmp) / "out.csv"
        with source.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(dev.rows[0]))
            writer.writeheader()
            writer.writerows(dev.rows)
        report = deidentify_file(
            source,
            load_policy(POLICY),
            target,
            keystore=InMemoryKeyStore.generate(),
            workers=workers,
        )
        if report.rows_out != len(dev.rows):
            return None
        with target.open(encoding="utf-8", newline="") as handle:
            return [row["clinical_note"] for row in csv.DictReader(handle)]


def run_deid_benchmark(
    data_dir: Path, workers: int = 2, limit: int | None = None, external: bool = True
) -> DeidBenchmark:
    """Run the whole benchmark (see the module docstring)."""
    from fivesafes.bench.plain_presidio import PlainPresidio  # noqa: PLC0415 - heavy import

    dev = load_dev_set(data_dir, limit)
    texts, contexts = dev.texts, dev.contexts()
    nhs = [r["nhs_number"] for r in dev.rows]
    names = [r["patient_name"] for r in dev.rows]
    # The same site pattern as policies/datasets/sample-extract.yaml declares.
    config = ScrubberConfig(hospital_number_patterns=(r"\b[A-Z]\d{7}\b",))
    result = DeidBenchmark(notes=len(texts), workers=workers)

    plain = PlainPresidio()
    plain.scrub(texts[0])  # warm up, like the pool below
    start = time.perf_counter()
    plain_out = plain.scrub_all(texts)
    result.plain_seconds = time.perf_counter() - start
    result.plain_quality = score_all(dev.golds, plain_out, nhs, names)
    del plain

    ours, result.ours_seconds = scrub_with_pool(texts, contexts, workers, config)
    engine_out = _quality_via_engine(dev, workers)
    if engine_out is not None:
        result.quality_via = (
            "engine (deid.engine.deidentify_file, policies/datasets/sample-extract.yaml)"
        )
        scored = engine_out
    else:
        result.quality_via = "scrubber process pool (engine not available)"
        scored = ours
    result.quality = score_all(dev.golds, scored, nhs, names)
    half = len(texts) // 2
    for name, part in (
        (f"rows 0-{half - 1}", slice(0, half)),
        (f"rows {half}-{len(texts) - 1}", slice(half, None)),
    ):
        result.halves.append((name, score_all(dev.golds[part], scored[part], nhs, names)))

    if external and (data_dir / EXTERNAL).exists():
        result.external, result.external_sentences = _score_external(data_dir / EXTERNAL, config)
    result.parent_peak_mb = _peak_mb(resource.RUSAGE_SELF)
    result.worker_peak_mb = _peak_mb(resource.RUSAGE_CHILDREN)
    return result


def _peak_mb(who: int) -> float:
    kb = resource.getrusage(who).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def leaks_by_label(score: DeidScore) -> Counter[str]:
    """How many identifiers of each label leaked (for tests and debugging)."""
    return Counter(leak.label for leak in score.leaks)
