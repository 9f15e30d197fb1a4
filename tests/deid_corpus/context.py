"""Per-document drawing helpers, and the registry of document shapes.

A :class:`Ctx` holds one document's ``random.Random``, its patient and the pools; every
helper returns pieces (:class:`Ident` for identifiers, :class:`Keep` for clinical phrases,
plain strings otherwise) for :class:`~tests.deid_corpus.builder.DocBuilder` to append.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import TypeVar

from tests.deid_corpus import clinical, identifiers, places
from tests.deid_corpus.builder import DocBuilder, Ident, Keep, Piece
from tests.deid_corpus.names import QUALIFICATIONS, STAFF_ROLES, NamePool, Person, name

T = TypeVar("T")
ShapeFn = Callable[[DocBuilder, "Ctx"], None]
SHAPES: dict[str, ShapeFn] = {}

ETHNICITY_CODES = "ABCDEFGHJKLMNPRSZ"
DIAGNOSES = ("I21.9", "J44.1", "E11.9", "N39.0", "S72.0", "F32.1", "I63.9", "J18.9", "K57.3")


def shape(label: str) -> Callable[[ShapeFn], ShapeFn]:
    """Register a document shape under ``label``."""

    def register(fn: ShapeFn) -> ShapeFn:
        if label in SHAPES:
            raise ValueError(f"shape {label} registered twice")
        SHAPES[label] = fn
        return fn

    return register


class Ctx:
    """One document's randomness, patient and helpers."""

    def __init__(self, rng: random.Random, heldout: bool) -> None:
        self.rng = rng
        self.heldout = heldout
        self.names = NamePool(rng, heldout)
        self.places = places.PlacePool(rng, heldout)
        self.patient = self.names.person()
        self.dob = date(1930, 1, 1) + timedelta(days=rng.randint(0, 365 * 90))
        self.episode = date(2021, 1, 1) + timedelta(days=rng.randint(0, 365 * 3))
        self.nhs_digits = identifiers.nhs_number(rng)
        self.postcode = places.postcode(rng)
        self.mrn_text = identifiers.trust_mrn(rng)
        self.gp = self.names.person()
        self.practice = places.gp_practice(rng, self.places, self.gp.last)

    # ------------------------------------------------------------------ basic choices
    def pick(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def maybe(self, probability: float = 0.5) -> bool:
        return self.rng.random() < probability

    def row(self) -> dict[str, str]:
        """The structured row ingestion would hold for this patient."""
        return {
            "nhs_number": self.nhs_digits,
            "patient_name": self.patient.full,
            "date_of_birth": self.dob.isoformat(),
            "postcode": self.postcode,
            "sex": self.patient.sex,
            "ethnicity": self.pick(ETHNICITY_CODES),
            "admission_date": self.episode.isoformat(),
            "diagnosis_code": self.pick(DIAGNOSES),
        }

    @property
    def age(self) -> int:
        return (self.episode - self.dob).days // 365

    @property
    def sexchar(self) -> str:
        return self.patient.sex

    @property
    def they(self) -> str:
        return "she" if self.patient.sex == "F" else "he"

    @property
    def their(self) -> str:
        return "her" if self.patient.sex == "F" else "his"

    # ---------------------------------------------------------------------- people
    def pt(self, *forms: str) -> Ident:
        """The patient, in one of ``forms`` (defaults to any written form)."""
        return name(self.patient, self.pick(forms or ("full", "first", "surname_first")))

    def title(self, person: Person) -> str:
        if self.maybe(0.15):
            return "Mx"
        return "Mr" if person.sex == "M" else self.pick(("Mrs", "Ms", "Miss"))

    def other(self, sex: str | None = None, same_surname: bool = False) -> Person:
        return self.names.person(sex, self.patient.last if same_surname else None)

    def kin(self, sex: str | None = None) -> tuple[str, Person]:
        """A relative: (kinship word, person); relatives often share the surname."""
        sex = sex or self.pick("FM")
        word = self.pick(clinical.KIN_F if sex == "F" else clinical.KIN_M)
        share = word not in ("partner", "friend") and self.maybe(0.5)
        person = self.other(sex, same_surname=share)
        if self.maybe(0.2):  # a first name that is also an ordinary word
            person = Person(self.names.word_name(sex), person.last, sex)
        return word, person

    def kin_named(self, form: str, capital: bool = False) -> list[Piece]:
        """``daughter kerry``: a kinship word and the relative's name in ``form``."""
        word, person = self.kin()
        return [word.capitalize() if capital else word, " ", name(person, form)]

    def staff(self, roles: Sequence[str] = STAFF_ROLES) -> tuple[str, Person]:
        return self.pick(roles), self.names.person()

    def staff_ref(self, person: Person, clipped: bool = False) -> Ident:
        """How a note names a colleague: surname, initial + surname, first name ..."""
        forms = ("last", "initial_dot", "initial_nodot", "initial_tight", "full", "first")
        if clipped:
            forms = ("lower_last", "lower_first", "initial_tight", "lower_full", "last")
        return name(person, self.pick(forms))

    def signoff(self, person: Person, doctor: bool = True) -> list[Piece]:
        """``Dr P. Nwosu MBChB MRCP`` / ``GMC 7012345`` (or a nurse's NMC PIN)."""
        out: list[Piece] = []
        if doctor:
            out += ["Dr ", name(person, self.pick(("initial_dot", "full", "initial_nodot")))]
            out += [" ", self.pick(QUALIFICATIONS[:6])]
            out += [
                self.pick((", GMC ", "\nGMC No: ", " GMC: ")),
                Ident(identifiers.gmc(self.rng), "ID"),
            ]
        else:
            out += [
                name(person, self.pick(("full", "initial_dot"))),
                " ",
                self.pick(QUALIFICATIONS[6:]),
            ]
            out += [self.pick((", NMC ", "\nNMC PIN: ")), Ident(identifiers.nmc(self.rng), "ID")]
        return out

    # --------------------------------------------------------------------- numbers
    def nhs(self) -> Ident:
        return Ident(identifiers.nhs_grouped(self.rng, self.nhs_digits), "NHS_NUMBER")

    def other_nhs(self) -> Ident:
        digits = identifiers.nhs_number(self.rng)
        return Ident(identifiers.nhs_grouped(self.rng, digits), "NHS_NUMBER")

    def mrn(self, own: bool = True) -> Ident:
        if own and self.maybe(0.75):
            return Ident(self.mrn_text, "MRN")
        return Ident(identifiers.other_mrn(self.rng), "MRN")

    def other_mrn_trust(self) -> Ident:
        return Ident(identifiers.trust_mrn(self.rng), "MRN")

    def phone(self) -> Ident:
        return Ident(identifiers.phone(self.rng), "PHONE")

    def email(self, person: Person) -> Ident:
        return Ident(identifiers.email(self.rng, person.first, person.last), "EMAIL")

    def url(self, person: Person) -> Ident:
        return Ident(identifiers.url(self.rng, person.first, person.last), "URL")

    def ref(self, kind: str) -> Ident:
        fn = {
            "crime": identifiers.crime_ref,
            "passport": identifiers.passport,
            "vehicle": identifiers.vehicle_reg,
            "gmc": identifiers.gmc,
            "nmc": identifiers.nmc,
            "ni": identifiers.ni_number,
        }[kind]
        return Ident(fn(self.rng), "ID")

    # ----------------------------------------------------------------------- dates
    def when(self, within: int = 10) -> datetime:
        return identifiers.random_datetime(self.rng, self.episode, within)

    def date(self, *forms: str, within: int = 10) -> Ident:
        form = self.pick(forms) if forms else None
        return Ident(identifiers.render_date(self.rng, self.when(within), form), "DATE")

    def dob_ident(self, *forms: str) -> Ident:
        when = datetime(self.dob.year, self.dob.month, self.dob.day)
        form = self.pick(forms or ("slash", "iso", "long", "dots_short", "dash_mon"))
        return Ident(identifiers.render_date(self.rng, when, form), "DATE")

    # ---------------------------------------------------------------------- places
    def town(self) -> Ident:
        return Ident(self.places.town(), "LOCATION")

    def street_line(self) -> Ident:
        return Ident(self.places.street_line(), "ADDRESS")

    def address_block(self, own: bool = True) -> list[Ident]:
        rows = self.places.address_block()
        if own:
            rows[-1] = Ident(self.postcode, "POSTCODE")
        return rows

    def address_inline(self, own: bool = True) -> list[Ident | str]:
        parts = self.places.address_inline()
        if own:
            parts[-1] = Ident(self.postcode, "POSTCODE")
        return parts

    def org(self, kind: str) -> Ident:
        return Ident(places.organisation(self.rng, kind, self.heldout), "ORGANISATION")

    def practice_ident(self) -> Ident:
        return Ident(self.practice, "ORGANISATION")

    def other_practice(self) -> Ident:
        gp = self.names.person()
        return Ident(places.gp_practice(self.rng, self.places, gp.last), "ORGANISATION")

    # ------------------------------------------------------------------- clinical
    def keep(self, pool: str) -> Keep:
        return Keep(self.pick(clinical.KEEP_POOLS[pool]))

    def keeps(self, pool: str, count: int, sep: str = ", ") -> list[Piece]:
        items = self.rng.sample(clinical.KEEP_POOLS[pool], count)
        out: list[Piece] = []
        for i, item in enumerate(items):
            if i:
                out.append(sep)
            out.append(Keep(item))
        return out

    def filler(self, count: int = 1, lower: bool = False) -> str:
        text = ". ".join(self.rng.sample(clinical.FILLER, count)) + "."
        return text.lower() if lower else text

    def other_role(self) -> str:
        return self.pick(clinical.ROLES_OTHER)
