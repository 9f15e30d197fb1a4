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
from fivesafes.release.query import HIDDEN_PATIENT, ReleasePlan

_DAY_US = 86_400_000_000


class BatchTransform:
    """The release transforms of one plan, for one project."""

    def __init__(self, plan: ReleasePlan, pseudonyms: ProjectPseudonyms) -> None:
        self.plan = plan
        self.pseudonyms = pseudonyms
        self.schema = pa.schema([(c.name, _ARROW_OUT[c.out_kind]) for c in plan.columns])

    def _patients(self, batch: pa.RecordBatch) -> Blocks | None:
        patient = self.plan.patient_column
        if patient is None:
            return None
        source = HIDDEN_PATIENT if HIDDEN_PATIENT in batch.schema.names else patient
        return self.pseudonyms.blocks(batch.column(source))

    def patient_keys(self, batch: pa.RecordBatch) -> np.ndarray | None:
        """Each row's 64-bit patient key, for the disclosure gate (None: no patient column)."""
        blocks = self._patients(batch)
        return None if blocks is None else blocks.patient_keys()

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The released batch (extra columns of ``batch`` are left out)."""
        plan = self.plan
        offsets: pa.Array | None = None
        patient_digests = self._patients(batch)
        arrays = []
        for column in plan.columns:
            values = batch.column(column.name)
            if column.treatment == "project_pseudonym":
                if column.name == plan.patient_column and patient_digests is not None:
                    values = self.pseudonyms.pseudonyms(patient_digests)
                else:
                    values = self.pseudonyms.rekey(values)
            elif column.treatment == "project_date_shift":
                if offsets is None:
                    if patient_digests is None:  # no patient: nothing to key a shift on
                        offsets = pa.nulls(batch.num_rows, pa.int64())
                    else:
                        offsets = self.pseudonyms.offsets(patient_digests)
                values = _shift(values, offsets)
            if column.treatment in ("project_date_shift", "date"):
                values = _coarsen(values, plan.granularity)
            arrays.append(values)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


_ARROW_OUT: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "boolean": pa.bool_(),
}


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
