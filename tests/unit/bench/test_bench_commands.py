"""``fivesafes bench``'s report: each command writes its section of latest.json and prints
one table; ``bench all`` adds its own section and one table of every figure; the exit
code follows the bars (issue 21). The measurements are replaced by fixed figures."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fivesafes.bench import audit
from fivesafes.bench.audit import AuditBenchResult
from fivesafes.bench.report import REPORT_VAR, Figure
from fivesafes.cli import bench_commands


@pytest.fixture
def latest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bench" / "latest.json"
    monkeypatch.setenv(REPORT_VAR, str(path))
    monkeypatch.setenv("COLUMNS", "200")
    return path


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(bench_commands.bench_app, name="bench")
    return app


def _fake_audit(monkeypatch: pytest.MonkeyPatch, audited: list[float]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(dialect: str, requests: int = 1000, clients: int = 4, rounds: int = 7) -> Any:
        calls.append({"dialect": dialect, "requests": requests, "rounds": rounds})
        return AuditBenchResult(dialect, requests, clients, list(audited), [100.0] * len(audited))

    monkeypatch.setattr(audit, "run_audit_benchmark", fake)
    return calls


def test_bench_audit_writes_its_section_and_passes_on_the_top_of_the_spread(
    latest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_audit(monkeypatch, [70.0, 75.0, 82.0])
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    result = CliRunner().invoke(
        _app(), ["bench", "audit", "--rounds", "3", "--requests", "40", "--dialect", "sqlite"]
    )
    assert result.exit_code == 0, result.output
    assert calls == [{"dialect": "sqlite", "requests": 40, "rounds": 3}]
    assert "audited / unaudited POST /tokens, sqlite" in result.output
    assert "UNDER LOAD" not in result.output
    section = json.loads(latest.read_text(encoding="utf-8"))["benches"]["audit"]
    assert section["options"] == {"rounds": 3, "requests": 40, "dialects": ["sqlite"]}
    assert section["loaded"] is False
    (figure,) = section["figures"]
    assert figure["ratio"] == pytest.approx(0.75)
    assert figure["spread"] == pytest.approx([0.7, 0.82])
    assert figure["passed"] is True


def test_a_missed_bar_exits_1_and_a_loaded_machine_is_named(
    latest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_audit(monkeypatch, [70.0, 75.0, 79.0])
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 8.0, 7.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    result = CliRunner().invoke(_app(), ["bench", "audit", "--dialect", "postgresql"])
    assert result.exit_code == 1
    assert "UNDER LOAD: load average 9.00 above the machine's 2 cores" in result.output
    section = json.loads(latest.read_text(encoding="utf-8"))["benches"]["audit"]
    assert section["passed"] is False
    assert section["loaded"] is True


def test_an_unknown_dialect_is_refused_by_name(latest: Path) -> None:
    result = CliRunner().invoke(_app(), ["bench", "audit", "--dialect", "oracle"])
    assert result.exit_code != 0
    assert "'oracle' is not postgresql or sqlite" in result.output


def test_bench_all_tabulates_every_section_once_and_writes_its_own(
    latest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))

    def fake(name: str, ratio: float) -> Any:
        def run(*_: object, **__: object) -> bool:
            figure = Figure(f"{name} figure", 1.0, "u", "base", 1.0, ratio, bar=0.5)
            return bench_commands._measured(name, {}, lambda _report: (name, [figure], True))

        return run

    for name, ratio in (
        ("deid", 6.0),
        ("structured", 0.6),
        ("ingestion", 0.7),
        ("audit", 0.9),
        ("release", 0.45),
        ("spark", 0.6),
    ):
        monkeypatch.setattr(bench_commands, f"_run_{name}", fake(name, ratio))
    result = CliRunner().invoke(_app(), ["bench", "all"])
    assert result.exit_code == 1  # release 0.45 < 0.5
    assert "bars missed: release" in result.output
    data = json.loads(latest.read_text(encoding="utf-8"))
    expected = {"deid", "structured", "ingestion", "audit", "release", "all"}
    if importlib.util.find_spec("pyspark") is not None:
        expected.add("spark")
    assert expected <= set(data["benches"])
    whole = data["benches"]["all"]
    assert whole["passed"] is False
    assert [f["name"] for f in whole["figures"]][:5] == [
        "deid figure",
        "structured figure",
        "ingestion figure",
        "audit figure",
        "release figure",
    ]
