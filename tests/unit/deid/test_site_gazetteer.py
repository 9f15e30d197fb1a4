"""Site gazetteers in a dataset policy: validated, hashed, and used by the scrubber."""

from __future__ import annotations

from typing import Any

import pytest

from fivesafes.config import DEFAULT_SPACY_MODEL
from fivesafes.deid.allowlist import AllowList
from fivesafes.deid.plan import RowPlan
from fivesafes.deid.policy import parse_policy
from fivesafes.deid.recognizers import build_recognizers
from fivesafes.errors import PolicyError
from fivesafes.keys.store import InMemoryKeyStore


def policy(**extra: Any) -> dict[str, Any]:
    return {
        "dataset": "site",
        "version": 1,
        "columns": {
            "nhs_number": {"type": "nhs_number", "role": "patient_id"},
            "note": {"type": "string", "role": "free_text"},
        },
        **extra,
    }


def test_entries_are_part_of_the_hash_and_absent_keys_are_not() -> None:
    plain = parse_policy(policy())
    empty = parse_policy(policy(free_text_places=[], free_text_organisations=[]))
    listed = parse_policy(policy(free_text_places=["Wrabness"]))
    assert plain.content_hash == empty.content_hash
    assert listed.content_hash != plain.content_hash


@pytest.mark.parametrize("entry", ["", "ab", "123 45"])
def test_an_unusable_entry_is_refused_naming_the_key(entry: str) -> None:
    with pytest.raises(PolicyError, match="free_text_places"):
        parse_policy(policy(free_text_places=["Wrabness", entry]))


def test_the_plan_hands_the_entries_to_the_scrubber() -> None:
    parsed = parse_policy(
        policy(free_text_places=["Wrabness"], free_text_organisations=["Oakwood  Surgery"])
    )
    plan = RowPlan(parsed, ["nhs_number", "note"], InMemoryKeyStore.generate())
    config = plan.scrubber_config(DEFAULT_SPACY_MODEL)
    assert config is not None
    assert config.extra_places == ("Wrabness",)
    assert config.extra_organisations == ("Oakwood Surgery",)


def found(text: str, places: tuple[str, ...] = (), orgs: tuple[str, ...] = ()) -> set[str]:
    recognizers = build_recognizers(AllowList(), (), places, orgs)
    return {
        text[r.start : r.end]
        for rec in recognizers
        for r in rec.analyze(text, None, None)
        if r.score >= 0.4 and r.entity_type in {"LOCATION", "ORGANISATION"}
    }


def test_site_entries_are_found_in_any_case() -> None:
    text = "visited Qwertbury market; carers from TENDRING CARE HOME and oakwood surgery"
    assert "Qwertbury" not in found(text)
    hits = found(text, ("Qwertbury",), ("Tendring Care Home", "Oakwood Surgery"))
    assert {"Qwertbury", "TENDRING CARE HOME", "oakwood surgery"} <= hits
