"""NHS number normalisation and the modulus-11 check."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fivesafes.deid.nhs_number import (
    InvalidNhsNumberError,
    check_digit,
    has_valid_check_digit,
    is_valid_nhs_number,
    normalise_nhs_number,
)

nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    first = draw(nine_digits)
    check = check_digit(first)
    assume(check is not None)
    return f"{first}{check}"


@st.composite
def groupings(draw: st.DrawFn, number: str) -> str:
    """The number with spaces or hyphens between any digits, and padding around it."""
    out = []
    for digit in number:
        out.append(digit)
        out.append(draw(st.sampled_from(["", "", " ", "-"])))
    return draw(st.sampled_from(["", " "])) + "".join(out) + draw(st.sampled_from(["", " "]))


@given(data=st.data(), number=valid_numbers())
def test_any_grouping_normalises_to_the_same_number(data: st.DataObject, number: str) -> None:
    grouped = data.draw(groupings(number))
    assert normalise_nhs_number(grouped) == number


@given(number=valid_numbers(), position=st.integers(0, 9), delta=st.integers(1, 9))
def test_a_one_digit_change_is_detected(number: str, position: int, delta: int) -> None:
    changed = str((int(number[position]) + delta) % 10)
    mutated = number[:position] + changed + number[position + 1 :]
    assert not has_valid_check_digit(mutated)
    assert not is_valid_nhs_number(mutated)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("943 476 5919", "9434765919"), ("943-476-5919", "9434765919"), ("4010232137", "4010232137")],
)
def test_known_valid_numbers(raw: str, expected: str) -> None:
    assert normalise_nhs_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("9434765918", "modulus 11"),
        ("943476591", "9 digits"),
        ("94347659190", "11 digits"),
        ("943476591X", "other than digits"),
        ("", "missing"),
        ("   ", "missing"),
        ("١٢٣٤٥٦٧٨٩٠", "other than digits"),  # non-ASCII digits are not NHS numbers
    ],
)
def test_invalid_numbers_give_a_reason_without_the_value(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNhsNumberError, match=reason) as info:
        normalise_nhs_number(raw)
    if raw.strip():
        assert raw.strip() not in str(info.value)


def test_check_digit_ten_means_no_valid_number() -> None:
    # 9 digits whose weighted sum leaves remainder 1 cannot form a valid number.
    first = next(f"{n:09d}" for n in range(10**8, 10**9) if check_digit(f"{n:09d}") is None)
    assert not any(has_valid_check_digit(first + str(d)) for d in range(10))
