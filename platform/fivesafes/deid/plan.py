"""A dataset policy compiled, with its keys, into column steps a worker applies to chunks.

Work is column-wise: one list comprehension per column over a chunk is several times
faster than a Python call per cell. A column first tries the fast path (every value
valid); only if a value fails does it walk the column again cell by cell to apply the
policy's ``on_invalid`` choice with the row's line number. Messages and reports carry the
line, the column and a reason, never the value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fivesafes.column_kinds import ColumnKind, utc_text
from fivesafes.deid import transforms as t
from fivesafes.deid.io.types import Cell, CellProblem, ParsedChunk
from fivesafes.deid.nhs_number import normalise_nhs_number
from fivesafes.deid.optout import OPTED_OUT_COLUMN, OptOutFilter
from fivesafes.deid.policy import ColumnPolicy, Policy
from fivesafes.deid.types import DateMode, PatientContext, ScrubberConfig, ScrubResult
from fivesafes.deid.vector import transforms as vt
from fivesafes.errors import InvalidInputError
from fivesafes.keys.pseudonym import Pseudonymiser
from fivesafes.keys.remap import PseudonymChain, RemappedPseudonymiser, current_generation
from fivesafes.keys.store import KeyStore

Column = Sequence[Cell]
ValueFn = Callable[[str], str]
#: A column at once: the same values as a ValueFn cell by cell, or None to decline.
VectorFn = Callable[[pa.StringArray], "pa.StringArray | None"]


def _utc_datetime(text: str) -> str:
    """A kept date-time in the output's one form: UTC text (see :mod:`fivesafes.column_kinds`)."""
    return utc_text(t.canonical_datetime(text))


def _shift_utc_datetime(text: str, offset: int) -> str:
    """A date-shifted date-time, in UTC text like every output date-time."""
    return utc_text(t.shift_datetime(text, offset))


#: What a kept column's values become, by policy type (None: passed through as read).
_KEEP_FNS: dict[str, ValueFn | None] = {
    "string": None,
    "integer": t.canonical_integer,
    "decimal": t.canonical_decimal,
    "date": t.canonical_date,
    "datetime": _utc_datetime,
    "boolean": t.canonical_boolean,
    "postcode": t.canonical_postcode,
}


def _normalise_text_identifier(value: str) -> str:
    normalised = " ".join(value.split()).upper()
    if not normalised:
        raise t.InvalidValueError("identifier is missing")
    return normalised


#: How an identifier of each type is normalised before pseudonymisation.
_NORMALISERS: dict[str, ValueFn] = {
    "nhs_number": normalise_nhs_number,
    "string": _normalise_text_identifier,
    "integer": t.canonical_integer,
    "decimal": t.canonical_decimal,
    "date": t.canonical_date,
    "datetime": t.canonical_datetime,
    "boolean": t.canonical_boolean,
    "postcode": lambda v: t.canonical_postcode(v).replace(" ", ""),
}


#: The vectorised twin (see :mod:`fivesafes.deid.vector`) of each kept column's value fn.
_KEEP_VECTOR: dict[str, VectorFn] = {
    "integer": vt.canonical_integer,
    "decimal": vt.canonical_decimal,
    "date": vt.canonical_date,
    "boolean": vt.canonical_boolean,
    "postcode": vt.canonical_postcode,
}


def _unspaced_postcodes(values: pa.StringArray) -> pa.StringArray | None:
    canonical = vt.canonical_postcode(values)
    return None if canonical is None else pc.replace_substring(canonical, " ", "")


#: The vectorised twin of each identifier normaliser (types without one run per cell).
_NORMALISERS_VECTOR: dict[str, VectorFn] = {
    "nhs_number": vt.normalise_nhs_numbers,
    "string": vt.normalise_text_identifiers,
    "integer": vt.canonical_integer,
    "decimal": vt.canonical_decimal,
    "date": vt.canonical_date,
    "boolean": vt.canonical_boolean,
    "postcode": _unspaced_postcodes,
}


class Scrubber(Protocol):
    """What the engine needs of a free-text scrubber (see ``deid/scrubber.py``)."""

    def scrub_many(
        self, texts: Sequence[str | None], contexts: Sequence[PatientContext], column: str
    ) -> list[ScrubResult]: ...


@dataclass(frozen=True, slots=True)
class OutputColumn:
    """A column of the de-identified output and its type."""

    name: str
    kind: ColumnKind

    def __post_init__(self) -> None:
        # A kind given by name ("integer") is held as the enum, so its mappings work.
        object.__setattr__(self, "kind", ColumnKind(self.kind))


@dataclass(slots=True)
class ChunkStats:
    """What happened in one chunk; merged into the report by the parent."""

    rows_in: int = 0
    rows_out: int = 0
    rejections: list[tuple[int, str, str]] = field(default_factory=list)  # line, column, reason
    invalid_values: dict[str, int] = field(default_factory=dict)  # column -> nulled
    invalid_nhs_numbers: int = 0
    entities: dict[str, dict[str, int]] = field(default_factory=dict)
    opted_out_excluded: int = 0
    opted_out_flagged: int = 0


@dataclass(slots=True)
class _Step:
    name: str
    index: int  # position in the input header
    policy: ColumnPolicy
    fn: ValueFn | None = None  # value -> value (None: pass through)
    shift: Callable[[str, int], str] | None = None  # date shift
    pseudonymise: Pseudonymiser | None = None
    normalise: ValueFn | None = None
    vector: VectorFn | None = None  # fn's (or normalise's) twin over a whole column


class _ChunkRun:
    """Mutable state of one chunk while its steps run."""

    __slots__ = ("parsed", "rejected", "stats")

    def __init__(self, parsed: ParsedChunk, stats: ChunkStats) -> None:
        self.parsed = parsed
        self.stats = stats
        # Rows left out of the output: rejected by on_invalid, or opted out.
        self.rejected: set[int] = set()

    def invalid(self, step: _Step, row: int, reason: str) -> None:
        """Apply the column's ``on_invalid`` choice to one bad cell."""
        action = step.policy.on_invalid
        if step.policy.type == "nhs_number":
            self.stats.invalid_nhs_numbers += 1
        if action == "reject_file":
            raise CellProblem(reason, self.parsed.line_of(row), step.name)
        if action == "reject_row":
            if row not in self.rejected:
                self.rejected.add(row)
            self.stats.rejections.append((self.parsed.line_of(row), step.name, reason))
        else:
            counts = self.stats.invalid_values
            counts[step.name] = counts.get(step.name, 0) + 1


class RowPlan:
    """A policy and its keys, ready to transform chunks (picklable; built once per run)."""

    def __init__(
        self,
        policy: Policy,
        header: Sequence[str],
        keystore: KeyStore,
        optouts: OptOutFilter | None = None,
    ) -> None:
        self.policy = policy
        self.optouts = optouts
        position = {name: i for i, name in enumerate(header)}
        self.width = len(header)
        self.steps: list[_Step] = []
        shifter_needed = policy.free_text_dates == DateMode.SHIFT or any(
            c.generalise is not None and c.generalise.method == "date_shift"
            for c in policy.columns.values()
        )
        self.shifter = (
            t.DateShifter(keystore.secret("date_shift"), policy.date_shift.max_days)
            if shifter_needed
            else None
        )
        pseudonym_master = None
        # Read once, so every pseudonym of the run is at the generation the version records
        # (a rotation adding a key meanwhile re-maps this version after it commits).
        remap_keys = keystore.pseudonym_remap_keys()
        self.pseudonym_generation = current_generation(remap_keys)
        chain = PseudonymChain(remap_keys) if remap_keys else None
        for name, col in policy.columns.items():
            step = _Step(name, position[name], col)
            if col.role == "patient_id" or col.action == "pseudonymise":
                if pseudonym_master is None:
                    pseudonym_master = keystore.secret("pseudonym")
                namespace = col.namespace or (col.type if col.type == "nhs_number" else name)
                # Generation 1 keeps the plain HMAC: the hot path is unchanged.
                step.pseudonymise = (
                    Pseudonymiser(pseudonym_master, namespace)
                    if chain is None
                    else RemappedPseudonymiser(pseudonym_master, namespace, chain)
                )
                step.normalise = _NORMALISERS[col.type]
                step.vector = _NORMALISERS_VECTOR.get(col.type)
            elif col.role == "quasi_identifier":
                step.fn, step.shift = _generaliser(col)
                step.vector = _generaliser_vector(col)
            elif col.role == "keep":
                step.fn = _KEEP_FNS[col.type]
                step.vector = _KEEP_VECTOR.get(col.type)
            self.steps.append(step)
        self.patient_step = next((s for s in self.steps if s.policy.role == "patient_id"), None)
        self.context_steps = [s for s in self.steps if s.policy.patient_context is not None]
        self.outputs = [OutputColumn(n, k) for n, k in output_columns(policy).items()]
        self.flag_opt_outs = policy.national_data_opt_out.exempt
        #: Whether chunks can go through :meth:`apply_arrays` (free text needs rows).
        self.vectorised = not policy.free_text_columns
        if optouts is not None and (
            self.patient_step is None or self.patient_step.policy.type != "nhs_number"
        ):
            raise InvalidInputError(
                f"dataset {policy.dataset!r}: the National Data Opt-out cannot be applied "
                "without an nhs_number patient_id column; declare "
                "national_data_opt_out: {exempt: true, basis: ...} if it does not apply"
            )

    def scrubber_config(self, spacy_model: str) -> ScrubberConfig | None:
        """What a worker needs to build the scrubber, or None without free-text columns."""
        if not self.policy.free_text_columns:
            return None
        return ScrubberConfig(
            spacy_model=spacy_model,
            hospital_number_patterns=self.policy.hospital_number_patterns,
            date_mode=self.policy.free_text_dates,
            extra_allow_terms=self.policy.free_text_allow_terms,
            extra_places=self.policy.free_text_places,
            extra_organisations=self.policy.free_text_organisations,
        )

    def apply(
        self, parsed: ParsedChunk, scrubber: Scrubber | None
    ) -> tuple[list[Column], ChunkStats]:
        """De-identify one chunk: output columns (in policy order) and what happened."""
        columns, stats, _ = self._apply(parsed, scrubber, capture=False)
        return columns, stats

    def apply_capturing(
        self, parsed: ParsedChunk, scrubber: Scrubber | None
    ) -> tuple[list[Column], ChunkStats, list[tuple[str, str]]]:
        """As :meth:`apply`, plus each kept patient's (stored pseudonym, NHS number).

        For datasets whose policy allows re-identification only: the pairs are sealed by
        the parent as soon as the chunk arrives and never written anywhere in the clear.
        Rows left out of the output (rejected, opted out) and rows flagged as opted out
        give no pair: nothing reversible is kept for a patient who is not in the data.
        """
        step = self.patient_step
        if step is None or step.policy.type != "nhs_number":
            raise InvalidInputError(
                f"dataset {self.policy.dataset!r}: re-identification needs an nhs_number "
                "patient_id column"
            )
        return self._apply(parsed, scrubber, capture=True)

    def _apply(
        self, parsed: ParsedChunk, scrubber: Scrubber | None, *, capture: bool
    ) -> tuple[list[Column], ChunkStats, list[tuple[str, str]]]:
        stats = ChunkStats(rows_in=parsed.row_count)
        run = _ChunkRun(parsed, stats)
        columns = (
            parsed.columns
            if parsed.arrays is None
            else [parsed.column(i) for i in range(len(parsed.arrays))]
        )
        outputs: dict[str, Column] = {}
        patient_keys: list[str | None] | None = None
        if self.patient_step is not None:
            patient_keys, outputs[self.patient_step.name] = self._pseudonymise(
                self.patient_step, columns[self.patient_step.index], run
            )
        if patient_keys is not None:
            self._apply_opt_outs(patient_keys, outputs, run)
        offsets: list[int | None] | None = None
        if self.shifter is not None and patient_keys is not None:
            offset = self.shifter.offset
            offsets = [offset(k) if k is not None else None for k in patient_keys]
        free_text: list[_Step] = []
        for step in self.steps:
            if step is self.patient_step or not step.policy.in_output:
                continue
            values = columns[step.index]
            if step.pseudonymise is not None:
                outputs[step.name] = self._pseudonymise(step, values, run)[1]
            elif step.shift is not None:
                outputs[step.name] = self._shift(step, values, offsets, run)
            elif step.policy.role == "free_text":
                free_text.append(step)
            elif step.fn is not None:
                outputs[step.name] = self._map(step, values, run)
            else:
                outputs[step.name] = values
        if free_text:
            if scrubber is None:
                raise RuntimeError("policy has free-text columns but no scrubber was built")
            contexts = self._contexts(columns, patient_keys, offsets, parsed.row_count)
            for step in free_text:
                outputs[step.name] = self._scrub(step, columns[step.index], contexts, scrubber, run)
        patients = (
            self._patients(patient_keys, outputs, run)
            if capture and patient_keys is not None
            else []
        )
        result = [outputs[c.name] for c in self.outputs]
        if run.rejected:
            keep = [i for i in range(parsed.row_count) if i not in run.rejected]
            result = [[col[i] for i in keep] for col in result]
        stats.rows_out = parsed.row_count - len(run.rejected)
        return result, stats, patients

    def _patients(
        self, patient_keys: list[str | None], outputs: dict[str, Column], run: _ChunkRun
    ) -> list[tuple[str, str]]:
        """Distinct (stored pseudonym, NHS number) pairs of the rows that stay in the output."""
        assert self.patient_step is not None
        pseudonyms = outputs[self.patient_step.name]
        flags = outputs.get(OPTED_OUT_COLUMN) if self.flag_opt_outs else None
        rejected = run.rejected
        pairs: dict[str, str] = {}
        for row, (pseudonym, number) in enumerate(zip(pseudonyms, patient_keys, strict=True)):
            if pseudonym is None or number is None or row in rejected:
                continue
            if flags is not None and flags[row] == "true":
                continue
            pairs[pseudonym] = number
        return list(pairs.items())

    def _apply_opt_outs(
        self, patient_keys: list[str | None], outputs: dict[str, Column], run: _ChunkRun
    ) -> None:
        """Exclude opted-out patients' rows, or flag them where the policy is exempt."""
        if self.optouts is None:
            if self.flag_opt_outs:  # no list was checked: unknown, not "not opted out"
                outputs[OPTED_OUT_COLUMN] = [None] * len(patient_keys)
            return
        contains = self.optouts.contains
        opted = [k is not None and contains(k) for k in patient_keys]
        if self.flag_opt_outs:
            outputs[OPTED_OUT_COLUMN] = ["true" if o else "false" for o in opted]
            run.stats.opted_out_flagged += sum(opted)
            return
        for row, out in enumerate(opted):
            if out and row not in run.rejected:
                run.rejected.add(row)
                run.stats.opted_out_excluded += 1

    # ---------------------------------------------------------------- vectorised path

    def apply_arrays(self, parsed: ParsedChunk) -> tuple[list[pa.StringArray], ChunkStats]:
        """:meth:`apply` over Arrow columns: the same output, a column at a time.

        For a chunk the vectorised reader parsed (``parsed.arrays``) under a plan without
        free text. Each column takes its vectorised twin; a twin that declines (a bad or
        unusual value) sends that column through the per-cell step, which applies the
        policy's ``on_invalid`` with the row's line as before.
        """
        assert parsed.arrays is not None
        assert self.vectorised
        arrays = parsed.arrays
        stats = ChunkStats(rows_in=parsed.row_count)
        run = _ChunkRun(parsed, stats)
        outputs: dict[str, pa.Array | Column] = {}
        keys: pa.StringArray | None = None
        if self.patient_step is not None:
            keys, outputs[self.patient_step.name] = self._pseudonymise_array(
                self.patient_step, parsed, run
            )
            if self.optouts is not None or self.flag_opt_outs:
                listed: dict[str, Column] = {}
                self._apply_opt_outs(keys.to_pylist(), listed, run)
                outputs.update(listed)
        offsets: pa.Int32Array | None = None
        if self.shifter is not None and keys is not None:
            offsets = self.shifter.offsets_array(keys)
        for step in self.steps:
            if step is self.patient_step or not step.policy.in_output:
                continue
            if step.pseudonymise is not None:
                outputs[step.name] = self._pseudonymise_array(step, parsed, run)[1]
            elif step.shift is not None:
                outputs[step.name] = self._shift_array(step, parsed, offsets, run)
            elif step.fn is not None:
                vector = _vectorised(step.vector, arrays[step.index])
                if vector is None:
                    outputs[step.name] = self._map(step, parsed.column(step.index), run)
                else:
                    outputs[step.name] = vector
            else:
                outputs[step.name] = arrays[step.index]
        result = [_as_array(outputs[c.name]) for c in self.outputs]
        if run.rejected:
            keep = np.ones(parsed.row_count, dtype=bool)
            keep[list(run.rejected)] = False
            mask = pa.array(keep)
            result = [column.filter(mask) for column in result]
        stats.rows_out = parsed.row_count - len(run.rejected)
        return result, stats

    def _pseudonymise_array(
        self, step: _Step, parsed: ParsedChunk, run: _ChunkRun
    ) -> tuple[pa.StringArray, pa.Array | Column]:
        """Normalised keys and pseudonyms of a column; per cell if its normaliser declines."""
        assert parsed.arrays is not None
        pseudonym = step.pseudonymise
        assert pseudonym is not None
        keys = _vectorised(step.vector, parsed.arrays[step.index])
        if keys is None or (step.policy.role == "patient_id" and keys.null_count):
            listed, pseudonyms = self._pseudonymise(step, parsed.column(step.index), run)
            return pa.array(listed, pa.string()), pseudonyms
        if isinstance(pseudonym, RemappedPseudonymiser):  # generation 2 on: per column
            return keys, pseudonym.many(keys.to_pylist())
        return keys, pseudonym.many_array(keys)

    def _shift_array(
        self,
        step: _Step,
        parsed: ParsedChunk,
        offsets: pa.Int32Array | None,
        run: _ChunkRun,
    ) -> pa.Array | Column:
        assert parsed.arrays is not None
        assert offsets is not None
        if step.shift is t.shift_date:
            shifted = _vectorised(
                partial(vt.shift_dates, offsets=offsets), parsed.arrays[step.index]
            )
            if shifted is not None:
                return shifted
        return self._shift(step, parsed.column(step.index), offsets.to_pylist(), run)

    # ---------------------------------------------------------------- column steps

    def _map(self, step: _Step, values: Column, run: _ChunkRun) -> Column:
        fn = step.fn
        assert fn is not None
        try:
            return [fn(v) if v else None for v in values]
        except t.InvalidValueError:
            pass
        out: list[Cell] = []
        for row, value in enumerate(values):
            if not value or not value.strip():
                out.append(None)
                continue
            try:
                out.append(fn(value))
            except t.InvalidValueError as exc:
                run.invalid(step, row, str(exc))
                out.append(None)
        return out

    def _pseudonymise(
        self, step: _Step, values: Column, run: _ChunkRun
    ) -> tuple[list[str | None], Column]:
        normalise, pseudonym = step.normalise, step.pseudonymise
        assert normalise is not None
        assert pseudonym is not None
        required = step.policy.role == "patient_id"
        keys: list[str | None]
        try:
            keys = [normalise(v) if v else None for v in values]
            if required and None in keys:
                raise t.InvalidValueError("missing")
        except t.InvalidValueError:
            keys = []
            for row, value in enumerate(values):
                if not required and (not value or not value.strip()):
                    keys.append(None)
                    continue
                try:
                    keys.append(normalise(value or ""))
                except t.InvalidValueError as exc:
                    run.invalid(step, row, str(exc))
                    keys.append(None)
        if isinstance(pseudonym, RemappedPseudonymiser):  # generation 2 on: per column
            return keys, pseudonym.many(keys)
        return keys, [pseudonym(k) if k is not None else None for k in keys]

    def _shift(
        self, step: _Step, values: Column, offsets: list[int | None] | None, run: _ChunkRun
    ) -> Column:
        shift = step.shift
        assert shift is not None
        assert offsets is not None
        try:
            return [shift(v, o) if v else None for v, o in zip(values, offsets, strict=True)]  # type: ignore[arg-type]
        except (t.InvalidValueError, TypeError):
            pass
        out: list[Cell] = []
        for row, (value, offset) in enumerate(zip(values, offsets, strict=True)):
            if not value or not value.strip():
                out.append(None)
            elif offset is None:
                counts = run.stats.invalid_values
                counts[step.name] = counts.get(step.name, 0) + 1  # no patient key to shift by
                out.append(None)
            else:
                try:
                    out.append(shift(value, offset))
                except t.InvalidValueError as exc:
                    run.invalid(step, row, str(exc))
                    out.append(None)
        return out

    def _contexts(
        self,
        columns: list[Column],
        patient_keys: list[str | None] | None,
        offsets: list[int | None] | None,
        rows: int,
    ) -> list[PatientContext]:
        """Each row's own identifiers, for patient-specific scrubbing (memory only)."""
        shift_text = self.policy.free_text_dates == DateMode.SHIFT
        contexts = []
        for row in range(rows):
            parts: dict[str, list[object]] = {}
            for step in self.context_steps:
                value = columns[step.index][row]
                if not value or not value.strip():
                    continue
                kind = step.policy.patient_context
                if kind == "nhs_number":
                    try:
                        value = normalise_nhs_number(value)
                    except t.InvalidValueError:
                        kind = "identifier"  # still scrub whatever the cell held
                if kind == "date":
                    try:
                        parts.setdefault("date", []).append(t.parse_date(value[:10]))
                    except t.InvalidValueError:
                        parts.setdefault("identifier", []).append(value)
                    continue
                parts.setdefault(kind or "identifier", []).append(value)
            if patient_keys is not None and self.patient_step is not None:
                key = patient_keys[row]
                if key is not None and self.patient_step.policy.type == "nhs_number":
                    parts.setdefault("nhs_number", []).append(key)
            contexts.append(
                PatientContext(
                    names=tuple(parts.get("name", ())),  # type: ignore[arg-type]
                    nhs_numbers=tuple(dict.fromkeys(parts.get("nhs_number", ()))),  # type: ignore[arg-type]
                    dates=tuple(parts.get("date", ())),  # type: ignore[arg-type]
                    postcodes=tuple(parts.get("postcode", ())),  # type: ignore[arg-type]
                    address_parts=tuple(parts.get("address", ())),  # type: ignore[arg-type]
                    other_identifiers=tuple(parts.get("identifier", ())),  # type: ignore[arg-type]
                    date_shift_days=offsets[row] if (shift_text and offsets is not None) else None,
                )
            )
        return contexts

    def _scrub(
        self,
        step: _Step,
        values: Column,
        contexts: list[PatientContext],
        scrubber: Scrubber,
        run: _ChunkRun,
    ) -> Column:
        # Rows already rejected are not scrubbed: they will not be written.
        texts = [None if i in run.rejected else v for i, v in enumerate(values)]
        results = scrubber.scrub_many(texts, contexts, step.name)
        if len(results) != len(texts):
            raise RuntimeError("scrubber returned a different number of results")
        counts = run.stats.entities.setdefault(step.name, {})
        for result in results:
            for entity, n in result.entities.items():
                counts[entity] = counts.get(entity, 0) + n
        return [r.text for r in results]


def _generaliser(col: ColumnPolicy) -> tuple[ValueFn | None, Callable[[str, int], str] | None]:
    gen = col.generalise
    assert gen is not None
    if gen.method == "date_shift":
        return None, t.shift_date if col.type == "date" else _shift_utc_datetime
    if gen.method == "truncate":
        return (t.truncate_to_month if gen.to == "month" else t.truncate_to_year), None
    if gen.method == "to_year":
        return t.truncate_to_year, None
    if gen.method == "age_band":
        return t.AgeBander(gen.reference_date, gen.width, gen.top_code), None
    if gen.method == "district":
        return t.postcode_district, None
    if gen.method == "sector":
        return t.postcode_sector, None
    return t.NumberBander(Decimal(gen.width)), None


def _generaliser_vector(col: ColumnPolicy) -> VectorFn | None:
    """The vectorised twin of :func:`_generaliser`'s value fn, where there is one."""
    gen = col.generalise
    assert gen is not None
    if gen.method == "truncate":
        return vt.truncate_to_month if gen.to == "month" else vt.truncate_to_year
    if gen.method == "to_year":
        return vt.truncate_to_year
    if gen.method == "age_band":
        return partial(
            vt.age_band, reference=gen.reference_date, width=gen.width, top_code=gen.top_code
        )
    if gen.method == "district":
        return vt.postcode_district
    if gen.method == "sector":
        return vt.postcode_sector
    return None  # date shifts have their own path; number bands run per cell


def _vectorised(fn: VectorFn | None, values: pa.StringArray) -> pa.StringArray | None:
    """``fn(values)``, or None (decline) when there is no twin or Arrow raised.

    The twins decline rather than raise, but an Arrow error that slipped through would
    quote the value it failed on, and values may be identifiers: the per-cell step then
    runs instead and reports by line and column only.
    """
    if fn is None:
        return None
    try:
        return fn(values)
    except (pa.ArrowException, ValueError, OverflowError):
        return None


def _as_array(column: pa.Array | Column) -> pa.StringArray:
    """An output column as an Arrow string array (a per-cell step gives a list)."""
    if isinstance(column, pa.Array):
        return column
    return pa.array(column, pa.string())


def output_kind(col: ColumnPolicy) -> ColumnKind:
    """The type of the column a policy column becomes in the de-identified output."""
    if col.role in ("patient_id", "identifier", "free_text"):
        return ColumnKind.STRING
    gen = col.generalise
    if gen is None:
        return ColumnKind.STRING if col.type in ("nhs_number", "postcode") else ColumnKind(col.type)
    if gen.method == "date_shift":
        return ColumnKind(col.type)
    if gen.method in ("to_year",) or (gen.method == "truncate" and gen.to == "year"):
        return ColumnKind.INTEGER
    return ColumnKind.STRING


def output_columns(policy: Policy) -> dict[str, ColumnKind]:
    """The de-identified output's columns (name -> kind), in policy order.

    The one definition of a dataset's output schema: the engine writes it, ingestion types
    the version table from it, requests and releases may only name these columns. A
    dropped identifier is not an output; exempt datasets gain the opt-out flag.
    """
    columns = {name: output_kind(col) for name, col in policy.columns.items() if col.in_output}
    if policy.national_data_opt_out.exempt:
        columns[OPTED_OUT_COLUMN] = ColumnKind.BOOLEAN
    return columns
