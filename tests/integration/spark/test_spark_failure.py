"""Failures of the Spark job: retried and speculative tasks, a killed job, a bad cell.

A retried or speculative task must never duplicate or lose rows (each task's output is a
pure function of its chunks; Spark's output committer publishes one attempt per task),
and a job that does not finish must leave no manifest, so the store refuses what it left.

The faults run inside Spark's Python workers (:mod:`.faults`), which import them by name
from ``$PYTHONPATH``: the sessions these tests need (task retries, speculation, a CLI to
kill) run in subprocesses with the repository root on it, not in the shared ``spark``
fixture. Each fault leaves a marker per task attempt, so every test first proves that the
failure it is about really happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.trust import store_trusted_keys
from fivesafes.cli.main import app
from fivesafes.datasets import service as datasets
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.deid.engine import STRUCTURED_CHUNK_ROWS, RunOptions, deidentify_file
from fivesafes.deid.policy import load_policy
from fivesafes.deid.report import DeidReport
from fivesafes.deid.spark.job import SparkOptions, deidentify_spark
from fivesafes.errors import InputFileError
from fivesafes.handover.manifest import MANIFEST_NAME, HandoverRefusedError, verify_directory
from fivesafes.keys.local import LocalFileKeyStore
from tests.conftest import sqlite_only
from tests.integration.ingestion.extracts import policy_text, synthetic_rows, write_csv
from tests.integration.spark.extracts import ROOT, read_parquet_parts, write_mixed
from tests.integration.spark.faults import SITECUSTOMIZE, FaultyScrubberFactory, markers

pytestmark = [pytest.mark.slow, pytest.mark.spark]

#: Partition 1's first attempt fails on its second chunk (rows already produced).
RETRIED = ("raise", "exit")
#: Speculation as eager as Spark allows: any task past 1.1 times the median of the 30%
#: finished, after 100 ms, checked every 100 ms; partition 1's first attempt sleeps 3 s.
SPECULATION_CONF = {
    "spark.speculation": "true",
    "spark.speculation.interval": "100ms",
    "spark.speculation.multiplier": "1.1",
    "spark.speculation.quantile": "0.3",
    "spark.speculation.minTaskRuntime": "100ms",
}
ROWS, CHUNK_ROWS, PARTITIONS = 150, 10, 3
FIVESAFES = Path(sys.executable).parent / "fivesafes"


def _subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without the developer's FIVESAFES_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")}
    env.update(extra)
    return env


@dataclass(frozen=True)
class FaultedRuns:
    """Jobs run on ``local[2,4]`` (up to 4 attempts per task) with speculation on."""

    folder: Path
    extract: Path
    keys: Path

    def out(self, name: str) -> Path:
        return self.folder / f"out-{name}"

    def markers(self, name: str) -> Path:
        return self.folder / f"markers-{name}"

    def report(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(Path(f"{self.out(name)}.report.json").read_text())
        return data


@pytest.fixture(scope="module")
def faulted(tmp_path_factory: pytest.TempPathFactory) -> FaultedRuns:
    """One subprocess, one JVM, three jobs: retry after ``raise``, after ``exit``, and a
    straggler for speculation."""
    folder = tmp_path_factory.mktemp("faulted")
    extract, _ = write_mixed(folder, ROWS)
    LocalFileKeyStore(folder / "keys").init()
    runs = FaultedRuns(folder, extract, folder / "keys")
    jobs = []
    for name, seconds in [*((mode, 0.0) for mode in RETRIED), ("sleep", 3.0)]:
        runs.markers(name).mkdir()
        fault = {"markers": str(runs.markers(name)), "mode": name, "seconds": seconds}
        jobs.append(
            {"out": str(runs.out(name)), "partitions": PARTITIONS, "chunk_rows": CHUNK_ROWS}
            | {"fault": fault}
        )
    spec = {
        "master": "local[2,4]",
        "conf": {"spark.ui.showConsoleProgress": "false", **SPECULATION_CONF},
        "keys": str(runs.keys),
        "extract": str(extract),
        "policy": str(folder / "mixed.yaml"),
        "jobs": jobs,
    }
    (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.spark.faults", str(folder / "spec.json")],
        cwd=folder,
        env=_subprocess_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return runs


def _local_run(runs: FaultedRuns, tmp_path: Path) -> tuple[list[Any], DeidReport]:
    """The local engine's rows and report, same keys, same (harmless outside Spark) fault."""
    policy = load_policy(runs.folder / "mixed.yaml")
    fault = FaultyScrubberFactory(str(tmp_path), "raise")
    out = tmp_path / "local.parquet"
    report = deidentify_file(
        runs.extract,
        policy,
        out,
        keystore=LocalFileKeyStore(runs.keys),
        options=RunOptions(workers=1, chunk_rows=CHUNK_ROWS, scrubber_factory=fault),
    )
    return pq.read_table(out).to_pylist(), report


def _same_as_local(runs: FaultedRuns, name: str, tmp_path: Path) -> None:
    """Row for row, in order; the same counts in the report and in the signed manifest."""
    expected, local = _local_run(runs, tmp_path)
    out = runs.out(name)
    assert len(expected) == local.rows_out == ROWS - 4  # four rows rejected by the policy
    assert read_parquet_parts(out) == expected
    assert len(list(out.glob("part-*"))) == PARTITIONS
    assert not (out / "_temporary").exists()
    report = runs.report(name)
    assert (report["rows_in"], report["rows_out"], report["rows_rejected"]) == (
        local.rows_in,
        local.rows_out,
        local.rows_rejected,
    )
    assert report["entities"] == local.entities  # a failed attempt's counts never merged
    policy = load_policy(runs.folder / "mixed.yaml")
    signed = verify_directory(out, store_trusted_keys(LocalFileKeyStore(runs.keys)), policy=policy)
    assert signed.manifest["rows"] == {"input": local.rows_in, "output": local.rows_out}
    assert sorted(signed.manifest["files"]) == sorted(p.name for p in out.glob("part-*"))


@pytest.mark.parametrize("mode", RETRIED)
def test_a_failed_task_is_retried_without_duplicating_or_losing_rows(
    faulted: FaultedRuns, mode: str, tmp_path: Path
) -> None:
    """Attempt 0 of partition 1 dies after its first chunk: a Python exception, or the
    Python worker exiting. Attempt 1 reruns it; the output is still the local engine's."""
    attempts = markers(faulted.markers(mode))
    stages = {a.stage for a in attempts}
    assert len(stages) == 1  # the write read the cached rows: no second transform
    assert sorted((a.partition, a.number) for a in attempts) == [(0, 0), (1, 0), (1, 1), (2, 0)]
    _same_as_local(faulted, mode, tmp_path)


def test_speculation_duplicates_no_rows(faulted: FaultedRuns, tmp_path: Path) -> None:
    """Partition 1's first attempt straggles; any copy Spark launches must change nothing."""
    _same_as_local(faulted, "sleep", tmp_path)
    copies = [a for a in markers(faulted.markers("sleep")) if a.number > 0]
    if not copies:
        pytest.skip(
            "output checked, but no speculative copy ran: Spark (4.x) starts its "
            "speculation checker only when the master is not local[...] "
            "(TaskSchedulerImpl.start), and never places a copy on the host already "
            "running the task (so local-cluster[...] on one machine does not either): "
            "this needs a cluster of two hosts"
        )
    assert {a.partition for a in copies} == {1}


def _committed_parts(out: Path) -> list[Path]:
    """Part files a task has committed (Hadoop keeps uncommitted ones in attempt_* dirs)."""
    return [p for p in out.rglob("part-*") if not p.parent.name.startswith("attempt_")]


def _wait_for(condition: Any, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            pytest.fail("the job ended before the kill:\n" + log.read_text()[-4000:])
        if time.monotonic() > deadline:
            pytest.fail("the job never got half-way:\n" + log.read_text()[-4000:])
        time.sleep(0.2)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """kill -9 the job's process group (CLI, JVM, Python workers) and wait until it's gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


@pytest.fixture
def episodes(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The structured episodes policy, loaded as the dataset's current policy; keys."""
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "keys"))
    LocalFileKeyStore(tmp_path / "keys").init()
    policy = tmp_path / "episodes.yaml"
    policy.write_text(policy_text(), encoding="utf-8")
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            datasets.load_policy_file(session, AuditTrail.for_operator(), policy)
    finally:
        engine.dispose()
    return policy


@sqlite_only
@pytest.mark.parametrize("committer", ["1", "2"])
def test_a_job_killed_half_way_leaves_no_manifest_and_is_refused(
    episodes: Path, tmp_path: Path, committer: str
) -> None:
    """``fivesafes deidentify --engine spark`` killed -9 while its part files are being
    written (partition 1 stalled in the write, partition 0's file committed: by the v2
    committer straight into OUT, as a finished job's would be): no manifest, no
    ``_SUCCESS``, and ``fivesafes ingest --deidentified`` refuses it as unsigned."""
    rows = synthetic_rows(STRUCTURED_CHUNK_ROWS + 1)  # two chunks: one per partition
    extract = write_csv(tmp_path / "episodes.csv", rows)
    site, stall = tmp_path / "site", tmp_path / "markers"
    site.mkdir()
    stall.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    out, log = tmp_path / "out", tmp_path / "job.log"
    env = _subprocess_env(
        FIVESAFES_KEYSTORE_PATH=os.environ["FIVESAFES_KEYSTORE_PATH"],
        FIVESAFES_DATABASE_URL=os.environ["FIVESAFES_DATABASE_URL"],
        PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]),
        FAULTS_WRITE_STALL=str(stall),
        PYSPARK_SUBMIT_ARGS=(
            "--conf spark.ui.showConsoleProgress=false --conf "
            f"spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version={committer} "
            "pyspark-shell"
        ),
    )
    command = [str(FIVESAFES), "deidentify", str(extract), "--policy", str(episodes)]
    command += ["--out", str(out), "--engine", "spark", "--master", "local[2]"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--partitions", "2"],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the JVM and workers too
        )
        try:
            _wait_for(
                lambda: (stall / "stalled").exists() and bool(_committed_parts(out)),
                process,
                log,
                240,
            )
        finally:
            _kill_group(process)
    committed = _committed_parts(out)
    if committer == "2":
        assert any(p.parent == out for p in committed)  # data in OUT, looking finished
    assert not (out / MANIFEST_NAME).exists()
    assert not (out / "_SUCCESS").exists()
    result = CliRunner().invoke(
        app, ["ingest", "--deidentified", str(out), "--dataset", "episodes"]
    )
    assert result.exit_code == 2, result.output
    assert "handover_unsigned" in result.output
    assert "no manifest" in result.output


def test_a_bad_cell_leaves_no_output_at_all(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    """A bad NHS number in the last partition's last chunk, after the other partitions
    transformed theirs: the job fails with the local engine's error and writes nothing."""
    rows = synthetic_rows(600)
    rows[550]["nhs_number"] = "1234567890"  # fails mod 11; the policy rejects the file
    extract = write_csv(tmp_path / "episodes.csv", rows)
    policy_path = tmp_path / "episodes.yaml"
    policy_path.write_text(policy_text(), encoding="utf-8")
    policy = load_policy(policy_path)
    with pytest.raises(InputFileError) as local_error:
        deidentify_file(extract, policy, tmp_path / "local.csv", keystore=keystore)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "spark-out"
    with pytest.raises(InputFileError) as spark_error:
        deidentify_spark(
            extract,
            policy,
            str(out),
            keystore=keystore,
            options=SparkOptions(partitions=3, run=RunOptions(chunk_rows=100)),
            session=spark,
        )
    assert str(spark_error.value) == str(local_error.value)
    assert (spark_error.value.line, spark_error.value.column) == (552, "nhs_number")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    with pytest.raises(HandoverRefusedError, match="not a directory"):
        verify_directory(out, store_trusted_keys(keystore), policy=policy)
