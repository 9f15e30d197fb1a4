"""The local engine's hand-over: a directory of part files with a signed manifest.

The Spark job writes a directory of part files and a manifest; this is the same result
from the local engine, so that a hand-over can be made (and its ingestion tested) on a
machine without Spark, and so that both engines' output enters the store the same way.
The local engine writes one part file, ``part-00000.<format>``; the manifest is written
last (:func:`fivesafes.handover.manifest.write_manifest`), so a run that fails or is
killed leaves no manifest, and the directory is refused as unsigned.

It lives in :mod:`fivesafes.deid` rather than :mod:`fivesafes.handover` because it runs
the engine, and the manifest module sits below the engine (the Spark job calls it).
"""

from __future__ import annotations

from pathlib import Path

from fivesafes.deid.engine import RunOptions, deidentify_file
from fivesafes.deid.policy import Policy
from fivesafes.deid.report import DeidReport
from fivesafes.errors import InvalidInputError
from fivesafes.handover.manifest import (
    OUTPUT_FORMATS,
    build_manifest,
    sha256_file,
    write_manifest,
)
from fivesafes.keys.store import KeyStore


def report_counts(report: DeidReport) -> dict[str, int]:
    """The scrubber's replacements per label, over every free-text column."""
    counts: dict[str, int] = {}
    for per_column in report.entities.values():
        for label, count in per_column.items():
            counts[label] = counts.get(label, 0) + count
    return counts


def deidentify_to_directory(
    input_path: Path,
    policy: Policy,
    out_dir: Path,
    *,
    keystore: KeyStore,
    output_format: str = "parquet",
    options: RunOptions | None = None,
) -> tuple[DeidReport, Path]:
    """De-identify ``input_path`` into ``out_dir`` as a signed hand-over; report, manifest.

    ``out_dir`` must not exist or be empty: a part file left from another run would be
    refused at ingestion as an extra file, better said now.
    """
    if output_format not in OUTPUT_FORMATS:
        raise InvalidInputError(
            f"unsupported hand-over format {output_format!r}; expected "
            + ", ".join(sorted(OUTPUT_FORMATS))
        )
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InvalidInputError(f"{out_dir}: the output directory exists and is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    run_options = options or RunOptions()
    part = out_dir / f"part-00000.{output_format}"
    report = deidentify_file(input_path, policy, part, keystore=keystore, options=run_options)
    manifest = build_manifest(
        policy_name=policy.dataset,
        policy_version=policy.version,
        policy_sha256=policy.content_hash,
        input_rows=report.rows_in,
        output_rows=report.rows_out,
        files={part.name: sha256_file(part)},
        engine="local",
        report_counts=report_counts(report),
        output_format=output_format,
        opt_out_list=report.opt_out_list_id,
        spacy_model=run_options.spacy_model,
    )
    return report, write_manifest(out_dir, manifest, keystore)
