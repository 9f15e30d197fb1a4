"""Faults injected into Spark's Python workers, and the small driver the failure tests run.

Spark unpickles what a task calls by reference (module and name) in its own Python
workers, which see only ``$PYTHONPATH``, not pytest's ``sys.path``: the tests therefore run
their Spark jobs in subprocesses with the repository root on ``PYTHONPATH`` (Spark passes
it on to the workers it starts), and everything a worker calls lives here.

A fault leaves one empty *marker* file per task attempt that reaches it, named by stage,
partition and attempt number only (never by data), so a test can prove that the retry or
the speculative copy it relies on really ran instead of trusting the configuration.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from fivesafes.deid.types import PatientContext, ScrubberConfig, ScrubResult

Mode = Literal["raise", "exit", "sleep"]


class Attempt(NamedTuple):
    """Where a Python worker is: which task attempt of which stage it runs."""

    stage: int
    partition: int
    number: int  # Spark's attemptNumber: 0 first, then retries and speculative copies
    task: int  # taskAttemptId: unique per attempt in the application

    @property
    def marker(self) -> str:
        return f"s{self.stage}-p{self.partition}-a{self.number}-t{self.task}"


def current_attempt() -> Attempt | None:
    """The task attempt this code runs in; None outside a Spark task (the local engine)."""
    try:
        from pyspark import TaskContext  # noqa: PLC0415 - absent for the local engine's tests
    except ImportError:
        return None
    context = TaskContext.get()
    if context is None:
        return None
    return Attempt(
        context.stageId(), context.partitionId(), context.attemptNumber(), context.taskAttemptId()
    )


_MARKER = re.compile(r"s(\d+)-p(\d+)-a(\d+)-t(\d+)")


def markers(folder: Path) -> list[Attempt]:
    """The attempts that left a marker in ``folder``."""
    found = []
    for path in sorted(folder.iterdir()):
        match = _MARKER.fullmatch(path.name)
        if match is not None:
            found.append(Attempt(*(int(group) for group in match.groups())))
    return found


_CALLS: dict[int, int] = {}  # scrub_many calls so far, per task attempt (per process)


@dataclass(frozen=True)
class FaultyScrubberFactory:
    """A scrubber factory (``RunOptions.scrubber_factory``) whose scrubbers misbehave once.

    On the ``at_call``-th ``scrub_many`` call of attempt 0 of ``partition``'s task (so
    after that task has already produced rows), ``mode`` happens: ``raise`` (the task
    fails with a Python exception), ``exit`` (the Python worker dies) or ``sleep``
    (``seconds``, a straggler for speculation). Other calls only scrub. Pickled with the
    broadcast plan: frozen, module-level, plain fields.
    """

    markers: str
    mode: Mode
    partition: int = 1
    at_call: int = 2
    seconds: float = 0.0

    def __call__(self, config: ScrubberConfig) -> TagScrubber:
        return TagScrubber(self)


class TagScrubber:
    """A deterministic stand-in for spaCy: the row's own name parts and NHS number become
    tags. The same in the driver and in every worker, so outputs compare exactly."""

    def __init__(self, fault: FaultyScrubberFactory | None = None) -> None:
        self.fault = fault

    def scrub_many(
        self, texts: Sequence[str | None], contexts: Sequence[PatientContext], column: str
    ) -> list[ScrubResult]:
        if self.fault is not None:
            self._maybe_fail(self.fault)
        results = []
        for text, context in zip(texts, contexts, strict=True):
            out, found = text or "", 0
            for name in context.names:
                for part in name.split():
                    found += out.count(part)
                    out = out.replace(part, "[PERSON]")
            for number in context.nhs_numbers:
                found += out.count(number)
                out = out.replace(number, "[NHS_NUMBER]")
            results.append(ScrubResult(out, {"PERSON": found} if found else {}))
        return results

    @staticmethod
    def _maybe_fail(fault: FaultyScrubberFactory) -> None:
        attempt = current_attempt()
        if attempt is None:
            return
        (Path(fault.markers) / attempt.marker).touch()
        calls = _CALLS[attempt.task] = _CALLS.get(attempt.task, 0) + 1
        if (attempt.partition, attempt.number, calls) != (fault.partition, 0, fault.at_call):
            return
        if fault.mode == "raise":
            raise RuntimeError("injected fault: first attempt fails")
        if fault.mode == "exit":
            os._exit(3)
        time.sleep(fault.seconds)


def install_write_stall(folder: str) -> None:
    """Make a job stop for good half-way through writing its part files.

    The job caches its transformed rows, so Spark's write runs no Python and cannot be
    stalled from a worker: here the cache is switched off (``DataFrame.persist`` does
    nothing; the output is a pure function of the input, so only the cost changes) and
    the write stage recomputes the transform, whose partition 1 then sleeps (after a
    ``stalled`` marker) while the other partitions write and commit their part files.
    Installed by a ``sitecustomize`` in every process of a CLI subprocess: the driver
    and Spark's Python workers.
    """
    from pyspark.sql import DataFrame  # noqa: PLC0415
    from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame  # noqa: PLC0415

    from fivesafes.deid.spark import partitions  # noqa: PLC0415

    for frame in (DataFrame, ClassicDataFrame):  # the classic one (not Spark Connect) overrides
        frame.persist = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    transform = partitions.PartitionTransform.__call__
    markers_dir = Path(folder)

    def stalling(self: Any, batches: Any) -> Any:
        attempt = current_attempt()
        if attempt is not None:
            earlier = [m for m in markers(markers_dir) if m.partition == 1]
            (markers_dir / attempt.marker).touch()
            if attempt.partition == 1 and any(m.stage != attempt.stage for m in earlier):
                (markers_dir / "stalled").touch()
                time.sleep(600)
        return transform(self, batches)

    partitions.PartitionTransform.__call__ = stalling  # type: ignore[method-assign]


SITECUSTOMIZE = """\
import os
if os.environ.get("FAULTS_WRITE_STALL"):
    from tests.integration.spark.faults import install_write_stall
    install_write_stall(os.environ["FAULTS_WRITE_STALL"])
"""


def run_jobs(spec_path: Path) -> None:
    """Run the jobs a JSON spec lists, one after the other in one session (its master and
    conf from the spec: a JVM takes seconds to start); each job's report goes beside its
    output (``<out>.report.json``)."""
    from fivesafes.deid.engine import RunOptions  # noqa: PLC0415
    from fivesafes.deid.policy import load_policy  # noqa: PLC0415
    from fivesafes.deid.spark.job import SparkOptions, deidentify_spark, spark_session  # noqa: PLC0415
    from fivesafes.keys.local import LocalFileKeyStore  # noqa: PLC0415

    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    keystore = LocalFileKeyStore(Path(spec["keys"]))
    policy = load_policy(Path(spec["policy"]))
    session = spark_session(spec["master"], spec["conf"])
    session.sparkContext.setLogLevel("OFF")  # the injected failures' stack traces
    try:
        for job in spec["jobs"]:
            started = time.perf_counter()
            report = deidentify_spark(
                Path(spec["extract"]),
                policy,
                job["out"],
                keystore=keystore,
                options=SparkOptions(
                    partitions=job["partitions"],
                    run=RunOptions(
                        chunk_rows=job["chunk_rows"],
                        scrubber_factory=FaultyScrubberFactory(**job["fault"]),
                    ),
                ),
                session=session,
            )
            Path(job["out"] + ".report.json").write_text(report.to_json(), encoding="utf-8")
            print(f"{job['out']}: {time.perf_counter() - started:.1f}s", file=sys.stderr)
    finally:
        session.stop()


if __name__ == "__main__":
    # Run as a script this module is ``__main__``: the factory must be pickled by its
    # importable name, so the jobs run from the module imported under that name.
    importlib.import_module("tests.integration.spark.faults").run_jobs(Path(sys.argv[1]))
