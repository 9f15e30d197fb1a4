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


def _calls(path: Path) -> set[str]:
    """The attribute names called in ``path`` (``session.commit()`` gives ``commit``) and
    the plain names called (``select(...)`` gives ``select``)."""
    import ast  # noqa: PLC0415

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
            elif isinstance(node.func, ast.Name):
                names.add(node.func.id)
    return names


#: The transaction owners below the entry points: the ingestion runner's stages and the
#: fault recorder (which writes a failure after the work's own transaction rolled back).
TRANSACTION_OWNERS = {"ingestion/runner.py", "ingestion/failures.py"}


def test_services_flush_and_the_caller_commits() -> None:
    committing = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "commit" in _calls(path)
        and path.relative_to(PACKAGE).parts[0] not in {"cli", "bench", "demo"}
        and str(path.relative_to(PACKAGE)) not in TRANSACTION_OWNERS | {"db.py"}
    )
    assert committing == [], "only the request, the CLI and the runner commit"


def test_entry_point_routes_do_not_query_the_database() -> None:
    """Routes and pages call the same services as each other; queries live below them."""
    queries = {"select", "scalar", "scalars", "execute", "get", "query"}
    routes = [*(PACKAGE / "api" / "routes").glob("*.py"), *(PACKAGE / "web").glob("routes*.py")]
    querying = sorted(str(path.relative_to(PACKAGE)) for path in routes if "select" in _calls(path))
    assert querying == [], "routes that build SQL themselves"
    sessions = sorted(
        str(path.relative_to(PACKAGE))
        for path in routes
        if any(f"session.{q}(" in path.read_text(encoding="utf-8") for q in queries)
    )
    assert sessions == [], "routes that query the session themselves"
