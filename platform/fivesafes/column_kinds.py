"""The types a de-identified column can have, and how each is stored in SQL and written
as Arrow (Parquet), JSON and CSV. The one place that says it: the engine's output file,
the per-version tables, releases and row filters all ask :class:`ColumnKind`.

The platform's users answer for every value they release, so a value must survive from
upload to release exactly. Two types needed a decision:

**Decimals are exact text, never binary floats.** ``0.1`` has no float64, and a float
keeps 15 to 17 significant digits: a value released as a float is a different value.
A decimal keeps the digits and the scale it was given (``72.50`` stays ``72.50``): in
PostgreSQL as ``numeric``; in SQLite, whose ``NUMERIC`` affinity would turn it into a
float, as text that row filters compare as a number; in Arrow and Parquet as a string,
because ``decimal128`` needs a scale and the policy language has none (a column with a
declared scale could become ``decimal128(38, scale)``); in JSON as a string, because
nearly every JSON reader parses a number into a float; in CSV as its text. Only the
spelling follows PostgreSQL's ``numeric`` (``.5`` is ``0.5``, ``1e3`` is ``1000``).

**Date-times are instants in UTC, to the second, everywhere.** One column holds one
type, and a value that carries an offset (``2024-07-01T09:30:00+01:00``) must not lose
it, so every date-time is converted to UTC and marked as such: ``timestamp[us, UTC]`` in
Arrow, ``timestamp with time zone`` in PostgreSQL, ``2024-07-01T08:30:00Z`` in CSV and
JSON (the de-identified file and releases alike). A value without an offset is taken
to be UTC already; an extract in local time (Europe/London) should say so in its
values, or its summer times will read an hour late.

Everything else is what it looks like: text, 64-bit integers, calendar dates (``date32``,
ISO text), booleans (``true``/``false``). SQLAlchemy and pyarrow are imported only when
their mappings are asked for, so a CSV-to-CSV engine run loads neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.types import TypeEngine

Text = str | None
JsonScalar = str | int | bool | None
#: Length of a canonical date-time without an offset (``YYYY-MM-DDTHH:MM:SS``).
_NAIVE_LENGTH = 19


class ColumnKind(StrEnum):
    """The type of a de-identified (and stored, and released) column."""

    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"

    def sql_type(self) -> TypeEngine[Any]:
        """The column type of a per-version table."""
        return _sql_types()[self]

    def arrow_type(self) -> pa.DataType:
        """The Arrow type of the column in Parquet output and in release batches."""
        return _arrow_types()[self]

    def json_value(self, text: Text) -> JsonScalar:
        """A canonical cell (the engine's text) as a JSON value: integers and booleans
        typed, decimals and date-times as their exact text."""
        if text is None:
            return None
        if self is ColumnKind.INTEGER:
            return int(text)
        if self is ColumnKind.BOOLEAN:
            return text == "true"
        return text

    def arrow_array(self, texts: Sequence[Text]) -> pa.Array:
        """Canonical cells as an Arrow array of :meth:`arrow_type`."""
        import pyarrow as pa  # noqa: PLC0415 - only formats that need Arrow load it

        if self is ColumnKind.DATETIME:
            moments = [None if v is None else utc_moment(v) for v in texts]
            return pa.array(moments, type=self.arrow_type())
        return pa.array(list(texts), type=pa.string()).cast(self.arrow_type())


def utc_moment(text: str) -> datetime:
    """An ISO date-time as an aware UTC datetime (no offset: it is UTC already)."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def datetime_text(moment: datetime) -> str:
    """How a date-time is written as text (CSV, JSON): UTC, whole seconds, ``Z``."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def utc_text(text: str) -> str:
    """A canonical ISO date-time (``YYYY-MM-DDTHH:MM:SS``, maybe with an offset) as
    :func:`datetime_text`: without an offset only ``Z`` is added (no parsing)."""
    if len(text) == _NAIVE_LENGTH:
        return text + "Z"
    return datetime_text(datetime.fromisoformat(text))


#: strftime pattern of :func:`datetime_text`, for vectorised writers (pyarrow).
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def decimal_text(value: Decimal) -> str:
    """A decimal as PostgreSQL writes a ``numeric``: positional, every digit kept."""
    return format(value, "f")


@cache
def _arrow_types() -> dict[ColumnKind, pa.DataType]:
    import pyarrow as pa  # noqa: PLC0415 - see the module docstring

    return {
        ColumnKind.STRING: pa.string(),
        ColumnKind.INTEGER: pa.int64(),
        ColumnKind.DECIMAL: pa.string(),  # exact text: the policy declares no scale
        ColumnKind.DATE: pa.date32(),
        ColumnKind.DATETIME: pa.timestamp("us", tz="UTC"),
        ColumnKind.BOOLEAN: pa.bool_(),
    }


@cache
def _sql_types() -> dict[ColumnKind, TypeEngine[Any]]:
    from sqlalchemy import BigInteger, Boolean, Date, DateTime  # noqa: PLC0415
    from sqlalchemy import Text as SqlText  # noqa: PLC0415

    return {
        ColumnKind.STRING: SqlText(),
        ColumnKind.INTEGER: BigInteger(),
        ColumnKind.DECIMAL: exact_decimal_type()(),
        ColumnKind.DATE: Date(),
        ColumnKind.DATETIME: DateTime(timezone=True),
        ColumnKind.BOOLEAN: Boolean(),
    }


@cache
def exact_decimal_type() -> type[TypeEngine[Decimal]]:
    """The SQL type of decimals: ``numeric`` on PostgreSQL, text on SQLite.

    SQLite's ``NUMERIC`` affinity stores ``72.50`` as the float 72.5 and keeps 15
    significant digits, so there the column is ``TEXT`` and holds the digits as given.
    Comparisons (row filters) cast the column to a number on both dialects, so
    ``weight_kg > 9.5`` compares numbers, not text; on SQLite that comparison is a
    float's (15 digits), the stored and released value is not.
    """
    from sqlalchemy import Numeric, Text, cast  # noqa: PLC0415
    from sqlalchemy.engine import Dialect  # noqa: PLC0415
    from sqlalchemy.sql.operators import OperatorType  # noqa: PLC0415
    from sqlalchemy.types import TypeDecorator  # noqa: PLC0415

    class ExactDecimal(TypeDecorator[Decimal]):
        impl = Numeric
        cache_ok = True

        class comparator_factory(TypeDecorator.Comparator[Decimal]):  # noqa: N801 - SQLAlchemy's name
            def operate(self, op: OperatorType, *other: Any, **kwargs: Any) -> Any:
                return op(cast(self.expr, Numeric()), *other, **kwargs)

            def reverse_operate(self, op: OperatorType, other: Any, **kwargs: Any) -> Any:
                return op(other, cast(self.expr, Numeric()), **kwargs)

        def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
            return dialect.type_descriptor(Text() if dialect.name == "sqlite" else Numeric())

        def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
            if value is None or dialect.name != "sqlite":
                return value
            return value if isinstance(value, str) else decimal_text(Decimal(value))

        def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
            if value is None:
                return None
            # A table made before decimals were text on SQLite holds floats: their
            # shortest repr is what was stored (15 digits), not their binary expansion.
            return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)

    return ExactDecimal
