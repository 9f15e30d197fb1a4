"""The package layout must not shadow the standard library's ``platform`` module."""

from __future__ import annotations

import platform
import sysconfig
from pathlib import Path

import fivesafes

REPO = Path(__file__).resolve().parents[2]


def test_platform_is_the_standard_library_module() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(platform.__file__).resolve().parent == stdlib
    assert callable(platform.python_version)


def test_platform_folder_is_not_a_package() -> None:
    assert (REPO / "platform" / "fivesafes" / "__init__.py").is_file()
    assert not (REPO / "platform" / "__init__.py").exists()


def test_fivesafes_is_imported_from_the_platform_folder() -> None:
    assert Path(fivesafes.__file__).resolve().parent == REPO / "platform" / "fivesafes"


def test_fixed_top_level() -> None:
    for name in (
        "pyproject.toml",
        "README.md",
        "Makefile",
        "platform",
        "migrations",
        "policies",
        "tests",
        "deploy",
        "docs",
    ):
        assert (REPO / name).exists(), name
