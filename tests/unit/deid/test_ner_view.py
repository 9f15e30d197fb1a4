"""What NER reads: same length as the note (offsets hold), letters where they were."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fivesafes.deid.nlp import ner_view


def test_numbers_and_line_breaks_are_blanked() -> None:
    text = "DOB 14/03/1961\nNHS 943 476 5919, amoxicillin 500mg TDS"
    assert ner_view(text) == "DOB           " + " NHS               amoxicillin 500mg TDS"


@given(st.text(alphabet=st.sampled_from("ab AB12/.:-\n\t(),é"), max_size=200))
def test_offsets_and_letters_are_kept(text: str) -> None:
    view = ner_view(text)
    assert len(view) == len(text)
    for original, seen in zip(text, view, strict=True):
        if original.isalpha():
            assert seen == original
        else:
            assert seen in {original, " "}
