"""From rows as stored to rows as released, one Arrow record batch at a time.

In order: rows of suppressed quasi-identifier classes are dropped; stored pseudonyms are
re-keyed for the project; date-shifted columns move by each patient's project offset;
dates are coarsened to the grant's granularity; the hidden patient column is dropped.
Everything but the HMACs is vectorised (pyarrow compute).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from fivesafes.release.pseudonyms import Blocks, ProjectPseudonyms
from fivesafes.release.query import HIDDEN_PATIENT, ReleasePlan

#: Stands for NULL inside a class key (PostgreSQL text can never contain NUL).
NULL_MARK = "\x00"
KEY_SEPARATOR = "\x1f"
_DAY_US = 86_400_000_000


def class_key_of(values: Sequence[object]) -> str:
    """The key of one quasi-identifier class, as :func:`class_keys` builds it from a batch."""
    return KEY_SEPARATOR.join(NULL_MARK if v is None else str(v) for v in values)


def class_keys(batch: pa.RecordBatch, names: Sequence[str]) -> pa.Array:
    """One key per row over the quasi-identifier columns (NULL is its own value)."""
    parts = [pc.fill_null(batch.column(name).cast(pa.string()), NULL_MARK) for name in names]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)


class BatchTransform:
    """The release transforms of one plan, for one project."""

    def __init__(
        self,
        plan: ReleasePlan,
        pseudonyms: ProjectPseudonyms,
        suppressed_keys: Sequence[str] = (),
    ) -> None:
        self.plan = plan
        self.pseudonyms = pseudonyms
        self.suppressed = pa.array(sorted(suppressed_keys), type=pa.string())
        self.schema = pa.schema([(c.name, _ARROW_OUT[c.out_kind]) for c in plan.columns])
        self.rows_out = 0
        self.rows_suppressed = 0

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        plan = self.plan
        if len(self.suppressed) and plan.quasi_identifiers:
            keep = pc.invert(
                pc.is_in(class_keys(batch, plan.quasi_identifiers), value_set=self.suppressed)
            )
            before = batch.num_rows
            batch = batch.filter(keep)
            self.rows_suppressed += before - batch.num_rows
        offsets: pa.Array | None = None
        patient_digests: Blocks | None = None
        if plan.patient_column is not None:
            source = HIDDEN_PATIENT if HIDDEN_PATIENT in batch.schema.names else plan.patient_column
            patient_digests = self.pseudonyms.blocks(batch.column(source))
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
        self.rows_out += batch.num_rows
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
