"""What the Spark engine refuses, and what it never loads or ships (no JVM needed)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fivesafes.cli.deid_commands import register
from fivesafes.deid.engine import DeidRun, RunOptions
from fivesafes.deid.policy import load_policy
from fivesafes.deid.spark.job import check_session
from fivesafes.deid.spark.partitions import cached_scrubber
from fivesafes.deid.worker import WorkerSpec
from fivesafes.errors import ConfigurationError
from fivesafes.keys.local import LocalFileKeyStore

ROOT = Path(__file__).parents[3]
DEV_EXTRACT = ROOT / "tests" / "data" / "dev-extract-200.csv"
DEV_POLICY = ROOT / "policies" / "datasets" / "sample-extract.yaml"


def test_the_cli_and_the_local_engine_never_import_pyspark() -> None:
    code = (
        "import sys, fivesafes.cli.main, fivesafes.deid.engine, fivesafes.deid.spark.job;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j', 'pandas'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _session(master: str, **conf: str) -> Any:
    context = SimpleNamespace(master=master, getConf=lambda: SimpleNamespace(get=conf.get))
    return SimpleNamespace(sparkContext=context)


def test_a_session_without_io_encryption_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"spark\.io\.encryption\.enabled=true"):
        check_session(_session("local[2]"))
    check_session(_session("local[2]", **{"spark.io.encryption.enabled": "true"}))


@pytest.mark.parametrize("missing", ["spark.authenticate", "spark.network.crypto.enabled"])
def test_a_cluster_session_needs_authenticated_encrypted_rpc(missing: str) -> None:
    conf = {
        "spark.io.encryption.enabled": "true",
        "spark.authenticate": "true",
        "spark.network.crypto.enabled": "true",
    }
    check_session(_session("yarn", **conf))
    conf[missing] = "false"
    with pytest.raises(ConfigurationError, match=missing.replace(".", r"\.")):
        check_session(_session("yarn", **conf))


def test_the_broadcast_plan_carries_derived_keys_never_the_masters(tmp_path: Path) -> None:
    """What the driver broadcasts: no master key, no remap key, in any form we hold."""
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    policy = load_policy(DEV_POLICY)
    with DeidRun(DEV_EXTRACT, policy, keystore=store, options=RunOptions()) as run:
        spec = WorkerSpec(
            plan=run.plan,
            header=tuple(run.source.header),
            encoding="utf-8",
            output="columns",
            scrubber_config=run.plan.scrubber_config("en_core_web_sm"),
            scrubber_factory=cached_scrubber,
        )
        blob = pickle.dumps(spec)
    for name in ("pseudonym", "date_shift"):
        secret = store.secret(name)
        assert secret not in blob
        assert secret.hex().encode() not in blob
    # ...and the plan still works from the pickle (it carries what it needs).
    assert pickle.loads(blob).plan.outputs == spec.plan.outputs


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--master", "local[2]"], "--master needs --engine spark"),
        (["--partitions", "4"], "--partitions needs --engine spark"),
        (["--format", "csv"], "--format needs --engine spark"),
        (["--engine", "spark", "--workers", "2"], "--workers is for the local engine"),
    ],
)
def test_spark_options_without_the_spark_engine_are_refused(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `deidentify` a subcommand
    out = tmp_path / "out.csv"
    args = ["deidentify", str(DEV_EXTRACT), "--policy", str(DEV_POLICY), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()
