"""The Spark job's last step: the signed hand-over manifest beside its part files.

The manifest module (:mod:`fivesafes.handover.manifest`) signs what this module lists:
every part file the job's output committer published (``part-*``: the data), with its
SHA-256, and the report's counts. Spark's ``_SUCCESS`` marker and Hadoop's ``.crc`` side
files are bookkeeping, not listed. Written only after Spark has committed the whole job,
so a job killed half-way never leaves a manifest.

Only for an output directory on this machine's file system: hashing a directory on
``hdfs://`` or ``s3a://`` needs a Hadoop file-system reader, not written yet.
"""

from __future__ import annotations

from pathlib import Path

from fivesafes.deid.handover_output import report_counts
from fivesafes.deid.policy import Policy
from fivesafes.deid.report import DeidReport
from fivesafes.handover.manifest import build_manifest, sha256_file, write_manifest
from fivesafes.keys.store import KeyStore


def write_handover_manifest(
    out_dir: Path,
    policy: Policy,
    report: DeidReport,
    keystore: KeyStore,
    *,
    output_format: str,
    spacy_model: str | None,
) -> Path:
    """Sign and write the manifest of a finished job; the manifest's path."""
    files = {
        path.relative_to(out_dir).as_posix(): sha256_file(path)
        for path in sorted(out_dir.glob("part-*"))
        if path.is_file()
    }
    manifest = build_manifest(
        policy_name=policy.dataset,
        policy_version=policy.version,
        policy_sha256=policy.content_hash,
        input_rows=report.rows_in,
        output_rows=report.rows_out,
        files=files,
        engine="spark",
        report_counts=report_counts(report),
        output_format=output_format,
        opt_out_list=report.opt_out_list_id,
        spacy_model=spacy_model,
    )
    return write_manifest(out_dir, manifest, keystore)
