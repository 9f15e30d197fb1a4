"""Weak detections cut to what identifies: one line, no role or heading words at the edges.

spaCy's small model and the cue patterns read words around a name as part of it: "SN
Hassan", "Mother Anh", "PMH Meniere's", "DIAGNOSIS\\nLewy", "Bangor Community Mental
Health Team". Removing those words loses clinical content and hides the structure of the
note, without making anyone less identifiable. So every weak (NER or cue) detection is

1. split at line breaks: a name, a place or an organisation never runs across lines in
   clinical documents (headings, lists and address blocks put one item on each line);
2. trimmed at both ends of words that are never part of an identifier: roles and kinship
   words ("SN", "Mother", "Crew"), headings and abbreviations ("PMH", "DIAGNOSIS"),
   generic service words ("Community", "Team", "Department", "of"), titles and
   post-nominals ("MBChB", "GMC"); for a person also English words that are not names
   ("Falls", "Following", "Requested");
3. dropped when nothing identifying is left.

Strong detections (patterns with checksums or shapes, the patient's own identifiers) are
never refined: privacy wins a tie.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from fivesafes.deid.allowlist import AllowList, vocabulary
from fivesafes.deid.gazetteers import load_gazetteers
from fivesafes.deid.recognizers.cued_name import STRONG_CUES

_WORD = re.compile(r"[^\s,;:()\[\]/|]+")
_LINE = re.compile(r"[^\n]+")
# Words that describe a service rather than name one. At the edge of a person they are
# trimmed ("Hassan Dietitian"); an organisation made only of them ("Community Mental
# Health Team", "Department of Cardiology") identifies nobody and is dropped; inside a
# named one ("Aldeburgh Community Hospital") they stay, since the whole name locates.
GENERIC_SERVICE_WORDS = vocabulary(
    """
    the a an of and & for in at on to from with by via
    community mental health team teams care department dept unit ward wards service
    services clinic clinics centre center specialist palliative acute general adult adults
    child children older people liaison crisis home treatment safeguarding outpatients
    outpatient inpatient inpatients direct line level floor building block wing main site
    suite office desk hub programme pathway network partnership primary secondary tertiary
    nhs trust foundation royal university hospital hospitals surgery practice medical
    infirmary district county council borough city social support advice national local
    regional integrated emergency urgent intensive high dependency day night cardiology
    oncology haematology renal respiratory neurology psychiatry gastroenterology
    endocrinology diabetes rheumatology dermatology urology orthopaedics paediatrics
    obstetrics gynaecology radiology pathology microbiology physiotherapy pharmacy
    dietetics surgical medicine elderly frailty stroke rehabilitation rehab memory
    """
)
# Words at the edge of any weak detection that never identify: roles, kinship, titles,
# post-nominals, headings and note abbreviations.
EDGE_WORDS = vocabulary(
    """
    the a an of and & for in at on to from with by via re cc
    shift early late bank agency locum clerk secretary admin administrator manager lead
    senior junior
    deputy assistant associate head chief director coordinator co-ordinator practitioner
    worker officer therapist physiotherapist physiotherapy occupational dietitian
    dietetics pharmacist pharmacy nurse nurses nursing sister matron midwife midwifery
    health-visitor hv crew paramedic technician student consultant registrar doctor
    doctors professor colleague colleagues dear private confidential patient patients
    signed dictated typed verified reviewed requested seen discussed copy copies
    mbchb mbbs mb bch bao bchir bm bs md mrcp mrcgp mrcs mrcpsych mrcog mrcpch mrcr frcs
    frcp frcpsych frca frcr frcog frcpath fracs ficm rgn rmn rn rnld rm rscn rsci bsc msc
    ba ma phd mphil dphil pgcert pgdip dip mcsp hcpc nmc gmc gphc pin reg spr sho fy fy1
    fy2 ct1 ct2 st1 st2 st3 st4 st5 st6 st7 cns anp acp hca ota odp sn ssn en ep mdt
    pmh hpc dh sh fh pc hx dx rx tx ix mx sx fx bx o/e oe imp plan diagnosis diagnoses
    investigations investigation results management summary history examination
    assessment impression procedure findings report comparison clinical details
    indication technique conclusion medications medication allergies follow up
    bay bays bed beds cubicle side room sr acc no ref mrn nhs dob d.o.b macmillan
    """
)


class SpanRefiner:
    """Cuts weak detections to their identifying core (see the module docstring)."""

    def __init__(self, allow_list: AllowList) -> None:
        self.allow_list = allow_list
        g = load_gazetteers()
        self.names = g.first_names | g.surnames
        self.common = g.common_words
        self.edge = EDGE_WORDS | STRONG_CUES
        self.generic = GENERIC_SERVICE_WORDS | self.edge

    def refine(self, text: str, start: int, end: int, label: str) -> Iterator[tuple[int, int]]:
        """The identifying pieces of ``text[start:end]``: one per line, edges trimmed."""
        if "\n" not in text[start:end]:
            piece = self._trim(text, start, end, label)
            if piece is not None:
                yield piece
            return
        for line in _LINE.finditer(text, start, end):
            piece = self._trim(text, line.start(), line.end(), label)
            if piece is not None:
                yield piece

    def _trim(self, text: str, start: int, end: int, label: str) -> tuple[int, int] | None:
        words = [m.span() for m in _WORD.finditer(text, start, end)]
        # A detection that stops inside a word ("HbA" of "HbA1c") did not find a name.
        if words and words[-1][1] < len(text) and text[words[-1][1]].isalnum():
            words.pop()
        if words and words[0][0] > 0 and text[words[0][0] - 1].isalnum():
            words.pop(0)
        while words and self._edge(text[words[0][0] : words[0][1]], label):
            words.pop(0)
        while words and self._edge(text[words[-1][0] : words[-1][1]], label):
            words.pop()
        if not words:
            return None
        if label == "PERSON" and all(len(text[s:e].strip(".")) <= 1 for s, e in words):
            return None  # initials alone ("S:", "D.O.B", "T2DM") name nobody
        if label != "PERSON" and all(_bare(text[s:e]) in self.generic for s, e in words):
            return None
        return words[0][0], words[-1][1]

    def _edge(self, word: str, label: str) -> bool:
        bare = _bare(word)
        if not bare or not any(c.isalpha() for c in bare):
            return label != "ADDRESS" or not any(c.isdigit() for c in bare)
        if label != "ADDRESS" and any(c.isdigit() for c in bare):
            return True  # names have no digits: "J44.1 - Slept", "Falls x3"
        if bare in self.edge or self.allow_list.is_allowed_text(bare):
            return True
        if label == "PERSON":
            # Service words and English words that are not names are no part of a person
            # ("Hassan Dietitian", "Falls", "Following").
            return bare in self.generic or (bare in self.common and bare not in self.names)
        return False


def _bare(word: str) -> str:
    bare = word.strip(".'’-").lower()
    return bare[:-2] if bare.endswith(("'s", "’s")) else bare
