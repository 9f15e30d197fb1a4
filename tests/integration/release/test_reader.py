"""The PostgreSQL read path's connection: read-only, and built from the platform's URL."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from fivesafes.release import reader


def test_the_uri_keeps_credentials_and_options_and_adds_read_only() -> None:
    engine = create_engine(
        "postgresql+psycopg://rel%40ease:p%40ss%2Fw%3Ard@db.example:6543/fivesafes"
        "?sslmode=require&options=-c%20statement_timeout%3D5000",
    )  # an engine connects only when used
    parts = urlsplit(reader._adbc_uri(engine))
    assert parts.scheme == "postgresql"
    assert unquote(parts.username or "") == "rel@ease"
    assert unquote(parts.password or "") == "p@ss/w:rd"
    assert (parts.hostname, parts.port, parts.path) == ("db.example", 6543, "/fivesafes")
    query = parse_qs(parts.query)
    assert query["sslmode"] == ["require"]
    # libpq decodes %-escapes only: a space must not travel as "+".
    assert "+" not in parts.query
    assert query["options"] == ["-c statement_timeout=5000 -c default_transaction_read_only=on"]


@pytest.mark.postgres
@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_the_release_connection_is_read_only(engine: Engine) -> None:
    uri = reader._adbc_uri(engine)
    rows = list(reader._adbc_batches(uri, "SELECT current_setting('transaction_read_only') AS ro"))
    assert rows[0].column(0).to_pylist() == ["on"]
    with engine.begin() as connection:
        connection.execute(text("CREATE SEQUENCE release_read_only_probe"))
    with pytest.raises(Exception, match="read-only transaction"):
        list(reader._adbc_batches(uri, "SELECT nextval('release_read_only_probe') AS n"))
