"""Clinical content that must survive scrubbing, and words that are never names.

A small statistical NER model reads "Hb 121" as a person, "TDS" and "ECG" as
organisations and "Parkinson's" as a surname. Those detections are weak (NER only), so
they are checked against this allow-list before anything is removed: eponymous
conditions, drugs with doses and frequencies, lab tests with values, and the common
abbreviations of UK notes. Strong detections (patterns, checksums, the patient's own
identifiers, cue words such as "Dr") are never overruled by it: privacy wins a tie.

The lists are general clinical vocabulary, not fitted to any data set; sites extend them
with ``ScrubberConfig.extra_allow_terms``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def vocabulary(block: str) -> frozenset[str]:
    """A word list written as a whitespace-separated block: compact for reviewers to read."""
    return frozenset(block.split())


ABBREVIATIONS = vocabulary(
    """
a&e ae ed ecg ekg eeg emg echo ct cta ctpa mri mra uss cxr axr xr pet spect dexa gp gps
nhs nhsp dob nok ni icu itu hdu ccu amu sau mau cdu opd ot pt physio salt mdt bed obs
news news2 gcs avpu bp hr rr sats spo2 temp bm cbg bmi dnr dnacpr resus tta ttos edd los
poa nbm iv im sc sl po pr ng ngt peg rig picc cvc copd ckd aki uti lrti urti chf ccf hf
ihd mi nstemi stemi acs af aflutter svt vt vf pe dvt vte tia cva sah sdh gord ibs ibd uc
dka hhs t1dm t2dm dm htn osa ards hiv hcv hbv tb mrsa cdiff covid covid-19 sars ra sle
oa ms mnd cjd adhd asd ptsd ocd bpad eupd ca cancer nhl dlbcl cll aml all cml mm mgus
mane nocte od bd tds tid qds qid prn stat om on eod weekly mdu mg mcg microgram
micrograms g kg ml l mmol umol iu units unit mmhg bpm fbc ue u&e u&es lft lfts tft tfts
crp esr pct hb hgb hba1c wcc wbc plt plts neut lymph rbc mcv mch hct inr aptt pt fib na
k cl hco3 urea ur cr creat egfr alt ast alp ggt bili alb tp ck ldh trop troponin bnp
ntprobnp d-dimer ddimer lactate glucose chol ldl hdl trig tsh t3 t4 ft4 psa cea ca125
ca19-9 afp vitd b12 folate ferritin iron tsat mg2+ po4 ca2+ abg vbg ph pco2 po2 be mc&s
msu csu ecg12 pefr fev1 fvc mr mrs ms miss dr prof sr
gad gad-7 phq phq-9 epds cfs audit audit-c moca mmse amts 4at ace ace-iii hads bai bdi
cha2ds2-vasc has-bled curb-65 qsofa sofa must mews pews ews
twoc ivab ivabx abx ivi ivf sob soboe nad tto ttos dnacpr respect lpa ldp ppi nsaid nsaids
ssri ssris ace-i acei arb ccb doac doacs lmwh nbm npo kub ctkub cap ct-cap ogd ercp mrcp
eus egd tote pmh hpc dh sh fh ros o/e oe imp pc hx dx rx tx ix mx sx fx bx obs mobs
sats resps bo pu pv pr bm bms hrs wr wri ward-round r/v f/u fu t/c tci ooh sdec ambu
ae a&e fbc u&e ue lft bone coag coags vbg abg cxr axr mri ctpa echo ecg holter ett
"""
)

# Eponyms: allowed in eponymous form ("Parkinson's", "Crohn's disease", "Down syndrome").
EPONYMS = vocabulary(
    """
addison alzheimer asperger barrett bartholin behcet bell buerger charcot colles conn
creutzfeldt crohn cushing dupuytren duchenne ehlers danlos epstein barr ewing fallot
gilbert graves guillain barre hashimoto hirschsprung hodgkin huntington kaposi kawasaki
klinefelter korsakoff legionnaires lyme marfan meniere munchausen osgood schlatter paget
parkinson perthes peyronie raynaud reiter reye sjogren sjögren stevens johnson still
sydenham takayasu tay sachs tourette turner wegener wernicke whipple willebrand wilms
wilson wolff white zollinger ellison down baker bowen brown sequard cheyne stokes
glasgow apgar gleason breslow child pugh wells framingham trendelenburg babinski romberg
lewy meniere ménière takotsubo rockwood colles bell graves hartmann whipple nissen billroth roux
barthel braden waterlow norton rockall blatchford clostridium hoffmann tinel phalen murphy
rovsing mcburney kernig brudzinski lachman thomas hawkins neer kocher pfannenstiel
seldinger hickman foley swan ganz korotkoff epley dix hallpike weber rinne snellen
ishihara lhermitte chvostek trousseau virchow sister mary joseph osler heberden bouchard
schober mallory weiss boerhaave zenker meckel hirschsprung alport fabry gaucher niemann
pick tay sachs hurler marfan noonan edwards patau angelman prader willi rett fragile
"""
)

DISEASE_WORDS = (
    r"(?:disease|syndrome|palsy|phenomenon|lymphoma|sarcoma|tumou?r|sign|test|score|scale"
    r"|manoeuvre|maneuver|fracture|cyst|ulcer|oesophagus|esophagus|disorder|dementia|chorea"
    r"|encephalopathy|thyroiditis|contracture|criteria|classification|grade|stage|reflex"
    r"|triad|law|procedure|operation|catheter|tube|position|breathing|body|bodies|cell|cells"
    r"|virus|infection|reaction|anomaly|aneurysm|hernia|node|nodes|duct|gland|frame|line"
    r"|colitis|arthritis|nephropathy|neuropathy|myopathy|anaemia|anemia|lymphoma|leukaemia|foot"
    r"|joint|arthropathy|neuroarthropathy|index|scale|frailty)"
)

COMMON_DRUGS = vocabulary(
    """
ventolin seretide symbicort fostair clenil spiriva oramorph zomorph oxynorm madopar sinemet
lantus novorapid humulin levemir tresiba eliquis xarelto pradaxa clexane augmentin tazocin
gaviscon adcal fultium ensure fortisip epipen calpol nurofen zimmer foley hickman venflon
klebsiella pseudomonas staphylococcus staph streptococcus strep enterococcus candida
clostridium clostridioides proteus enterobacter serratia acinetobacter listeria legionella
mycoplasma chlamydia neisseria haemophilus salmonella shigella campylobacter helicobacter
aspergillus coli aureus mrsa vre esbl cpe norovirus rotavirus influenza rsv
paracetamol ibuprofen naproxen diclofenac aspirin codeine morphine oxycodone tramadol
fentanyl buprenorphine amoxicillin co-amoxiclav flucloxacillin clarithromycin
doxycycline trimethoprim nitrofurantoin cefalexin ceftriaxone gentamicin vancomycin
metronidazole ciprofloxacin levofloxacin azithromycin erythromycin penicillin tazocin
meropenem metformin gliclazide insulin sitagliptin empagliflozin dapagliflozin ramipril
lisinopril perindopril amlodipine bisoprolol atenolol propranolol furosemide bumetanide
bendroflumethiazide indapamide spironolactone losartan candesartan atorvastatin
simvastatin rosuvastatin clopidogrel ticagrelor warfarin apixaban rivaroxaban edoxaban
dabigatran heparin enoxaparin dalteparin digoxin amiodarone levothyroxine carbimazole
prednisolone hydrocortisone dexamethasone omeprazole lansoprazole ranitidine sertraline
citalopram fluoxetine mirtazapine venlafaxine amitriptyline duloxetine quetiapine
olanzapine risperidone haloperidol aripiprazole clozapine lithium sodium valproate
lamotrigine levetiracetam carbamazepine phenytoin gabapentin pregabalin diazepam
lorazepam midazolam zopiclone melatonin salbutamol ipratropium tiotropium beclometasone
budesonide fluticasone montelukast theophylline allopurinol colchicine methotrexate
hydroxychloroquine sulfasalazine adalimumab infliximab alendronate calcium vitamin
colecalciferol ferrous folic thiamine senna lactulose movicol laxido docusate loperamide
ondansetron metoclopramide cyclizine domperidone buscopan tamsulosin finasteride
oxybutynin donepezil memantine levodopa madopar sinemet co-careldopa ropinirole
pramipexole
"""
)

# Capitalised words that start sentences or name services, never a person.
NOT_NAMES = vocabulary(
    """
therapy therapies occupational speech language nursing tel tele telephone mob mobile fax
email e-mail contact phone address postcode dob nhs hosp hospital ref
the a an and or but he she they it we i you his her their its our my your this that
these those there here then when while after before since until on in at to from for
with by of as if so no not yes pt patient patients mother father wife husband son
daughter brother sister partner family today yesterday tomorrow tonight morning
afternoon evening night monday tuesday wednesday thursday friday saturday sunday january
february march july september october november december plan impression diagnosis
history examination exam assessment review reviewed seen discussed referred referral
letter admitted discharged discharge presented presenting complaint medication
medications allergies allergy nkda bloods blood results social background consultant
registrar nurse doctor team clinic hospital surgery practice centre center department
unit service services cardiology oncology haematology renal respiratory neurology
psychiatry gastroenterology endocrinology diabetes rheumatology dermatology urology
orthopaedics paediatrics obstetrics gynaecology radiology pathology microbiology
physiotherapy pharmacy dietetics palliative emergency acute medical surgical general
intensive care community district mental health adult adults child children older people
liaison crisis home treatment safeguarding outpatient inpatient primary secondary
tertiary also would could should might must can has had have was were is are be been
being did does do please kind regards dear sincerely yours signed dictated typed cc
"""
)


_DISEASE_AFTER = re.compile(r"[\s\-]+" + DISEASE_WORDS + r"\b", re.IGNORECASE)
_DISEASE_WORD = re.compile(DISEASE_WORDS, re.IGNORECASE)
_POSSESSIVE_AFTER = re.compile(r"['’]s\b|s['’]|['’](?=[\s\-])")
# After a drug name: a dose ("500mg", "2.5 mg", "10 units").
_DOSE_AFTER = re.compile(
    r"\s+\d+(?:\.\d+)?\s?(?:mg|mcg|micrograms?|g|ml|units?|iu|mmol|nanograms?|%)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_][\w&'’\-]*")
_SCORE_AFTER = re.compile(r"\s*(?:score|scale|index)?\s*[:=]?\s*\d")
_TITLE_BEFORE = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)\.?\s*\Z")
_ACRONYM_PLURAL = re.compile(r"[A-Z0-9]{2,}(?:s|es)?$")  # "ADLs", "LFTs", "NSAIDs"


class AllowList:
    """Decides whether a weak detection (NER, or a name cue) is really clinical content.

    Checks are local to the detection, so they cost microseconds per note: every word is
    allow-listed vocabulary or a number ("Hb 121", "TDS"); it is an eponym written as one
    ("Parkinson's", "Crohn's disease", "Down syndrome"), or any capitalised possessive
    before a disease word ("Still's disease"); or it is a word followed by a dose
    ("Madopar 125mg").
    """

    def __init__(
        self, extra_terms: Iterable[str] = (), english_words: frozenset[str] = frozenset()
    ) -> None:
        extra = {t.strip().lower() for t in extra_terms if t.strip()}
        self.english = english_words
        self.terms = ABBREVIATIONS | COMMON_DRUGS | frozenset(extra)
        self.not_names = NOT_NAMES | self.terms
        self.eponyms = EPONYMS

    def protects(self, text: str, start: int, end: int) -> bool:
        """True when ``text[start:end]`` is clinical content, not an identifier."""
        span = text[start:end]
        words = _WORD.findall(span)
        if not words or self.is_allowed_text(span):
            return True
        if _DOSE_AFTER.match(text, end):
            return True  # a drug: "Madopar 125mg"
        after = _POSSESSIVE_AFTER.match(text, end)
        possessive = after is not None or any(w.endswith(("'s", "’s", "s'", "s’")) for w in words)
        disease_follows = _DISEASE_AFTER.match(text, after.end() if after else end) is not None
        eponymous = all(
            b in self.eponyms
            or b in self.terms
            or _DISEASE_WORD.fullmatch(b)
            or all(p in self.eponyms for p in b.split("-"))
            for b in (_strip_possessive(w.lower()) for w in words)
        )
        if eponymous and (possessive or disease_follows):
            return True  # "Parkinson's", "Crohn's disease", "Down syndrome"
        if (
            len(words) == 1
            and words[0].count("-") >= 1
            and all(p in self.eponyms for p in words[0].lower().split("-"))
        ):
            return True  # "Wolff-Parkinson-White", "Guillain-Barre"
        if (
            eponymous
            and _SCORE_AFTER.match(text, end)
            and not _TITLE_BEFORE.search(text, max(0, start - 12), start)
        ):
            return True  # a score named after its author: "Braden 14", "Wells 4"
        # Any single capitalised possessive before a disease word: "Still's disease".
        return len(words) == 1 and possessive and disease_follows

    def is_allowed_text(self, span_text: str) -> bool:
        """True when every word of ``span_text`` is allow-listed vocabulary or a number."""
        words = _WORD.findall(span_text)
        if not words:
            return True
        return all(w.isdigit() or _strip_possessive(w.lower()) in self.terms for w in words)

    def is_known_word(self, word: str) -> bool:
        """True for English words and clinical vocabulary ("Mobility", "Bloods", "Sats").

        Unknown capitalised words are probably names; with no dictionary loaded every
        word counts as known, which switches the unknown-word heuristics off.
        """
        if not self.english or _ACRONYM_PLURAL.match(word):
            return True
        lower = _strip_possessive(word.lower())
        if lower in self.english or lower in self.not_names:
            return True
        for suffix, replacement in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ing", "")):
            if lower.endswith(suffix) and lower[: -len(suffix)] + replacement in self.english:
                return True
        return False

    def is_not_name(self, word: str) -> bool:
        """True for capitalised words that are never a person's name (for cue matching)."""
        return _strip_possessive(word.lower()) in self.not_names or bool(
            len(word) > 2 and _ACRONYM_PLURAL.match(word) and word[-1] == "s"
        )


def _strip_possessive(word: str) -> str:
    for suffix in ("'s", "’s"):
        if word.endswith(suffix):
            return word[: -len(suffix)]
    if word.endswith(("s'", "s’")):
        return word[:-1]
    return word
