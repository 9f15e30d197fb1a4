"""The row-filter language: parsing, positions in errors, type checks, round trips."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.access.filters import (
    And,
    Between,
    Comparison,
    Expr,
    FilterError,
    InList,
    IsNull,
    Not,
    Or,
    check_filter,
    parse_filter,
    to_text,
)
from fivesafes.deid.plan import output_columns as policy_columns
from fivesafes.deid.policy import parse_policy
from fivesafes.errors import InvalidInputError

COLUMNS = {
    "admission_date": "date",
    "seen_at": "datetime",
    "sex": "string",
    "length_of_stay": "integer",
    "weight_kg": "decimal",
    "readmitted": "boolean",
    "admission day": "string",  # needs quoting
    "in": "integer",  # a keyword as a column name: needs quoting
}


def test_the_examples_of_the_issue_parse_to_the_expected_tree() -> None:
    expr = check_filter(
        "admission_date between 2023-01-01 and 2023-12-31 and sex in ('F', 'M')", COLUMNS
    )
    assert expr == And(
        (
            Between("admission_date", date(2023, 1, 1), date(2023, 12, 31)),
            InList("sex", ("F", "M")),
        )
    )
    assert check_filter("not (length_of_stay >= 3 or readmitted = true)", COLUMNS) == Not(
        Or((Comparison("length_of_stay", ">=", 3), Comparison("readmitted", "=", True)))
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a = 1 or b = 2 and c = 3",
            Or((Comparison("a", "=", 1), And((Comparison("b", "=", 2), Comparison("c", "=", 3))))),
        ),
        ("not a = 1 and b = 2", And((Not(Comparison("a", "=", 1)), Comparison("b", "=", 2)))),
        ("a <> 'x'", Comparison("a", "!=", "x")),
        ("a IS NOT NULL", IsNull("a", negated=True)),
        ("a not in (1, 2)", InList("a", (1, 2), negated=True)),
        ("a not between 1 and 2", Between("a", 1, 2, negated=True)),
        ('"odd ""name""" = \'it\'\'s\'', Comparison('odd "name"', "=", "it's")),
        ("a >= -2.50", Comparison("a", ">=", Decimal("-2.5"))),
        ("a < 2023-01-31T08:30", Comparison("a", "<", datetime(2023, 1, 31, 8, 30))),
    ],
)
def test_precedence_and_literals(text: str, expected: Expr) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 1, "empty"),
        ("sex = ", 7, "expected a value"),
        ("sex = 'F", 7, "unterminated"),
        ("sex = 'F' and", 14, "expected a column name"),
        ("(sex = 'F'", 11, "expected ')'"),
        ("sex == 'F'", 6, "expected a value"),
        ("sex ; drop table users", 5, "unexpected character ';'"),
        ("sex = 'F' 'M'", 11, "expected 'and', 'or' or end"),
        ("admission_date = 2023-02-30", 18, "invalid date '2023-02-30'"),
        ("sex not = 'F'", 9, "expected 'in' or 'between' after 'not'"),
        ("postcode = 'WN8'", 1, "unknown column 'postcode'"),
        ("length_of_stay = '3'", 1, "column 'length_of_stay' is integer; text value 3"),
        ("admission_date > 2023", 1, "is date; integer value"),
        ("seen_at > 2023-01-01 and admission_date < 2023-01-01T00:00", 26, "is date; datetime"),
        ("readmitted > false", 1, "only = and != apply"),
        ("sex between 'a' and 'b' and length_of_stay between 5 and 2", 29, "empty range"),
        ("length_of_stay = 99999999999999999999", 18, "integer out of range"),
        ("(" * 40 + "sex = 'F'" + ")" * 40, 33, "nested more than 32 deep"),
    ],
)
def test_errors_name_the_position(text: str, position: int, fragment: str) -> None:
    with pytest.raises(FilterError) as caught:
        check_filter(text, COLUMNS)
    assert caught.value.position == position
    assert f"position {position}:" in str(caught.value)
    assert fragment in str(caught.value)
    assert caught.value.code == "invalid_filter"


def test_a_date_works_against_a_datetime_column_and_integers_against_decimals() -> None:
    check_filter("seen_at >= 2023-01-01 and weight_kg between 50 and 80.5", COLUMNS)


def test_requestable_columns_come_from_the_policy_outputs() -> None:
    policy = parse_policy(
        {
            "dataset": "x",
            "version": 1,
            "columns": {
                "nhs": {"type": "nhs_number", "role": "patient_id"},
                "name": {"type": "string", "role": "identifier", "action": "drop"},
                "dob": {"type": "date", "role": "quasi_identifier", "generalise": "to_year"},
                "admitted": {
                    "type": "date",
                    "role": "quasi_identifier",
                    "generalise": "date_shift",
                },
                "los": {"type": "integer", "role": "keep"},
            },
        }
    )
    assert policy_columns(policy) == {
        "nhs": "string",
        "dob": "integer",
        "admitted": "date",
        "los": "integer",
    }


# --------------------------------------------------------------------- properties

_VALUES = {
    "date": st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
    "datetime": st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda v: v.replace(microsecond=0)
    ),
    "string": st.text(max_size=12),
    "integer": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "decimal": st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False),
    "boolean": st.booleans(),
}


@st.composite
def predicates(draw: st.DrawFn) -> Expr:
    column = draw(st.sampled_from(sorted(COLUMNS)))
    kind = COLUMNS[column]
    value = _VALUES[kind]
    ops = ["=", "!="] if kind == "boolean" else ["=", "!=", "<", "<=", ">", ">="]
    shape = draw(st.sampled_from(["cmp", "in", "between", "null"]))
    if shape == "in":
        return InList(
            column, tuple(draw(st.lists(value, min_size=1, max_size=4))), draw(st.booleans())
        )
    if shape == "between" and kind != "boolean":
        low, high = sorted([draw(value), draw(value)])
        return Between(column, low, high, draw(st.booleans()))
    if shape == "null":
        return IsNull(column, draw(st.booleans()))
    return Comparison(column, draw(st.sampled_from(ops)), draw(value))


expressions = st.recursive(
    predicates(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        inner.map(Not),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(expressions)
def test_round_trip_through_the_canonical_text(expr: Expr) -> None:
    text = to_text(expr)
    assert parse_filter(text) == expr
    assert check_filter(text, COLUMNS) == expr
    assert to_text(parse_filter(text)) == text


_TOKENS = [
    "sex",
    "admission_date",
    "length_of_stay",
    "readmitted",
    '"admission day"',
    "nope",
    "=",
    "!=",
    "<",
    ">=",
    "<>",
    "and",
    "or",
    "not",
    "in",
    "between",
    "is",
    "null",
    "(",
    ")",
    ",",
    "'F'",
    "'it''s'",
    "'",
    '"',
    "3",
    "-2.5",
    "2023-01-01",
    "2023-13-45",
    "2023-01-01T10:00",
    "true",
    "false",
    "99999999999999999999999999999999",
    ";",
    "--",
    "/*",
]


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.text(max_size=80), st.lists(st.sampled_from(_TOKENS), max_size=25).map(" ".join))
)
def test_any_input_parses_or_fails_with_invalid_input_only(text: str) -> None:
    try:
        expr = check_filter(text, COLUMNS)
    except InvalidInputError as exc:
        error = exc
    else:
        assert parse_filter(to_text(expr)) == expr
        return
    assert isinstance(error, FilterError)
    assert 1 <= error.position <= len(text) + 1


def test_very_long_input_is_refused_cheaply() -> None:
    with pytest.raises(FilterError, match="longer than 2000"):
        parse_filter("sex = 'F' or " * 300 + "sex = 'M'")
    with pytest.raises(FilterError, match="nested more than"):
        parse_filter("not " * 100 + "sex = 'F'")
