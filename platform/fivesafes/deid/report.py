"""The de-identification report: what went in, what came out, and under which rules.

It is what an uploader and a governance officer read after a run, and what the audit
event of an ingestion points to, so it records the policy hash, key fingerprints and
software versions. Rejections carry a line, a column and a reason, never a value; the
detailed list is capped so that a badly broken extract cannot exhaust memory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from fivesafes.deid.plan import ChunkStats

MAX_LISTED_REJECTIONS = 1000


@dataclass
class DeidReport:
    """Everything a run did, as JSON-ready values."""

    input_file: str
    input_format: str
    output_file: str | None
    output_format: str
    dataset: str
    policy_version: int
    policy_hash: str
    sensitivity: str
    workers: int
    versions: dict[str, Any]
    key_ids: dict[str, str]
    input_sha256: str | None = None
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    rejections_by_reason: dict[str, int] = field(default_factory=dict)
    invalid_values_nulled: dict[str, int] = field(default_factory=dict)
    invalid_nhs_numbers: int = 0
    entities: dict[str, dict[str, int]] = field(default_factory=dict)
    opt_out_list_applied: bool = False
    opt_out_list_id: int | None = None
    opted_out_excluded: int = 0
    opted_out_flagged: int = 0
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None
    duration_seconds: float | None = None
    rows_per_second: float | None = None

    def add(self, stats: ChunkStats) -> None:
        """Merge one chunk's statistics (chunks arrive in input order)."""
        self.rows_in += stats.rows_in
        self.rows_out += stats.rows_out
        self.rows_rejected += stats.rows_in - stats.rows_out - stats.opted_out_excluded
        self.opted_out_excluded += stats.opted_out_excluded
        self.opted_out_flagged += stats.opted_out_flagged
        for line, column, reason in stats.rejections:
            key = f"{column}: {reason}"
            self.rejections_by_reason[key] = self.rejections_by_reason.get(key, 0) + 1
            if len(self.rejections) < MAX_LISTED_REJECTIONS:
                self.rejections.append({"line": line, "column": column, "reason": reason})
        for column, count in stats.invalid_values.items():
            nulled = self.invalid_values_nulled
            nulled[column] = nulled.get(column, 0) + count
        self.invalid_nhs_numbers += stats.invalid_nhs_numbers
        for column, counts in stats.entities.items():
            target = self.entities.setdefault(column, {})
            for entity, count in counts.items():
                target[entity] = target.get(entity, 0) + count

    def finish(self, seconds: float, input_sha256: str | None) -> None:
        """Stamp the end of the run."""
        self.finished_at = datetime.now(UTC).isoformat()
        self.duration_seconds = round(seconds, 3)
        self.rows_per_second = round(self.rows_in / seconds, 1) if seconds > 0 else None
        self.input_sha256 = input_sha256

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejections_listed"] = len(self.rejections)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def summary(self) -> str:
        """A few lines for a terminal."""
        lines = [
            f"rows in {self.rows_in:,}, out {self.rows_out:,}, rejected {self.rows_rejected:,}"
            f" in {self.duration_seconds}s ({self.rows_per_second or 0:,.0f} rows/s)",
            f"policy {self.dataset} v{self.policy_version} sha256:{self.policy_hash[:16]}",
        ]
        if self.opt_out_list_applied:
            listed = f" (list {self.opt_out_list_id})" if self.opt_out_list_id else ""
            lines.append(
                f"National Data Opt-out{listed}: {self.opted_out_excluded:,} rows excluded, "
                f"{self.opted_out_flagged:,} flagged (exempt dataset)"
            )
        if self.invalid_nhs_numbers:
            lines.append(f"invalid NHS numbers: {self.invalid_nhs_numbers:,}")
        for column, counts in sorted(self.entities.items()):
            found = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
            lines.append(f"{column}: {found or 'no entities found'}")
        return "\n".join(lines)
