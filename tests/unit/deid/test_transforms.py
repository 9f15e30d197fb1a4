"""Structured transforms: date parsing, shifts, truncation, bands, postcodes."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.deid import transforms as t

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@given(dates, st.sampled_from(["{d:%Y-%m-%d}", "{d:%d/%m/%Y}", "{d:%d-%m-%Y}", "{d:%d.%m.%Y}"]))
def test_iso_and_uk_forms_parse_to_the_same_date(value: date, form: str) -> None:
    assert t.parse_date(form.format(d=value)) == value


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2049, 12, 31)))
def test_two_digit_years_and_single_digit_days(value: date) -> None:
    text = f"{value.day}.{value.month}.{value.year % 100:02d}"
    expected_century = 2000 if value.year % 100 <= t.TWO_DIGIT_YEAR_PIVOT else 1900
    assert t.parse_date(text) == value.replace(year=expected_century + value.year % 100)


@pytest.mark.parametrize("text", ["2024-02-30", "31/04/2024", "12/13/2024"])
def test_impossible_dates_are_rejected_without_echo(text: str) -> None:
    with pytest.raises(t.InvalidValueError, match="not a valid calendar date") as info:
        t.parse_date(text)
    assert text not in str(info.value)


@pytest.mark.parametrize("text", ["March 3rd", "2024/3", "", "12-03/2024", "20240312"])
def test_unrecognised_dates_are_rejected(text: str) -> None:
    with pytest.raises(t.InvalidValueError, match="recognised format"):
        t.parse_date(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-12T10:15:00", datetime(2024, 3, 12, 10, 15)),
        ("2024-03-12 10:15", datetime(2024, 3, 12, 10, 15)),
        ("12/03/2024 10:15:30", datetime(2024, 3, 12, 10, 15, 30)),
        ("12/03/2024", datetime(2024, 3, 12)),
        ("2024-03-12 10:15:00.000000", datetime(2024, 3, 12, 10, 15)),
    ],
)
def test_datetimes(text: str, expected: datetime) -> None:
    assert t.parse_datetime(text) == expected


@given(patient=st.text(min_size=1, max_size=12), max_days=st.integers(1, 400))
def test_date_shift_offset_is_consistent_bounded_and_never_zero(
    patient: str, max_days: int
) -> None:
    shifter = t.DateShifter(bytes(32), max_days)
    offset = shifter.offset(patient)
    assert offset == t.DateShifter(bytes(32), max_days).offset(patient)
    assert 1 <= abs(offset) <= max_days


@given(patient=st.text(min_size=1, max_size=12), first=dates, gap=st.integers(0, 3000))
def test_date_shift_preserves_intervals_within_a_patient(
    patient: str, first: date, gap: int
) -> None:
    second = first + timedelta(days=gap)
    offset = t.DateShifter(bytes(range(32)), 180).offset(patient)
    a = date.fromisoformat(t.shift_date(first.isoformat(), offset))
    b = date.fromisoformat(t.shift_date(second.strftime("%d/%m/%Y"), offset))
    assert (b - a).days == gap
    assert (a - first).days == offset


def test_date_shift_depends_on_key_and_patient() -> None:
    patients = [f"{n:010d}" for n in range(200)]
    one = [t.DateShifter(bytes(32), 180).offset(p) for p in patients]
    other = [t.DateShifter(bytes(range(32)), 180).offset(p) for p in patients]
    assert one != other
    assert len(set(one)) > 100  # offsets spread across the range


def test_date_shifter_pickles_without_master() -> None:
    # Workers receive the shifter by pickle: the derived key goes, the master never does.
    master = bytes(range(40, 72))
    shifter = t.DateShifter(master, 180)
    data = pickle.dumps(shifter)
    copy = pickle.loads(data)
    assert [copy.offset(f"{n:010d}") for n in range(50)] == [
        shifter.offset(f"{n:010d}") for n in range(50)
    ]
    assert copy.max_days == 180
    assert master not in data


def test_date_shift_of_datetime_keeps_time() -> None:
    assert t.shift_datetime("12/03/2024 10:15", -3) == "2024-03-09T10:15:00"


@pytest.mark.parametrize(
    ("fn", "text", "expected"),
    [
        (t.truncate_to_month, "12/03/2024", "2024-03"),
        (t.truncate_to_year, "2024-03-12", "2024"),
        (t.truncate_to_month, "2024-03-12T23:59:00", "2024-03"),
        (t.canonical_date, "1.2.1999", "1999-02-01"),
    ],
)
def test_truncation(fn: Callable[[str], str], text: str, expected: str) -> None:
    assert fn(text) == expected


@pytest.mark.parametrize(
    ("born", "width", "top", "expected"),
    [
        ("1980-06-01", 5, 90, "40-44"),  # 44 on 2025-01-01
        ("1980-01-01", 5, 90, "45-49"),  # birthday on the reference date counts
        ("1980-01-02", 10, None, "40-49"),
        ("1920-05-05", 5, 90, "90+"),
        ("2024-12-31", 5, 90, "0-4"),
        ("1980-06-01", 1, None, "44"),
    ],
)
def test_age_bands(born: str, width: int, top: int | None, expected: str) -> None:
    assert t.AgeBander(date(2025, 1, 1), width, top)(born) == expected


def test_birth_after_reference_is_invalid() -> None:
    with pytest.raises(t.InvalidValueError, match="after the policy's reference date"):
        t.AgeBander(date(2025, 1, 1), 5)("2025-06-01")


@pytest.mark.parametrize(
    ("text", "district", "sector"),
    [
        ("WN8 7YH", "WN8", "WN8 7"),
        ("wn87yh", "WN8", "WN8 7"),
        (" SW1A 1AA ", "SW1A", "SW1A 1"),
        ("B1 1AA", "B1", "B1 1"),
        ("M601AB", "M60", "M60 1"),
        ("GIR 0AA", "GIR", "GIR 0"),
    ],
)
def test_postcodes(text: str, district: str, sector: str) -> None:
    assert t.postcode_district(text) == district
    assert t.postcode_sector(text) == sector


def test_outward_code_alone_is_a_district_but_not_a_sector() -> None:
    assert t.postcode_district("wn8") == "WN8"
    with pytest.raises(t.InvalidValueError, match="not a UK postcode"):
        t.postcode_sector("WN8")


@pytest.mark.parametrize("text", ["12345", "not a postcode", "WN8 7Y"])
def test_bad_postcodes(text: str) -> None:
    with pytest.raises(t.InvalidValueError) as info:
        t.postcode_district(text)
    assert text not in str(info.value)


@given(st.integers(-10_000, 10_000), st.integers(1, 50))
def test_integer_bands_contain_the_value(value: int, width: int) -> None:
    band = t.NumberBander(Decimal(width))(str(value))
    low, high = (int(x) for x in band.strip("[)").split(","))
    assert low <= value < high
    assert high - low == width
    assert low % width == 0


def test_decimal_bands() -> None:
    assert t.NumberBander(Decimal("2.5"))("3.1") == "[2.5,5)"
    assert t.NumberBander(Decimal("0.5"))("-0.2") == "[-0.5,0)"


@pytest.mark.parametrize(
    ("fn", "good", "expected", "bad"),
    [
        (t.canonical_integer, " +007 ", "7", "7.5"),
        (t.canonical_decimal, "1.50", "1.50", "1,5"),
        (t.canonical_boolean, "Yes", "true", "maybe"),
        (t.canonical_boolean, "0", "false", "2"),
        (t.canonical_postcode, "wn87yh", "WN8 7YH", "WN8"),
    ],
)
def test_keep_validators(
    fn: Callable[[str], str],
    good: str,
    expected: str,
    bad: str,
) -> None:
    assert fn(good) == expected
    with pytest.raises(t.InvalidValueError):
        fn(bad)
