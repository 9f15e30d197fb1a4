from __future__ import annotations

import pytest

from fivesafes.config import get_settings, load_settings, reset_settings_cache
from fivesafes.errors import ConfigurationError


def test_defaults_are_the_embedded_sqlite_database() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///var/fivesafes.db"
    assert settings.token_lifetime.days == 30


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIVESAFES_TOKEN_LIFETIME_DAYS", "7")
    monkeypatch.setenv("FIVESAFES_UPLOAD_MAX_BYTES", "4096")
    settings = load_settings()
    assert settings.token_lifetime_days == 7
    assert settings.upload_max_bytes == 4096


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("FIVESAFES_TOKEN_LIFETIME_DAYS", "soon", "valid integer"),
        ("FIVESAFES_TOKEN_LIFETIME_DAYS", "0", "greater than or equal to 1"),
        ("FIVESAFES_UPLOAD_MAX_BYTES", "-5", "greater than or equal to 1024"),
        ("FIVESAFES_DATABASE_URL", "mysql://x/y", "sqlite:/// or postgresql"),
        ("FIVESAFES_PORT", "70000", "less than or equal to 65535"),
    ],
)
def test_invalid_setting_names_the_variable_and_expectation(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert variable in caught.value.message
    assert expected in caught.value.message


def test_plain_postgres_url_is_given_the_installed_driver() -> None:
    settings = load_settings(database_url="postgresql://u@127.0.0.1/db")
    assert settings.database_url == "postgresql+psycopg://u@127.0.0.1/db"


def test_settings_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("FIVESAFES_PORT", "9999")
    assert get_settings() is first
    reset_settings_cache()
    assert get_settings().port == 9999
