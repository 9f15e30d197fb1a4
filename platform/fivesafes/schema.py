"""Schema management through Alembic, the only way the schema is made.

The migration scripts live in the repository's ``migrations/`` folder; a wheel carries
them as ``fivesafes/migrations`` (see pyproject). Both are found here so the CLI works
from a checkout and from an installed package alike.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from fivesafes.errors import ConfigurationError

_PACKAGE_DIR = Path(__file__).resolve().parent


def migrations_dir() -> Path:
    """The folder holding ``env.py`` and ``versions/``."""
    for candidate in (_PACKAGE_DIR / "migrations", _PACKAGE_DIR.parent.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigurationError("migration scripts not found (expected migrations/env.py)")


def alembic_config(database_url: str) -> Config:
    """An Alembic config aimed at ``database_url`` (ignores any alembic.ini URL)."""
    folder = migrations_dir()
    ini = folder / "alembic.ini"
    config = Config(str(ini)) if ini.is_file() else Config()
    config.set_main_option("script_location", str(folder))
    # ConfigParser interpolation would choke on a '%' in a password.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (tests and disaster recovery only)."""
    command.downgrade(alembic_config(database_url), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(database_url: str) -> str | None:
    """The newest revision the scripts know."""
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
