"""deploy/ is not run here (no Docker engine), so at least keep it well-formed and honest."""

from __future__ import annotations

from pathlib import Path

import yaml

from fivesafes.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_file_parses_and_wires_the_services() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert set(compose["services"]) == {"db", "migrate", "api"}
    assert compose["services"]["api"]["ports"] == ["127.0.0.1:8000:8000"]
    assert compose["services"]["migrate"]["command"] == ["fivesafes", "db", "upgrade"]


def test_dockerfile_runs_unprivileged_and_offline() -> None:
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    instructions = [line.split()[0] for line in lines if line and not line.startswith(("#", " "))]
    assert instructions[0] == "FROM"
    assert "USER" in instructions
    assert any("--no-index" in line for line in lines)
    assert any("--require-hashes" in line for line in lines)


def test_env_example_names_only_known_settings() -> None:
    known = {f"FIVESAFES_{name.upper()}" for name in Settings.model_fields}
    for line in (DEPLOY / "fivesafes.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            assert line.split("=", 1)[0] in known
