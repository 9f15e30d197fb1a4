"""Words that describe people's roles and services without identifying anyone.

Shared by the span refiner (which trims them from the edges of weak detections) and the
address-block recogniser (which never takes a line made only of them for an address).
"""

from __future__ import annotations

from fivesafes.deid.allowlist import vocabulary

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
    regional integrated emergency urgent intensive high dependency cardiology
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
    bay bays bed beds cubicle side room sr acc no ref mrn nhs dob d.o.b macmillan snomed sct
    icd icd-10 opcs code coded
    """
)
