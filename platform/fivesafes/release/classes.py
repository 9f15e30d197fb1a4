"""Quasi-identifier classes and the patients in them, counted while a release is read.

The disclosure gate needs, for each combination of the released quasi-identifiers (a
class), how many distinct patients and rows it holds, and how many distinct patients the
release holds in all. :class:`ClassCounter` learns that in the same pass that reads the
rows, so the database scans the data once per release.

- A class is identified by its values, exactly (each column's values get ids, and classes
  are tuples of those ids): two classes are never merged, which would hide a small one.
- A patient is the first 64 bits of the stored pseudonym (a keyed HMAC, so uniformly
  spread). Two patients sharing those bits would be counted as one: counts can only err
  low, which suppresses more, never less.

Memory: 12 bytes per row in scope (a 32-bit class id and a 64-bit patient), about 12 MB
per million rows, plus the distinct values of the quasi-identifier columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_UINT64_BITS = 64
#: Up to this many class-id bits, (class, patient) pairs are sorted as one 64-bit key whose
#: low bits are the patient's high bits; beyond it, as two keys (slower, same answer).
_PACKED_CLASS_BITS = 24
_SPREAD = np.uint64(0x9E3779B97F4A7C15)
#: Bits shared by the quasi-identifier columns' value ids when packing a class into one number.
_PACKED_VALUE_BITS = 63


@dataclass(frozen=True, slots=True)
class ClassCounts:
    """Per class id: its values (one per quasi-identifier), distinct patients and rows."""

    values: list[tuple[object, ...]]
    patients: np.ndarray
    rows: np.ndarray


class ClassCounter:
    """Gives each row its class id and keeps (class, patient) pairs for :meth:`counts`."""

    def __init__(self, quasi_identifiers: Sequence[str]) -> None:
        self.quasi_identifiers = list(quasi_identifiers)
        self._ids: list[dict[object, int]] = [{} for _ in self.quasi_identifiers]
        self._values: list[list[object]] = [[] for _ in self.quasi_identifiers]
        self._classes: dict[tuple[int, ...], int] = {}
        # Packed value ids (sorted) and their class ids: a cache of _classes for speed.
        self._packed_keys = np.zeros(0, dtype=np.int64)
        self._packed_ids = np.zeros(0, dtype=np.int32)
        self._class_values: list[tuple[object, ...]] = []
        self._class_parts: list[np.ndarray] = []
        self._patient_parts: list[np.ndarray] = []
        self.rows = 0

    def add(self, batch: pa.RecordBatch, patients: np.ndarray | None) -> np.ndarray | None:
        """Count one batch; the class id of each of its rows (None without quasi-identifiers).

        ``patients`` holds one 64-bit patient key per row (None: no patient column, so
        every row counts as a patient of its own)."""
        n = batch.num_rows
        if patients is not None and len(patients) != n:
            raise ValueError(f"{len(patients)} patient keys for {n} rows")
        first = self.rows
        self.rows += n
        if patients is None:
            # Row numbers spread over 64 bits (an odd multiplier is a bijection), as the
            # pair sort keeps a patient's high bits.
            patients = np.arange(first, first + n, dtype=np.uint64) * _SPREAD
        self._patient_parts.append(patients)
        if not self.quasi_identifiers:
            return None
        ids = self._class_ids(batch)
        self._class_parts.append(ids)
        return ids

    def _column_ids(self, column: pa.Array, j: int) -> np.ndarray:
        encoded = pc.dictionary_encode(column, null_encoding="encode")
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        known, values = self._ids[j], self._values[j]
        lookup = np.empty(len(encoded.dictionary), dtype=np.int64)
        for i, value in enumerate(encoded.dictionary.to_pylist()):
            found = known.get(value)
            if found is None:
                found = known[value] = len(values)
                values.append(value)
            lookup[i] = found
        ids: np.ndarray = lookup[encoded.indices.to_numpy(zero_copy_only=False)]
        return ids

    def _class_ids(self, batch: pa.RecordBatch) -> np.ndarray:
        """Exact class ids from the columns' value ids: packed into one 64-bit number per
        row while every column's ids fit their share of the bits (the usual case), else
        combined pairwise and renumbered densely (never overflowing)."""
        columns = [
            self._column_ids(batch.column(name), j) for j, name in enumerate(self.quasi_identifiers)
        ]
        bits = _PACKED_VALUE_BITS // len(columns)
        if all(len(values) <= 1 << bits for values in self._values):
            packed = columns[0]
            for ids in columns[1:]:
                packed = (packed << bits) | ids
            encoded = pc.dictionary_encode(pa.array(packed, pa.int64()))
            lookup = self._packed_classes(encoded.dictionary.to_numpy(), bits)
            class_ids: np.ndarray = lookup[encoded.indices.to_numpy()]
            return class_ids
        return self._combined_class_ids(columns)

    def _packed_classes(self, keys: np.ndarray, bits: int) -> np.ndarray:
        """Class ids of packed keys: known ones by binary search in a sorted array (a batch
        usually brings no new class), new ones registered one by one."""
        at = np.searchsorted(self._packed_keys, keys)
        known = at < len(self._packed_keys)
        known[known] = self._packed_keys[at[known]] == keys[known]
        if not known.all():
            mask = (1 << bits) - 1
            last = len(self.quasi_identifiers) - 1
            new = keys[~known]
            ids = [
                self._class_of(
                    tuple((int(k) >> (bits * (last - j))) & mask for j in range(last + 1))
                )
                for k in new
            ]
            merged_keys = np.concatenate([self._packed_keys, new])
            order = np.argsort(merged_keys, kind="stable")
            self._packed_keys = merged_keys[order]
            self._packed_ids = np.concatenate([self._packed_ids, np.array(ids, np.int32)])[order]
            at = np.searchsorted(self._packed_keys, keys)
        result: np.ndarray = self._packed_ids[at]
        return result

    def _combined_class_ids(self, columns: list[np.ndarray]) -> np.ndarray:
        dense = columns[0]
        tuples: list[tuple[int, ...]] = []
        for j, ids in enumerate(columns):
            width = len(self._values[j])
            combined = ids if j == 0 else dense * width + ids
            encoded = pc.dictionary_encode(pa.array(combined, pa.int64()))
            keys = encoded.dictionary.to_numpy()
            if j == 0:
                tuples = [(int(k),) for k in keys]
            else:
                tuples = [tuples[int(k) // width] + (int(k) % width,) for k in keys]
            dense = encoded.indices.to_numpy().astype(np.int64)
        lookup = np.fromiter((self._class_of(t) for t in tuples), dtype=np.int32, count=len(tuples))
        class_ids: np.ndarray = lookup[dense]
        return class_ids

    def _class_of(self, ids: tuple[int, ...]) -> int:
        found = self._classes.get(ids)
        if found is None:
            found = self._classes[ids] = len(self._class_values)
            self._class_values.append(tuple(self._values[j][i] for j, i in enumerate(ids)))
        return found

    # ------------------------------------------------------------------------- counting

    @property
    def classes(self) -> int:
        return len(self._class_values)

    def finish(self) -> None:
        """Join the batches' arrays into one each (done once, before counting; after it the
        counts may be taken from several threads at once)."""
        self._patient_parts = [_joined(self._patient_parts, np.uint64)]
        self._class_parts = [_joined(self._class_parts, np.int32)]

    def _patients(self) -> np.ndarray:
        if len(self._patient_parts) != 1:
            self.finish()
        return self._patient_parts[0]

    def patients_in_scope(self) -> int:
        return _distinct(np.sort(self._patients()))

    def counts(self, keep: Sequence[int] | None = None) -> ClassCounts:
        """Classes of all the quasi-identifiers, or of those at positions ``keep`` only
        (classes merged by the values left), with their distinct patients and rows."""
        if len(self._class_parts) != 1:
            self.finish()
        classes = self._class_parts[0]
        values = self._class_values
        if keep is not None:
            merged: dict[tuple[object, ...], int] = {}
            remap = np.fromiter(
                (merged.setdefault(tuple(v[i] for i in keep), len(merged)) for v in values),
                dtype=np.int32,
                count=len(values),
            )
            classes = remap[classes]
            values = list(merged)
        n = len(values)
        rows = np.bincount(classes, minlength=n).astype(np.int64)
        patients = _patients_per_class(classes, self._patients(), n)
        return ClassCounts(values, patients, rows)


def _joined(parts: list[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _distinct(ordered: np.ndarray) -> int:
    if len(ordered) == 0:
        return 0
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1


def _patients_per_class(classes: np.ndarray, patients: np.ndarray, n: int) -> np.ndarray:
    """Distinct patients of each class, by sorting (class, patient) pairs."""
    if len(classes) == 0:
        return np.zeros(n, dtype=np.int64)
    bits = max(1, (n - 1).bit_length())
    if bits <= _PACKED_CLASS_BITS:
        shift = np.uint64(_UINT64_BITS - bits)
        # The patient's low bits make way for the class: patients can only merge (count low).
        keys = np.sort((classes.astype(np.uint64) << shift) | (patients >> np.uint64(bits)))
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        return np.bincount((keys[first] >> shift).astype(np.int64), minlength=n).astype(np.int64)
    order = np.lexsort((patients, classes))
    c, p = classes[order], patients[order]
    first = np.ones(len(c), dtype=bool)
    first[1:] = (c[1:] != c[:-1]) | (p[1:] != p[:-1])
    return np.bincount(c[first], minlength=n).astype(np.int64)
