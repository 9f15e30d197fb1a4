"""`fivesafes deidentify` and `fivesafes keys` end to end (the real scrubber in slow tests)."""

from __future__ import annotations

import csv
import importlib
import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import pytest_socket
import typer
import yaml
from typer.testing import CliRunner

from fivesafes.cli.deid_commands import register
from fivesafes.cli.keys_commands import keys_app
from fivesafes.deid.engine import RunOptions, deidentify_file
from fivesafes.deid.policy import load_policy
from fivesafes.keys.local import LocalFileKeyStore

ROOT = Path(__file__).parents[3]
DATA = ROOT / "tests" / "data" / "dev-extract-200.csv"
POLICY = ROOT / "policies" / "datasets" / "sample-extract.yaml"


@pytest.fixture
def structured_policy(tmp_path: Path) -> Path:
    """The sample policy with the note kept as is: bad-input tests then need no spaCy."""
    data = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
    data["columns"]["clinical_note"] = {"type": "string", "role": "keep"}
    path = tmp_path / "structured.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


app = typer.Typer()
register(app)
app.add_typer(keys_app, name="keys")
runner = CliRunner()


@pytest.fixture
def keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keys"
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(path))
    monkeypatch.setenv("COLUMNS", "400")  # Rich folds long messages to the terminal width
    result = runner.invoke(app, ["keys", "init"])
    assert result.exit_code == 0, result.output
    return path


def extract(tmp_path: Path, rows: int = 50, body: str = "") -> Path:
    lines = DATA.read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "extract.csv"
    path.write_text("".join(lines[: rows + 1]) + body, encoding="utf-8")
    return path


def left_behind(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if p.name not in ("extract.csv", "keys", "structured.yaml")
    )


def test_keys_init_refuses_a_second_time_and_never_prints_keys(keystore: Path) -> None:
    result = runner.invoke(app, ["keys", "init"])
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.stderr
    check = runner.invoke(app, ["keys", "check"])
    assert check.exit_code == 0
    for name in ("pseudonym", "date_shift", "kek", "audit_signing"):
        assert (keystore / f"{name}.key").read_bytes().hex() not in check.output
    assert runner.invoke(app, ["keys", "show-path"]).output.strip() == str(keystore.resolve())


@pytest.mark.parametrize(
    ("body", "line", "column", "reason"),
    [
        (
            '7789328794,Alison Taylor,2007-09-02,WN8 8YH,F,Z,2023-07-28,J44.1,"never closed\n',
            52,
            "clinical_note",
            "unterminated quoted field",
        ),
        ("7789328794,Alison Taylor,2007-09-02\n", 52, "postcode", "ragged row"),
        (
            "1234567890,Alison Taylor,2007-09-02,WN8 8YH,F,Z,2023-07-28,J44.1,note\n",
            52,
            "nhs_number",
            "modulus 11",
        ),
        (
            "7789328794,Zo\udcebe Taylor,2007-09-02,WN8 8YH,F,Z,2023-07-28,J44.1,note\n",
            52,
            "patient_name",
            "not valid UTF-8",
        ),
    ],
)
def test_bad_input_exits_2_naming_position_and_leaves_no_output(
    keystore: Path,
    structured_policy: Path,
    tmp_path: Path,
    body: str,
    line: int,
    column: str,
    reason: str,
) -> None:
    source = tmp_path / "extract.csv"
    clean = "".join(DATA.read_text(encoding="utf-8").splitlines(keepends=True)[:51])
    source.write_bytes(clean.encode() + body.encode("utf-8", errors="surrogateescape"))
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "deidentify",
            str(source),
            "--policy",
            str(structured_policy),
            "--out",
            str(out),
            "--workers",
            "2",
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert f"{source}, line {line}, column '{column}'" in result.stderr
    assert reason in result.stderr
    assert "1234567890" not in result.stderr
    assert left_behind(tmp_path) == []


def test_undeclared_columns_are_listed_together(keystore: Path, tmp_path: Path) -> None:
    source = tmp_path / "extract.csv"
    rows = list(csv.reader(DATA.open(encoding="utf-8")))[:5]
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([[*row, "x", "y"] for row in rows])
    rows[0][-2:] = []
    result = runner.invoke(
        app, ["deidentify", str(source), "--policy", str(POLICY), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert "2 column(s) not declared" in result.stderr
    # Single letters might be values: named by position and shape, never quoted.
    width = len(rows[1]) + 2  # the written header: the extract's columns, x and y
    assert f"field {width - 1} (text of 1 character), field {width} (text of 1" in result.stderr
    assert "'x'" not in result.stderr
    assert left_behind(tmp_path) == []


def test_empty_file(keystore: Path, tmp_path: Path) -> None:
    source = tmp_path / "extract.csv"
    source.write_bytes(b"")
    result = runner.invoke(
        app, ["deidentify", str(source), "--policy", str(POLICY), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert f"{source}, line 1: file is empty" in result.stderr


def test_missing_key_store_says_how_to_create_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "nowhere"))
    result = runner.invoke(
        app,
        [
            "deidentify",
            str(extract(tmp_path)),
            "--policy",
            str(POLICY),
            "--out",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code == 1
    assert "keys init" in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_installed_command_exit_code(keystore: Path, tmp_path: Path) -> None:
    """The real entry point, as an operator runs it: status 2 and the position on stderr."""
    source = extract(tmp_path, rows=3, body="7789328794,Alison Taylor\n")
    command = Path(sys.executable).with_name("fivesafes")
    completed = subprocess.run(
        [
            str(command),
            "deidentify",
            str(source),
            "--policy",
            str(POLICY),
            "--out",
            str(tmp_path / "o.csv"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert f"{source}, line 5, column 'date_of_birth'" in completed.stderr
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.slow
def test_cli_with_the_real_scrubber(keystore: Path, tmp_path: Path) -> None:
    source = extract(tmp_path, rows=50)
    out, report_path = tmp_path / "out.csv", tmp_path / "report.json"
    result = runner.invoke(
        app,
        [
            "deidentify",
            str(source),
            "--policy",
            str(POLICY),
            "--out",
            str(out),
            "--workers",
            "2",
            "--report",
            str(report_path),
        ],
    )
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    rows = list(csv.DictReader(source.open(encoding="utf-8")))
    for row in rows:
        assert row["nhs_number"] not in text
        assert row["patient_name"] not in text
    report = json.loads(report_path.read_text())
    assert (report["rows_in"], report["rows_out"]) == (50, 50)
    assert report["policy_hash"] == load_policy(POLICY).content_hash
    assert report["versions"]["spacy_model"]["version"] == "3.8.0"
    assert report["entities"]["clinical_note"]["PERSON"] > 0
    for row in rows:
        assert row["nhs_number"] not in report_path.read_text()


@pytest.mark.slow
def test_real_engine_runs_with_sockets_blocked(
    keystore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def _refuse(*args: Any, **kwargs: Any) -> Any:
            attempts.append(name)
            raise OSError("network use during de-identification")

        return _refuse

    source, policy = extract(tmp_path, rows=20), load_policy(POLICY)
    # urllib3 (pulled in by tldextract) probes IPv6 support at import time by creating a
    # socket bound to ::1: local, no traffic. Import it first so that the guard below sees
    # only what de-identification itself does.
    importlib.import_module("urllib3")
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pytest_socket.disable_socket(allow_unix_socket=True)  # socket() itself raises
        try:
            report = deidentify_file(
                source,
                policy,
                tmp_path / "out.csv",
                keystore=LocalFileKeyStore(keystore),
                options=RunOptions(workers=1),  # in this process: every attempt is seen here
            )
        finally:
            pytest_socket.enable_socket()
    assert attempts == []
    assert not [w for w in caught if "socket" in str(w.message)]
    assert report.rows_out == 20
    assert report.entities["clinical_note"]


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85"])
def test_control_character_exits_2_naming_position_not_value(
    keystore: Path, structured_policy: Path, tmp_path: Path, char: str
) -> None:
    source = tmp_path / "extract.csv"
    clean = "".join(DATA.read_text(encoding="utf-8").splitlines(keepends=True)[:51])
    body = f"7789328794,Zoe Taylor{char},2007-09-02,WN8 8YH,F,Z,2023-07-28,J44.1,note\n"
    source.write_bytes((clean + body).encode("utf-8"))
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["deidentify", str(source), "--policy", str(structured_policy), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert f"{source}, line 52, column 'patient_name'" in result.stderr
    assert f"U+{ord(char):04X}" in result.stderr
    assert "Zoe" not in result.stderr
    assert "7789328794" not in result.stderr
    assert "Traceback" not in result.output
    assert left_behind(tmp_path) == []


def test_a_five_megabyte_cell_goes_through_the_engine(
    keystore: Path, structured_policy: Path, tmp_path: Path
) -> None:
    """Python's csv module stops at 128 KiB per field by default; the reader allows 16 MiB."""
    note = "Reviewed on the ward, stable overnight. " * (5 * 1024 * 1024 // 40)
    body = f'7789328794,Zoe Taylor,2007-09-02,WN8 8YH,F,Z,2023-07-28,J44.1,"{note}"\n'
    source = tmp_path / "extract.csv"
    clean = "".join(DATA.read_text(encoding="utf-8").splitlines(keepends=True)[:3])
    source.write_bytes((clean + body).encode("utf-8"))
    out = tmp_path / "out.csv"
    report = deidentify_file(
        source,
        load_policy(structured_policy),
        out,
        keystore=LocalFileKeyStore(keystore),
        options=RunOptions(workers=2),
    )
    assert report.rows_in == 3
    assert len(out.read_bytes()) > 5 * 1024 * 1024
