"""CSRF token comparison and the server-side charts."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from fivesafes.httpkit import csrf
from fivesafes.web import charts


def _request(method: str, headers: dict[str, str] | None = None) -> Request:
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "state": {},
    }
    return Request(scope)


def test_tokens_are_random_and_compared_exactly() -> None:
    first, second = csrf.new_token(), csrf.new_token()
    assert first != second
    assert len(first) >= 43
    assert csrf.tokens_match(first, first)
    assert not csrf.tokens_match(first, second)
    assert not csrf.tokens_match(first, None)
    assert not csrf.tokens_match(None, None)
    assert not csrf.tokens_match("", "")


def test_safe_methods_need_no_token() -> None:
    csrf.require("expected", _request("GET"))


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_unsafe_methods_need_the_token(method: str) -> None:
    with pytest.raises(csrf.CsrfError):
        csrf.require("expected", _request(method))
    with pytest.raises(csrf.CsrfError):
        csrf.require("expected", _request(method, {"X-CSRF-Token": "wrong"}))
    csrf.require("expected", _request(method, {"X-CSRF-Token": "expected"}))


def test_form_field_counts_when_read_by_the_route() -> None:
    request = _request("POST")
    request.state.csrf_form_token = "expected"
    csrf.require("expected", request)


def test_entities_per_type_sums_columns() -> None:
    totals = charts.entities_per_type({"notes": {"PERSON": 3, "DATE": 1}, "letter": {"PERSON": 2}})
    assert totals == {"PERSON": 5, "DATE": 1}
    chart = charts.horizontal_bars(totals)
    assert [b.label for b in chart.bars] == ["PERSON", "DATE"]
    assert chart.bars[0].width > chart.bars[1].width > 0
