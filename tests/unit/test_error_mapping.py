from __future__ import annotations

import pytest

from fivesafes import errors
from fivesafes.httpkit.errors import status_for


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.AuthenticationError("x"), 401),
        (errors.PermissionDeniedError("x"), 403),
        (errors.NotFoundError("x"), 404),
        (errors.ConflictError("x"), 409),
        (errors.PayloadTooLargeError("x"), 413),
        (errors.InvalidInputError("x"), 422),
        (errors.PolicyError("x"), 422),
        (errors.InputFileError("bad", file="a.csv", line=3, column="dob"), 422),
        (errors.ServiceUnavailableError("x"), 503),
        (errors.FivesafesError("x"), 400),
    ],
)
def test_each_error_class_has_one_status(error: errors.FivesafesError, status: int) -> None:
    assert status_for(error) == status


def test_input_file_error_names_file_line_and_column() -> None:
    error = errors.InputFileError("not a date", file="extract.csv", line=12, column="dob")
    assert error.message == "extract.csv, line 12, column 'dob': not a date"
    assert error.code == "invalid_file"


def test_codes_are_stable_and_distinct() -> None:
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.FivesafesError)
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
