"""The scorer implements the dev set's leak rules exactly: hand-made cases."""

from __future__ import annotations

import pytest

from fivesafes.bench.deid_scorer import (
    GoldNote,
    GoldSpan,
    RawIdentifierIndex,
    identifying_tokens,
    score_all,
)

TEXT = "Dr Kate Barrett (GP at Lambert Medical Practice) called 01206 727439. Hb 121."
SPANS = (
    GoldSpan(3, 15, "PERSON"),
    GoldSpan(23, 47, "ORGANISATION"),
    GoldSpan(56, 68, "PHONE"),
)
GOLD = GoldNote(TEXT, SPANS, ("Hb 121",))


@pytest.mark.parametrize(
    ("span", "tokens"),
    [
        ("Kate Barrett", ["kate", "barrett"]),
        ("Lambert Medical Practice", ["lambert"]),
        ("Flat 9, White Courts", ["white", "courts"]),
        ("Flat 81, Sutton Vista", ["81", "sutton", "vista"]),
        ("15th March 2024", ["15th", "march", "2024"]),
        ("Al", []),
    ],
)
def test_identifying_tokens(span: str, tokens: list[str]) -> None:
    assert identifying_tokens(span) == tokens


@pytest.mark.parametrize(
    ("scrubbed", "leaked"),
    [
        ("Dr [PERSON] (GP at [ORGANISATION]) called [PHONE]. Hb 121.", set()),
        ("Dr <PERSON> (GP at <ORGANISATION>) called <PHONE>. Hb 121.", set()),
        ("Dr Kate [PERSON] (GP at [ORGANISATION]) called [PHONE]. Hb 121.", {"PERSON"}),
        ("Dr [PERSON] (GP at Lambert [ORGANISATION]) called [PHONE].", {"ORGANISATION"}),
        # Generic words of an identifier may stay.
        ("Dr [PERSON] (GP at [X] Medical Practice) called [PHONE]. Hb 121.", set()),
        # Digits leak with any separators, even when the shape changed.
        ("Dr [PERSON] (GP at [ORGANISATION]) called 01206-727-439. Hb 121.", {"PHONE"}),
        # Case does not hide a leak.
        ("Dr [PERSON] (GP at LAMBERT) called [PHONE].", {"ORGANISATION"}),
    ],
)
def test_leaks(scrubbed: str, leaked: set[str]) -> None:
    score = score_all([GOLD], [scrubbed])
    assert {leak.label for leak in score.leaks} == leaked
    assert score.recall == pytest.approx(1 - len(leaked) / 3)


def test_token_also_outside_identifiers_may_remain_as_often() -> None:
    text = "Mr Price paid the price."
    gold = GoldNote(text, (GoldSpan(3, 8, "PERSON"),))
    assert score_all([gold], ["Mr [PERSON] paid the price."]).recall == 1.0
    assert score_all([gold], ["Mr Price paid the price."]).recall == 0.0


def test_keep_rate_counts_each_phrase_occurrence() -> None:
    gold = GoldNote("Hb 121, CRP 8. Hb 121", (), ("Hb 121", "CRP 8", "Hb 121"))
    score = score_all([gold], ["Hb 121, [PERSON]. Hb 121"])
    assert (score.keep_kept, score.keep_total) == (2, 3)


def test_raw_identifiers_of_any_row_are_failures() -> None:
    index = RawIdentifierIndex(["9434765919"], ["Ruth Kay"])
    assert index.nhs_leaks("no 943 476 5919 here") == 1
    assert index.nhs_leaks("no [NHS_NUMBER] here") == 0
    assert index.name_leaks("KAY, Ruth seen") == 1
    assert index.name_leaks("ruth kay seen") == 1
    assert index.name_leaks("Ruth [PERSON] seen") == 0
    score = score_all(
        [GoldNote("x", ()), GoldNote("y", ())],
        ["x", "mentions 9434765919 and Ruth Kay"],
        nhs_numbers=["9434765919"],
        names=["Ruth Kay"],
    )
    assert (score.raw_nhs_leaks, score.raw_name_leaks) == (1, 1)


def test_per_label_recall() -> None:
    score = score_all([GOLD], ["Dr Kate Barrett (GP at [ORGANISATION]) called [PHONE]."])
    assert score.recall_by_label() == {"ORGANISATION": 1.0, "PERSON": 0.0, "PHONE": 1.0}


def test_non_identifier_words_kept_counts_words_outside_spans() -> None:
    # Outside the spans: Dr, GP, at, called, Hb -> 5 words (digits and 1-letter ignored).
    score = score_all([GOLD], ["Dr [PERSON] (GP at [ORGANISATION]) called [PHONE]. Hb 121."])
    assert (score.words_kept, score.words_total) == (5, 5)
    assert score.words_kept_rate == 1.0


def test_over_scrubbing_lowers_words_kept() -> None:
    score = score_all([GOLD], ["[PERSON] [PERSON] (GP at [ORGANISATION]) [PHONE]. Hb 121."])
    assert (score.words_kept, score.words_total) == (3, 5)
    assert score.dropped_words == {"dr": 1, "called": 1}


def test_words_kept_is_multiset_and_case_insensitive() -> None:
    gold = GoldNote("will review, will call Will", (GoldSpan(23, 27, "PERSON"),))
    # Outside the span: will x2, review, call. One "will" dropped; extra copies of a word
    # never count beyond how often it occurs outside spans.
    dropped_one = score_all([gold], ["WILL review, [X] call [PERSON]"])
    assert (dropped_one.words_kept, dropped_one.words_total) == (3, 4)
    assert score_all([gold], ["review, call Will Will Will"]).words_kept == 4


def test_tags_are_not_words() -> None:
    gold = GoldNote("seen today", ())
    score = score_all([gold], ["[PERSON] seen <DATE>"])
    assert (score.words_kept, score.words_total) == (1, 2)
