"""Letters: referrals, clinic letters, discharge summaries, appointment letters ...

Letters carry address blocks with each part on a line of its own, headers with the
patient's identifiers, sign-off blocks with registration numbers and cc lines.
"""

from __future__ import annotations

from tests.deid_corpus.builder import DocBuilder, Ident, Keep, Piece
from tests.deid_corpus.context import Ctx, shape
from tests.deid_corpus.names import name


def _re_line(b: DocBuilder, c: Ctx) -> None:
    """``Re: OKAFOR, Chidi  DOB 03/04/1961  NHS No 943 476 5919``, in a few layouts."""
    layout = c.pick(("one", "stacked", "caps"))
    if layout == "one":
        b.line(
            "Re: {p}  DOB {dob}  NHS No {nhs}",
            p=c.pt("surname_first", "caps", "full"),
            dob=c.dob_ident(),
            nhs=c.nhs(),
        )
    elif layout == "stacked":
        b.line("Patient: {p}", p=c.pt("full", "surname_first"))
        b.line("D.O.B: {dob}", dob=c.dob_ident())
        b.line("NHS number: {nhs}", nhs=c.nhs())
        b.line("Hospital No: {mrn}", mrn=c.mrn())
    else:
        b.line(
            "RE: {p} ({dob}) - {nhs}",
            p=c.pt("caps", "surname_first_caps"),
            dob=c.dob_ident(),
            nhs=c.nhs(),
        )
    if c.maybe(0.6):
        b.lines(c.address_block())
    b.nl()


def _cc(b: DocBuilder, c: Ctx) -> None:
    b.line("cc:")
    b.line("{p}", p=[c.title(c.patient), " ", c.pt("full", "initial_dot")])
    b.lines(c.address_block())
    if c.maybe(0.5):
        b.line("cc: Dr {gp}, {practice}", gp=name(c.gp, "initial_dot"), practice=c.practice_ident())
    if c.maybe(0.3):
        _, cns = c.staff()
        b.line("cc: {n}, Clinical Nurse Specialist", n=name(cns, "full"))


@shape("gp_referral")
def gp_referral(b: DocBuilder, c: Ctx) -> None:
    b.line("{practice}", practice=c.practice_ident())
    b.lines(c.address_block(own=False))
    b.line("Tel: {t}  Fax: {f}", t=c.phone(), f=c.phone())
    b.line("{d}", d=c.date("long", "slash", "ordinal_long"))
    b.nl()
    b.line("Dear {who},", who=c.pick(("Colleague", "Doctor", "Consultant")))
    _re_line(b, c)
    b.line(
        "Thank you for seeing this {age} year old {sex} with {dx}. {they} is on {drug}.",
        age=str(c.age),
        sex="woman" if c.sexchar == "F" else "man",
        dx=c.keep("disease"),
        they=c.they.capitalize(),
        drug=c.keep("drug"),
    )
    word, kin = c.kin()
    b.line(
        "{they} lives with {their} {word} {kin} in {town} and is independent.",
        they=c.they.capitalize(),
        their=c.their,
        word=word,
        kin=name(kin, c.pick(("first", "full"))),
        town=c.town(),
    )
    b.line("Recent bloods: {labs}.", labs=c.keeps("lab", 3))
    if c.maybe():
        b.line("{f}", f=c.filler(2))
    b.nl()
    b.line("Yours sincerely,")
    b.nl()
    b.line("Dr {gp}", gp=name(c.gp, c.pick(("full", "initial_dot"))))
    b.line("GP Partner, GMC {g}", g=c.ref("gmc"))


@shape("clinic_letter")
def clinic_letter(b: DocBuilder, c: Ctx) -> None:
    cons = c.names.person()
    b.line(
        "Department of {dept}",
        dept=c.pick(("Cardiology", "Neurology", "Gastroenterology", "Rheumatology")),
    )
    b.line("Direct line: {t}", t=c.phone())
    b.line("Clinic date: {d}", d=c.date("slash", "dash_mon", "weekday_long"))
    b.line(
        "Dictated: {d}  Typed: {t}",
        d=c.date("dots_short", "slash"),
        t=c.date("dots_short", "slash"),
    )
    b.nl()
    b.line("Dr {gp}", gp=name(c.gp, "initial_dot"))
    b.line("{practice}", practice=c.practice_ident())
    b.lines(c.address_block(own=False))
    b.nl()
    b.line("Dear Dr {gp},", gp=name(c.gp, "last"))
    _re_line(b, c)
    b.line("Diagnosis:")
    b.line("1. {d}", d=c.keep("disease"))
    b.line("2. {a} ({code})", a=c.keep("abbr"), code=c.keep("code"))
    b.line("Medication: {d}; {e}", d=c.keep("drug"), e=c.keep("drug"))
    b.nl()
    b.line(
        "I reviewed {p} today in clinic{acc}. {f}",
        p=[c.title(c.patient), " ", c.pt("last")],
        acc=([" accompanied by ", c.their, " ", *_kin_mention(c)] if c.maybe(0.6) else ""),
        f=c.filler(2),
    )
    b.line("Examination: {s}. Bloods {l}.", s=c.keep("score"), l=c.keeps("lab", 2, " and "))
    b.line(
        "I will see {them} again in {n} months.",
        them="her" if c.sexchar == "F" else "him",
        n=str(c.rng.randint(2, 9)),
    )
    b.nl()
    b.line("Yours sincerely")
    b.nl()
    b.add(c.signoff(cons)).nl()
    b.line("Consultant {s}", s=c.pick(("Physician", "Neurologist", "Gastroenterologist")))
    b.nl()
    _cc(b, c)


def _kin_mention(c: Ctx) -> list[Piece]:
    word, kin = c.kin()
    return [word, " ", name(kin, c.pick(("first", "full")))]


@shape("discharge_summary")
def discharge_summary(b: DocBuilder, c: Ctx) -> None:
    b.line("DISCHARGE SUMMARY")
    b.line("=" * 17)
    b.line("Patient name: {p}", p=c.pt("surname_first_caps", "surname_first", "caps"))
    b.line("NHS No: {n}    Hosp No: {m}", n=c.nhs(), m=c.mrn())
    b.line("DOB: {d}   Sex: {s}", d=c.dob_ident(), s=c.sexchar)
    b.line("Address: {a}", a=c.address_inline())
    b.line("Admitted: {d}", d=c.date("slash_time", "iso_t", "dash_mon_time", within=2))
    b.line("Discharged: {d}", d=c.date("slash_time", "iso_t", "dash_mon_time", "slash"))
    _, cons = c.staff()
    b.line(
        "Consultant: {c}   Ward: {w}",
        c=["Dr ", name(cons, c.pick(("full", "initial_dot", "caps")))],
        w=c.pick(("Acorn", "Birch", "Larch", "Kingfisher", "Heron")) + " Ward",
    )
    b.line("GP: Dr {gp}, {pr}", gp=name(c.gp, "initial_nodot"), pr=c.practice_ident())
    b.nl()
    b.line("PRESENTING COMPLAINT")
    b.line("{a} and {b}. {f}", a=c.keep("abbr"), b=c.keep("abbr"), f=c.filler(1))
    b.line("DIAGNOSIS")
    b.line("{d} ({code})", d=c.keep("disease"), code=c.keep("code"))
    b.line("INVESTIGATIONS")
    b.line("{l}", l=c.keeps("lab", 4))
    b.line("TTO")
    for _ in range(c.rng.randint(2, 4)):
        b.line("- {d}", d=c.keep("drug"))
    b.line("FOLLOW UP")
    b.line(
        "Clinic in {n} weeks. {who}",
        n=str(c.rng.randint(2, 12)),
        who=(
            [
                "District nurses (",
                c.town(),
                " team) to visit ",
                c.date("weekday_short", "ordinal_mon"),
                ".",
            ]
            if c.maybe()
            else "GP to review."
        ),
    )
    b.line(
        "Discharging doctor: {r} {n}, bleep {bl}",
        r=c.pick(("FY1", "FY2", "CT1")),
        n=name(c.names.person(), c.pick(("full", "initial_tight", "caps"))),
        bl=str(c.rng.randint(1000, 1999)),
    )


@shape("appointment_letter")
def appointment_letter(b: DocBuilder, c: Ctx) -> None:
    b.line("PRIVATE AND CONFIDENTIAL")
    b.line("{p}", p=[c.title(c.patient), " ", c.pt("full", "initial_dot", "caps")])
    b.lines(c.address_block())
    b.nl()
    b.line("Hospital number: {m}", m=c.mrn())
    b.line("NHS number: {n}", n=c.nhs())
    b.nl()
    b.line("Dear {p},", p=[c.title(c.patient), " ", c.pt("last")])
    b.line(
        "An appointment has been made for you on {d} in the {clinic} clinic, Outpatients {area}.",
        d=c.date("weekday_long", "slash_time_colon", "dash_mon_time"),
        clinic=c.pick(("Fracture", "Respiratory", "Diabetes", "Memory", "Falls")),
        area=c.pick(("Department 4", "Level 2", "Zone B")),
    )
    b.line(
        "If you cannot attend please call {t} or email {e}.",
        t=c.phone(),
        e=Ident(
            c.pick(
                (
                    "outpatients@esneft.nhs.uk",
                    "appointments.colchester@nhs.net",
                    "ophthalmology.bookings@nhs.net",
                )
            ),
            "EMAIL",
        ),
    )
    if c.maybe(0.4):
        b.line("Please bring your medicines, including {d}.", d=c.keep("drug"))
    b.line("Parking is available at the {town} site.", town=c.town())
    b.nl()
    b.line("Booking Team")


@shape("tertiary_referral")
def tertiary_referral(b: DocBuilder, c: Ctx) -> None:
    hosp = c.org("hospital")
    b.line("Referral to {h}", h=hosp)
    b.line("Their ref: {m}   Our ref: {o}", m=c.mrn(own=False), o=c.mrn())
    b.line("{p}, born {d}, NHS {n}", p=c.pt("caps", "surname_first"), d=c.dob_ident(), n=c.nhs())
    b.nl()
    _, reg = c.staff(("Reg", "SpR"))
    b.line(
        "Dear Professor {prof},",
        prof=name(c.names.person(), "last"),
    )
    b.line(
        "I would be grateful for your opinion on this patient with {d} and {a}. "
        "{they} was previously under your colleague Dr {o} at {h2} until {when}.",
        d=c.keep("disease"),
        a=c.keep("abbr"),
        they=c.they.capitalize(),
        o=name(c.names.person(), c.pick(("full", "last"))),
        h2=c.org("hospital"),
        when=c.date("month_year", "long"),
    )
    b.line("Latest results: {l}; {s}.", l=c.keeps("lab", 2), s=c.keep("score"))
    b.line(
        "Please contact {r} {n} on {t} with any questions.",
        r="SpR",
        n=name(reg, "full"),
        t=c.phone(),
    )
    b.nl()
    b.add(c.signoff(c.names.person())).nl()


@shape("ed_letter")
def ed_letter(b: DocBuilder, c: Ctx) -> None:
    b.line(
        "Emergency Department attendance - {d}",
        d=c.date("slash_time", "dash_mon_time", "iso_t", within=1),
    )
    b.line(
        "{p}  {age}{s}  {m}",
        p=c.pt("surname_first_caps", "caps"),
        age=str(c.age),
        s=c.sexchar,
        m=c.mrn(),
    )
    b.nl()
    b.line("To: {pr}", pr=c.practice_ident())
    how = c.pick(
        ("by ambulance", "by her son" if c.sexchar == "F" else "by his wife", "self-presented")
    )
    b.line(
        "Your patient attended {how} after a fall at {place}. Triage {s}.",
        how=how,
        place=(c.org("care_home") if c.maybe() else ["home in ", c.town()]),
        s=c.keep("score"),
    )
    b.line("Diagnosis: {d}. Treated with {dr}.", d=c.keep("disease"), dr=c.keep("drug"))
    b.line(
        "Seen by {r} {n}.",
        r=c.pick(("Dr", "ANP", "ACP")),
        n=name(c.names.person(), c.pick(("initial_dot", "full"))),
    )
    b.line("Follow-up: {f}", f=c.pick(("none required", "fracture clinic", "GP in 1 week")))


@shape("mental_health_letter")
def mental_health_letter(b: DocBuilder, c: Ctx) -> None:
    coord = c.names.person()
    # A named team is an organisation, like a named hospital (the town alone would leave
    # "Community Mental Health Team" as if it were ordinary words).
    b.line("{team}", team=Ident(f"{c.places.town()} Community Mental Health Team", "ORGANISATION"))
    b.line(
        "Care coordinator: {n} ({r}) tel {t}",
        n=name(coord, "full"),
        r=c.pick(("RMN", "social worker", "OT")),
        t=c.phone(),
    )
    b.nl()
    _re_line(b, c)
    b.line(
        "I met {p} at {place} on {d}. {they} scored {s1} and {s2}.",
        p=c.pt("first", "full"),
        place=c.pick(("home", "the team base", "the library cafe")),
        d=c.date("ordinal_mon", "weekday_short", "long"),
        they=c.they.capitalize(),
        s1=Keep("PHQ-9 16"),
        s2=Keep("GAD-7 12"),
    )
    word, kin = c.kin()
    b.line(
        "{their} {word} {k} remains the main support. {they} works part time at {emp}.",
        their=c.their.capitalize(),
        word=word,
        k=name(kin, "first"),
        they=c.they.capitalize(),
        emp=c.org("employer"),
    )
    b.line("Medication: {d}.", d=c.keep("drug"))
    b.line(
        "{they} has been referred to {ch} for peer support.",
        they=c.they.capitalize(),
        ch=c.org("charity"),
    )
    if c.maybe(0.5):
        b.line(
            "{they} posts about {their} recovery at {u}.",
            they=c.they.capitalize(),
            their=c.their,
            u=c.url(c.patient),
        )
    b.nl()
    b.add(c.signoff(c.names.person())).nl()
    b.line("Consultant Psychiatrist")


@shape("palliative_letter")
def palliative_letter(b: DocBuilder, c: Ctx) -> None:
    cns = c.names.person()
    b.line("Specialist Palliative Care Team")
    b.line("{d}", d=c.date("ordinal_long", "long"))
    b.nl()
    _re_line(b, c)
    b.line(
        "{p} has {d}. A {dn} form and {r} plan are in place.",
        p=c.pt("full", "first"),
        d=c.keep("disease"),
        dn=Keep("DNACPR"),
        r=Keep("ReSPECT"),
    )
    word, kin = c.kin()
    b.line(
        "{their} {w}, {k}, is lasting power of attorney (contact {t}).",
        their=c.their.capitalize(),
        w=word,
        k=name(kin, c.pick(("full", "caps"))),
        t=c.phone(),
    )
    b.line(
        "Preferred place of death: {place}.",
        place=(
            c.pick(("home", "hospice"))
            if c.maybe()
            else Ident(
                c.pick(("St Helena Hospice", "St Elizabeth Hospice", "EACH")), "ORGANISATION"
            )
        ),
    )
    b.line("Anticipatory medicines: {d}.", d=c.keep("drug"))
    b.nl()
    b.line("{n}", n=name(cns, "full"))
    b.line("Macmillan CNS, NMC {p}", p=c.ref("nmc"))
    b.line("{e}", e=c.email(cns))


@shape("physio_letter")
def physio_letter(b: DocBuilder, c: Ctx) -> None:
    physio = c.names.person()
    b.line("Musculoskeletal Physiotherapy")
    b.line("{h}", h=Ident(f"{c.places.town()} Community Hospital", "ORGANISATION"))
    b.nl()
    b.line("Dear {p}", p=[c.title(c.patient), " ", c.pt("last")])
    b.line(
        "Following your assessment on {d} with {n}, we have booked six sessions starting {s}.",
        d=c.date("slash", "dots_short"),
        n=name(physio, c.pick(("full", "first"))),
        s=c.date("weekday_short", "day_month_slash", "ordinal_mon"),
    )
    b.line("Your exercises for {d} are enclosed. {f}", d=c.keep("disease"), f=c.filler(1))
    b.line("To change an appointment ring {t}.", t=c.phone())
    b.nl()
    b.line("Kind regards")
    b.add(c.signoff(physio, doctor=False)).nl()
    b.line("Physiotherapist")
