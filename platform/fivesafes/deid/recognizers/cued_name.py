"""Third parties named after a relationship or role: "daughter Natalie", "seen by Aisha Khan"."""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import RecognizerResult

from fivesafes.deid.allowlist import AllowList, vocabulary
from fivesafes.deid.recognizers.base import UkLocalRecognizer, make_result
from fivesafes.deid.recognizers.names import NAME, trim_name

# A name right after any of these words is a person (relatives, staff, "patient", "Dear").
STRONG_CUES = vocabulary(
    """
    wife husband partner spouse fiance fiancee fiancé fiancée boyfriend girlfriend son
    daughter mother mum mom father dad brother sister sibling twin grandson granddaughter
    grandmother grandfather grandma grandad granddad grandpa nan nana gran granny stepson
    stepdaughter stepmother stepfather step-son step-daughter step-mother step-father
    son-in-law daughter-in-law mother-in-law father-in-law brother-in-law sister-in-law
    aunt aunty auntie uncle niece nephew cousin friend neighbour neighbor lodger carer
    guardian godmother godfather kin nok consultant registrar spr sho fy1 fy2 ct1 ct2 st1
    st2 st3 st4 st5 st6 st7 gp nurse cns matron physio physiotherapist ot salt dietitian
    dietician pharmacist cpn midwife hca psychologist psychiatrist surgeon anaesthetist
    paramedic advocate solicitor interpreter chaplain therapist counsellor coordinator
    co-ordinator d/w c/o cc signed dictated called named aka nee née patient pt name dear
    informed contacted telephoned phoned rang visitor worker
    sn ssn rn rgn rmn rnld en hca hcsw hcas cons reg odp anp acp ap pa ota scrub crew pc
    dc ds sgt insp inspector officer constable manager keyworker key-worker sw hv dn
    anaesthetist anaesthetics midwife sonographer radiographer technician porter clerk
    receptionist secretary locum fy3 ct3 sas staff-grade lead cnm cnc nok np nurse-in-charge
    nic cm rm hcp podiatrist optometrist dentist orthoptist pharmacy-technician
    ambulance-technician emt tech driver husband's wife's son's daughter's mum's dad's
    reviewer requester referrer author by: cn nights assistant
    """
)
# Relationship words as a regex alternation (for "Kemi (sister)" in uncued_name).
RELATION_WORDS = (
    r"wife|husband|partner|spouse|son|daughter|mother|mum|father|dad|brother|sister|sibling"
    r"|grandson|granddaughter|grandmother|grandfather|grandma|grandad|aunt|auntie|uncle"
    r"|niece|nephew|cousin|friend|neighbour|carer|guardian|next\s+of\s+kin|nok|partner"
    r"|son-in-law|daughter-in-law|stepson|stepdaughter|stepmother|stepfather"
)
# A preposition names someone only after a verb that takes a person ("seen by"), or
# before a full (two-word) name or a word that is not English: "with Natalie Price",
# "with Oluwadamilare", but not "to Ward" or "from Leeds".
WEAK_CUES = vocabulary("with to by and from per for via of as w")
VERBS_BEFORE_WEAK = vocabulary(
    """
    seen reviewed assessed examined discussed referred spoke spoken speaking letter
    dictated accompanied visited escorted attended known care next sent copied written
    requested reported verified authorised authorized checked witnessed administered
    prescribed performed handed told explained updated
    """
)
# Cue words keep their digits ("FY2", "ST3"); a name ends at a word boundary, so the
# letters of "FY2" are never read as a name after "by".
_CUE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9/\-éè]*")
_AFTER_CUE = re.compile(
    r"(?:['’]s)?\s*(?:[:,(\-–]\s*|\s+(?:is|was|called|named)\s+)?(?P<id>" + NAME + r")(?!\w)"
)


class CuedNameRecognizer(UkLocalRecognizer):
    """Capitalised words right after a relationship, role or action cue are a name.

    Relatives and staff are identifiers too, and NER misses names it has not seen in news
    text. Words are scanned once and looked up in the cue sets (a regex alternation of a
    hundred cue words cost 150 us a note); the name must start with a capital and is
    trimmed to name-like words, so "GP at", "son Is" or "seen by Cardiology" never match.
    """

    ENTITY = "PERSON"
    ENTITIES = (ENTITY,)
    CONTEXT: ClassVar[list[str]] = sorted(STRONG_CUES)
    STRONG_SCORE = 0.75
    WEAK_SCORE = 0.5

    def __init__(self, allow_list: AllowList) -> None:
        self.allow_list = allow_list
        super().__init__(context=self.CONTEXT)

    def find(self, text: str) -> list[RecognizerResult]:
        """Names after cue words, trimmed to their name-like words."""
        strong: list[RecognizerResult] = []
        weak: list[RecognizerResult] = []
        previous = ""
        for word in _CUE_WORD.finditer(text):
            cue = word.group().lower()
            is_strong = cue in STRONG_CUES or (cue in WEAK_CUES and previous in VERBS_BEFORE_WEAK)
            previous = cue
            if not is_strong and cue not in WEAK_CUES:
                continue
            match = _AFTER_CUE.match(text, word.end())
            if match is None:
                continue
            start, end = match.span("id")
            target = strong if is_strong else weak
            score = self.STRONG_SCORE if is_strong else self.WEAK_SCORE
            target.append(make_result(self.ENTITY, start, end, score, self._metadata))
        found = trim_name(strong, text, self.allow_list)
        found += [
            r
            for r in trim_name(weak, text, self.allow_list)
            if len(words := text[r.start : r.end].split()) >= 2
            or not self.allow_list.is_known_word(words[0])
        ]
        return found
