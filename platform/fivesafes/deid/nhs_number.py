"""NHS numbers: normalisation and the modulus-11 check digit.

A number is normalised before it is pseudonymised so that ``943 476 5919``,
``943-476-5919`` and ``9434765919`` give one pseudonym. Errors say what is wrong with the
number, never the number itself: messages reach logs and reports.
"""

from __future__ import annotations

from fivesafes.deid.transforms import InvalidValueError

_SEPARATORS = str.maketrans("", "", " -\t")


class InvalidNhsNumberError(InvalidValueError):
    """A value that is not a valid NHS number; the message never contains the value."""


def normalise_nhs_number(raw: str) -> str:
    """The 10 digits of ``raw`` with spaces and hyphens removed, check digit verified.

    Raises :class:`InvalidNhsNumberError` with a reason (wrong length, not digits, bad check
    digit) that is safe to show: it never repeats the input.
    """
    digits = raw if (len(raw) == 10 and raw.isdigit()) else raw.strip().translate(_SEPARATORS)
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        if not digits:
            raise InvalidNhsNumberError("NHS number is missing")
        if not (digits.isascii() and digits.isdigit()):
            raise InvalidNhsNumberError("NHS number contains characters other than digits")
        raise InvalidNhsNumberError(f"NHS number has {len(digits)} digits, expected 10")
    if not has_valid_check_digit(digits):
        raise InvalidNhsNumberError("NHS number fails the modulus 11 check")
    return digits


def has_valid_check_digit(digits: str) -> bool:
    """Whether 10 ASCII digits carry a correct modulus-11 check digit.

    Weights 10..2 on the first nine digits; check = 11 - (sum mod 11), 11 becomes 0 and
    10 means no valid number can be formed with those nine digits.
    """
    d = digits.encode("ascii")
    total = (
        (10 * d[0] + 9 * d[1] + 8 * d[2] + 7 * d[3] + 6 * d[4] + 5 * d[5] + 4 * d[6] + 3 * d[7])
        + 2 * d[8]
        - 54 * 48
    )  # 54 = 10+9+...+2: removes the ASCII offset of the digits
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == d[9] - 48


def is_valid_nhs_number(raw: str) -> bool:
    """Whether ``raw`` normalises to a valid NHS number."""
    try:
        normalise_nhs_number(raw)
    except InvalidNhsNumberError:
        return False
    return True


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None when none exists (generators and tests)."""
    total = sum(int(c) * w for c, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check
