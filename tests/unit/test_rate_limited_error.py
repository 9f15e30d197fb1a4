"""A reached limit is 429 Too Many Requests, with its own stable code."""

from __future__ import annotations

from fivesafes import errors
from fivesafes.httpkit.errors import status_for


def test_rate_limited_is_429_and_keeps_a_specific_code() -> None:
    error = errors.RateLimitedError("monthly limit reached", code="reidentification_limit_reached")
    assert status_for(error) == 429
    assert error.code == "reidentification_limit_reached"
    assert errors.RateLimitedError("x").code == "rate_limited"


def test_rate_limited_is_not_a_conflict_or_bad_input() -> None:
    """Clients retry a 429 later; a 409 or 422 would tell them the request is wrong."""
    assert not issubclass(errors.RateLimitedError, errors.ConflictError | errors.InvalidInputError)
