"""The bench finds the corpus generator in the checkout and applies the held-out bars."""

from __future__ import annotations

from collections import Counter

from fivesafes.bench.deid_corpora import CorpusReport, build_corpus, load_generator
from fivesafes.bench.deid_scorer import DeidScore


def test_generator_loads_from_the_checkout_and_builds_engine_rows() -> None:
    module = load_generator()
    assert module is not None
    corpus = build_corpus(module, "tuning", module.TUNING_SEEDS, 4)
    assert len(corpus.rows) == len(corpus.golds) == 12
    assert set(corpus.rows[0]) == {
        "nhs_number",
        "patient_name",
        "date_of_birth",
        "postcode",
        "sex",
        "ethnicity",
        "admission_date",
        "diagnosis_code",
        "clinical_note",
    }
    assert corpus.rows[0]["clinical_note"] == corpus.golds[0].text


def _score(leaked: int, words: tuple[int, int]) -> DeidScore:
    return DeidScore(
        total=Counter({"PERSON": 100, "DATE": 100}),
        leaked=Counter({"PERSON": leaked}),
        keep_total=100,
        keep_kept=99,
        words_total=words[1],
        words_kept=words[0],
    )


def test_heldout_bars() -> None:
    good = CorpusReport("held-out", (101,), 10, 2, _score(0, (99, 100)), "engine", barred=True)
    good.plain_seconds, good.ours_seconds = 10.0, 1.0
    assert good.passed()
    worse = CorpusReport("held-out", (101,), 10, 2, _score(4, (97, 100)), "engine", barred=True)
    worse.plain_seconds, worse.ours_seconds = 10.0, 1.0
    failed = [text for text, ok in worse.bars() if not ok]
    assert len(failed) == 3  # recall 0.98, PERSON 0.96, words kept 0.97
    assert not worse.passed()
    tuning = CorpusReport("tuning", (1,), 10, 2, _score(4, (97, 100)), "engine")
    assert tuning.passed()  # no bars on tuning seeds
    assert "FAIL" in worse.render()
