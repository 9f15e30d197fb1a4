"""Named organisations that locate a patient: practices, surgeries, hospitals, schools."""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult

from fivesafes.deid.allowlist import vocabulary
from fivesafes.deid.gazetteers import load_gazetteers
from fivesafes.deid.recognizers.base import UkPatternRecognizer, make_result
from fivesafes.deid.recognizers.names import LETTER, UPPER
from fivesafes.deid.service_words import EDGE_WORDS, GENERIC_SERVICE_WORDS

ORG_SUFFIX = (
    r"(?:Medical\s+Practice|Medical\s+Cent(?:re|er)|Health\s+Cent(?:re|er)|Surgery|Practice"
    r"|Group\s+Practice|Family\s+Practice|Hospital|Infirmary|Clinic|Hospice|Pharmacy|Chemists?"
    r"|Care\s+Home|Nursing\s+Home|Residential\s+Home|Rest\s+Home|(?:NHS\s+)?(?:Foundation\s+)?Trust"
    r"|Partnership|Primary\s+Care\s+Network|PCN|School|Academy|College|University|Nursery"
    r"|Ltd|Limited|plc|LLP|Dental\s+Practice|Opticians?|(?:Borough|County|City|District|Parish|Town)"
    r"\s+Council|Council|Housing\s+Association|Housing|Association|Society|Foundation|Charity"
    r"|Advocacy|Project|(?:Day|Children's|Childrens|Community|Family|Leisure|Sports|Resource)"
    r"\s+Cent(?:re|er)|Church|Chapel|Mosque|Temple|Gurdwara|Synagogue|Pre-?school|Playgroup"
    r"|Primary|Infants|Juniors|(?:High|Grammar|Secondary|Primary|Junior|Infant|Special)\s+School"
    r"|Sixth\s+Form|UK|Aid|Advice|Action|Cymru|Care\s+Services|Homecare|Home\s+Care|Care"
    r"|Lodge|Manor|Solicitors|Associates|Partners|Pharmacies|Laboratories|Services|Team|Support"
    r"|Funeralcare|Funeral\s+Directors?|Hands|First|Point)"
)
_ORG_WORD = rf"[{UPPER}][{LETTER}'’&\-]*"
# Words that describe an organisation without naming it: "General Hospital" alone is not
# identifying; "Colchester General Hospital" is.
_GENERIC = vocabulary(
    """
the a an at to from in of general royal university teaching district county community
medical health nhs foundation trust mental children's women's eye dental city central
national private local primary care family group new old saint st hospital practice
surgery centre center clinic and & services service adult adults social team support uk aid
advice action project housing association society council lodge manor care homecare partners
associates school primary secondary high infants juniors nursery college academy
    """
)
# An employer after a job: "chef at Morrisons", "ex-postman at DHL", "porter for Tesco".
# Jobs are told by their endings (-er, -or, -ist, -man, -ian) or a few names; the employer
# must hold a word that is no English word (or an acronym), so "later at Home" stays.
_EMPLOYER = re.compile(
    rf"\b(?:at|for)[ \t]+(?:the[ \t]+)?(?P<id>{_ORG_WORD}(?:[ \t]+{_ORG_WORD}){{0,3}})"
)
# The job word just before "at"/"for" (looked for only there: a pattern that starts at
# every word costs a tenth of a millisecond a note).
_JOB_BEFORE = re.compile(
    r"(?i:\b(?P<job>(?:ex-)?[a-z]*(?:er|or|ist|man|woman|ian|chef|cook|clerk|nurse|cashier"
    r"|carer|guard|hand|staff|temp|intern|apprentice|trainee)s?))[ \t]+$"
)
_NOT_JOBS = vocabulary(
    """
    later after over under never ever other either neither rather further earlier former
    together whether water sooner longer better lower upper inner outer order prior
    anterior posterior superior inferior major minor error door floor for or per her
    """
)
_LEADING_NOISE = vocabulary(
    """
the at to from in attended seen admitted discharged transferred referred registered with
via by and of for gp
    """
)


class OrganisationRecognizer(UkPatternRecognizer):
    """One to four capitalised words followed by an organisation word.

    Leading sentence words ("Attended", "The") are trimmed; a match made only of generic
    words ("General Hospital") is dropped because it identifies nobody.
    """

    ENTITY = "ORGANISATION"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "GP partnership",
            rf"\b(?:Drs?\.?\s+)?[{UPPER}][{LETTER}'’\-]+(?:\s*(?:,|&|and)\s*(?:Drs?\.?\s+)?[{UPPER}][{LETTER}'’\-]+)*"
            r"\s+(?:and|&)\s+(?:Partners|Colleagues|Associates)\b",
            0.85,
        ),
        Pattern(
            "employer, school or service after a cue",
            r"(?i:\b(?:works|worked|working|employed|employment|employer|job|volunteers?|volunteering"
            r"|placement|studies|studying|student|pupil|attends|attending|enrolled|lives|living|resident"
            r"|placed|registered|referred|referral|re-referred|signposted|carers?|care|support|package"
            r"|provided|supplied|delivered|cleaner|operative|builder|nurse|teacher|worker|assistant"
            r"|driver|manager|labourer|engineer|retired|volunteer|member|help|helped|meals)"
            r"(?:\s+(?:as\s+an?\s+[a-z]+(?:\s+[a-z]+)?|part[\s\-]time|full[\s\-]time|daily|weekly))?"
            r"\s+(?:at|for|by|with|in|is|from|to|of)\s+(?:the\s+)?"
            r"|\b(?:funeral\s+director|undertakers?|care\s+agency|agency|provider|employer|school"
            r"|nursery|college|charity|advocate|advocacy|church|place\s+of\s+death)\s*:\s*)"
            rf"(?P<id>{_ORG_WORD}(?:[ \t]+(?:(?:&|and|of|on|in)[ \t]+)?{_ORG_WORD}){{0,4}})",
            0.7,
        ),
        # "at Addenbrooke's", "from Sainsbury's", "at St Thomas'": a business or hospital
        # known by its founder's name (eponymous diseases are kept by the allow-list).
        Pattern(
            "possessive name after at/from",
            rf"\b(?:at|from|to)[ \t]+(?P<id>(?:St\.?[ \t]+)?[{UPPER}][{LETTER}\-]+"
            rf"(?:['’]s|s['’]))(?![{LETTER}])",
            0.7,
        ),
        Pattern(
            "Name + organisation word",
            rf"\b(?:[{UPPER}][{LETTER}'’\-]*\.?[ \t]+|(?:&|and|of|on)[ \t]+){{1,5}}{ORG_SUFFIX}\b",
            0.8,
        ),
    ]
    _TOKEN = re.compile(r"\S+")

    def __init__(self) -> None:
        super().__init__()
        # Service words that are nobody's name ("Specialist", "Palliative"); those that are
        # also surnames ("Ward", "Day") can name a practice and are left out.
        names = load_gazetteers()
        self._english = names.common_words
        self._generic = _GENERIC | (
            (GENERIC_SERVICE_WORDS | EDGE_WORDS) - names.surnames - names.first_names
        )

    def refine_matches(self, text: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
        """Organisation names with leading noise trimmed and generic-only names dropped."""
        kept: list[RecognizerResult] = []
        for result in found:
            tokens = [m.span() for m in self._TOKEN.finditer(text, result.start, result.end)]
            while tokens and text[tokens[0][0] : tokens[0][1]].lower() in _LEADING_NOISE:
                tokens.pop(0)
            words = [text[s:e].lower() for s, e in tokens]
            if not words or all(w in self._generic for w in words):
                continue
            result.start = tokens[0][0]
            kept.append(result)
        kept.extend(self._employers(text))
        return kept

    def _employers(self, text: str) -> list[RecognizerResult]:
        found: list[RecognizerResult] = []
        for match in _EMPLOYER.finditer(text):
            job = _JOB_BEFORE.search(text, max(0, match.start() - 40), match.start())
            if job is None or job["job"].lower().removeprefix("ex-") in _NOT_JOBS:
                continue
            words = match["id"].split()
            if any(
                (w.isupper() and len(w) >= 2) or w.lower().strip("'’") not in self._english
                for w in words
            ) and not all(w.lower() in self._generic for w in words):
                found.append(
                    make_result(
                        self.ENTITY, match.start("id"), match.end("id"), 0.7, self._metadata
                    )
                )
        return found


class SiteOrganisationRecognizer(PatternRecognizer):
    """The site's own practices, care homes and schools, as its policy lists them.

    Presidio's deny-list recogniser (whole words, any case); strong, because a governance
    officer declared each entry.
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(
            supported_entity="ORGANISATION",
            deny_list=sorted(names, key=len, reverse=True),
            deny_list_score=0.9,
            supported_language="en",
            name="SiteOrganisationRecognizer",
        )
