"""Structured-only throughput and memory benchmark for the de-identification engine.

Generates a synthetic extract (NHS number, name, date of birth, postcode, sex, ethnicity,
admission date, diagnosis code; no free text) and de-identifies it with the sample
policy's structured columns. Each size runs in a fresh interpreter so that peak RSS is
that run's own (``ru_maxrss`` only ever grows within a process): the parent's peak plus
each worker's peak (``RUSAGE_CHILDREN`` reports the largest waited-for child).

Targets (issue 3): >= 100,000 rows/s with 2 workers; peak RSS for 100,000 rows within 20%
of that for 10,000 rows (memory bounded by chunk size, not input size).

Run: ``python -m fivesafes.bench.structured [--rows 10000 100000] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from fivesafes.deid.nhs_number import check_digit

TARGET_ROWS_PER_SECOND = 100_000
MAX_RSS_RATIO = 1.2

STRUCTURED_POLICY: dict[str, Any] = {
    "dataset": "bench-structured",
    "version": 1,
    "description": "Synthetic structured-only extract for the throughput benchmark.",
    "date_shift": {"max_days": 180},
    "columns": {
        "nhs_number": {"type": "nhs_number", "role": "patient_id"},
        "patient_name": {"type": "string", "role": "identifier", "action": "drop"},
        "date_of_birth": {
            "type": "date",
            "role": "quasi_identifier",
            "generalise": {"method": "age_band", "width": 5, "reference_date": "2025-01-01"},
        },
        "postcode": {"type": "postcode", "role": "quasi_identifier", "generalise": "district"},
        "sex": {"type": "string", "role": "keep"},
        "ethnicity": {"type": "string", "role": "keep"},
        "admission_date": {"type": "date", "role": "quasi_identifier", "generalise": "date_shift"},
        "diagnosis_code": {"type": "string", "role": "keep"},
    },
}

_FIRST = ["Alison", "Sally", "Mohammed", "Priya", "Oluwaseun", "Siobhan", "Wei", "Tomasz"]
_LAST = ["Taylor", "Jones", "Khan", "Patel", "Adeyemi", "O'Brien", "Zhang", "Kowalski"]
_AREAS = ["WN", "B", "M", "CO", "LS", "SW", "E", "NE", "G", "CF"]
_CODES = ["J44.1", "E11.9", "I10", "C50.9", "N18.3", "F32.1", "K50.0", "G20"]


def _nhs_number(rng: random.Random) -> str:
    while True:
        first = f"{rng.randrange(100_000_000, 999_999_999):09d}"
        check = check_digit(first)
        if check is not None:
            return f"{first}{check}"


def write_extract(path: Path, rows: int, seed: int = 7) -> None:
    """A synthetic structured extract of ``rows`` rows (streamed: constant memory)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    epoch = date(1930, 1, 1)
    admit_epoch = date(2018, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(list(STRUCTURED_POLICY["columns"]))
        for _ in range(rows):
            writer.writerow(
                [
                    _nhs_number(rng),
                    f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    (epoch + timedelta(days=rng.randrange(33_000))).isoformat(),
                    f"{rng.choice(_AREAS)}{rng.randrange(1, 30)} "
                    f"{rng.randrange(10)}{rng.choice(letters)}{rng.choice(letters)}",
                    rng.choice("MF"),
                    rng.choice("ABCDEFGHJKLMNPRSZ"),
                    (admit_epoch + timedelta(days=rng.randrange(2500))).isoformat(),
                    rng.choice(_CODES),
                ]
            )


@dataclass(frozen=True)
class SizeResult:
    """One size: throughput and peak memory of a fresh process."""

    rows: int
    seconds: float
    rows_per_second: float
    parent_peak_mb: float
    worker_peak_mb: float
    total_peak_mb: float


@dataclass
class StructuredBenchmark:
    """Results for every size, and whether the targets are met."""

    workers: int
    sizes: list[SizeResult] = field(default_factory=list)

    @property
    def rss_ratio(self) -> float | None:
        if len(self.sizes) < 2:
            return None
        small = min(self.sizes, key=lambda s: s.rows)
        large = max(self.sizes, key=lambda s: s.rows)
        return large.total_peak_mb / small.total_peak_mb

    @property
    def best_rows_per_second(self) -> float:
        return max(s.rows_per_second for s in self.sizes)

    @property
    def passed(self) -> bool:
        ratio = self.rss_ratio
        largest = max(self.sizes, key=lambda s: s.rows)
        return largest.rows_per_second >= TARGET_ROWS_PER_SECOND and (
            ratio is None or ratio < MAX_RSS_RATIO
        )

    def render(self) -> str:
        lines = [
            f"structured-only de-identification, {self.workers} workers (fresh process per size)",
            f"{'rows':>10} {'seconds':>8} {'rows/s':>10} {'parent MB':>10} "
            f"{'worker MB':>10} {'total MB':>9}",
        ]
        for s in self.sizes:
            lines.append(
                f"{s.rows:>10,} {s.seconds:>8.3f} {s.rows_per_second:>10,.0f} "
                f"{s.parent_peak_mb:>10.1f} {s.worker_peak_mb:>10.1f} {s.total_peak_mb:>9.1f}"
            )
        ratio = self.rss_ratio
        if ratio is not None:
            lines.append(f"peak RSS ratio largest/smallest: {ratio:.3f} (target < {MAX_RSS_RATIO})")
        largest = max(self.sizes, key=lambda s: s.rows)
        lines.append(
            f"throughput at {largest.rows:,} rows: {largest.rows_per_second:,.0f} rows/s "
            f"(target >= {TARGET_ROWS_PER_SECOND:,}) -> {'PASS' if self.passed else 'FAIL'}"
        )
        return "\n".join(lines)


def _measure_in_this_process(input_path: Path, policy_path: Path, workers: int) -> dict[str, Any]:
    """Run the engine once here and report time and peak RSS (child side of the benchmark)."""
    from fivesafes.deid.engine import RunOptions, deidentify_file  # noqa: PLC0415
    from fivesafes.deid.policy import load_policy  # noqa: PLC0415
    from fivesafes.keys.store import InMemoryKeyStore  # noqa: PLC0415

    policy = load_policy(policy_path)
    output = input_path.with_name("out.csv")
    keystore = InMemoryKeyStore.generate()
    started = time.perf_counter()
    report = deidentify_file(
        input_path, policy, output, keystore=keystore, options=RunOptions(workers=workers)
    )
    seconds = time.perf_counter() - started
    output.unlink()
    return {
        "rows": report.rows_in,
        "seconds": seconds,
        "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }


def run_structured_benchmark(
    rows: Sequence[int] = (10_000, 100_000), workers: int = 2, repeats: int = 1
) -> StructuredBenchmark:
    """Generate each size, de-identify it in a fresh interpreter, keep the best of repeats."""
    result = StructuredBenchmark(workers=workers)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    with tempfile.TemporaryDirectory(prefix="fivesafes-bench-") as tmp:
        folder = Path(tmp)
        policy_path = folder / "policy.yaml"
        policy_path.write_text(yaml.safe_dump(STRUCTURED_POLICY, sort_keys=False), encoding="utf-8")
        for count in rows:
            extract = folder / f"extract-{count}.csv"
            write_extract(extract, count)
            best: dict[str, Any] | None = None
            for _ in range(repeats):
                completed = subprocess.run(  # noqa: S603 - our own interpreter and module
                    [
                        sys.executable,
                        "-m",
                        "fivesafes.bench.structured",
                        "--measure",
                        str(extract),
                        str(policy_path),
                        str(workers),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                )
                measured = json.loads(completed.stdout)
                if best is None or measured["seconds"] < best["seconds"]:
                    best = measured
            assert best is not None
            parent_mb = best["self_kb"] / 1024
            worker_mb = best["children_kb"] / 1024 if workers > 1 else 0.0
            result.sizes.append(
                SizeResult(
                    rows=best["rows"],
                    seconds=best["seconds"],
                    rows_per_second=best["rows"] / best["seconds"],
                    parent_peak_mb=parent_mb,
                    worker_peak_mb=worker_mb,
                    total_peak_mb=parent_mb + worker_mb * (workers if workers > 1 else 0),
                )
            )
            extract.unlink()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--measure", nargs=3, metavar=("INPUT", "POLICY", "WORKERS"))
    args = parser.parse_args(argv)
    if args.measure:
        data = _measure_in_this_process(
            Path(args.measure[0]), Path(args.measure[1]), int(args.measure[2])
        )
        sys.stdout.write(json.dumps(data) + "\n")
        return 0
    bench = run_structured_benchmark(args.rows, args.workers, args.repeats)
    sys.stdout.write(bench.render() + "\n")
    return 0 if bench.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
