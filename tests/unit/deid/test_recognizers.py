"""Parametrised tables for each UK recogniser: what it finds, and what it must not.

These run without spaCy (the recognisers are regex + validation), so they are fast.
"""

from __future__ import annotations

from datetime import date

import pytest
from presidio_analyzer import EntityRecognizer

from fivesafes.deid.allowlist import AllowList
from fivesafes.deid.patient_scrub import PatientRecognizer
from fivesafes.deid.recognizers import (
    CuedNameRecognizer,
    EmailRecognizer,
    HospitalNumberRecognizer,
    LongNumberRecognizer,
    NhsNumberRecognizer,
    NiNumberRecognizer,
    OrganisationRecognizer,
    StreetAddressRecognizer,
    SurnameFirstRecognizer,
    TitledNameRecognizer,
    UkDateRecognizer,
    UkPhoneRecognizer,
    UkPostcodeRecognizer,
)
from fivesafes.deid.recognizers.uk_date import shift_date_text
from fivesafes.deid.types import PatientContext

ALLOW = AllowList()


def found(recognizer: EntityRecognizer, text: str) -> list[str]:
    """Distinct matched strings at or above the scrubber's threshold."""
    return sorted({text[r.start : r.end] for r in recognizer.analyze(text, None) if r.score >= 0.4})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NHS no 943 476 5919 today", ["943 476 5919"]),
        ("NHS 943-476-5919.", ["943-476-5919"]),
        ("nhs:9434765919", ["9434765919"]),
        ("number 94 34 76 59 19 given", ["94 34 76 59 19"]),
        ("invalid 943 476 5918", []),  # bad check digit
        ("phone 01206 727439", []),  # 11 digits
        ("Hb 121, CRP 8", []),
    ],
)
def test_nhs_number(text: str, expected: list[str]) -> None:
    assert found(NhsNumberRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NI number QQ 12 34 56 C", ["QQ 12 34 56 C"]),
        ("NINO AB123456C.", ["AB123456C"]),
        ("ab 12 34 56 d", ["ab 12 34 56 d"]),
        ("BP 120 80, HR 72", []),
    ],
)
def test_ni_number(text: str, expected: list[str]) -> None:
    assert found(NiNumberRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lives at CO4 5JL.", ["CO4 5JL"]),
        ("SW1A 1AA", ["SW1A 1AA"]),
        ("postcode M145RQ", ["M145RQ"]),
        ("B12 2mg daily", []),
        ("vitamin B12 level", []),
    ],
)
def test_postcode(text: str, expected: list[str]) -> None:
    assert found(UkPostcodeRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call 01206 123456", ["01206 123456"]),
        ("tel (01255) 123456", ["(01255) 123456"]),
        ("mob 07700 900123", ["07700 900123"]),
        ("+44 7911 123456", ["+44 7911 123456"]),
        ("+44 (0)20 7946 0958", ["+44 (0)20 7946 0958"]),
        ("020 7946 0958", ["020 7946 0958"]),
        ("01956038768", ["01956038768"]),
        ("dose 0.5 mg", []),
        ("12/03/2024", []),
    ],
)
def test_phone(text: str, expected: list[str]) -> None:
    assert found(UkPhoneRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seen 12/03/2024", ["12/03/2024"]),
        ("on 12-03-2024", ["12-03-2024"]),
        ("DOB 12.03.24", ["12.03.24"]),
        ("ISO 2024-03-12", ["2024-03-12"]),
        ("on 3rd March 2024", ["3rd March 2024"]),
        ("on 3 Mar 2024", ["3 Mar 2024"]),
        ("since March 2024", ["March 2024"]),
        ("March 3rd, 2024", ["March 3rd, 2024"]),
        ("review in 6 weeks", []),
        ("BP 132/84", []),
        ("you may 20 mg", []),
        ("Hb 121 in 2024", []),
    ],
)
def test_date(text: str, expected: list[str]) -> None:
    spans = found(UkDateRecognizer(), text)
    # The longest match is the date; shorter overlapping ones ("March 2024") merge into it.
    assert (max(spans, key=len, default=None), bool(spans)) == (
        expected[0] if expected else None,
        bool(expected),
    )


@pytest.mark.parametrize(
    ("text", "days", "expected"),
    [
        ("12/03/2024", 10, "22/03/2024"),
        ("2024-03-12", -12, "2024-02-29"),
        ("12.03.24", 1, "13.03.24"),
        ("3rd March 2024", 1, "4th March 2024"),
        ("3 Mar 2024", 30, "2 Apr 2024"),
        ("March 2024", 31, "April 2024"),
        ("not a date", 3, None),
    ],
)
def test_shift_date_text_keeps_the_format(text: str, days: int, expected: str | None) -> None:
    assert shift_date_text(text, days) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("email priya.sharma@nhs.net now", ["priya.sharma@nhs.net"]),
        ("to wrighthannah@example.com.", ["wrighthannah@example.com"]),
        ("no at sign here", []),
    ],
)
def test_email(text: str, expected: list[str]) -> None:
    assert found(EmailRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hosp no D7646461.", ["D7646461"]),
        ("RDE8264953", ["RDE8264953"]),
        ("MRN: 12345678", ["12345678"]),
        ("Unit number ab-1234", ["ab-1234"]),
        ("HbA1c 48, T2DM, SpO2 97", []),
    ],
)
def test_hospital_number(text: str, expected: list[str]) -> None:
    assert found(HospitalNumberRecognizer(), text) == expected


def test_hospital_number_site_patterns_are_used() -> None:
    recognizer = HospitalNumberRecognizer((r"\bK\d{5}\b",))
    assert found(recognizer, "ref K12345 seen") == ["K12345"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("account 12345678", ["12345678"]),
        ("ref 123 456 789", ["123 456 789"]),
        ("Plt 250, WCC 11.2, Na 135", []),
    ],
)
def test_long_number(text: str, expected: list[str]) -> None:
    assert found(LongNumberRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lives at Flat 9, White Courts.", ["Flat 9, White Courts"]),
        ("Lives at 27 Molly Ways, CO4 5JL", ["27 Molly Ways"]),
        (
            "at 7 Orchard Close, Great Horkesley, Colchester, CO6 4AA",
            ["7 Orchard Close, Great Horkesley, Colchester"],
        ),
        ("walked to Mill Lane", ["Mill Lane"]),
        ("review in 6 weeks", []),
    ],
)
def test_street_address(text: str, expected: list[str]) -> None:
    spans = found(StreetAddressRecognizer(), text)
    assert set(expected) <= set(spans)
    assert bool(spans) == bool(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Discussed with Dr Kate Barrett (GP)", ["Kate Barrett"]),
        ("Mrs O'Neill attended", ["O'Neill"]),
        ("Prof. van der Merwe reviewed", ["van der Merwe"]),
        ("seen by Dr Patel Cardiology", ["Patel"]),
        ("Sr Mary-Kate O'Donoghue", ["Mary-Kate O'Donoghue"]),
        ("Dr Siobhán Ní Bhriain", ["Siobhán Ní Bhriain"]),
        ("Dr G King MBBS FRCS", ["G King"]),  # an initial that is also an abbreviation
        ("Anaesthetist: Dr NA WU", ["NA WU"]),
    ],
)
def test_titled_name(text: str, expected: list[str]) -> None:
    assert found(TitledNameRecognizer(ALLOW), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("with her daughter Natalie Price.", ["Natalie Price"]),
        ("Next of kin: Lakshmi Sharma", ["Lakshmi Sharma"]),
        ("seen by Aisha Khan today", ["Aisha Khan"]),
        ("son-in-law Tomasz Wiśniewski visited", ["Tomasz Wiśniewski"]),
        ("GP at Lambert Medical Practice", []),
        ("referred to Cardiology", []),
        ("transferred to Ward 7", []),
        ("with Parkinson's disease", []),
        ("Results reviewed by FY2 Yonas", ["Yonas"]),  # "FY2" is the cue, not a name
        ("Assistant: Florin Alemu", ["Florin Alemu"]),
    ],
)
def test_cued_name(text: str, expected: list[str]) -> None:
    recognizer = CuedNameRecognizer(ALLOW)
    results = recognizer.analyze(text, None)
    kept = [r for r in results if not ALLOW.protects(text, r.start, r.end)]
    assert sorted(text[r.start : r.end] for r in kept) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("KAY, Ruth attended", ["KAY, Ruth"]),
        ("OKONKWO, Chukwuemeka", ["OKONKWO, Chukwuemeka"]),
        ("CXR, Bloods and ECG, Echo", []),
    ],
)
def test_surname_first(text: str, expected: list[str]) -> None:
    assert found(SurnameFirstRecognizer(ALLOW), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(GP at Lambert Medical Practice)", ["Lambert Medical Practice"]),
        ("Attended Colne Valley Surgery", ["Colne Valley Surgery"]),
        ("at Colchester General Hospital", ["Colchester General Hospital"]),
        ("the General Hospital", []),
    ],
)
def test_organisation(text: str, expected: list[str]) -> None:
    assert found(OrganisationRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "survives"),
    [
        ("Hb 121", True),
        ("TDS", True),
        ("Parkinson's", True),
        ("Crohn's disease", True),
        ("Natalie Price", False),
        ("Smith", False),
    ],
)
def test_allow_list_protects_clinical_content(text: str, survives: bool) -> None:
    note = f"Known {text} noted."
    assert ALLOW.protects(note, 6, 6 + len(text)) is survives


CONTEXT = PatientContext(
    names=("Ruth Kay",),
    nhs_numbers=("9434765919",),
    dates=(date(1961, 3, 12),),
    postcodes=("CO4 5JL",),
    other_identifiers=("D7646461",),
)


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("KAY, Ruth seen", ["KAY", "Ruth"]),
        ("ruth kay seen", ["ruth", "kay"]),
        ("Mrs Kay's daughter", ["Kay"]),
        ("NHS 943-476-5919", ["943-476-5919"]),
        ("nhs 94 34 76 59 19", ["94 34 76 59 19"]),
        ("born 12/03/1961", ["12/03/1961"]),
        ("born 1961-03-12", ["1961-03-12"]),
        ("born 12th March 1961", ["12th March 1961"]),
        ("born March 12, 1961", ["March 12, 1961"]),
        ("born 12.3.61", ["12.3.61"]),
        ("at co45jl", ["co45jl"]),
        ("id d7646461", ["d7646461"]),
    ],
)
def test_patient_recognizer_finds_the_rows_own_identifiers(text: str, gone: list[str]) -> None:
    spans = [text[r.start : r.end] for r in PatientRecognizer(CONTEXT).analyze(text, None)]
    for value in gone:
        assert value in spans


def test_everyday_word_names_need_a_capital_or_a_neighbour() -> None:
    recognizer = PatientRecognizer(PatientContext(names=("May Day",)))
    text = "Seen May. Twice a day. may day"
    spans = sorted(text[r.start : r.end] for r in recognizer.analyze(text, None))
    assert spans == ["May", "day", "may"]
