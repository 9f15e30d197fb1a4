"""The Arrow chunk encoders against their list twins: the same bytes for every input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.column_kinds import ColumnKind
from fivesafes.deid.io.writers import encode_csv, encode_jsonl, encode_pgcopy
from fivesafes.deid.plan import OutputColumn
from fivesafes.deid.vector import encode as enc
from fivesafes.deid.vector.encode import (
    encode_csv_arrays,
    encode_jsonl_arrays,
    encode_pgcopy_arrays,
)

Cell = str | None
Rows = list[list[Cell]]

#: Every byte the three formats treat specially, plus multi-byte text.
_SPECIAL = [*',"\r\n\t\\ \x00\x01\x08\x0b\x0c\x1f\x7f', "é", "€", "😀", "\u2028"]
_text = st.text(alphabet=st.sampled_from([*_SPECIAL, "a", "Z", "0", "-", "."]), max_size=6)
_plain = st.text(alphabet="abcXYZ0129-.: ", max_size=6)
_cells = st.one_of(st.none(), st.just(""), _text, _plain, st.text(max_size=4))
_integers = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["0", "-0", "007", "+5", " 5", "1_000", "١٢", "x", "", "9" * 120]),
)


@st.composite
def _table(draw: st.DrawFn, cells: st.SearchStrategy[Cell] = _cells) -> tuple[Rows, int, int]:
    """Columns of cells plus how many rows of padding to slice off each end."""
    width = draw(st.integers(1, 5))
    rows = draw(st.integers(0, 12))
    columns = [draw(st.lists(cells, min_size=rows, max_size=rows)) for _ in range(width)]
    return columns, draw(st.integers(0, 3)), draw(st.integers(0, 3))


def _arrays(columns: Rows, before: int = 0, after: int = 0) -> list[pa.Array]:
    """The columns as string arrays, sliced out of longer ones when padding is given so
    the kernels see non-zero offsets."""
    arrays = []
    for column in columns:
        padded = ['pad,"\\\t'] * before + column + [None, "x\r\n"] * after
        arrays.append(pa.array(padded, pa.string()).slice(before, len(column)))
    return arrays


def _fail(*_args: Any) -> bytes:
    raise AssertionError("list fallback used")


_PAIRS: list[tuple[Callable[[Sequence[pa.Array]], bytes], Callable[[Any], bytes]]] = [
    (encode_csv_arrays, encode_csv),
    (encode_pgcopy_arrays, encode_pgcopy),
]


# ---------------------------------------------------------------------- differential


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_table())
def test_csv_matches_list_encoder(table: tuple[Rows, int, int]) -> None:
    columns, before, after = table
    assert encode_csv_arrays(_arrays(columns, before, after)) == encode_csv(columns)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_table())
def test_pgcopy_matches_list_encoder(table: tuple[Rows, int, int]) -> None:
    columns, before, after = table
    assert encode_pgcopy_arrays(_arrays(columns, before, after)) == encode_pgcopy(columns)


@st.composite
def _json_table(draw: st.DrawFn) -> tuple[Rows, list[OutputColumn], int]:
    width = draw(st.integers(1, 4))
    rows = draw(st.integers(0, 10))
    outputs, columns = [], []
    for _ in range(width):
        kind = draw(st.sampled_from(list(ColumnKind)))
        name = draw(st.sampled_from(["id", "age", 'q"x', "é\n", "id2"]))
        if kind is ColumnKind.INTEGER:
            cells = st.one_of(st.none(), _integers)
        elif kind is ColumnKind.BOOLEAN:
            cells = st.one_of(st.none(), st.sampled_from(["true", "false", "TRUE", ""]))
        else:
            cells = _cells
        outputs.append(OutputColumn(name, kind))
        columns.append(draw(st.lists(cells, min_size=rows, max_size=rows)))
    return columns, outputs, draw(st.integers(0, 3))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json_table())
def test_jsonl_matches_list_encoder(table: tuple[Rows, list[OutputColumn], int]) -> None:
    columns, outputs, before = table
    try:
        expected = encode_jsonl(columns, outputs)
    except ValueError as error:  # int() of a non-integer: the same error either way
        with pytest.raises(type(error)):
            encode_jsonl_arrays(_arrays(columns, before, 1), outputs)
        return
    assert encode_jsonl_arrays(_arrays(columns, before, 1), outputs) == expected


@pytest.mark.parametrize(("arrays_fn", "list_fn"), _PAIRS)
def test_empty_inputs(
    arrays_fn: Callable[[Sequence[pa.Array]], bytes], list_fn: Callable[[Any], bytes]
) -> None:
    assert arrays_fn([]) == list_fn([]) == b""
    assert arrays_fn(_arrays([[], []])) == list_fn([[], []]) == b""
    assert arrays_fn([_arrays([["a", "b"]], 1, 1)[0].slice(1, 0)]) == b""


def test_jsonl_empty_inputs() -> None:
    outputs = [OutputColumn("a", ColumnKind.STRING)]
    assert encode_jsonl_arrays([], []) == encode_jsonl([], []) == b""
    assert encode_jsonl_arrays(_arrays([[]]), outputs) == b""


def test_null_slots_holding_data_are_ignored() -> None:
    """Arrow lets a null slot keep bytes; they must not reach the output or its checks."""
    validity = pa.py_buffer(bytes([0b101]))
    offsets = pa.py_buffer(pa.array([0, 1, 5, 6], pa.int32()).buffers()[1])
    column = pa.StringArray.from_buffers(3, offsets, pa.py_buffer(b'a,"\t\\b'), validity)
    other = pa.array(["x", "y", "z"], pa.string())
    assert column.to_pylist() == ["a", None, "b"]
    lists = [column.to_pylist(), other.to_pylist()]
    assert encode_csv_arrays([column, other]) == encode_csv(lists) == b"a,x\r\n,y\r\nb,z\r\n"
    assert encode_pgcopy_arrays([column, other]) == encode_pgcopy(lists)
    outputs = [OutputColumn("a", ColumnKind.STRING), OutputColumn("b", ColumnKind.STRING)]
    assert encode_jsonl_arrays([column, other], outputs) == encode_jsonl(lists, outputs)


# ---------------------------------------------------------------------- paths taken

_PLAIN: Rows = [["3f2a" * 8, "0b1c" * 8], ["40-44", "45-49"], ["WN8", None], ["2020-01-02", ""]]


@pytest.fixture
def no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("encode_csv", "encode_pgcopy", "encode_jsonl"):
        monkeypatch.setattr(enc, name, _fail)


@pytest.mark.usefixtures("no_fallback")
def test_plain_data_is_written_by_arrow_without_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enc, "_join_rows", _fail)
    assert encode_csv_arrays(_arrays(_PLAIN, 2, 1)) == (
        b"3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a,40-44,WN8,2020-01-02\r\n"
        b"0b1c0b1c0b1c0b1c0b1c0b1c0b1c0b1c,45-49,,\r\n"
    )
    assert encode_pgcopy_arrays(_arrays(_PLAIN, 2, 1)) == (
        b"3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a\t40-44\tWN8\t2020-01-02\n"
        b"0b1c0b1c0b1c0b1c0b1c0b1c0b1c0b1c\t45-49\t\\N\t\n"
    )


@pytest.mark.usefixtures("no_fallback")
def test_quoting_and_escaping_stay_vectorised() -> None:
    columns: Rows = [
        ["a,b", 'say "hi"', None],
        ["x\r\ny", "tab\there", "back\\slash"],
        ["", "", ""],
    ]
    arrays = _arrays(columns, 1, 1)
    assert encode_csv_arrays(arrays) == encode_csv(columns)
    assert encode_pgcopy_arrays(arrays) == encode_pgcopy(columns)
    single = _arrays([["", None, "x"]])
    assert encode_csv_arrays(single) == b'""\r\n""\r\nx\r\n'


@pytest.mark.usefixtures("no_fallback")
def test_jsonl_fast_path_for_typed_and_escaped_columns() -> None:
    outputs = [
        OutputColumn("n", ColumnKind.INTEGER),
        OutputColumn("b", ColumnKind.BOOLEAN),
        OutputColumn("s", ColumnKind.STRING),
        OutputColumn("d", ColumnKind.DATE),
    ]
    columns: Rows = [
        ["1", None, "-20"],
        ["true", "false", None],
        ['q"\\\n\t', None, "é"],
        ["2020-01-02", None, ""],
    ]
    arrays = _arrays(columns, 2, 1)
    assert encode_jsonl_arrays(arrays, outputs) == encode_jsonl(columns, outputs)


@pytest.mark.parametrize(
    ("columns", "outputs"),
    [
        *(
            ([[text]], [OutputColumn("n", ColumnKind.INTEGER)])
            for text in ("007", "-0", "+5", " 5", "1_000", "١٢", "9" * 120)
        ),
        ([["a\x01"]], [OutputColumn("s", ColumnKind.STRING)]),
        ([["a"], ["b"]], [OutputColumn("s", ColumnKind.STRING)] * 2),
    ],
)
def test_jsonl_defers_to_list_encoder(
    monkeypatch: pytest.MonkeyPatch, columns: Rows, outputs: list[OutputColumn]
) -> None:
    """Non-canonical integers, \\u00XX escapes and repeated names are the list encoder's."""
    calls: list[int] = []

    def spy(cols: Sequence[Sequence[Cell]], outs: Sequence[OutputColumn]) -> bytes:
        calls.append(1)
        return encode_jsonl(cols, outs)

    monkeypatch.setattr(enc, "encode_jsonl", spy)
    assert encode_jsonl_arrays(_arrays(columns), outputs) == encode_jsonl(columns, outputs)
    assert calls == [1]


@pytest.mark.parametrize(("arrays_fn", "list_fn"), _PAIRS)
def test_oversized_chunks_and_other_types_defer(
    monkeypatch: pytest.MonkeyPatch,
    arrays_fn: Callable[[Sequence[pa.Array]], bytes],
    list_fn: Callable[[Any], bytes],
) -> None:
    columns: Rows = [["a,\\b", None], ["c\t", "d"]]
    monkeypatch.setattr(enc, "MAX_KERNEL_BYTES", 10)
    monkeypatch.setattr(enc, "_join_rows", _fail)
    assert arrays_fn(_arrays(columns)) == list_fn(columns)
    large = [pa.array(c, pa.large_string()) for c in columns]
    assert arrays_fn(large) == list_fn(columns)
    with pytest.raises(ValueError, match="argument"):
        arrays_fn([pa.array(["a"]), pa.array(["b", "c"])])


def test_value_bytes_are_only_the_slices() -> None:
    """The byte checks and the size guard must see a sliced column's own values only."""
    column = _arrays([["ab", None, "é"]], 2, 1)[0]
    assert enc._value_bytes(column) == "abé".encode()
    assert enc._value_bytes(column.slice(1, 1)) == b""
