"""FIVESAFES_TOKEN_MAX_DAYS: the cap on every token's lifetime, and the default under it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fivesafes.config import load_settings
from fivesafes.errors import ConfigurationError


def test_the_cap_defaults_to_30_days() -> None:
    settings = load_settings()
    assert settings.token_max_days == 30
    assert settings.token_max_lifetime == timedelta(days=30)


def test_the_default_lifetime_is_cut_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIVESAFES_TOKEN_MAX_DAYS", "7")
    settings = load_settings()  # the 30-day default lifetime does not stop start-up
    assert settings.token_max_lifetime == timedelta(days=7)
    assert settings.token_lifetime == timedelta(days=7)
    assert load_settings(token_lifetime_days=3, token_max_days=7).token_lifetime.days == 3


@pytest.mark.parametrize("value", ["0", "366", "forever"])
def test_a_bad_cap_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FIVESAFES_TOKEN_MAX_DAYS", value)
    with pytest.raises(ConfigurationError, match="FIVESAFES_TOKEN_MAX_DAYS"):
        load_settings()
