"""Which software made a result: platform, spaCy, the spaCy model and Presidio versions.

The de-identification report and the signed hand-over manifest both record them, so an
assessor can tell which engine and model produced a dataset. They live down here because
the manifest sits below the engine in the layers, and one answer must serve both. Read
from package metadata, so nothing heavy is imported to answer.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import fivesafes


def package_version(*names: str) -> str | None:
    """The installed version under the first of ``names`` that is installed, else None."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def software_versions(spacy_model: str | None) -> dict[str, Any]:
    """Engine, spaCy, model and Presidio versions (the model only when one is used)."""
    versions: dict[str, Any] = {
        "engine": f"fivesafes {fivesafes.__version__}",
        "spacy": package_version("spacy"),
        "presidio_analyzer": package_version("presidio-analyzer", "presidio_analyzer"),
        "presidio_anonymizer": package_version("presidio-anonymizer", "presidio_anonymizer"),
    }
    if spacy_model is not None:
        versions["spacy_model"] = {
            "name": spacy_model,
            "version": package_version(spacy_model, spacy_model.replace("_", "-")),
        }
    return versions
