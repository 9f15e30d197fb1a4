"""UK recognisers for the free-text scrubber, one per module, Presidio style.

Each declares its patterns and context words as class constants and validates matches
(checksums, plausible ranges) in ``validate_result``. :func:`build_recognizers` returns
the set the scrubber registers with Presidio's ``AnalyzerEngine``.
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from fivesafes.deid.allowlist import AllowList
from fivesafes.deid.recognizers.address_block import AddressBlockRecognizer
from fivesafes.deid.recognizers.cued_name import CuedNameRecognizer
from fivesafes.deid.recognizers.email import EmailRecognizer, UrlRecognizer
from fivesafes.deid.recognizers.gazetteer import GazetteerRecognizer
from fivesafes.deid.recognizers.hospital_number import HospitalNumberRecognizer
from fivesafes.deid.recognizers.long_number import LongNumberRecognizer
from fivesafes.deid.recognizers.nhs_number import NhsNumberRecognizer
from fivesafes.deid.recognizers.ni_number import NiNumberRecognizer
from fivesafes.deid.recognizers.organisation import (
    OrganisationRecognizer,
    SiteOrganisationRecognizer,
)
from fivesafes.deid.recognizers.reference_number import ReferenceNumberRecognizer
from fivesafes.deid.recognizers.street_address import StreetAddressRecognizer
from fivesafes.deid.recognizers.surname_first import SurnameFirstRecognizer
from fivesafes.deid.recognizers.titled_name import TitledNameRecognizer
from fivesafes.deid.recognizers.uk_date import UkDateRecognizer
from fivesafes.deid.recognizers.uk_phone import UkPhoneRecognizer
from fivesafes.deid.recognizers.uk_postcode import UkPostcodeRecognizer
from fivesafes.deid.recognizers.uncued_name import UncuedNameRecognizer

__all__ = [
    "AddressBlockRecognizer",
    "CuedNameRecognizer",
    "EmailRecognizer",
    "GazetteerRecognizer",
    "HospitalNumberRecognizer",
    "LongNumberRecognizer",
    "NhsNumberRecognizer",
    "NiNumberRecognizer",
    "OrganisationRecognizer",
    "ReferenceNumberRecognizer",
    "SiteOrganisationRecognizer",
    "StreetAddressRecognizer",
    "SurnameFirstRecognizer",
    "TitledNameRecognizer",
    "UkDateRecognizer",
    "UkPhoneRecognizer",
    "UkPostcodeRecognizer",
    "UncuedNameRecognizer",
    "UrlRecognizer",
    "build_recognizers",
]


def build_recognizers(
    allow_list: AllowList,
    hospital_number_patterns: tuple[str, ...] = (),
    extra_places: tuple[str, ...] = (),
    extra_organisations: tuple[str, ...] = (),
) -> list[EntityRecognizer]:
    """Every pattern and cue recogniser the scrubber uses (NER is added by the scrubber).

    ``extra_places`` and ``extra_organisations`` are the site's gazetteer from the dataset
    policy: places join the shipped place list (same case and cue rules); organisations
    are matched as written, in any case, by Presidio's deny-list recogniser.
    """
    recognizers: list[EntityRecognizer] = [
        NhsNumberRecognizer(),
        NiNumberRecognizer(),
        UkPostcodeRecognizer(),
        UkPhoneRecognizer(),
        UkDateRecognizer(),
        EmailRecognizer(),
        UrlRecognizer(),
        HospitalNumberRecognizer(hospital_number_patterns),
        LongNumberRecognizer(),
        ReferenceNumberRecognizer(),
        StreetAddressRecognizer(),
        AddressBlockRecognizer(),
        TitledNameRecognizer(allow_list),
        CuedNameRecognizer(allow_list),
        SurnameFirstRecognizer(allow_list),
        UncuedNameRecognizer(allow_list),
        GazetteerRecognizer(allow_list, extra_places=frozenset(extra_places)),
        OrganisationRecognizer(),
    ]
    if extra_organisations:
        recognizers.append(SiteOrganisationRecognizer(extra_organisations))
    return recognizers
