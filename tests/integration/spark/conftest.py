"""One Spark session for the whole test run (a JVM takes seconds to start), on local[2].

Everything stays on the loopback interface (the suite refuses other sockets) and no UI is
served. The session is the one the job itself would create (``spark_session``), so the
security settings under test are the job's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fivesafes.deid.spark.job import spark_session
from fivesafes.keys.local import LocalFileKeyStore

pytest.importorskip("pyspark", reason="the spark extra is not installed")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = spark_session(
        "local[2]",
        {
            "spark.sql.shuffle.partitions": "2",
            "spark.driver.memory": "1g",
            "spark.ui.showConsoleProgress": "false",
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def keystore(tmp_path: Path) -> LocalFileKeyStore:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    return store
