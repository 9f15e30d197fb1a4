"""Reading a release's rows once and counting them for the disclosure gate.

A release and a disclosure preview read and count alike: the same plan, the same reader
(:mod:`fivesafes.release.reader`), the same project transform of the quasi-identifiers
(dates shifted for the project and coarsened) and the same :class:`ClassCounter`, so a
preview's numbers are the numbers the release will have. A release also keeps each batch
(its ``sink`` puts them in the shuffling spool); a preview keeps nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from fivesafes.access.models import Project
from fivesafes.errors import ConflictError, NotFoundError
from fivesafes.keys.store import KeyStore
from fivesafes.release.classes import ClassCounter
from fivesafes.release.pseudonyms import Generations, ProjectPseudonyms
from fivesafes.release.query import ReleasePlan
from fivesafes.release.reader import read_batches
from fivesafes.release.transform import BatchTransform

#: What a release does with each batch read and its rows' class ids (None: no classes).
Sink = Callable[[pa.RecordBatch, np.ndarray | None], None]


class ReleaseTooLargeError(ConflictError):
    """More rows than one release may hold (409): split the grant with row filters."""

    code = "release_too_large"


def project_pseudonyms(
    keystore: KeyStore, project_id: int, plan: ReleasePlan, *, project_generation: int
) -> ProjectPseudonyms:
    """The project's pseudonym and date-shift keys, for the plan's dataset policy; the
    version's stored pseudonyms are brought to the project's pinned generation first."""
    stored = plan.version.pseudonym_generation
    remap_keys = keystore.pseudonym_remap_keys() if max(stored, project_generation) > 1 else ()
    return ProjectPseudonyms(
        keystore.secret("pseudonym"),
        keystore.secret("date_shift"),
        project_id,
        plan.policy.date_shift.max_days,
        Generations(stored, project_generation, remap_keys),
    )


def project_generation(session: Session, project_id: int) -> int:
    """The pseudonym generation a project is pinned at (see :mod:`fivesafes.keys.remap`)."""
    generation = session.scalar(
        select(Project.pseudonym_generation).where(Project.id == project_id)
    )
    if generation is None:
        raise NotFoundError(f"project {project_id} not found")
    return generation


def count_rows(
    plan: ReleasePlan,
    transform: BatchTransform,
    engine: Engine,
    renderer: Connection,
    *,
    max_rows: int,
    sink: Sink | None = None,
) -> ClassCounter:
    """Read the plan's rows once and count them as released; each batch also goes to
    ``sink``. More than ``max_rows`` rows: :class:`ReleaseTooLargeError`, the reading
    stopped at once."""
    counter = ClassCounter(plan.quasi_identifiers)
    with contextlib.closing(read_batches(plan, engine, renderer)) as batches:
        for batch in batches:
            class_ids = counter.add(*transform.counted(batch))
            if counter.rows > max_rows:
                raise ReleaseTooLargeError(
                    f"{plan.terms.holder} selects more than {max_rows:,} rows, the most one "
                    "release may hold; ask governance for grants with narrower row "
                    "filters (for example one per year of admissions)"
                )
            if sink is not None:
                sink(batch, class_ids)
    return counter
