"""The spark-submit entry point (fivesafes.cli.spark_submit) under a real spark-submit.

Each run is its own JVM started by the venv's ``spark-submit --master local[2]``, bound to
the loopback interface, over a 40-row structured extract (no spaCy): what an operator's
submission does, end to end, down to a hand-over manifest that verifies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fivesafes.audit.trust import store_trusted_keys
from fivesafes.cli import spark_submit as submit
from fivesafes.deid.engine import RunOptions, deidentify_file
from fivesafes.deid.policy import load_policy
from fivesafes.errors import ConfigurationError
from fivesafes.handover.manifest import verify_directory
from fivesafes.keys.local import LocalFileKeyStore
from tests.integration.spark.extracts import DEV_EXTRACT, read_parquet_parts, structured_dev_policy

pytestmark = [pytest.mark.slow, pytest.mark.spark]

SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"
ROWS = 40
#: Loopback only (the suite's socket guard does not reach a subprocess: this does).
LOOPBACK = [
    "--conf",
    "spark.driver.host=127.0.0.1",
    "--conf",
    "spark.driver.bindAddress=127.0.0.1",
    "--conf",
    "spark.ui.enabled=false",
]
ENCRYPTED = ["--conf", "spark.io.encryption.enabled=true"]


def _tiny_extract(folder: Path) -> Path:
    lines = DEV_EXTRACT.read_text(encoding="utf-8").splitlines(keepends=True)
    extract = folder / "tiny.csv"
    extract.write_text("".join(lines[: ROWS + 1]), encoding="utf-8")
    return extract


def _spark_submit(folder: Path, conf: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    keys = folder / "keys"
    if not keys.exists():
        LocalFileKeyStore(keys).init()
    env = {
        **os.environ,
        "FIVESAFES_KEYSTORE_PATH": str(keys),
        "FIVESAFES_DATABASE_URL": f"sqlite:///{folder / 'absent.db'}",  # no opt-out list
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    command = [
        str(SPARK_SUBMIT),
        "--master",
        "local[2]",
        *LOOPBACK,
        *conf,
        submit.__file__,
        str(_tiny_extract(folder)),
        "--policy",
        str(structured_dev_policy(folder)),
        "--out",
        str(out),
        "--partitions",
        "2",
    ]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.skipif(not SPARK_SUBMIT.exists(), reason="pyspark's spark-submit is not installed")
def test_spark_submit_writes_the_local_engines_rows_and_a_manifest_that_verifies(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    done = _spark_submit(tmp_path, ENCRYPTED, out)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert f"wrote {out}" in done.stdout
    parts = sorted(p.name for p in out.glob("part-*.parquet"))
    assert len(parts) == 2  # --partitions 2, after the script: the CLI's option, honoured
    keystore = LocalFileKeyStore(tmp_path / "keys")
    policy = load_policy(tmp_path / "structured.yaml")
    verified = verify_directory(out, store_trusted_keys(keystore), policy=policy)
    assert verified.engine == "spark"
    assert sorted(verified.files) == parts
    assert (verified.input_rows, verified.output_rows) == (ROWS, ROWS)
    # The same rows, in the same order, as the local engine with the same keys.
    local = tmp_path / "local.parquet"
    deidentify_file(
        tmp_path / "tiny.csv", policy, local, keystore=keystore, options=RunOptions(workers=1)
    )
    assert read_parquet_parts(out) == pq.read_table(local).to_pylist()
    # Spark's own log (INFO, on stderr) carries no raw NHS number and no master key.
    raw = [line.split(",", 1)[0] for line in (tmp_path / "tiny.csv").read_text().splitlines()[1:]]
    log = done.stdout + done.stderr
    assert "SparkContext" in done.stderr  # the log was captured: the next check can fail
    assert not [value for value in raw if value and value in log]
    for name in ("pseudonym", "date_shift"):
        assert keystore.secret(name).hex() not in log


@pytest.mark.skipif(not SPARK_SUBMIT.exists(), reason="pyspark's spark-submit is not installed")
def test_spark_submit_without_io_encryption_is_refused_naming_the_setting(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _spark_submit(tmp_path, [], out)
    assert done.returncode == 1, done.stdout + done.stderr[-4000:]
    # spark-submit merges the Python driver's stderr into its own stdout.
    assert "spark-submit must be given --conf spark.io.encryption.enabled=true" in done.stdout
    assert not out.exists()
    # An explicit false is refused too (the job's own default would otherwise hide it).
    done = _spark_submit(tmp_path, ["--conf", "spark.io.encryption.enabled=false"], out)
    assert done.returncode == 1
    assert "--conf spark.io.encryption.enabled=true" in done.stdout
    assert not out.exists()


def test_a_cluster_submission_needs_authenticated_encrypted_rpc() -> None:
    conf = {
        "spark.master": "yarn",
        "spark.io.encryption.enabled": "true",
        "spark.authenticate": "true",
        "spark.network.crypto.enabled": "true",
    }
    submit.check_submission(conf)
    for missing in ("spark.authenticate", "spark.network.crypto.enabled"):
        with pytest.raises(ConfigurationError, match=missing.replace(".", r"\.") + "=true"):
            submit.check_submission({k: v for k, v in conf.items() if k != missing})
    # local[...] needs I/O encryption only: nothing leaves the machine.
    submit.check_submission({"spark.master": "local[4]", "spark.io.encryption.enabled": "true"})
    with pytest.raises(ConfigurationError, match="spark-submit --master"):
        submit.check_submission({"spark.io.encryption.enabled": "true"})


@pytest.mark.parametrize("given", [["--master", "yarn"], ["--master=yarn"], ["--engine", "local"]])
def test_master_and_engine_after_the_script_are_refused(
    given: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before any JVM is asked for its configuration (exit 2, as the CLI's)."""
    status = submit.main(["extract.csv", "--policy", "p.yaml", "--out", "out", *given])
    assert status == 2
    assert "spark-submit's own --master" in capsys.readouterr().err
