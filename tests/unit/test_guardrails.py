"""The guardrails that keep the architecture as docs/architecture.md draws it.

``make lint`` runs import-linter and the private-key detector; these tests make sure the
guardrails themselves cannot quietly stop covering the code: every package is placed in
the layer contract, the hooks name tools the virtualenv has, and the detector bites.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "platform" / "fivesafes"
BIN = Path(sys.executable).parent


def _layers() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    return [name.strip() for row in layers for name in row.replace(":", "|").split("|")]


def _top_level_modules() -> set[str]:
    found = {p.stem for p in PACKAGE.glob("*.py") if p.stem not in {"__init__", "__main__"}}
    found |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    return {f"fivesafes.{name}" for name in found}


def test_every_top_level_module_has_a_layer() -> None:
    """A new package outside the diagram would be unchecked by import-linter."""
    layered = _layers()
    assert len(layered) == len(set(layered)), "a module is named in two layers"
    assert _top_level_modules() - set(layered) == set(), "modules missing from the layers"
    assert set(layered) - _top_level_modules() == set(), "layers naming no module"


def test_the_api_and_the_web_pages_are_independent_siblings() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [
        c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    ]
    assert "fivesafes.api | fivesafes.web" in layers


def test_pre_commit_hooks_run_tools_the_virtualenv_has() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "detect-private-key", "import-linter"} <= set(hooks)
    for hook in hooks.values():
        assert hook["language"] == "system", f"{hook['id']} would fetch from the network"
        tool = Path(hook["entry"].split()[0]).name
        assert (BIN / tool).is_file(), f"{hook['id']}: {tool} is not in the virtualenv"


def test_the_private_key_detector_bites(tmp_path: Path) -> None:
    planted = tmp_path / "leaked.pem"
    planted.write_text(
        "-----BEGIN " + "PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n",
        encoding="utf-8",
    )
    clean = tmp_path / "clean.txt"
    clean.write_text("nothing secret here\n", encoding="utf-8")
    detector = str(BIN / "detect-private-key")
    assert subprocess.run([detector, str(clean)], check=False).returncode == 0
    assert subprocess.run([detector, str(planted)], check=False).returncode != 0
