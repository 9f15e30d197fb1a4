"""From rows as stored to rows as released, one Arrow record batch at a time.

In order: stored pseudonyms are re-keyed for the project; date-shifted columns move by
each patient's project offset; dates are coarsened to the grant's granularity; the hidden
patient column is dropped. Everything is vectorised (pyarrow compute, one AES call per
batch). Suppression happens later, once the disclosure gate has seen every row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fivesafes.release.pseudonyms import Blocks, ProjectPseudonyms
from fivesafes.release.query import HIDDEN_PATIENT, ReleaseColumn, ReleasePlan

_DAY_US = 86_400_000_000


class BatchTransform:
    """The release transforms of one plan, for one project."""

    def __init__(self, plan: ReleasePlan, pseudonyms: ProjectPseudonyms) -> None:
        self.plan = plan
        self.pseudonyms = pseudonyms
        self.schema = pa.schema([(c.name, c.out_kind.arrow_type()) for c in plan.columns])

    def _patients(self, batch: pa.RecordBatch) -> Blocks | None:
        patient = self.plan.patient_column
        if patient is None:
            return None
        source = HIDDEN_PATIENT if HIDDEN_PATIENT in batch.schema.names else patient
        return self.pseudonyms.blocks(batch.column(source))

    def counted(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, np.ndarray | None]:
        """What the disclosure gate counts: the counted quasi-identifiers as they will be
        released (dates shifted and coarsened, so classes are the released ones), and each
        row's 64-bit patient key (None: no patient column)."""
        blocks = self._patients(batch)
        offsets: list[pa.Array] = []
        arrays = [
            self._released(self.plan.column(name), batch, blocks, offsets)
            for name in self.plan.quasi_identifiers
        ]
        # Without quasi-identifiers the view still has the batch's rows (no columns).
        view = (
            pa.RecordBatch.from_arrays(arrays, names=list(self.plan.quasi_identifiers))
            if arrays
            else batch.select([])
        )
        return view, None if blocks is None else blocks.patient_keys()

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The released batch (extra columns of ``batch`` are left out)."""
        blocks = self._patients(batch)
        offsets: list[pa.Array] = []
        arrays = [self._released(c, batch, blocks, offsets) for c in self.plan.columns]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _released(
        self,
        column: ReleaseColumn,
        batch: pa.RecordBatch,
        blocks: Blocks | None,
        offsets: list[pa.Array],
    ) -> pa.Array:
        """One column as released; ``offsets`` caches the batch's date offsets (computed
        once, for the first date-shifted column)."""
        values = batch.column(column.name)
        if column.treatment == "project_pseudonym":
            if column.name == self.plan.patient_column and blocks is not None:
                return self.pseudonyms.pseudonyms(blocks)
            return self.pseudonyms.rekey(values)
        if column.treatment == "project_date_shift":
            if not offsets:
                if blocks is None:  # no patient: nothing to key a shift on
                    offsets.append(pa.nulls(batch.num_rows, pa.int64()))
                else:
                    offsets.append(self.pseudonyms.offsets(blocks))
            values = _shift(values, offsets[0])
        if column.treatment in ("project_date_shift", "date"):
            values = _coarsen(values, self.plan.granularity)
        return values


def _shift(values: pa.Array, offsets: pa.Array) -> pa.Array:
    """Move each date (or date-time) by its patient's offset in days (no patient: NULL)."""
    if pa.types.is_date32(values.type):
        moved = pc.add(values.cast(pa.int32()).cast(pa.int64()), offsets)
        return moved.cast(pa.int32()).cast(pa.date32())
    micros = pc.add(values.cast(pa.int64()), pc.multiply(offsets, _DAY_US))
    return micros.cast(values.type)


def _coarsen(values: pa.Array, granularity: str) -> pa.Array:
    if granularity == "month":
        if pa.types.is_date32(values.type):
            values = values.cast(pa.timestamp("s"))
        return pc.strftime(values, format="%Y-%m")
    if granularity == "year":
        return pc.year(values).cast(pa.int64())
    return values
