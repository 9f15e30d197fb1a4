"""Tables for the recognisers that read documents of other shapes (issue 12).

Names in every case and form, places in address blocks and after cues, dates with their
times and weekdays, references of other shapes, organisations after service cues, and the
clinical content that must survive next to them. Regex and gazetteer recognisers only: no
spaCy, so these run in the fast tier.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from presidio_analyzer import EntityRecognizer

from fivesafes.deid.allowlist import AllowList
from fivesafes.deid.gazetteers import load_gazetteers
from fivesafes.deid.recognizers import (
    AddressBlockRecognizer,
    GazetteerRecognizer,
    OrganisationRecognizer,
    ReferenceNumberRecognizer,
    UkDateRecognizer,
    UkPhoneRecognizer,
    UrlRecognizer,
)
from fivesafes.deid.recognizers.uk_date import shift_date_text
from fivesafes.deid.span_refine import SpanRefiner

# The scrubber loads English words from the spaCy model; these tests use the shipped
# common-word list instead, which is what the unknown-word rules also consult.
ALLOW = AllowList(english_words=load_gazetteers().common_words)


def found(recognizer: EntityRecognizer, text: str) -> list[str]:
    """Distinct matched strings at or above the scrubber's threshold, longest first."""
    spans = {text[r.start : r.end] for r in recognizer.analyze(text, None) if r.score >= 0.4}
    return sorted(spans, key=lambda s: (-len(s), s))


def covered(recognizer: EntityRecognizer, text: str, needle: str) -> bool:
    """Is every character of ``needle`` inside some detection?"""
    at = text.index(needle)
    hits = [r for r in recognizer.analyze(text, None) if r.score >= 0.4]
    return all(any(r.start <= i < r.end for r in hits) for i in range(at, at + len(needle)))


GAZETTEER = GazetteerRecognizer(ALLOW)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("seen with daughter kerry today", "kerry"),
        ("husband dave drove her in", "dave"),
        ("OKAFOR, Chidi attended", "OKAFOR"),
        ("Reviewed by J.Okafor", "J.Okafor"),
        ("Reviewed by A Patel", "A Patel"),
        ("Wife Rose present.", "Rose"),
        ("Mrs Hope Adeyemi-Clarke rang", "Hope Adeyemi-Clarke"),
        ("d/w sister joy smith", "joy smith"),
        ("MR JOHN SMITH DOB", "JOHN SMITH"),
        ("pt seen. grandson tobenna visited", "tobenna"),
        ("fy1 abdullahi hersi to review", "abdullahi hersi"),
        ("handed over to CN linh tran", "linh tran"),
        ("Kind regards\ntiago silva", "tiago silva"),
        ("Requested by I.Rich at noon", "I.Rich"),
        ("ODP: R.Leung / Procedure", "R.Leung"),
        ("NOK: ZIELINSKI", "ZIELINSKI"),  # listed without its accent (Zieliński)
        ("seen with mother lewandowska", "lewandowska"),  # a Slavic feminine form
        ("Seen with Xobanu Telima today.", "Xobanu Telima"),  # in no list: two unknowns
        ("2. XOBANU TELIMA  81M  H4639066", "XOBANU TELIMA"),  # capitals beside an id
        ("3. Will Church  67F  H1234567", "Will Church"),  # English-word names beside an id
        # Names WordNet lists as proper nouns are still names nobody else listed.
        ("Discharging doctor: FY1 FAISAL MALIK, bleep 1854", "FAISAL MALIK"),
        ("triage nurse macleod", "macleod"),
        ("Assistant: FLORIN ALEMU", "FLORIN ALEMU"),
        # A list entry: whatever the words, a name stands between number and age/sex.
        ("2. GLEN GOSLING  81M  H4639066", "GLEN GOSLING"),
        ("4. LI WARSAME  31M  O2751674", "LI WARSAME"),
        ("NOK wife nyambura al-sayed 07819 477395", "nyambura al-sayed"),
        ("Crew Jing Cheung / Glen, call sign Delta 4", "Glen"),  # coordinated with a name
        ("Pharmacist review (S Shah) 23/04", "S Shah"),  # an initial makes "Shah" a name
        ("Lives with her father will. Moved in 1979.", "will"),  # "will" ends the clause
        ("District nurses will visit.\neilidh", "eilidh"),  # a sign-off nobody listed
    ],
)
def test_names_in_any_case_and_form(text: str, name: str) -> None:
    assert covered(GAZETTEER, text, name)


@pytest.mark.parametrize(
    "text",
    [
        "Will review in clinic tomorrow.",
        "kerry will visit",  # no cue: the patient-specific scrubber knows the patient
        "son will bring clothes",
        "Post-op: apixaban 5mg BD.",
        "transferred to Lister Ward bay 3",
        "Plan: home\nobs stable",
        "A Good day overall",
        "May need review in March",
        "CTPA NAD today",
        "Staphylococcus Aureus grown",
        "her father will visit tomorrow",
        "Bloods and Obs / Fluids reviewed",
        "3. Hip fracture  81M",
    ],
)
def test_words_that_only_look_like_names(text: str) -> None:
    assert [r for r in GAZETTEER.analyze(text, None) if r.entity_type == "PERSON"] == []


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("Lives in Wivenhoe with her son.", "Wivenhoe"),
        ("moved from Long Stratton in 2019", "Long Stratton"),
        ("She walks to the shop in Bath", "Bath"),  # an English word: needs the cue
        ("lives in colchester", "colchester"),
        ("Sutton-in-Ashfield", "Sutton-in-Ashfield"),
        ("moved from Barrow-in-Furness", "Barrow-in-Furness"),
        ("lives in Essex", "Essex"),
    ],
)
def test_places(text: str, place: str) -> None:
    assert covered(GAZETTEER, text, place)


@pytest.mark.parametrize("text", ["she had a bath", "Reading glasses needed", "March 2024"])
def test_place_words_without_a_cue_stay(text: str) -> None:
    assert [r for r in GAZETTEER.analyze(text, None) if r.entity_type == "LOCATION"] == []


LETTER = """Dear Sir

Mrs Chidi Okafor
Rowan House
46 Jessica Road
Fingringhoe
Colchester
Surrey
CO7 9AB
Tel: 01206 123456

Department of Cardiology
Colchester General Hospital"""


def test_every_line_of_an_address_block() -> None:
    lines = found(AddressBlockRecognizer(), LETTER)
    for part in ("Rowan House", "46 Jessica Road", "Fingringhoe", "Colchester", "Surrey"):
        assert part in lines
    assert "Department of Cardiology" not in lines
    assert "Dear Sir" not in lines
    assert not any(line.startswith("Tel") for line in lines)


def test_a_sentence_is_not_an_address_block() -> None:
    text = "She lives at 12 Mill Lane.\nShe is independent with a stick and walks daily."
    assert found(AddressBlockRecognizer(), text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("admitted 2023-03-14T09:15:00Z today", "2023-03-14T09:15:00Z"),
        ("seen 14/03/2023 0915 by", "14/03/2023 0915"),
        ("on 14-Mar-2023 09:15, plan", "14-Mar-2023 09:15"),
        ("at 09:15 on 14/03/2023", "09:15 on 14/03/2023"),
        ("on 25/12 for", "25/12"),
        ("since 3rd Apr", "3rd Apr"),
        ("Tue 3 Apr review", "Tue 3 Apr"),
        ("Tuesday 3rd April 2023", "Tuesday 3rd April 2023"),
        ("review 14 March 2023 at 2pm", "14 March 2023 at 2pm"),
        ("P: furosemide 40mg OM. r/v 28/04.", "28/04"),
        ("notes\n24/05 wr reg bogdan", "24/05"),
        ("Pharmacist review (I. Eze) 15/03:", "15/03"),
        ("T/C Sat 27 May", "Sat 27 May"),
    ],
)
def test_dates_with_their_times_and_weekdays(text: str, expected: str) -> None:
    assert found(UkDateRecognizer(), text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "GCS 14/15",
        "power 4/5 in both legs",
        "3/12 history of cough",  # three months
        "r/v 6/12",  # review in six months
        "review 5/7",  # five days
        "pain 7/10 today",
        "AMTS 8/10",
        "BP 120/80",
        "12/03/2023 1000 mg",  # the dose is not a time
    ],
)
def test_fractions_scores_and_durations_are_not_dates(text: str) -> None:
    spans = found(UkDateRecognizer(), text)
    assert not spans or spans == ["12/03/2023"]


@given(
    st.dates(min_value=date(1920, 1, 1), max_value=date(2090, 12, 31)),
    st.integers(min_value=-400, max_value=400),
    st.sampled_from(["%a %d %b %Y", "%A %d %B %Y", "%a %d/%m/%Y %H:%M", "%d/%m/%Y %H%M"]),
)
def test_a_shifted_date_keeps_its_form_and_its_weekday_tells_no_tale(
    day: date, days: int, form: str
) -> None:
    # "May" is both the full and the short name: its shifted month is written short.
    assume(day.month != 5 or "%B" not in form)
    text = datetime(day.year, day.month, day.day, 9, 15).strftime(form)
    shifted = shift_date_text(text, days)
    assert shifted is not None
    moved = day + timedelta(days=days)
    expected = datetime(moved.year, moved.month, moved.day, 9, 15).strftime(form)
    assert shifted == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call 01206 742000 ext 4512 today", "01206 742000 ext 4512"),
        ("tel 01473 912854 (ext 1077) ok", "01473 912854 (ext 1077)"),
        ("01206-742000 x4512", "01206-742000 x4512"),
        ("tel 0 7700 900123", "0 7700 900123"),
        ("(0)1206 742000", "(0)1206 742000"),
        ("bleep 4455", "4455"),
    ],
)
def test_phones_with_extensions_and_bleeps(text: str, expected: str) -> None:
    assert found(UkPhoneRecognizer(), text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see facebook.com/kerry.smith82 and", ["facebook.com/kerry.smith82"]),
        ("blog kerrysblog.wordpress.com.", ["kerrysblog.wordpress.com"]),
        ("insta @kerry_s82 posts", ["@kerry_s82"]),
        ("see bbc.co.uk/news", ["bbc.co.uk/news"]),
        ("e.g. this", []),
        ("version 2.5.1", []),
        ("report.pdf attached", []),
        ("dose 2.5mg", []),
    ],
)
def test_urls_without_a_scheme(text: str, expected: list[str]) -> None:
    assert found(UrlRecognizer(), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("crime ref 42/123456/23 given", "42/123456/23"),
        ("crime ref CAD 5616.", "CAD 5616"),
        ("passport no 123456789", "123456789"),
        ("Passport: P1234567 issued", "P1234567"),
        ("Partner's car AB12 CDE", "AB12 CDE"),
        ("RGT-123456", "RGT-123456"),
        ("MRN K1234567X", "K1234567X"),
        ("case number SC-2023-0456", "SC-2023-0456"),
        ("PC Kaminski (collar 2596) attended", "2596"),
        ("Their ref: NNUH 290 3117", "NNUH 290 3117"),
        ("GMC: 0230090", "0230090"),
        ("Macmillan CNS, NMC 27N4111G", "27N4111G"),  # a final G is no gram
        ("attended Thu 28 Jan. Ref CAD 4051. Other driver", "CAD 4051"),  # "Ref" is the cue
    ],
)
def test_references_of_other_shapes(text: str, expected: str) -> None:
    assert found(ReferenceNumberRecognizer(), text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "HbA1c 48",
        "COVID19 swab",
        "CA19-9 raised",
        "E11.9",
        "B12 low",
        "1000mg",
        "T2DM",
        "NEWS2 3",
        "paracetamol 1g QDS",
        "heparin 10000units",
    ],
)
def test_clinical_codes_and_values_are_not_references(text: str) -> None:
    assert found(ReferenceNumberRecognizer(), text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("registered with Dr Shah and Partners.", "Dr Shah and Partners"),
        ("key safe code given to carers from Helping Hands.", "Helping Hands"),
        ("She has been referred to Headway Suffolk for peer support.", "Headway Suffolk"),
        ("Funeral director: Co-op Funeralcare.", "Co-op Funeralcare"),
        ("Worked as a cleaner at DHL until retiring.", "DHL"),
        ("employed by Colchester Borough Council", "Colchester Borough Council"),
        ("attends Greenfields Primary School", "Greenfields Primary School"),
        ("Ross-on-Wye Community Mental Health Team", "Ross-on-Wye Community Mental Health Team"),
        ("Partner Oisin (chef at Morrisons).", "Morrisons"),  # an employer after a job
        ("ex-postman at DHL. FH: nil.", "DHL"),
    ],
)
def test_organisations(text: str, expected: str) -> None:
    assert expected in found(OrganisationRecognizer(), text)


@pytest.mark.parametrize(
    "text",
    [
        "referred to Cardiology today",
        "referred to Social Services",
        "Community Mental Health Team",
        "Adult Social Care",
        "Department of Cardiology",
        "seen again later at Home",  # "later" is no job
        "member of staff at Reception",  # an English word names no employer
    ],
)
def test_services_that_name_nobody(text: str) -> None:
    assert found(OrganisationRecognizer(), text) == []


REFINER = SpanRefiner(ALLOW)


@pytest.mark.parametrize(
    ("text", "label", "from_ner", "expected"),
    [
        ("handed over to SN Hassan", "PERSON", True, ["Hassan"]),
        ("Mother Anh present", "PERSON", True, ["Anh"]),
        ("PMH Meniere's disease", "PERSON", True, ["Meniere's"]),
        ("DIAGNOSIS\nLewy", "PERSON", True, ["Lewy"]),
        ("review by Jake Ward today", "PERSON", True, ["Jake Ward"]),
        ("GLEN GOSLING", "PERSON", False, ["GLEN GOSLING"]),  # a surname that is a word
        ("Rose Clinic", "PERSON", True, ["Rose"]),
        ("J44.1 - Slept", "PERSON", True, []),
        ("Bay 2 Bed 6", "ORGANISATION", True, []),
        ("Community Mental Health Team", "ORGANISATION", True, []),
        ("Ward Medical Practice", "ORGANISATION", False, ["Ward Medical Practice"]),
        ("S: Observations", "PERSON", False, []),
    ],
)
def test_weak_detections_are_cut_to_what_identifies(
    text: str, label: str, from_ner: bool, expected: list[str]
) -> None:
    start = 0
    if text.startswith(("handed", "review")):
        start = text.index(re.findall(r"[A-Z]\w+", text)[0])
    pieces = REFINER.refine(text, start, len(text), label, from_ner=from_ner)
    assert [text[a:b] for a, b in pieces] == expected
