"""One benchmark report: every figure a ratio to a baseline measured in the same run.

The build machine's speed moves by 2-3x from hour to hour with other people's work, so an
absolute rows/s bar passes or fails with the weather. Every benchmark therefore measures a
baseline beside its subject, in the same run and on the same input (PostgreSQL's own COPY,
pyarrow's CSV reader and writer, plain Presidio, the same app without auditing), and its
bar is on the ratio; absolute figures are kept as context.

A :class:`Report` collects one command's :class:`Figure` objects with what a reader needs
to trust them: the load average before and after (a run under load says so, see
:func:`load_warning`), the machine's cores and the git commit. :func:`write_latest` merges
it into ``var/bench/latest.json`` under the bench's own name, so ``fivesafes bench
ingestion`` alone updates the ingestion entries and leaves the others as they were, and
``fivesafes bench all`` (``make bench``) rewrites every section. ``FIVESAFES_BENCH_REPORT``
moves the file.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rich.table import Table

SCHEMA = 1
DEFAULT_PATH = Path("var/bench/latest.json")
REPORT_VAR = "FIVESAFES_BENCH_REPORT"
REPO = Path(__file__).resolve().parents[3]

#: How a figure is judged against its bar. Only ratios are judged, so a bar means the same
#: on any machine; ``value_below`` is kept for memory caps (MB), which do not move with the
#: load. ``spread_at_least`` passes while the best round reaches the bar (audit overhead:
#: it fails only when even the upper end of the spread is below the bar).
Rule = Literal["at_least", "below", "spread_at_least", "value_below"]

LoadAverage = tuple[float, float, float]


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> tuple[float, float]:
    """(least, largest) of per-round ratios: how far the rounds disagree."""
    if not values:
        raise ValueError("spread of no values")
    return (min(values), max(values))


def ratios(values: Sequence[float], baselines: Sequence[float]) -> list[float]:
    """Per-round ratios, each round's figure over the same round's baseline."""
    if len(values) != len(baselines):
        raise ValueError(f"{len(values)} figures but {len(baselines)} baselines")
    if any(b <= 0 for b in baselines):
        raise ValueError("a baseline of zero or less cannot be divided by")
    return [v / b for v, b in zip(values, baselines, strict=True)]


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, the baseline it is compared with and the bar on the ratio."""

    name: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    spread: tuple[float, float] | None = None
    bar: float | None = None
    rule: Rule = "at_least"
    context: str = ""

    @property
    def passed(self) -> bool | None:
        """Whether the bar is met; None when the figure is only reported (no bar)."""
        if self.bar is None:
            return None
        if self.rule == "value_below":
            return self.value < self.bar
        if self.rule == "spread_at_least":
            if self.spread is None:
                raise ValueError(f"{self.name}: a spread bar needs a spread")
            return self.spread[1] >= self.bar
        if self.ratio is None:
            raise ValueError(f"{self.name}: a ratio bar needs a ratio")
        return self.ratio >= self.bar if self.rule == "at_least" else self.ratio < self.bar

    def bar_text(self) -> str:
        if self.bar is None:
            return "reported"
        return {
            "at_least": f">= {self.bar:g}",
            "below": f"< {self.bar:g}",
            "spread_at_least": f"max >= {self.bar:g}",
            "value_below": f"< {self.bar:g} {self.unit}",
        }[self.rule]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["spread"] = list(self.spread) if self.spread is not None else None
        data["passed"] = self.passed
        return data


def rounds_figure(
    name: str,
    unit: str,
    baseline: str,
    values: Sequence[float],
    baselines: Sequence[float],
    *,
    bar: float | None = None,
    rule: Rule = "at_least",
    context: str = "",
) -> Figure:
    """A figure from paired rounds: the median of per-round ratios and their spread.

    Each round's figure is divided by the same round's baseline, so a change of load from
    one round to the next falls on both sides of each ratio; the value and baseline shown
    are the medians (context only).
    """
    per_round = ratios(values, baselines)
    return Figure(
        name,
        median(values),
        unit,
        baseline,
        median(baselines),
        median(per_round),
        spread(per_round),
        bar,
        rule,
        context,
    )


def git_commit() -> str:
    """``git rev-parse HEAD`` of this checkout, else the installed package's version."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, as developers run it
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            return f"version {version('fivesafes')}"
        except PackageNotFoundError:
            return "unknown"


def load_warning(load: LoadAverage, cores: int) -> str | None:
    """A sentence when the 1-minute load average is above the core count, else None."""
    if load[0] <= cores:
        return None
    return (
        f"UNDER LOAD: load average {load[0]:.2f} above the machine's {cores} cores; "
        "ratios to same-run baselines still compare, absolute figures are slow with the load"
    )


def _load_average() -> LoadAverage:
    """``os.getloadavg()``, looked up at each call (tests replace it)."""
    return os.getloadavg()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Report:
    """One bench command's figures and the conditions they were measured under."""

    bench: str
    options: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. why a part was skipped
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    load_before: LoadAverage = field(default_factory=_load_average)
    load_after: LoadAverage | None = None
    started: str = field(default_factory=_now)
    finished: str | None = None
    commit: str = field(default_factory=git_commit)

    def finish(self) -> Report:
        self.load_after = _load_average()
        self.finished = _now()
        return self

    @property
    def passed(self) -> bool:
        return all(f.passed is not False for f in self.figures)

    def warnings(self) -> list[str]:
        found = [load_warning(self.load_before, self.cores)]
        if self.load_after is not None:
            found.append(load_warning(self.load_after, self.cores))
        return list(dict.fromkeys(w for w in found if w is not None))

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "finished": self.finished,
            "git_commit": self.commit,
            "cores": self.cores,
            "load_before": list(self.load_before),
            "load_after": list(self.load_after) if self.load_after is not None else None,
            "loaded": bool(self.warnings()),
            "warnings": self.warnings(),
            "passed": self.passed,
            "options": self.options,
            "notes": self.notes,
            "figures": [f.to_json() for f in self.figures],
        }


def report_path() -> Path:
    return Path(os.environ.get(REPORT_VAR) or DEFAULT_PATH)


def write_latest(report: Report, path: Path | None = None) -> Path:
    """Merge ``report`` into the JSON file under its bench's name (atomically replaced)."""
    target = path or report_path()
    data: dict[str, Any] = {"schema": SCHEMA, "benches": {}}
    try:
        existing = json.loads(target.read_text(encoding="utf-8"))
        if isinstance(existing, dict) and existing.get("schema") == SCHEMA:
            data = existing
    except (OSError, ValueError):
        pass
    data["updated"] = _now()
    data["benches"][report.bench] = report.to_json()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    partial.replace(target)
    return target


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}".strip()


def table(reports: Sequence[Report]) -> Table:
    """One table of every figure: ratio, spread and bar first, absolute figures after."""
    out = Table(title="benchmarks: ratios to baselines measured in the same run")
    if not reports:
        return out
    for column in ("bench", "figure", "ratio", "spread", "bar", "", "value", "baseline"):
        out.add_column(column, justify="right" if column in ("ratio", "spread") else "left")
    for report in reports:
        for f in report.figures:
            verdict = {True: "PASS", False: "FAIL", None: ""}[f.passed]
            baseline = f"{f.baseline}: {_number(f.baseline_value)}" if f.baseline else ""
            out.add_row(
                report.bench,
                f.name,
                f"{f.ratio:.3f}" if f.ratio is not None else "",
                f"{f.spread[0]:.2f}-{f.spread[1]:.2f}" if f.spread else "",
                f.bar_text(),
                verdict,
                _number(f.value, f.unit),
                baseline,
            )
    loads = ", ".join(
        f"{r.bench} {r.load_before[0]:.2f}->"
        + (f"{r.load_after[0]:.2f}" if r.load_after is not None else "?")
        for r in reports
    )
    out.caption = f"load average (1 min) before->after: {loads}; cores {reports[0].cores}"
    return out
