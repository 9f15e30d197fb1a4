"""Street addresses: house number or flat + street name + street type, and "lives at" cues."""

from __future__ import annotations

from typing import ClassVar

from presidio_analyzer import Pattern

from fivesafes.deid.allowlist import vocabulary
from fivesafes.deid.recognizers.base import UkPatternRecognizer
from fivesafes.deid.recognizers.names import LETTER, UPPER

# Street types: Royal Mail's common thoroughfare words plus the USPS Publication 28
# suffixes (international addresses and synthetic data use them too).
STREET_TYPES = vocabulary(
    """
Road Rd Street St Lane Ln Avenue Ave Close Cl Drive Crescent Cres Way Ways Place Pl
Court Ct Courts Gardens Gdns Garden Grove Gr Terrace Terr Tce Square Sq Squares Mews Row
Walk Walks Hill Hills Rise Park Parks Green Greens View Views Vale Parade Pde Boulevard
Blvd Circus Esplanade Promenade Wharf Yard Wynd Brae Gate Gateway Croft Meadow Meadows
Field Fields End Chase Dale Heights Passage Path Approach Broadway Causeway Embankment
Quay Bank Side Hollow Copse Orchard Orchards Glade Grange Manor Cottages Cottage
Buildings House Lodge Farm Estate Trail Port Ports Vista Vistas Pine Pines Skyway Isle
Island Islands Point Points Light Lights Union Unions Freeway Ville Villages Village
Circle Circles Ford Fords Brook Brooks Pike Flat Flats Spring Springs Junction Crossing
Ridge Ridges Summit Valley Valleys Plaza Mall Mill Mills Motorway Highway Parkway Track
Trace Turnpike Well Wells Shoal Shoals Shore Shores Canyon Cape Station Stream Lake
Lakes Knoll Knolls Harbour Harbor Haven Forge Forest Falls Creek Cove Corner Corners
Common Commons Cliff Cliffs Center Centre Burg Bluff Bluffs Bottom Branch Bridge Bypass
Camp Crest Curve Dam Divide Ferry Fort Glen Glens Inlet Key Keys Landing Lock Locks Loop
Mount Mountain Neck Oval Overpass Pass Plain Plains Prairie Radial Ramp Ranch Rapid
Rapids Rest Route Run Spur Stravenue Throughway Tunnel Via Wall Walls Extension Estates
Club Expressway Underpass Viaduct Alley Arcade Annex Beach Bend Bottoms
"""
)
_TYPES = "|".join(sorted(STREET_TYPES, key=len, reverse=True))
# Strong UK types that name a street even without a house number ("Mill Lane").
_STRONG = "Road|Street|Lane|Avenue|Close|Crescent|Gardens|Terrace|Drive|Grove|Mews|Place|Square"

_CAP = rf"[{UPPER}][{LETTER}'’\-]*"
_UNIT = r"(?:Flat|Apartment|Apt|Unit|Studio|Suite|Room|Maisonette|Basement|Floor)\.?\s+\d+[A-Za-z]?"
_HOUSE = r"\d{1,4}[A-Za-z]?(?:\s*[\-–]\s*\d{1,4}[A-Za-z]?)?"
_POSTCODE_AHEAD = r"(?=,?\s+(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s?\d[A-Z]{2}\b)"
# ", Town[, County]" continues an address only when a postcode follows.
_TOWN = rf"(?:,\s*{_CAP}(?:\s+{_CAP}){{0,2}}){{1,2}}{_POSTCODE_AHEAD}"


class StreetAddressRecognizer(UkPatternRecognizer):
    """UK-style street addresses.

    Shapes, from strongest: "Flat 9, White Courts" (unit + capitalised words), "27 Molly
    Ways" (house number + words + street type), "Mill Lane" (words + strong street type),
    and whatever capitalised words follow "lives at" / "address:". The town is included
    when a postcode follows it.
    """

    ENTITY = "ADDRESS"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "unit + street",
            rf"\b{_UNIT},?\s+(?:{_HOUSE},?\s+)?{_CAP}(?:\s+{_CAP}){{0,3}}(?:{_TOWN})?",
            0.85,
        ),
        Pattern(
            "number + street + type",
            rf"(?<![\w/.])(?:{_HOUSE},?\s+)(?:{_CAP}\s+){{0,3}}(?:{_TYPES})\b\.?(?:{_TOWN})?",
            0.8,
        ),
        Pattern("street + strong type", rf"\b(?:{_CAP}\s+){{1,3}}(?:{_STRONG})\b(?:{_TOWN})?", 0.6),
        Pattern(
            "after 'lives at' / 'address'",
            rf"(?i:\b(?:lives|living|resides|residing|staying|stays|moved)\s+(?:at|to)|\baddress(?:\s+is)?\s*:?)"
            rf"\s+(?P<id>(?:{_HOUSE},?\s+|{_CAP},?\s+){{0,6}}(?:{_HOUSE}|{_CAP}))",
            0.7,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["lives", "address", "resides", "home"]
