"""Ward and clinic notes: clipped lower case, lists, handovers, safeguarding, theatre.

Clipped notes are typed fast: lower case names after kinship words ("seen with daughter
kerry"), initials glued to surnames ("SN j.okafor"), day-month dates without a year.
"""

from __future__ import annotations

from tests.deid_corpus.builder import DocBuilder, Ident, Keep, lower
from tests.deid_corpus.context import Ctx, shape
from tests.deid_corpus.names import name


@shape("ward_round")
def ward_round(b: DocBuilder, c: Ctx) -> None:
    role, cons = c.staff(("Cons", "Reg", "SpR"))
    b.line(
        "{d} wr {r} {n}",
        d=c.date("day_month_slash", "slash_time", "ordinal_mon"),
        r=role.lower(),
        n=c.staff_ref(cons, clipped=True),
    )
    word, kin = c.kin()
    b.line(
        "pt seen with {w} {k}. {a} improved, {s}. {f}",
        w=word,
        k=name(kin, "lower_first"),
        a=c.keep("abbr"),
        s=c.keep("score"),
        f=c.filler(1, lower=True),
    )
    b.line("bloods: {l}", l=c.keeps("lab", 3, ", "))
    b.line("imp: {d}", d=c.keep("disease"))
    b.line("plan:")
    b.line("- cont {d}", d=c.keep("drug"))
    b.line("- {s} to r/v", s=c.pick(("fy1", "reg", "cns")))
    if c.maybe(0.6):
        _, kin2 = c.kin("M")
        b.line(
            "- update {w} {k} on {t}",
            w=c.pick(("husband", "son", "brother")),
            k=name(kin2, c.pick(("lower_first", "first"))),
            t=c.phone(),
        )
    b.line(
        "{r} {n}", r=c.pick(("fy1", "FY1", "sho")), n=c.staff_ref(c.names.person(), clipped=True)
    )


@shape("nursing_entry")
def nursing_entry(b: DocBuilder, c: Ctx) -> None:
    role, nurse = c.staff(("SN", "HCA", "RN", "Sister"))
    b.line(
        "{d} {r} {n}:",
        d=c.date("slash_time", "slash_time_colon", "iso_t"),
        r=role,
        n=c.staff_ref(nurse, clipped=True),
    )
    _, kin = c.kin("M")
    b.line(
        "pt settled in {bed}. {w} {k} visited pm, brought in {their} glasses.",
        bed=c.keep("bed"),
        w=c.pick(("husband", "son", "grandson")),
        k=name(kin, c.pick(("lower_first", "first"))),
        their=c.their,
    )
    b.line(
        "given {d} at {r}. {s}. {f}",
        d=c.keep("drug"),
        r=c.keep("round"),
        s=c.keep("score"),
        f=c.filler(2, lower=True),
    )
    if c.maybe(0.5):
        b.line(
            "{who} {n} from {home} rang to ask re discharge, advised to call back {when}.",
            who=c.pick(("manager", "carer", "key worker")),
            n=name(c.names.person(), c.pick(("lower_first", "first", "full"))),
            home=c.org("care_home"),
            when=c.date("weekday_short", "ordinal_mon"),
        )
    b.line(
        "handed over to {r} {n}",
        r=c.pick(("nights", "SN", "CN")),
        n=c.staff_ref(c.names.person(), clipped=True),
    )


@shape("triage")
def triage(b: DocBuilder, c: Ctx) -> None:
    b.line("TRIAGE {d}", d=c.date("slash_time", "iso_t", "dash_mon_time", within=1))
    b.line(
        "{age}{s} BIBA from {place}. c/o {a}, {b2}.",
        age=str(c.age),
        s=c.sexchar,
        place=(c.org("care_home") if c.maybe(0.4) else c.town()),
        a=c.keep("abbr"),
        b2=c.pick(("chest pain", "fall", "confusion", "abdo pain")),
    )
    b.line(
        "obs: {s}, {t}", s=c.keep("score"), t=Keep("GCS 15/15") if c.maybe() else c.keep("score")
    )
    b.line("PMH {d}. DH {dr}.", d=c.keep("disease"), dr=c.keep("drug"))
    word, kin = c.kin()
    b.line(
        "NOK {w} {k} {t}",
        w=word,
        k=name(kin, c.pick(("full", "caps", "lower_full", "surname_first"))),
        t=c.phone(),
    )
    b.line("triage nurse {n}", n=c.staff_ref(c.names.person(), clipped=True))


@shape("safeguarding")
def safeguarding(b: DocBuilder, c: Ctx) -> None:
    sw = c.names.person()
    b.line("SAFEGUARDING NOTE - {d}", d=c.date("slash_time_colon", "long"))
    b.line("Patient: {p} ({mrn})", p=c.pt("full", "surname_first"), mrn=c.mrn())
    mum, dad = c.other("F", True), c.other("M")
    b.line(
        "Mother {m} and her partner {d} present. Sibling {s} ({age}) attends {school}.",
        m=name(mum, c.pick(("full", "first"))),
        d=name(dad, c.pick(("full", "first", "lower_first"))),
        s=name(c.other(None, True), "first"),
        age=str(c.rng.randint(3, 15)),
        school=c.org("school"),
    )
    b.line("Family address: {a}", a=c.address_inline())
    b.line(
        "Concern raised by {r} {n}. Police informed, crime ref {ref}. Partner's car {v}.",
        r=c.pick(("health visitor", "school nurse", "neighbour")),
        n=name(c.names.person(), c.pick(("full", "first"))),
        ref=c.ref("crime"),
        v=c.ref("vehicle"),
    )
    b.line(
        "Discussed with {sw} (social worker, {council}), tel {t}, email {e}.",
        sw=name(sw, "full"),
        council=c.org("council"),
        t=c.phone(),
        e=c.email(sw),
    )
    if c.maybe(0.8):
        b.line("Mother's public profile {u} shows recent posts.", u=c.url(mum))
    b.line("{f}", f=c.filler(1))


@shape("theatre_note")
def theatre_note(b: DocBuilder, c: Ctx) -> None:
    b.line("OPERATION NOTE")
    b.line("Date: {d}", d=c.date("slash", "iso", "dash_mon"))
    b.line("Patient: {p}  MRN {m}", p=c.pt("caps", "surname_first_caps"), m=c.mrn())
    for role in ("Surgeon", "Assistant", "Anaesthetist", "Scrub", "ODP"):
        if role in ("Assistant", "ODP") and c.maybe(0.3):
            continue
        prefix = {"Surgeon": "Mr ", "Anaesthetist": "Dr "}.get(role, "")
        b.line(
            "{r}: {p}{n}",
            r=role,
            p=prefix,
            n=name(c.names.person(), c.pick(("full", "initial_dot", "initial_tight", "caps"))),
        )
    b.line(
        "Procedure: {p}",
        p=c.keep("disease")
        if c.maybe(0.3)
        else c.pick(("laparoscopic cholecystectomy", "right hemiarthroplasty", "EUA and drainage")),
    )
    b.line("Findings: {f}", f=c.filler(1))
    b.line("Post-op: {d}. {e}.", d=c.keep("drug"), e=Keep("NBM") if c.maybe() else c.keep("abbr"))
    b.line(
        "Knife to skin {t}. Closed {t2}.",
        t=c.pick(("0912", "14:05", "1130")),
        t2=c.pick(("1004", "15:10", "1222")),
    )


@shape("social_history")
def social_history(b: DocBuilder, c: Ctx) -> None:
    b.line("SOCIAL HISTORY")
    word, kin = c.kin()
    b.line(
        "Lives in {town} with {their} {w} {k}. Moved from {origin} in {yr}.",
        town=c.town(),
        their=c.their,
        w=word,
        k=name(kin, c.pick(("first", "lower_first", "full"))),
        origin=Ident(
            c.pick(
                (
                    "Lagos",
                    "Krakow",
                    "Mogadishu",
                    "Hanoi",
                    "Bucharest",
                    "Izmir",
                    "Kingston",
                    "Dhaka",
                    "Lisbon",
                    "Nairobi",
                )
            ),
            "LOCATION",
        )
        if c.maybe()
        else c.town(),
        yr=c.date("month_year") if c.maybe() else str(c.rng.randint(1970, 2015)),
    )
    b.line(
        "Worked as a {job} at {emp} until retiring. Walks to the shop in {v} most days.",
        job=c.pick(("cleaner", "driver", "teacher", "nurse", "warehouse operative")),
        emp=c.org("employer"),
        v=Ident(c.places.town(), "LOCATION"),
    )
    b.line(
        "Ex-smoker, alcohol 10 units/week. Package of care: {n}x daily from {agency}.",
        n=str(c.rng.randint(1, 4)),
        agency=Ident(
            c.pick(("Helping Hands", "Bluebird Care", "Home Instead", "Caremark")), "ORGANISATION"
        ),
    )
    if c.maybe(0.5):
        _, friend = c.kin()
        b.line(
            "Neighbour {n} has a key ({t}).", n=name(friend, c.pick(("first", "full"))), t=c.phone()
        )
    if c.maybe(0.4):
        word, kin = c.kin()
        b.line(
            "{w} writes about caring for {them} at {u}.",
            w=word.capitalize(),
            them="her" if c.sexchar == "F" else "him",
            u=c.url(kin),
        )
    b.line("{f}", f=c.filler(1))


@shape("pharmacy_comment")
def pharmacy_comment(b: DocBuilder, c: Ctx) -> None:
    pharm = c.names.person()
    b.line(
        "Pharmacist review ({n}) {d}:",
        n=name(pharm, c.pick(("initial_nodot", "initial_dot", "full"))),
        d=c.date("day_month_slash", "slash", "ordinal_mon"),
    )
    b.line(
        "Drug history confirmed with {src}.",
        src=Ident(c.pick(("Boots", "Lloydspharmacy", "Well Pharmacy", "Rowlands")), "ORGANISATION")
        if c.maybe(0.6)
        else c.practice_ident(),
    )
    b.line("- {a} (held, {l})", a=c.keep("drug"), l=c.keep("lab"))
    b.line("- {a}", a=c.keep("drug"))
    b.line("Allergies: penicillin (rash). {t} to be screened.", t=Keep("TTO"))
    if c.maybe(0.5):
        b.line("Spoke to {w} on {t} re dosette box.", w=c.kin_named("first"), t=c.phone())


@shape("results_comment")
def results_comment(b: DocBuilder, c: Ctx) -> None:
    b.line(
        "Results reviewed {d} by {r} {n}",
        d=c.date("slash_time", "iso_t"),
        r=c.pick(("FY1", "FY2", "Reg")),
        n=c.staff_ref(c.names.person()),
    )
    b.line("{l}", l=c.keeps("lab", 4, "  "))
    b.line("{code} coded. {f}", code=c.keep("code"), f=c.filler(1))
    b.line(
        "Phoned pt on {t} - no answer, left message. Letter to {a}.",
        t=c.phone(),
        a=c.address_inline(),
    )


@shape("telephone_encounter")
def telephone_encounter(b: DocBuilder, c: Ctx) -> None:
    word, kin = c.kin()
    b.line("T/C {d}", d=c.date("slash_time_colon", "weekday_short", "dash_mon_time"))
    b.line(
        "call from {w} {k} ({t}). worried {they} is more confused. {s}.",
        w=word,
        k=name(kin, c.pick(("lower_first", "first", "lower_full"))),
        t=c.phone(),
        they=c.they,
        s=c.keep("score"),
    )
    b.line("advised {a}. will ask {gp} to visit.", a=c.keep("abbr"), gp=c.practice_ident())
    b.line("{n}", n=c.staff_ref(c.names.person(), clipped=True))


@shape("sbar_handover")
def sbar_handover(b: DocBuilder, c: Ctx) -> None:
    b.line("SBAR handover {d}", d=c.date("slash_time", "iso_t"))
    b.line(
        "S: {p}, {bed}, {s}",
        p=c.pt("full", "surname_first", "first"),
        bed=c.keep("bed"),
        s=c.keep("score"),
    )
    b.line("B: {d}, on {dr}", d=c.keep("disease"), dr=c.keep("drug"))
    b.line("A: {a}, {l}", a=c.keep("abbr"), l=c.keep("lab"))
    b.line(
        "R: r/v by {r} {n}; {w} to be called on {t}",
        r=c.pick(("Reg", "SpR", "FY1")),
        n=c.staff_ref(c.names.person()),
        w=c.kin_named(c.pick(("first", "lower_first")), capital=False),
        t=c.phone(),
    )


@shape("ambulance_handover")
def ambulance_handover(b: DocBuilder, c: Ctx) -> None:
    b.line("ATMIST {d}", d=c.date("iso_t", "slash_time"))
    b.line("A: {age} T: {t}", age=str(c.age), t=c.pick(("0740", "13:25", "2210")))
    b.line(
        "M: found on floor at {a} by {w}",
        a=c.address_inline(),
        w=c.kin_named(c.pick(("first", "lower_first", "full")), capital=False),
    )
    b.line("I: {s}, {a}", s=c.keep("score"), a=c.keep("abbr"))
    b.line("S: {s}", s=c.keep("score"))
    b.line("T: {d}", d=c.keep("drug"))
    b.line(
        "Crew {n1} / {n2}, call sign {cs}",
        n1=c.staff_ref(c.names.person()),
        n2=c.staff_ref(c.names.person()),
        cs=c.pick(("EOE12", "Delta 4", "R301")),
    )


@shape("mdt_list")
def mdt_list(b: DocBuilder, c: Ctx) -> None:
    b.line(
        "{team} MDT {d}",
        team=c.pick(("Lung", "Colorectal", "Upper GI", "Breast", "Urology")),
        d=c.date("slash", "weekday_long", "long"),
    )
    b.line("Chair: {n}", n=["Dr ", name(c.names.person(), "full")])
    count = c.rng.randint(3, 6)
    own = c.rng.randrange(count)
    for i in range(count):
        if i == own:
            who, nhs, mrn = c.pt("surname_first", "surname_first_caps", "caps"), c.nhs(), c.mrn()
            age, sex = str(c.age), c.sexchar
        else:
            other = c.names.person()
            who = name(other, c.pick(("surname_first", "surname_first_caps", "caps")))
            nhs, mrn = c.other_nhs(), c.other_mrn_trust()
            age, sex = str(c.rng.randint(30, 90)), c.pick("MF")
        b.line(
            "{i}. {who}  {age}{s}  {mrn}  {nhs}",
            i=str(i + 1),
            who=who,
            age=age,
            s=sex,
            mrn=mrn,
            nhs=nhs,
        )
        b.line(
            "   {d} - {f} Plan: {p}",
            d=c.keep("code"),
            f=c.filler(1),
            p=c.pick(("CT staging", "surgery", "surveillance", "refer oncology")),
        )
    b.line(
        "Coordinator: {n} ext {x}",
        n=name(c.names.person(), "full"),
        x=str(c.rng.randint(2000, 6999)),
    )


@shape("obstetric_booking")
def obstetric_booking(b: DocBuilder, c: Ctx) -> None:
    c.patient = c.names.person("F")
    b.line("Antenatal booking {d}", d=c.date("slash", "long"))
    b.line("{p}, EDD {edd}", p=c.pt("full", "caps"), edd=c.date("slash", "long", within=200))
    partner = c.other("M")
    b.line(
        "Partner {n} ({job} at {emp}). Previous midwife {mw} at {h}.",
        n=name(partner, c.pick(("full", "first"))),
        job=c.pick(("driver", "chef", "engineer")),
        emp=c.org("employer"),
        mw=name(c.names.person("F"), c.pick(("full", "first"))),
        h=c.org("hospital"),
    )
    b.line(
        "{s}. {d}. {a}.",
        s=Keep("EPDS 14") if c.maybe() else c.keep("score"),
        d=c.keep("drug"),
        a=c.keep("abbr"),
    )
    b.line("Older child at {s}.", s=c.org("school"))
    if c.maybe(0.4):
        b.line("Partner's fundraising page: {u}", u=c.url(partner))


@shape("paediatric_note")
def paediatric_note(b: DocBuilder, c: Ctx) -> None:
    mum = c.other("F", same_surname=c.maybe())
    b.line("Paeds {d}", d=c.date("slash_time", "iso_t"))
    b.line(
        "{age} yo seen with mum {m}{dad}. attends {s}.",
        age=str(c.rng.randint(1, 15)),
        m=name(mum, c.pick(("lower_first", "first", "full"))),
        dad=[" and dad ", name(c.other("M"), c.pick(("lower_first", "first")))]
        if c.maybe()
        else "",
        s=c.org("school"),
    )
    b.line(
        "HV {n} aware. {f}",
        n=name(c.names.person("F"), c.pick(("full", "first", "initial_dot"))),
        f=c.filler(1, lower=True),
    )
    b.line("wt 14.2kg. {d}.", d=c.keep("drug"))
    b.line("mum's mobile {t}, email {e}", t=c.phone(), e=c.email(mum))
    if c.maybe(0.5):
        b.line("mum shares updates on {u}; advised about privacy.", u=c.url(mum))


@shape("care_home_review")
def care_home_review(b: DocBuilder, c: Ctx) -> None:
    home = c.org("care_home")
    b.line("Care home review - {h}", h=home)
    b.line("{d}", d=c.date("weekday_long", "long", "slash"))
    b.line("Resident: {p}, room {r}", p=c.pt("full", "surname_first"), r=str(c.rng.randint(1, 40)))
    b.line(
        "Discussed with manager {m} and senior carer {s}. {w}.",
        m=name(c.names.person(), c.pick(("full", "first"))),
        s=name(c.names.person(), c.pick(("first", "full", "initial_nodot"))),
        w=c.keep("score"),
    )
    b.line("{d}; {dr}. {f}", d=c.keep("disease"), dr=c.keep("drug"), f=c.filler(2))
    b.line("GP practice: {pr}, {t}", pr=c.practice_ident(), t=c.phone())


@shape("dietitian_note")
def dietitian_note(b: DocBuilder, c: Ctx) -> None:
    b.line("Dietetics {d}", d=c.date("ordinal_mon", "weekday_short", "slash"))
    b.line("{s}, wt loss 6kg in 3/12. {d}.", s=Keep("MUST 2"), d=c.keep("drug"))
    b.line(
        "Spoke with {w} who cooks most meals. Referred to {c2} meals service.",
        w=c.kin_named(c.pick(("first", "lower_first")), capital=False),
        c2=c.org("charity"),
    )
    b.line("{n}, Dietitian", n=name(c.names.person(), c.pick(("full", "initial_dot"))))


@shape("ot_home_visit")
def ot_home_visit(b: DocBuilder, c: Ctx) -> None:
    b.line("OT home visit {d}", d=c.date("slash", "weekday_long"))
    b.line("Address:")
    b.lines(c.address_block())
    b.line(
        "Two-storey house, 12 steps, rail on left. {they} walks to the shop in {v} with a stick.",
        they=c.they.capitalize(),
        v=c.town(),
    )
    b.line(
        "{w} present. Equipment ordered via {council}: perching stool, toilet frame.",
        w=c.kin_named("first", capital=True),
        council=c.org("council"),
    )
    b.line("{s}. {f}", s=c.keep("score"), f=c.filler(1))
    b.line("{r} {n}", r=c.pick(("OT", "OTA")), n=c.staff_ref(c.names.person()))


@shape("email_correspondence")
def email_correspondence(b: DocBuilder, c: Ctx) -> None:
    sender, to = c.names.person(), c.names.person()
    b.line("From: {n} <{e}>", n=name(sender, c.pick(("full", "surname_first"))), e=c.email(sender))
    b.line("Sent: {d}", d=c.date("weekday_long", "slash_time_colon", "dash_mon_time"))
    b.line("To: {n} <{e}>", n=name(to, "full"), e=c.email(to))
    b.line("Subject: {p} - {m}", p=c.pt("caps", "full", "initial_dot"), m=c.mrn())
    b.nl()
    b.line("Hi {n},", n=name(to, "first"))
    b.line(
        "Just to let you know {p} was discharged to {h} today on {d}. {f}",
        p=c.pt("first", "full"),
        h=c.org("care_home") if c.maybe() else c.address_inline(),
        d=c.keep("drug"),
        f=c.filler(1),
    )
    b.line("Thanks,")
    b.line("{n}", n=name(sender, "first"))
    b.line(
        "{r} | {t}", r=c.pick(("Discharge Coordinator", "Ward Clerk", "Bed Manager")), t=c.phone()
    )


@shape("death_verification")
def death_verification(b: DocBuilder, c: Ctx) -> None:
    b.line("Verification of death {d}", d=c.date("slash_time", "iso_t", "dash_mon_time"))
    b.line(
        "{p} ({n}) verified by {r} {s}.",
        p=c.pt("full", "caps"),
        n=c.nhs(),
        r=c.pick(("SN", "Dr", "FY1")),
        s=c.staff_ref(c.names.person()),
    )
    b.line("No pulse or heart sounds for 5 min. {d} in place.", d=Keep("DNACPR"))
    b.line(
        "Family ({w}) present. Funeral director: {fd}.",
        w=c.kin_named(c.pick(("full", "first"))),
        fd=Ident(
            c.pick(("Co-op Funeralcare", "Dignity Funerals", "A. Pearce & Sons")), "ORGANISATION"
        ),
    )


@shape("falls_clinic")
def falls_clinic(b: DocBuilder, c: Ctx) -> None:
    b.line(
        "FALLS CLINIC - {p} - {d}",
        p=c.pt("surname_first_caps", "caps"),
        d=c.date("dots_short", "slash"),
    )
    b.line(
        "Falls x3 since {d}. {s}, {s2}.",
        d=c.date("ordinal_mon", "month_year", "day_month_slash"),
        s=c.keep("score"),
        s2=Keep("CFS 6"),
    )
    b.line("Meds: {d}, {d2}", d=c.keep("drug"), d2=c.keep("drug"))
    b.line(
        "Lifeline pendant arranged via {council}. Daughter {k} checks in daily.",
        council=c.org("council"),
        k=name(c.other("F"), c.pick(("first", "lower_first"))),
    )


@shape("soap_note")
def soap_note(b: DocBuilder, c: Ctx) -> None:
    b.line(
        "{d} clinic - {r} {n}",
        d=c.date("weekday_short", "slash"),
        r=c.pick(("CNS", "Dr", "ANP")),
        n=c.staff_ref(c.names.person()),
    )
    b.line("S: {f}", f=c.filler(1))
    b.line("O: {l}, {s}", l=c.keep("lab"), s=c.keep("score"))
    b.line("A: {d}", d=c.keep("disease"))
    b.line(
        "P: {d}. r/v {w}.",
        d=c.keep("drug"),
        w=c.date("ordinal_mon", "day_month_slash", "weekday_short", within=60),
    )


@shape("clerking")
def clerking(b: DocBuilder, c: Ctx) -> None:
    b.line("ADMISSION CLERKING {d}", d=c.date("slash_time", "iso_t", "dash_mon_time"))
    b.line("{p}, {age}{s}, {m}", p=c.pt("full", "caps"), age=str(c.age), s=c.sexchar, m=c.mrn())
    b.line("PC: {a}", a=c.keep("abbr"))
    b.line("HPC: {f}", f=c.filler(2))
    b.line("PMH: {d}; {a}", d=c.keep("disease"), a=c.keep("abbr"))
    b.line("DH: {d}", d=c.keep("drug"))
    word, kin = c.kin()
    b.line(
        "SH: lives {how}; {w} {k} visits. ex-{job} at {emp}.",
        how=c.pick(("alone", "with wife", "with husband", "in sheltered housing")),
        w=word,
        k=name(kin, c.pick(("lower_first", "first", "full"))),
        job=c.pick(("postman", "nurse", "builder", "shop assistant")),
        emp=c.org("employer"),
    )
    b.line("FH: nil. O/E {s}. Imp: {d}.", s=c.keep("score"), d=c.keep("disease"))
    b.line(
        "{r} {n} bleep {b2}",
        r=c.pick(("FY1", "CT1", "SHO")),
        n=c.staff_ref(c.names.person()),
        b2=str(c.rng.randint(1000, 1999)),
    )


@shape("police_liaison")
def police_liaison(b: DocBuilder, c: Ctx) -> None:
    b.line("Police liaison {d}", d=c.date("slash_time_colon", "iso_t"))
    b.line(
        "PC {n} (collar {col}) attended re RTC on {d}. Ref {ref}.",
        n=name(c.names.person(), c.pick(("last", "full", "initial_dot"))),
        col=Ident(str(c.rng.randint(1000, 9999)), "ID"),
        d=c.date("weekday_short", "ordinal_mon", "slash"),
        ref=c.ref("crime"),
    )
    b.line(
        "Other driver {n}, vehicle {v}. Pt's car {v2}.",
        n=name(c.names.person(), "full"),
        v=c.ref("vehicle"),
        v2=c.ref("vehicle"),
    )
    b.line("Passport {p} held by ward for ID. NI {ni}.", p=c.ref("passport"), ni=c.ref("ni"))
    b.line("{s}. {f}", s=c.keep("score"), f=c.filler(1))


@shape("interpreter_note")
def interpreter_note(b: DocBuilder, c: Ctx) -> None:
    lang = c.pick(
        (
            "Polish",
            "Romanian",
            "Somali",
            "Tigrinya",
            "Bengali",
            "Arabic",
            "Vietnamese",
            "Portuguese",
            "Turkish",
        )
    )
    b.line(
        "{d} consultation via {lang} interpreter {n} (booking {ref})",
        d=c.date("slash", "weekday_short"),
        lang=lang,
        n=name(c.names.person(), c.pick(("full", "first", "caps"))),
        ref=Ident(f"LL{c.rng.randint(100000, 999999)}", "ID"),
    )
    b.line(
        "{p} understands diagnosis of {d}. {f}",
        p=c.pt("first", "full"),
        d=c.keep("disease"),
        f=c.filler(1),
    )
    b.line(
        "Cousin {k} also translated by phone ({t}).",
        k=name(c.other(), c.pick(("first", "full"))),
        t=c.phone(),
    )


@shape("radiology_report")
def radiology_report(b: DocBuilder, c: Ctx) -> None:
    b.line(
        "CT {r}  Acc no {acc}",
        r=c.pick(("head", "CAP", "KUB", "chest")),
        acc=Ident(f"RAD{c.rng.randint(10000000, 99999999)}", "ID"),
    )
    b.line("Requested by {n} {d}", n=c.staff_ref(c.names.person()), d=c.date("slash_time", "iso_t"))
    b.line("Clinical details: ?{d}. {a}.", d=c.keep("disease"), a=c.keep("abbr"))
    b.line(
        "Comparison: {h} study of {d}.",
        h=c.org("hospital"),
        d=c.date("slash", "month_year", "long"),
    )
    b.line("Report: {f}", f=c.filler(1))
    b.line(
        "Reported by Dr {n}, Consultant Radiologist",
        n=name(c.names.person(), c.pick(("initial_dot", "full"))),
    )


@shape("discharge_planning")
def discharge_planning(b: DocBuilder, c: Ctx) -> None:
    b.line("discharge planning {d}", d=c.date("day_month_slash", "ordinal_mon", "weekday_short"))
    b.add(lower(["pt ", c.pt("first", "full"), " medically optimised. "]))
    b.line("{t} requested, {k}.", t=Keep("TTO"), k=c.keep("drug"))
    b.line(
        "{w} to collect from {bed} after {r}. transport booked to {a}.",
        w=c.kin_named(c.pick(("lower_first", "first")), capital=False),
        bed=c.keep("bed"),
        r=c.keep("round"),
        a=c.address_inline(),
    )
    b.line(
        "key safe code given to carers from {agency}.",
        agency=Ident(c.pick(("Bluebird Care", "Helping Hands", "Caremark")), "ORGANISATION"),
    )
