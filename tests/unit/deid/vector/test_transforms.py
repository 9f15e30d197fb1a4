"""Vectorised value transforms: exactly their per-cell twins, or declining.

Each differential test draws a column mixing clean and awkward cells, runs the twin as
the engine does (``[fn(v) if v else None for v in values]``) and the vector function, and
requires that an answer from the vector function is the twin's list and that the twin did
not raise. A column drawn only from clean cells must also take the fast path, so the
tests fail if a function declines everything.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.deid import transforms as t
from fivesafes.deid.nhs_number import check_digit, normalise_nhs_number
from fivesafes.deid.plan import _normalise_text_identifier
from fivesafes.deid.vector import transforms as v

RAISED = object()
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "  # Python's whitespace within ASCII


def twin(fn: Callable[[str], object], cells: Sequence[str]) -> object:
    """The engine's per-cell list, or RAISED if any cell makes ``fn`` raise."""
    try:
        return [fn(c) if c else None for c in cells]
    except Exception:
        return RAISED


def column(cells: list[str], lead: int) -> pa.StringArray:
    """``cells`` as an Arrow array, sliced after ``lead`` cells so offsets are not zero."""
    return pa.array(["x" * 3] * lead + cells, pa.string()).slice(lead)


def got(result: pa.Array | None) -> list[object]:
    """The cells of a result that must not be a decline."""
    assert result is not None
    cells: list[object] = result.to_pylist()
    return cells


def assert_twin(result: pa.Array | None, expected: object, fast: bool) -> None:
    if fast:
        assert result is not None, "a clean column should take the fast path"
    if result is None:
        return
    assert expected is not RAISED, "vector path answered where the twin raises"
    assert result.type == pa.string()
    assert isinstance(expected, list)
    assert result.to_pylist() == expected
    assert result.equals(pa.array(expected, pa.string()))


def mixed(clean: st.SearchStrategy[str], awkward: st.SearchStrategy[str]) -> st.SearchStrategy:
    """(cells, clean_only, lead): clean cells and empties, plus, unless clean_only, 1-3 awkward.

    Few awkward cells among clean ones is the case that matters: one bad cell in an
    otherwise valid column is exactly what the vector path must notice and decline.
    """
    cell = st.one_of(clean, st.just(""))
    lead = st.integers(min_value=0, max_value=2)

    def build(clean_only: bool) -> st.SearchStrategy:
        cells = st.lists(cell, max_size=20)
        if not clean_only:
            cells = st.tuples(cells, st.lists(awkward, min_size=1, max_size=3)).flatmap(
                lambda p: st.permutations(p[0] + p[1])
            )
        return st.tuples(cells, st.just(clean_only), lead)

    return st.booleans().flatmap(build)


def near_misses(clean: st.SearchStrategy[str], alphabet: str) -> st.SearchStrategy[str]:
    """A clean value with one character deleted, inserted or replaced: the likeliest typos."""

    @st.composite
    def edit(draw: st.DrawFn) -> str:
        text = draw(clean)
        at = draw(st.integers(min_value=0, max_value=len(text)))
        char = draw(st.sampled_from(alphabet))
        kind = draw(st.sampled_from(["delete", "insert", "replace"]))
        if kind == "insert" or at == len(text):
            return text[:at] + char + text[at:]
        return text[:at] + ("" if kind == "delete" else char) + text[at + 1 :]

    return edit()


def ws_pad(core: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pad = st.text(alphabet=WHITESPACE, max_size=2)
    return st.tuples(pad, core, pad).map("".join)


junk = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=WHITESPACE, min_size=1, max_size=3),
    st.sampled_from(["\xa0", "\u2003x", "x\u3000", "\u0660", "\uff11", "K", "\u0130"]),
)

# ---------------------------------------------------------------- dates

iso_dates = st.dates(min_value=date(1, 1, 1)).map(date.isoformat)
recent_iso = st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)).map(date.isoformat)
awkward_dates = st.one_of(
    junk,
    near_misses(recent_iso, "0123456789-/ T"),
    ws_pad(recent_iso),
    st.sampled_from(
        [
            "2023-02-29",
            "1900-02-29",
            "2000-02-29",
            "0000-01-01",
            "0000-12-31",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-04-31",
            "2024-01-32",
            "12/03/2024",
            "1.2.99",
            "12-03-24",
            "2024-03-12T00:00",
            "2024-03-12 00:00:00",
            "2024-03-12T10:15",
            "2024/03/12",
            "20240312",
            "\uff12024-01-01",
            "\u0662\u0660\u0662\u0664-01-01",
            "9999-12-31",
            "0001-01-01",
        ]
    ),
    st.text(alphabet="0123456789-/ T", min_size=10, max_size=10),
)
date_columns = mixed(st.one_of(iso_dates, recent_iso), awkward_dates)


@settings(max_examples=150)
@given(date_columns)
def test_canonical_date(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    assert_twin(v.canonical_date(column(cells, lead)), twin(t.canonical_date, cells), fast)


@settings(max_examples=150)
@given(date_columns)
def test_truncate_to_month(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    expected = twin(t.truncate_to_month, cells)
    assert_twin(v.truncate_to_month(column(cells, lead)), expected, fast)


@settings(max_examples=150)
@given(date_columns)
def test_truncate_to_year(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    expected = twin(t.truncate_to_year, cells)
    assert_twin(v.truncate_to_year(column(cells, lead)), expected, fast)


@settings(max_examples=150)
@given(date_columns)
def test_parse_iso_dates(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    result = v.parse_iso_dates(column(cells, lead))
    if fast:
        assert result is not None
    if result is None:
        return
    assert result.type == pa.date32()
    assert result.to_pylist() == [date.fromisoformat(c) if c else None for c in cells]
    assert twin(t.parse_date, cells) is not RAISED
    assert all(len(c) in (0, 10) for c in cells)


@settings(max_examples=150)
@given(
    date_columns,
    st.dates(min_value=date(1, 1, 1)),
    st.integers(min_value=1, max_value=25),
    st.one_of(st.none(), st.integers(min_value=-5, max_value=130)),
)
def test_age_band(
    case: tuple[list[str], bool, int], reference: date, width: int, top: int | None
) -> None:
    cells, fast, lead = case
    expected = twin(t.AgeBander(reference, width, top), cells)
    result = v.age_band(column(cells, lead), reference, width, top)
    assert_twin(result, expected, fast=fast and all(c <= reference.isoformat() for c in cells))


offsets = st.one_of(
    st.integers(min_value=-400, max_value=400),
    st.integers(min_value=-4_000_000, max_value=4_000_000),
    st.sampled_from([-(2**31), 2**31 - 1, 0]),
    st.none(),
)


@settings(max_examples=200)
@given(date_columns, st.data())
def test_shift_dates(case: tuple[list[str], bool, int], data: st.DataObject) -> None:
    cells, fast, lead = case
    shifts = data.draw(st.lists(offsets, min_size=len(cells), max_size=len(cells)))
    if fast:
        shifts = [
            data.draw(st.integers(min_value=-400, max_value=400)) if s is None else s % 800 - 400
            for s in shifts
        ]
        fast = all(c == "" or "1900-01-01" <= c <= "9000-01-01" for c in cells)
    try:
        expected: object = [
            t.shift_date(c, s) if c else None  # type: ignore[arg-type]
            for c, s in zip(cells, shifts, strict=True)
        ]
    except Exception:
        expected = RAISED
    array = pa.array([0] * lead + shifts, pa.int32()).slice(lead)
    assert_twin(v.shift_dates(column(cells, lead), array), expected, fast)


def test_shift_dates_declines_on_length_mismatch_and_missing_offset() -> None:
    values = pa.array(["2024-01-01", ""], pa.string())
    assert v.shift_dates(values, pa.array([1], pa.int32())) is None
    assert v.shift_dates(values, pa.array([None, 3], pa.int32())) is None
    assert got(v.shift_dates(values, pa.array([2, None], pa.int32()))) == [
        "2024-01-03",
        None,
    ]
    assert v.shift_dates(pa.array(["9999-12-31"]), pa.array([1], pa.int32())) is None
    assert v.shift_dates(pa.array(["0001-01-01"]), pa.array([-1], pa.int32())) is None


# ---------------------------------------------------------------- postcodes

letters = st.text(alphabet=string.ascii_letters, min_size=1, max_size=2)
digit = st.sampled_from(string.digits)
gap = st.sampled_from(["", " ", " ", "  ", "\t", "\x0b", "\x1c", "\n"])
outward = st.tuples(
    letters, digit, st.one_of(st.just(""), st.sampled_from(string.digits + string.ascii_letters))
).map("".join)
inward = st.tuples(digit, st.text(alphabet=string.ascii_letters, min_size=2, max_size=2)).map(
    "".join
)
clean_postcodes = st.tuples(
    st.sampled_from(["WN", "B", "M", "co", "Ls", "SW", "e", "NE", "G", "CF"]),
    st.integers(min_value=1, max_value=29).map(str),
    st.sampled_from([" ", "", "  "]),
    inward,
).map("".join)
full_postcodes = st.tuples(gap, outward, gap, inward, gap).map("".join)
gir = st.tuples(st.sampled_from(["GIR", "gir", "Gir", "gIR"]), gap, st.sampled_from(["0AA", "0aa"]))
awkward_postcodes = st.one_of(
    junk,
    near_misses(clean_postcodes, "AZaz09 \t"),
    near_misses(gir.map("".join), "AaRr0 "),
    full_postcodes,
    gir.map("".join),
    st.tuples(gap, outward, gap).map("".join),
    st.sampled_from(
        [
            "GIR 0A",
            "gir0",
            "\uff37N8 7YH",
            "\xa0WN8 7YH",
            "WN8\u20037YH",
            "WN8 7Y",
            "WN8 77H",
            "1N8 7YH",
            "WN 7YH",
        ]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + " ", max_size=9),
)
postcode_columns = mixed(clean_postcodes, awkward_postcodes)
district_columns = mixed(
    st.one_of(clean_postcodes, st.tuples(outward, st.sampled_from(["", " "])).map("".join)),
    awkward_postcodes,
)


@settings(max_examples=200)
@given(postcode_columns)
def test_canonical_postcode(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    expected = twin(t.canonical_postcode, cells)
    assert_twin(v.canonical_postcode(column(cells, lead)), expected, fast)


@settings(max_examples=200)
@given(postcode_columns)
def test_postcode_sector(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    expected = twin(t.postcode_sector, cells)
    assert_twin(v.postcode_sector(column(cells, lead)), expected, fast)


@settings(max_examples=200)
@given(district_columns)
def test_postcode_district(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    expected = twin(t.postcode_district, cells)
    assert_twin(v.postcode_district(column(cells, lead)), expected, fast)


def test_postcode_awkward_forms_take_the_fast_path() -> None:
    cells = ["GIR 0AA", "gir0aa", " sw1a1aa\t", "M60\x0b1AB", "wn8 7yh", ""]
    assert got(v.canonical_postcode(pa.array(cells))) == [
        "GIR 0AA",
        "GIR 0AA",
        "SW1A 1AA",
        "M60 1AB",
        "WN8 7YH",
        None,
    ]
    assert got(v.postcode_district(pa.array(["wn8", " B1 1AA", "GIR 0AA"]))) == [
        "WN8",
        "B1",
        "GIR",
    ]
    assert v.postcode_sector(pa.array(["wn8", "B1 1AA"])) is None  # outward alone: no sector


# ---------------------------------------------------------------- numbers, booleans

integers = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.tuples(
        st.sampled_from(["", "+", "-"]), st.text(alphabet="0", max_size=3), st.integers(0, 10**6)
    ).map(lambda p: f"{p[0]}{p[1]}{p[2]}"),
)
awkward_integers = st.one_of(
    junk,
    near_misses(integers, "+-0919 .e"),
    ws_pad(integers),
    st.sampled_from(["-0", "+0", "+-1", "--1", "1.0", "1e3", "1_000", "0x10", " ", "\u0663"]),
    st.integers(min_value=10**17, max_value=10**40).map(str),
    st.text(alphabet="+-0123456789 ", max_size=6),
)


@settings(max_examples=200)
@given(mixed(integers, awkward_integers))
def test_canonical_integer(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    expected = twin(t.canonical_integer, cells)
    assert_twin(v.canonical_integer(column(cells, lead)), expected, fast)


decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.tuples(
        st.sampled_from(["", "+", "-"]),
        st.text(alphabet=string.digits, max_size=3),
        st.sampled_from(["", "."]),
        st.text(alphabet=string.digits, min_size=1, max_size=3),
        st.sampled_from(["", "e5", "E-2", "e+01"]),
    ).map("".join),
)
awkward_decimals = st.one_of(
    junk,
    near_misses(decimals, "+-.eE05 "),
    ws_pad(decimals),
    st.sampled_from([".", "e5", "1.2.3", "inf", "NaN", "1e", "+.", "5.", ".5", "1,5", "\u0665"]),
    st.text(alphabet="+-.eE0123456789 ", max_size=6),
    st.sampled_from(["1..2", "1e5.0", "-.e1", "1e+-2"]),
)


@settings(max_examples=200)
@given(mixed(decimals, awkward_decimals))
def test_canonical_decimal(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    expected = twin(t.canonical_decimal, cells)
    assert_twin(v.canonical_decimal(column(cells, lead)), expected, fast)


spellings = ["true", "t", "yes", "y", "1", "false", "f", "no", "n", "0"]
booleans = st.tuples(st.sampled_from(spellings), st.randoms(use_true_random=False)).map(
    lambda p: "".join(c.upper() if p[1].random() < 0.5 else c for c in p[0])
)
awkward_booleans = st.one_of(
    junk,
    near_misses(booleans, "tfyesnoTFYN01 "),
    ws_pad(booleans),
    st.sampled_from(["tru", "yess", "2", "on", "off", "ye s", "\u0131", "TRUE\xa0", "\u212a"]),
)


@settings(max_examples=200)
@given(mixed(booleans, awkward_booleans))
def test_canonical_boolean(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    expected = twin(t.canonical_boolean, cells)
    assert_twin(v.canonical_boolean(column(cells, lead)), expected, fast)


# ---------------------------------------------------------------- identifiers


@st.composite
def valid_nhs(draw: st.DrawFn) -> str:
    first = draw(st.text(alphabet=string.digits, min_size=9, max_size=9))
    check = check_digit(first)
    return f"{first}{check if check is not None else 0}"  # 0 when impossible: a bad number


@st.composite
def grouped_nhs(draw: st.DrawFn) -> str:
    number = draw(valid_nhs())
    parts = [c + draw(st.sampled_from(["", "", "", " ", "-", "\t"])) for c in number]
    return draw(st.sampled_from(["", " ", "\n"])) + "".join(parts) + draw(gap)


awkward_nhs = st.one_of(
    junk,
    near_misses(valid_nhs(), "0123456789 -\tx\n"),
    grouped_nhs(),
    st.text(alphabet=string.digits, min_size=9, max_size=11),
    st.sampled_from(
        ["-\n9434765919", "943 476 5918", "943476591", "943\n476 5919", "94347659l9", "- -"]
    ),
    st.text(alphabet=string.digits + " -\t\n", max_size=14),
    st.text(alphabet="\uff10\u0660\xb2", min_size=1, max_size=3).map(lambda s: s + "9434765"[:7]),
)


def twin_ok(cell: str) -> bool:
    return not cell or twin(normalise_nhs_number, [cell]) is not RAISED


@settings(max_examples=200)
@given(mixed(st.one_of(valid_nhs(), grouped_nhs()), awkward_nhs))
def test_normalise_nhs_numbers(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    fast = fast and all(twin_ok(c) for c in cells)  # valid_nhs() draws some bad check digits
    expected = twin(normalise_nhs_number, cells)
    assert_twin(v.normalise_nhs_numbers(column(cells, lead)), expected, fast)


texts = st.text(alphabet=string.ascii_letters + string.digits + "'-.", min_size=1, max_size=10)
names = st.lists(texts, min_size=1, max_size=3).map(" ".join)
awkward_texts = st.one_of(
    junk,
    near_misses(names, " \t\n\x1c\xa0\xdf"),
    ws_pad(names),
    st.text(alphabet=string.ascii_letters + WHITESPACE + "\x00\x07", max_size=10),
    st.sampled_from(["stra\xdfe", "\u0131d", "a\xa0b", "\uff41", "  ", "a  b", " a"]),
)


@settings(max_examples=200)
@given(mixed(names, awkward_texts))
def test_normalise_text_identifiers(case: tuple[list[str], bool, int]) -> None:
    cells, fast, lead = case
    expected = twin(_normalise_text_identifier, cells)
    assert_twin(v.normalise_text_identifiers(column(cells, lead)), expected, fast)


# ---------------------------------------------------------------- clean columns


FIRST = ["Alison", "Sally", "Mohammed", "Priya", "Wei"]
LAST = ["Taylor", "Khan", "O'Brien", "Zhang"]


def bench_like(rows: int, seed: int = 7) -> dict[str, list[str]]:
    """Columns shaped like ``fivesafes.bench.structured.write_extract``'s, with gaps."""
    rng = random.Random(seed)
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    areas = ["WN", "B", "M", "CO", "LS", "SW", "E", "NE", "G", "CF"]
    nhs: list[str] = []
    while len(nhs) < rows:
        first = f"{rng.randrange(100_000_000, 999_999_999):09d}"
        check = check_digit(first)
        if check is not None:
            nhs.append(f"{first}{check}")
    born = [(date(1930, 1, 1) + timedelta(days=rng.randrange(33_000))).isoformat() for _ in nhs]
    postcodes = [
        f"{rng.choice(areas)}{rng.randrange(1, 30)} "
        f"{rng.randrange(10)}{rng.choice(letters)}{rng.choice(letters)}"
        for _ in nhs
    ]
    columns = {
        "nhs": nhs,
        "date": born,
        "postcode": postcodes,
        "name": [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in nhs],
        "integer": [str(rng.randrange(-5000, 5000)) for _ in nhs],
        "decimal": [f"{rng.uniform(0, 300):.2f}" for _ in nhs],
        "boolean": [rng.choice(["Y", "N", "true", "False", "1", "0"]) for _ in nhs],
    }
    for cells in columns.values():
        for row in range(0, rows, 97):
            cells[row] = ""
    return columns


COLUMNS = bench_like(5000)
UNARY: list[tuple[str, Callable[[pa.StringArray], pa.Array | None], Callable[[str], str]]] = [
    ("date", v.canonical_date, t.canonical_date),
    ("date", v.truncate_to_month, t.truncate_to_month),
    ("date", v.truncate_to_year, t.truncate_to_year),
    ("postcode", v.canonical_postcode, t.canonical_postcode),
    ("postcode", v.postcode_sector, t.postcode_sector),
    ("postcode", v.postcode_district, t.postcode_district),
    ("integer", v.canonical_integer, t.canonical_integer),
    ("decimal", v.canonical_decimal, t.canonical_decimal),
    ("boolean", v.canonical_boolean, t.canonical_boolean),
    ("nhs", v.normalise_nhs_numbers, normalise_nhs_number),
    ("name", v.normalise_text_identifiers, _normalise_text_identifier),
]


@pytest.mark.parametrize(("name", "vector", "cell"), UNARY)
def test_clean_columns_take_the_fast_path(
    name: str, vector: Callable[[pa.StringArray], pa.Array | None], cell: Callable[[str], str]
) -> None:
    cells = COLUMNS[name]
    assert_twin(vector(pa.array(cells, pa.string())), twin(cell, cells), fast=True)


def test_clean_date_columns_take_the_fast_path() -> None:
    cells = COLUMNS["date"]
    values = pa.array(cells, pa.string())
    bander = t.AgeBander(date(2025, 1, 1), 5, 90)
    assert_twin(v.age_band(values, date(2025, 1, 1), 5, 90), twin(bander, cells), fast=True)
    one = t.AgeBander(date(2025, 1, 1), 1, None)
    assert_twin(v.age_band(values, date(2025, 1, 1), 1, None), twin(one, cells), fast=True)
    shifts = [(i * 37) % 361 - 180 for i in range(len(cells))]
    expected = [t.shift_date(c, s) if c else None for c, s in zip(cells, shifts, strict=True)]
    shifted = v.shift_dates(values, pa.array(shifts, pa.int32()))
    assert_twin(shifted, expected, fast=True)
    parsed = v.parse_iso_dates(values)
    assert parsed is not None
    assert parsed.null_count == cells.count("")


@pytest.mark.parametrize(
    ("fn", "cells"),
    [
        (v.canonical_date, ["2023-02-29"]),
        (v.canonical_date, ["0000-01-01"]),
        (v.canonical_date, ["12/03/2024"]),
        (v.canonical_date, ["2024-01-01", " "]),
        (v.truncate_to_year, ["2024-03-12T00:00"]),
        (v.canonical_postcode, ["WN8"]),
        (v.canonical_postcode, ["\xa0WN8 7YH"]),
        (v.canonical_integer, ["1" * 19]),
        (v.canonical_integer, ["\t"]),
        (v.canonical_boolean, ["maybe"]),
        (v.canonical_decimal, ["1.2.3"]),
        (v.normalise_nhs_numbers, ["943 476 5918"]),
        (v.normalise_nhs_numbers, ["-\n9434765919"]),
        (v.normalise_text_identifiers, [" \t "]),
        (v.normalise_text_identifiers, ["stra\xdfe"]),
    ],
)
def test_declines(fn: Callable[[pa.StringArray], pa.Array | None], cells: list[str]) -> None:
    assert fn(pa.array(cells, pa.string())) is None


def test_age_band_declines_birth_after_reference_and_rejects_bad_width() -> None:
    values = pa.array(["2025-06-01"], pa.string())
    assert v.age_band(values, date(2025, 1, 1), 5, 90) is None
    with pytest.raises(ValueError, match="width"):
        v.age_band(values, date(2026, 1, 1), 0, None)


def test_empty_and_all_empty_columns() -> None:
    for _, fn, _cell in UNARY:
        assert got(fn(pa.array([], pa.string()))) == []
        assert got(fn(pa.array(["", ""], pa.string()))) == [None, None]
    assert got(v.age_band(pa.array(["", ""]), date(2025, 1, 1), 5, 90)) == [None, None]
