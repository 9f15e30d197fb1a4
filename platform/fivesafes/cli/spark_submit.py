"""The script ``spark-submit`` runs: ``fivesafes deidentify --engine spark`` on a cluster.

::

    spark-submit --master yarn --deploy-mode client \\
        --conf spark.io.encryption.enabled=true \\
        --conf spark.authenticate=true --conf spark.network.crypto.enabled=true \\
        "$(python -c 'import fivesafes.cli.spark_submit as s; print(s.__file__)')" \\
        extract.csv --policy admissions.yaml --out /data/out/admissions-2026-12 \\
        --partitions 64 --format parquet

The arguments are the CLI's (``INPUT --policy --out [--partitions] [--format]
[--report]``) and the command run is the CLI's own
(:func:`fivesafes.cli.deid_commands.deidentify` with ``--engine spark``), so there is
one code path to trust. The master is spark-submit's: ``--master`` (and ``--engine``)
after the script are refused, and the job's session is built without ``.master()``, so
``getOrCreate`` takes ``spark.master`` and every other setting from the submission.

The security settings are checked on the submission's own configuration, BEFORE the
job's session adds its defaults: some of them are read by Spark outside this Python
process and before it runs (the submission client, the cluster manager's containers, an
external shuffle service), where a setting added by the driver comes too late, and an
operator's explicit ``false`` would otherwise be overridden without a word. See
docs/scale-out.md.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

import typer

from fivesafes.cli.deid_commands import register
from fivesafes.cli.runtime import EXIT_FAILURE, EXIT_INVALID_INPUT, err_console
from fivesafes.deid.spark.job import CLUSTER_CONF, REQUIRED_CONF
from fivesafes.errors import ConfigurationError, FivesafesError, InvalidInputError

#: CLI options that are spark-submit's to give (or that this entry point fixes).
SPARK_SUBMIT_OWNS = ("--master", "--engine")


def required_settings(master: str) -> dict[str, str]:
    """What a submission to ``master`` must state: :data:`REQUIRED_CONF`, and for any
    master but ``local[...]`` authenticated, encrypted RPC (:data:`CLUSTER_CONF`)."""
    required = dict(REQUIRED_CONF)
    if not master.startswith("local"):
        required.update(CLUSTER_CONF)
    return required


def check_submission(conf: Mapping[str, str]) -> None:
    """Refuse a submission that does not itself set the security settings, naming one."""
    master = conf.get("spark.master")
    if not master:
        raise ConfigurationError(
            "no spark.master: run this script with spark-submit --master ... "
            "(or use `fivesafes deidentify --engine spark --master ...`)"
        )
    for key, value in required_settings(master).items():
        if (conf.get(key) or "false").lower() != value:
            raise ConfigurationError(
                f"spark-submit must be given --conf {key}={value}: without it the extract "
                "or the plan's keys would be spooled to disk or sent over the network in "
                "clear (docs/scale-out.md)"
            )


def check_arguments(args: Sequence[str]) -> None:
    """Refuse the options whose value here would contradict (or duplicate) spark-submit's."""
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in SPARK_SUBMIT_OWNS:
            raise InvalidInputError(
                f"{name} is not an option of the spark-submit entry point: the master is "
                "spark-submit's own --master (given before the script), the engine is spark"
            )


def submitted_conf() -> dict[str, str]:
    """spark-submit's configuration as the driver JVM holds it, before any session exists."""
    from pyspark import SparkConf, SparkContext  # noqa: PLC0415 - only under spark-submit

    # Connects to the JVM spark-submit started (PYSPARK_GATEWAY_PORT); creates no context.
    SparkContext._ensure_initialized()  # private, but public ways in build a context
    return {str(key): str(value) for key, value in SparkConf().getAll()}


def _stop_session() -> None:
    """Stop the job's session, so the driver ends (and its event log closes) with the job."""
    from pyspark.sql import SparkSession  # noqa: PLC0415

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Check, then run the CLI's ``deidentify --engine spark``; the exit status (or exits)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        check_arguments(args)
        check_submission(submitted_conf())
    except FivesafesError as exc:
        err_console.print(f"error ({exc.code}): ", style="bold red", end="")
        err_console.print(exc.message, markup=False, highlight=False)
        return EXIT_INVALID_INPUT if isinstance(exc, InvalidInputError) else EXIT_FAILURE
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    register(app)  # one command: `app` is `deidentify` itself, the CLI's arguments as they are
    try:
        app(args=[*args, "--engine", "spark"], prog_name="fivesafes-spark-submit")
    finally:
        _stop_session()
    return 0


if __name__ == "__main__":
    sys.exit(main())
