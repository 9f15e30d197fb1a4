"""Clinical content that must survive scrubbing (gold keep phrases) and neutral filler.

Keep phrases are the things an over-eager scrubber removes: eponymous diseases (a
surname inside), drugs with doses, lab values and scores (numbers), bay and bed numbers,
medication-round times (look like times), ICD-10 and SNOMED codes (look like IDs) and
abbreviations in capitals (look like initials). Filler sentences contain words that are
also first names (will, hope, rose, mark) used as ordinary words: they must stay.
"""

from __future__ import annotations


def _c(text: str) -> tuple[str, ...]:
    return tuple(" ".join(item.split()) for item in text.split(";") if item.strip())


DISEASES = _c(
    """Parkinson's disease; Crohn's disease; Graves' disease; Alzheimer's dementia;
    Hodgkin lymphoma; Addison's disease; Cushing's syndrome; Bell's palsy;
    Barrett's oesophagus; Raynaud's phenomenon; Guillain-Barre syndrome; Sjogren's syndrome;
    Hashimoto's thyroiditis; Paget's disease; Huntington's disease; Down syndrome;
    Meniere's disease; Dupuytren's contracture; Charcot foot; Baker's cyst; Colles' fracture;
    Hartmann's procedure; Wernicke's encephalopathy; Korsakoff syndrome; Kawasaki disease;
    Lewy body dementia; Still's disease; Takotsubo cardiomyopathy; Wolff-Parkinson-White"""
)
DRUGS = _c(
    """amoxicillin 500mg TDS; Co-codamol 30/500 2 tabs QDS PRN; paracetamol 1g QDS;
    ramipril 2.5mg OD; bisoprolol 1.25mg OD; apixaban 5mg BD; metformin 500mg BD;
    atorvastatin 40mg ON; levothyroxine 75mcg OD; furosemide 40mg OM; omeprazole 20mg OD;
    sertraline 50mg OD; Oramorph 2.5-5mg 2-hourly PRN; enoxaparin 40mg SC OD;
    co-amoxiclav 625mg TDS; doxycycline 100mg OD; prednisolone 30mg OD; Adcal-D3 1 tab BD;
    Laxido 1 sachet BD; senna 15mg ON; insulin glargine 18 units ON;
    salbutamol 2 puffs PRN; Tazocin 4.5g TDS IV; Madopar 62.5mg QDS; edoxaban 60mg OD;
    nitrofurantoin 100mg MR BD; mirtazapine 15mg ON; Fortisip 1 bottle BD;
    haloperidol 0.5mg PRN; alendronic acid 70mg weekly"""
)
LABS = _c(
    """Hb 121; eGFR 45; K+ 5.2; Na+ 134; CRP 8; WCC 14.2; Plt 256; INR 2.4; HbA1c 58;
    troponin 14; lactate 2.1; Cr 112; Ur 9.8; ALT 34; TSH 0.3; D-dimer 0.9; Mg 0.62;
    BNP 450; Hb 98; CRP 187; K+ 3.1; eGFR 28; Na+ 128; Alb 29"""
)
SCORES = _c(
    """NEWS2 3; GCS 15/15; Waterlow 18; MUST 2; CFS 6; AMTS 8/10; 4AT 5; Braden 14;
    Wells 4; CURB-65 2; MMSE 22/30; qSOFA 1; PHQ-9 16; GAD-7 12; EPDS 14; Barthel 65;
    NEWS2 7; GCS 14/15; Waterlow 22; ABCD2 4; CHA2DS2-VASc 4; Rockwood 5"""
)
BEDS = _c("Bay 3 Bed 12; side room 4; Bay 2 Bed 6; bed 14; SR 2; Bay 5 Bed 31; cubicle 7")
ROUNDS = _c("22:00 round; 08:00 drug round; 14:00 round; 06:00 obs; 18:00 meds")
CODES = _c(
    """I21.9; J44.1; E11.9; N39.0; S72.0; F32.1; SNOMED 22298006; SNOMED 195967001;
    ICD-10 I63.9; C34.1; K57.3; R07.4; SNOMED 44054006; ICD-10 J18.9"""
)
ABBREVIATIONS = _c(
    "SOB; NAD; TTO; DNACPR; NBM; IVAB; TWOC; MSU; ReSPECT; LFTs; U&Es; CXR; ECG; AKI; COPD; "
    "CCF; T2DM; IHD; LRTI; HDU"
)

KEEP_POOLS = {
    "disease": DISEASES,
    "drug": DRUGS,
    "lab": LABS,
    "score": SCORES,
    "bed": BEDS,
    "round": ROUNDS,
    "code": CODES,
    "abbr": ABBREVIATIONS,
}

FILLER = _c(
    """Chest clear, heart sounds normal; Abdomen soft and non-tender; Tolerating diet and
    fluids; Mobilising with a frame; Pain controlled on current analgesia;
    Will review again tomorrow; We hope to step down to oral antibiotics; CRP rose overnight
    but she remains well; Small mark noted on the left shin, no bruising elsewhere;
    Patient in good spirits; Bowels opened, passing urine; Apyrexial overnight;
    Skin intact, pressure areas checked; Family updated; Plan discussed and agreed;
    No new concerns; Observations stable; Eating and drinking well; Slept well;
    Safety-netting advice given; Reports feeling brighter; No falls since admission;
    Pressure relief mattress in place; Encouraged fluids; Hope is that she goes home
    by the weekend; Will chase the scan report; Grace period for the review has passed"""
)

KIN_F = _c("daughter; wife; mother; sister; granddaughter; niece; partner; mum; aunt")
KIN_M = _c("son; husband; father; brother; grandson; nephew; partner; dad; uncle")
ROLES_OTHER = _c(
    "neighbour; friend; carer; social worker; key worker; landlord; support worker; "
    "care coordinator; health visitor; school nurse; advocate; interpreter"
)
