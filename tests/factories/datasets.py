"""Datasets, declared the way a deployment declares them: a policy file, loaded."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.orm import Session

from fivesafes.datasets import service as datasets
from tests.integration.access.helpers import TRAIL


def load_policies(session: Session, folder: Path, texts: Mapping[str, str]) -> None:
    """Write each policy text to ``folder/<name>.yaml`` and load it (as `policies load`)."""
    for name, text in texts.items():
        path = folder / f"{name}.yaml"
        path.write_text(text)
        datasets.load_policy_file(session, TRAIL, path)
