"""Numbers, contact details and dates in the shapes clinical documents actually use.

Every function takes the document's ``random.Random`` (no global state) and returns the
identifier's text; the caller wraps it in an :class:`~tests.deid_corpus.builder.Ident`.
"""

from __future__ import annotations

import random
import string
from datetime import date, datetime, timedelta


# ------------------------------------------------------------------------- NHS numbers
def nhs_check_digit(nine: str) -> int | None:
    """Mod-11 check digit of the first nine digits, or None when 10 (never issued)."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(nine))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def nhs_valid(number: str) -> bool:
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) != 10:
        return False
    return nhs_check_digit(digits[:9]) == int(digits[9])


def nhs_number(rng: random.Random) -> str:
    """Ten digits passing the mod-11 check (issued ranges start 4-9)."""
    while True:
        nine = str(rng.randint(4, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(8))
        check = nhs_check_digit(nine)
        if check is not None:
            return nine + str(check)


def nhs_grouped(rng: random.Random, digits: str) -> str:
    """The same NHS number in one of the groupings people type."""
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return rng.choice(
        (digits, f"{a} {b} {c}", f"{a}-{b}-{c}", f"{a} {b}{c}", f"{a}.{b}.{c}", f"{a}  {b}  {c}")
    )


# --------------------------------------------------------------- hospital numbers, IDs
def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(n))


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(n))


def trust_mrn(rng: random.Random) -> str:
    """This trust's hospital number: a letter then seven digits (the policy's pattern)."""
    return _letters(rng, 1) + _digits(rng, 7)


def other_mrn(rng: random.Random) -> str:
    """Other trusts' hospital numbers: prefixes, check letters, slashes."""
    return rng.choice(
        (
            f"RGT{_digits(rng, 7)}",
            f"ESH/{_digits(rng, 6)}",
            f"{_digits(rng, 7)}{_letters(rng, 1)}",
            f"RDE-{_digits(rng, 6)}",
            f"MRN{_digits(rng, 8)}",
            f"NNUH {_digits(rng, 3)} {_digits(rng, 4)}",
            f"K{_digits(rng, 6)}X",
            f"{_letters(rng, 2)}{_digits(rng, 6)}",
        )
    )


def crime_ref(rng: random.Random) -> str:
    return rng.choice(
        (
            f"42/{_digits(rng, 5)}/{rng.randint(19, 24)}",
            f"EP-{rng.randint(19, 24)}-{_digits(rng, 6)}",
            f"CAD {_digits(rng, 4)}",
            f"SC/{rng.randint(2019, 2024)}/{_digits(rng, 5)}",
            f"MASH-{_digits(rng, 6)}",
        )
    )


def passport(rng: random.Random) -> str:
    return rng.choice((_digits(rng, 9), f"{_letters(rng, 2)}{_digits(rng, 7)}"))


def vehicle_reg(rng: random.Random) -> str:
    """Current-style registration: two letters, two digits, three letters."""
    letters = "ABCDEFGHJKLMNOPRSTUVWXY"
    area = rng.choice(letters) + rng.choice(letters)
    tail = "".join(rng.choice(letters) for _ in range(3))
    return f"{area}{rng.choice(('19', '21', '68', '70', '15', '63', '23'))} {tail}"


def gmc(rng: random.Random) -> str:
    return _digits(rng, 7)


def nmc(rng: random.Random) -> str:
    return f"{_digits(rng, 2)}{_letters(rng, 1)}{_digits(rng, 4)}{_letters(rng, 1)}"


def ni_number(rng: random.Random) -> str:
    a = rng.choice("ABCEGHJKLMNPRSTWXYZ") + rng.choice("ABCEGHJKLMNPRSTWXYZ")
    return f"{a} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {rng.choice('ABCD')}"


# ------------------------------------------------------------------- phones and e-mail
def phone(rng: random.Random) -> str:
    """UK numbers in the groupings people type, sometimes with an extension."""
    mobile = f"07{_digits(rng, 3)}{_digits(rng, 6)}"
    area = rng.choice(("01206", "01473", "01245", "01787", "0161", "0113", "020", "01255"))
    local = _digits(rng, 6 if len(area) == 5 else 7 if len(area) == 4 else 8)
    text = rng.choice(
        (
            mobile,
            f"{mobile[:5]} {mobile[5:]}",
            f"{mobile[:5]} {mobile[5:8]} {mobile[8:]}",
            f"+44 {mobile[1:5]} {mobile[5:]}",
            f"+44 (0){mobile[1:5]} {mobile[5:8]} {mobile[8:]}",
            f"0044 {mobile[1:]}",
            f"{area} {local}",
            f"({area}) {local[:3]}-{local[3:]}",
            f"{area}-{local}",
            f"{area} {local[:3]} {local[3:]}",
        )
    )
    if rng.random() < 0.2:
        ext = _digits(rng, 4)
        text += rng.choice((f" ext {ext}", f" ext. {ext}", f" x{ext}", f" (ext {ext})"))
    return text


DOMAINS = (
    "btinternet.com",
    "outlook.co.uk",
    "hotmail.co.uk",
    "gmail.com",
    "yahoo.co.uk",
    "nhs.net",
    "esneft.nhs.uk",
    "student.uea.ac.uk",
    "essex.ac.uk",
    "mail.tendring.sch.uk",
    "colchester.gov.uk",
    "sky.com",
    "virginmedia.com",
    "protonmail.com",
    "talktalk.net",
    "icloud.com",
)


def email(rng: random.Random, first: str, last: str) -> str:
    f, la = first.lower().replace("'", ""), last.lower().replace("'", "").replace(" ", "")
    local = rng.choice(
        (f"{f}.{la}", f"{f[0]}.{la}", f"{f}{la}{rng.randint(1, 99)}", f"{la}{f[0]}", f"{f}_{la}")
    )
    return f"{local}@{rng.choice(DOMAINS)}"


def url(rng: random.Random, first: str, last: str) -> str:
    """Profiles and blogs, usually without a scheme."""
    f, la = first.lower().replace("'", ""), last.lower().replace("'", "").replace(" ", "")
    text = rng.choice(
        (
            f"facebook.com/{f}.{la}{rng.randint(1, 99)}",
            f"instagram.com/{f}_{la}",
            f"tiktok.com/@{f}{la}",
            f"linkedin.com/in/{f}-{la}-{rng.randint(100, 999)}",
            f"x.com/{f}{la[:3]}",
            f"{f}{la}writes.wordpress.com",
            f"www.{la}family.co.uk/blog",
            f"{f}-{la}.blogspot.com/2023/03/update.html",
            f"gofundme.com/f/help-{f}-{la}",
        )
    )
    if rng.random() < 0.15:
        text = "https://" + text
    return text


# ------------------------------------------------------------------------------- dates
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

DATE_FORMS = (
    "iso",
    "iso_t",
    "slash",
    "slash_time",
    "dash_mon_time",
    "dash_mon",
    "dots_short",
    "long",
    "ordinal_long",
    "month_year",
    "day_month_slash",
    "ordinal_mon",
    "weekday_short",
    "weekday_long",
    "slash_time_colon",
)


def ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def render_date(rng: random.Random, when: datetime, form: str | None = None) -> str:
    """``when`` in a clinical form; forms with times carry the time inside the date span."""
    form = form or rng.choice(DATE_FORMS)
    d, m, y = when.day, when.month, when.year
    mon, month, wd = MONTHS[m - 1][:3], MONTHS[m - 1], DAYS[when.weekday()]
    hhmm, hh_mm = when.strftime("%H%M"), when.strftime("%H:%M")
    return {
        "iso": f"{y:04d}-{m:02d}-{d:02d}",
        "iso_t": f"{y:04d}-{m:02d}-{d:02d}T{hh_mm}",
        "slash": f"{d:02d}/{m:02d}/{y}",
        "slash_time": f"{d:02d}/{m:02d}/{y} {hhmm}",
        "slash_time_colon": f"{d:02d}/{m:02d}/{y} {hh_mm}",
        "dash_mon_time": f"{d:02d}-{mon}-{y} {hh_mm}",
        "dash_mon": f"{d}-{mon}-{y}",
        "dots_short": f"{d}.{m}.{y % 100:02d}",
        "long": f"{d} {month} {y}",
        "ordinal_long": f"{ordinal(d)} {month} {y}",
        "month_year": f"{month} {y}",
        "day_month_slash": f"{d:02d}/{m:02d}",
        "ordinal_mon": f"{ordinal(d)} {mon}",
        "weekday_short": f"{wd[:3]} {d} {mon}",
        "weekday_long": f"{wd} {ordinal(d)} {month} {y}",
    }[form]


def random_datetime(rng: random.Random, start: date, days: int) -> datetime:
    """A moment within ``days`` days after ``start``, at a plausible clinical minute."""
    day = start + timedelta(days=rng.randint(0, days))
    return datetime(day.year, day.month, day.day, rng.randint(0, 23), rng.choice(range(0, 60, 5)))
