"""Decimals in a version table keep every digit and are filtered as numbers.

The table is made as ingestion makes it (``storage.data_table`` + ``create_table``) in a
database built by ``alembic upgrade head``: SQLite's ``NUMERIC`` affinity would turn a
decimal into a float, so there it is stored as text, which the row filters must still
compare as a number.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Engine

from fivesafes.access.filters import check_filter, compile_filter
from fivesafes.column_kinds import ColumnKind, decimal_text
from fivesafes.datasets.version_tables import version_schema
from fivesafes.deid.plan import OutputColumn
from fivesafes.ingestion.storage import create_table, data_table

decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None).map(
    lambda d: Decimal(decimal_text(d))  # positional, as an extract and PostgreSQL write it
)


def _version_table(engine: Engine) -> Table:
    columns = [OutputColumn("i", ColumnKind.INTEGER), OutputColumn("d", ColumnKind.DECIMAL)]
    table = data_table("dsv_1", columns, schema=version_schema(engine.dialect.name))
    with engine.begin() as connection:
        create_table(connection, table)
    return table


def test_a_decimal_keeps_every_digit_in_sqlite(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's numeric keeps digits by itself; the text storage is SQLite's")
    table = _version_table(engine)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(decimals, min_size=1, max_size=20))
    def keeps_digits(values: list[Decimal]) -> None:
        texts = [decimal_text(v) for v in values]
        with engine.begin() as connection:
            connection.execute(delete(table))
            connection.execute(table.insert(), [{"i": i, "d": t} for i, t in enumerate(texts)])
            read = connection.execute(select(table.c.d).order_by(table.c.i)).scalars().all()
        assert [decimal_text(v) for v in read] == texts

    keeps_digits()


def test_decimals_are_filtered_as_numbers_not_text(engine: Engine) -> None:
    table = _version_table(engine)
    texts = ["9.5", "10", "72.50", "-3", "100.0"]  # as text, "10" < "9.5" and "-3" < "100.0"
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"i": i, "d": t} for i, t in enumerate(texts)])

        def selected(expression: str) -> list[str]:
            where = compile_filter(check_filter(expression, {"d": "decimal"}), table.c)
            query = select(table.c.d).where(where).order_by(table.c.i)
            return [decimal_text(v) for v in connection.execute(query).scalars()]

        assert selected("d > 9.6") == ["10", "72.50", "100.0"]
        assert selected("d in (72.5, 10)") == ["10", "72.50"]
        assert selected("d between -5 and 10") == ["9.5", "10", "-3"]
        assert selected("d = 100") == ["100.0"]
