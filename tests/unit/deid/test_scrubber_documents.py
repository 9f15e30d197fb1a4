"""The whole scrubber on documents of other shapes: what must go, and what must stay.

Written for issue 12 (clipped lower-case notes, letters with address blocks, staff lists,
sign-offs, references of other shapes), with spaCy loaded, so in the slow tier. A
held-out corpus in the same spirit is scored by ``fivesafes bench deid``; these pin the
behaviours one by one so a regression names its case.
"""

from __future__ import annotations

import pytest

from fivesafes.deid.scrubber import FreeTextScrubber
from fivesafes.deid.types import DateMode, PatientContext, ScrubberConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scrubber() -> FreeTextScrubber:
    return FreeTextScrubber(ScrubberConfig(hospital_number_patterns=(r"\b[A-Z]\d{7}\b",)))


LETTER = """Colchester Road Surgery
Dr Shah and Partners

PRIVATE AND CONFIDENTIAL
Mrs Chidi Okafor
Rowan House
46 Jessica Road
Fingringhoe
Colchester
CO7 9AB

Dear Dr Nwosu,
Re: OKAFOR, Chidi  DOB 14/03/1961  NHS 943 476 5919
Thank you for seeing this lady with Parkinson's disease. She lives with her daughter
Hope and walks to the shop in Wivenhoe. Her son's Facebook is facebook.com/kemi.okafor82.
Started amoxicillin 500mg TDS. Hb 121, eGFR 45. Bay 3 Bed 12.

Yours sincerely
Dr P. Nwosu MBChB MRCP, GMC 7012345
cc: Age UK Essex"""


@pytest.mark.parametrize(
    "identifier",
    [
        "Shah",
        "Chidi",
        "Okafor",
        "Rowan House",
        "46 Jessica Road",
        "Fingringhoe",
        "CO7 9AB",
        "Nwosu",
        "14/03/1961",
        "943 476 5919",
        "Hope",
        "Wivenhoe",
        "facebook.com/kemi.okafor82",
        "7012345",
        "Age UK",
    ],
)
def test_a_letter_loses_every_identifier(scrubber: FreeTextScrubber, identifier: str) -> None:
    assert identifier not in scrubber.scrub(LETTER, PatientContext()).text


@pytest.mark.parametrize(
    "clinical",
    [
        "Parkinson's disease",
        "amoxicillin 500mg TDS",
        "Hb 121",
        "eGFR 45",
        "Bay 3 Bed 12",
        "Dear Dr",
        "Yours sincerely",
        "MBChB MRCP",
    ],
)
def test_a_letter_keeps_its_clinical_content(scrubber: FreeTextScrubber, clinical: str) -> None:
    assert clinical in scrubber.scrub(LETTER, PatientContext()).text


@pytest.mark.parametrize(
    ("note", "identifiers", "kept"),
    [
        (
            "0800 wr cons farzana begum. pt seen with daughter kerry. husband dave drove her in.",
            ["farzana", "begum", "kerry", "dave"],
            ["wr cons", "pt seen with daughter", "drove her in"],
        ),
        (
            "24/05 handed over to SN neville. fy1 R.Shah to r/v 28/04. Waterlow 18.",
            ["24/05", "neville", "R.Shah", "28/04"],
            ["handed over to SN", "fy1", "Waterlow 18"],
        ),
        (
            "Police informed, crime ref CAD 5616. Partner's car AB12 CDE. PC Moss (collar 2596).",
            ["CAD 5616", "AB12 CDE", "Moss", "2596"],
            ["Police informed, crime ref", "Partner's car"],
        ),
        (
            "T/C Tue 3 Apr 09:15 call from sister Marcia on 01206 742000 ext 4512.",
            ["Tue 3 Apr", "09:15", "Marcia", "742000", "4512"],
            ["call from sister"],
        ),
        (
            "Carers 4x daily from Helping Hands. Worked as a cleaner at DHL until retiring.",
            ["Helping Hands", "DHL"],
            ["Carers 4x daily from", "Worked as a cleaner at", "until retiring"],
        ),
        (
            "Obs stable.\nPlan: home tomorrow.\ntiago silva",
            ["tiago", "silva"],
            ["Obs stable", "Plan: home tomorrow"],
        ),
    ],
)
def test_clipped_notes(
    scrubber: FreeTextScrubber, note: str, identifiers: list[str], kept: list[str]
) -> None:
    out = scrubber.scrub(note, PatientContext()).text
    for identifier in identifiers:
        assert identifier not in out
    for phrase in kept:
        assert phrase in out


def test_the_time_goes_with_its_date_and_a_shifted_weekday_is_rewritten() -> None:
    shifting = FreeTextScrubber(ScrubberConfig(date_mode=DateMode.SHIFT))
    out = shifting.scrub("Seen Tue 4 Apr 2023 09:15.", PatientContext(date_shift_days=1)).text
    assert out == "Seen Wed 5 Apr 2023 09:15."
