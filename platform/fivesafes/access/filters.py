"""The row-filter language of data access requests: parse, type-check, compile to SQL.

A researcher never writes SQL. A request may carry a small declared expression over the
dataset's typed output columns, for example::

    admission_date between 2023-01-01 and 2023-12-31 and sex in ('F', 'M')
    not (diagnosis_code = 'I21' or age_band is null)

Grammar (keywords are case-insensitive)::

    expr       := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | predicate
    predicate  := column op literal                       op: = != <> < <= > >=
                | column ["not"] "in" "(" literal ("," literal)* ")"
                | column ["not"] "between" literal "and" literal
                | column "is" ["not"] "null"
    column     := name | "quoted name"
    literal    := 'text' | 123 | -4.5 | 2023-01-31 | 2023-01-31T08:30:00 | true | false

Every identifier must be a column of the dataset and every literal must fit its column's
type (a date column takes dates, an integer column integers ...). Errors are
:class:`FilterError` (an ``InvalidInputError``: HTTP 422) naming the 1-based position.
:func:`compile_filter` turns a checked expression into a SQLAlchemy expression over a
table's columns, with every literal a bound parameter: user text never becomes SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Numeric, and_, false, not_, or_, true

from fivesafes.column_kinds import ColumnKind, exact_decimal_type
from fivesafes.errors import InvalidInputError

Value = str | int | Decimal | date | datetime | bool
MAX_LENGTH = 2000
MAX_DEPTH = 32
MAX_IN_VALUES = 500
_INT64 = 2**63


class FilterError(InvalidInputError):
    """A row filter that does not parse or does not fit the dataset (names the position)."""

    code = "invalid_filter"

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"row filter, position {position}: {message}")
        self.position = position


# ----------------------------------------------------------------------------- the tree


@dataclass(frozen=True, slots=True)
class Comparison:
    column: str
    op: str  # = != < <= > >=
    value: Value
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class InList:
    column: str
    values: tuple[Value, ...]
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Between:
    column: str
    low: Value
    high: Value
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class IsNull:
    column: str
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Expr


Predicate = Comparison | InList | Between | IsNull
Expr = Predicate | And | Or | Not

# ---------------------------------------------------------------------------- the lexer

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d{1,30}(?:\.\d{1,30})?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")+")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "between", "is", "null", "true", "false"})
_ORDERING = frozenset({"<", "<=", ">", ">="})


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # name, keyword, string, number, date, datetime, op, punct, end
    text: str
    pos: int  # 1-based


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    i = 0
    while i < len(text):
        match = _TOKEN.match(text, i)
        if match is None:
            if text[i] in "'\"":
                raise FilterError("unterminated quoted text", i + 1)
            raise FilterError(f"unexpected character {text[i]!r}", i + 1)
        kind = match.lastgroup or ""
        value = match.group()
        if kind == "name" and value.lower() in _KEYWORDS:
            out.append(_Tok("keyword", value.lower(), i + 1))
        elif kind == "quoted":
            out.append(_Tok("name", value[1:-1].replace('""', '"'), i + 1))
        elif kind != "ws":
            out.append(_Tok(kind, value, i + 1))
        i = match.end()
    out.append(_Tok("end", "", len(text) + 1))
    return out


# --------------------------------------------------------------------------- the parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def _describe(self, tok: _Tok) -> str:
        return "end of filter" if tok.kind == "end" else repr(tok.text)

    def fail(self, expected: str) -> FilterError:
        return FilterError(f"expected {expected}, found {self._describe(self.tok)}", self.tok.pos)

    def accept(self, kind: str, text: str | None = None) -> _Tok | None:
        tok = self.tok
        if tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, text: str, what: str | None = None) -> _Tok:
        tok = self.accept(kind, text)
        if tok is None:
            raise self.fail(what or repr(text))
        return tok

    def parse(self) -> Expr:
        expr = self.or_()
        if self.tok.kind != "end":
            raise self.fail("'and', 'or' or end of filter")
        return expr

    def or_(self) -> Expr:
        items = [self.and_()]
        while self.accept("keyword", "or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Expr:
        items = [self.unary()]
        while self.accept("keyword", "and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"nested more than {MAX_DEPTH} deep", self.tok.pos)
        try:
            if self.accept("keyword", "not"):
                return Not(self.unary())
            if self.accept("punct", "("):
                inner = self.or_()
                self.expect("punct", ")", "')'")
                return inner
            return self.predicate()
        finally:
            self.depth -= 1

    def predicate(self) -> Predicate:
        col = self.accept("name")
        if col is None:
            raise self.fail("a column name, 'not' or '('")
        if self.accept("keyword", "is"):
            negated = self.accept("keyword", "not") is not None
            self.expect("keyword", "null")
            return IsNull(col.text, negated, col.pos)
        negated = self.accept("keyword", "not") is not None
        if self.accept("keyword", "in"):
            self.expect("punct", "(", "'(' after 'in'")
            values = [self.literal()]
            while self.accept("punct", ","):
                values.append(self.literal())
                if len(values) > MAX_IN_VALUES:
                    raise FilterError(f"more than {MAX_IN_VALUES} values in a list", col.pos)
            self.expect("punct", ")", "',' or ')'")
            return InList(col.text, tuple(values), negated, col.pos)
        if self.accept("keyword", "between"):
            low = self.literal()
            self.expect("keyword", "and")
            return Between(col.text, low, self.literal(), negated, col.pos)
        if negated:
            raise self.fail("'in' or 'between' after 'not'")
        op = self.accept("op")
        if op is None:
            raise self.fail("a comparison (= != < <= > >=), 'in', 'between' or 'is'")
        return Comparison(col.text, "!=" if op.text == "<>" else op.text, self.literal(), col.pos)

    def literal(self) -> Value:
        tok = self.tok
        self.i += 1
        try:
            if tok.kind == "string":
                return tok.text[1:-1].replace("''", "'")
            if tok.kind == "number":
                if "." in tok.text:
                    return Decimal(tok.text)
                number = int(tok.text)
                if not -_INT64 <= number < _INT64:
                    raise FilterError("integer out of range", tok.pos)
                return number
            if tok.kind == "date":
                return date.fromisoformat(tok.text)
            if tok.kind == "datetime":
                return datetime.fromisoformat(tok.text)
            if tok.kind == "keyword" and tok.text in ("true", "false"):
                return tok.text == "true"
        except (ValueError, InvalidOperation):
            raise FilterError(f"invalid {tok.kind} {tok.text!r}", tok.pos) from None
        self.i -= 1
        raise self.fail("a value ('text', number, date, true or false)")


def parse_filter(text: str) -> Expr:
    """Parse a filter (no column checks yet: see :func:`check_filter`)."""
    if not isinstance(text, str) or not text.strip():
        raise FilterError("the filter is empty", 1)
    if len(text) > MAX_LENGTH:
        raise FilterError(f"longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    return _Parser(text).parse()


# ---------------------------------------------------------------------------- checking


def _fits(kind: ColumnKind, value: Value) -> bool:
    """Whether a literal may stand for a value of a column of ``kind``."""
    if kind is ColumnKind.BOOLEAN:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is ColumnKind.STRING:
        return isinstance(value, str)
    if kind is ColumnKind.INTEGER:
        return isinstance(value, int)
    if kind is ColumnKind.DECIMAL:
        return isinstance(value, int | Decimal)
    if kind is ColumnKind.DATETIME:
        return isinstance(value, date)  # a date means midnight
    return isinstance(value, date) and not isinstance(value, datetime)


def _type_name(value: Value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return {str: "text", int: "integer", Decimal: "decimal"}[type(value)]


def _check_predicate(pred: Predicate, columns: Mapping[str, str]) -> None:
    declared = columns.get(pred.column)
    if declared is None:
        known = ", ".join(sorted(columns)) or "none"
        raise FilterError(f"unknown column {pred.column!r} (columns: {known})", pred.pos)
    kind = ColumnKind(declared)
    values: tuple[Value, ...] = ()
    if isinstance(pred, Comparison):
        if kind == "boolean" and pred.op in _ORDERING:
            raise FilterError(f"{pred.column!r} is boolean: only = and != apply", pred.pos)
        values = (pred.value,)
    elif isinstance(pred, InList):
        values = pred.values
    elif isinstance(pred, Between):
        if kind == "boolean":
            raise FilterError(f"{pred.column!r} is boolean: 'between' does not apply", pred.pos)
        values = (pred.low, pred.high)
    for value in values:
        if not _fits(kind, value):
            raise FilterError(
                f"column {pred.column!r} is {kind}; {_type_name(value)} value {value!s} "
                "does not fit",
                pred.pos,
            )
    if isinstance(pred, Between) and _order_key(pred.low) > _order_key(pred.high):
        raise FilterError(f"empty range: {pred.low} is after {pred.high}", pred.pos)


def _order_key(value: Value) -> Any:
    # A date bound against a datetime column compares as midnight.
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value


def _walk(expr: Expr, columns: Mapping[str, str]) -> None:
    if isinstance(expr, And | Or):
        for item in expr.items:
            _walk(item, columns)
    elif isinstance(expr, Not):
        _walk(expr.item, columns)
    else:
        _check_predicate(expr, columns)


def check_filter(text: str, columns: Mapping[str, str]) -> Expr:
    """Parse ``text`` and check it against ``columns`` (output name -> kind)."""
    expr = parse_filter(text)
    _walk(expr, columns)
    return expr


# ------------------------------------------------------------------------------ output


def _literal_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text if "." in text else text + ".0"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _column_text(name: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name.lower() not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def to_text(expr: Expr) -> str:
    """Canonical text of a filter (fully parenthesised; ``parse_filter`` reads it back)."""
    if isinstance(expr, And | Or):
        word = " and " if isinstance(expr, And) else " or "
        return "(" + word.join(to_text(item) for item in expr.items) + ")"
    if isinstance(expr, Not):
        return f"not {to_text(expr.item)}"
    col = _column_text(expr.column)
    if isinstance(expr, Comparison):
        return f"{col} {expr.op} {_literal_text(expr.value)}"
    neg = "not " if expr.negated else ""
    if isinstance(expr, InList):
        return f"{col} {neg}in ({', '.join(_literal_text(v) for v in expr.values)})"
    if isinstance(expr, Between):
        return f"{col} {neg}between {_literal_text(expr.low)} and {_literal_text(expr.high)}"
    return f"{col} is {'not ' if expr.negated else ''}null"


# ------------------------------------------------------------------------------ SQL


def compile_filter(expr: Expr, columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[bool]:
    """A SQLAlchemy boolean expression over ``columns`` (e.g. ``table.c``).

    Literals become bound parameters typed by their column. SQL's three-valued logic
    applies: a comparison with a NULL cell is unknown, so such rows are not selected
    (``is null`` selects them explicitly).
    """
    if isinstance(expr, And):
        return and_(true(), *(compile_filter(i, columns) for i in expr.items))
    if isinstance(expr, Or):
        return or_(false(), *(compile_filter(i, columns) for i in expr.items))
    if isinstance(expr, Not):
        return not_(compile_filter(expr.item, columns))
    try:
        column = columns[expr.column]
    except KeyError:
        raise FilterError(f"unknown column {expr.column!r}", expr.pos) from None
    if isinstance(expr, IsNull):
        return column.is_not(None) if expr.negated else column.is_(None)
    if isinstance(expr, InList):
        values = [_coerce(column, v) for v in expr.values]
        return column.not_in(values) if expr.negated else column.in_(values)
    if isinstance(expr, Between):
        clause = column.between(_coerce(column, expr.low), _coerce(column, expr.high))
        return not_(clause) if expr.negated else clause
    return {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }[expr.op](_coerce(column, expr.value))


def _coerce(column: ColumnElement[Any], value: Value) -> Value:
    """Literals in the column's own Python type: a date against a timestamp is midnight
    UTC; an integer against a decimal is a Decimal (one type per ``in`` list)."""
    decimal = isinstance(column.type, Numeric | exact_decimal_type())
    if decimal and isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if (
        isinstance(column.type, DateTime)
        and isinstance(value, date)
        and not isinstance(value, datetime)
    ):
        value = datetime(value.year, value.month, value.day)
    if (
        isinstance(column.type, DateTime)
        and column.type.timezone
        and isinstance(value, datetime)
        and value.tzinfo is None
    ):
        return value.replace(tzinfo=UTC)  # timestamps in the governed database are UTC
    return value
