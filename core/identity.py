"""Validated identifiers of a person: PINFL, passport / ID card, mobile number.

Each value type is a frozen dataclass built only through ``parse`` (or, for synthetic data,
:func:`make_pinfl`), so a ``Pinfl`` or an ``Msisdn`` in hand is always a valid one. Refusals
raise :class:`core.errors.InvalidInput` with a reason code from the ``*_ERROR_CODES`` tuples.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, carrier

from core.errors import InvalidInput

PINFL_ERROR_CODES: tuple[str, ...] = (
    "pinfl.format",
    "pinfl.century",
    "pinfl.birth_date",
    "pinfl.check_digit",
)
PASSPORT_ERROR_CODES: tuple[str, ...] = ("passport.format",)
PHONE_ERROR_CODES: tuple[str, ...] = ("phone.invalid", "phone.not_uzbek", "phone.not_mobile")
IDENTITY_ERROR_CODES: tuple[str, ...] = PINFL_ERROR_CODES + PASSPORT_ERROR_CODES + PHONE_ERROR_CODES

# The first PINFL digit says the century and the sex: odd male, even female.
_CENTURY_BY_DIGIT: dict[int, int] = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}
_DIGIT_BY_CENTURY: dict[tuple[int, bool], int] = {(c, d % 2 == 1): d for d, c in _CENTURY_BY_DIGIT.items()}
_PINFL_WEIGHTS = (7, 3, 1)
_WEIGHTS_13 = _PINFL_WEIGHTS * 4 + _PINFL_WEIGHTS[:1]  # digit by digit: the seed makes millions


def age_on(birth_date: dt.date, on: dt.date) -> int:
    """Whole years lived on ``on``; someone born on 29 February turns a year older on 1 March
    in common years."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def pinfl_check_digit(first13: str) -> int:
    """Check digit of a PINFL: digits 1–13 weighted 7, 3, 1, 7, 3, 1, … summed, mod 10
    (Cabinet resolution 177 of 2022)."""
    if len(first13) != 13 or not first13.isascii() or not first13.isdigit():
        raise InvalidInput("pinfl.format")
    return sum(map(int.__mul__, map(int, first13), _WEIGHTS_13)) % 10


@dataclass(frozen=True, slots=True)
class Pinfl:
    """A personal identification number (JShShIR): ``C DDMMYY RRR NNN K``, 14 digits."""

    value: str

    @classmethod
    def parse(cls, text: str, *, today: dt.date | None = None) -> Pinfl:
        """Validate a typed PINFL (spaces allowed); a birth date after ``today`` is refused."""
        digits = "".join(text.split())
        if len(digits) != 14 or not digits.isascii() or not digits.isdigit():
            raise InvalidInput("pinfl.format")
        century = _CENTURY_BY_DIGIT.get(int(digits[0]))
        if century is None:
            raise InvalidInput("pinfl.century", digit=digits[0])
        try:
            born = dt.date(century + int(digits[5:7]), int(digits[3:5]), int(digits[1:3]))
        except ValueError:
            raise InvalidInput("pinfl.birth_date", digits=digits[1:7]) from None
        if today is not None and born > today:
            raise InvalidInput("pinfl.birth_date", digits=digits[1:7])
        if pinfl_check_digit(digits[:13]) != int(digits[13]):
            raise InvalidInput("pinfl.check_digit")
        return cls(digits)

    @property
    def birth_date(self) -> dt.date:
        century = _CENTURY_BY_DIGIT[int(self.value[0])]
        v = self.value
        return dt.date(century + int(v[5:7]), int(v[3:5]), int(v[1:3]))

    @property
    def sex(self) -> str:
        """``'m'`` or ``'f'``."""
        return "m" if int(self.value[0]) % 2 == 1 else "f"

    @property
    def place(self) -> int:
        return int(self.value[7:10])

    @property
    def serial(self) -> int:
        return int(self.value[10:13])

    def mask(self) -> str:
        """For logs: birth date part and the last three digits, e.g. ``312106*****244``."""
        return f"{self.value[:6]}*****{self.value[11:]}"

    def __str__(self) -> str:
        return self.value


def make_pinfl(birth_date: dt.date, sex: str, place: int, serial: int) -> Pinfl:
    """Build a valid PINFL for synthetic data (demo households, tests)."""
    if sex not in ("m", "f"):
        raise InvalidInput("pinfl.format", sex=sex)
    if not (0 <= place <= 999 and 0 <= serial <= 999):
        raise InvalidInput("pinfl.format", place=place, serial=serial)
    digit = _DIGIT_BY_CENTURY.get((birth_date.year - birth_date.year % 100, sex == "m"))
    if digit is None:
        raise InvalidInput("pinfl.century", year=birth_date.year)
    first13 = f"{digit}{birth_date.day:02d}{birth_date.month:02d}{birth_date.year % 100:02d}{place:03d}{serial:03d}"
    return Pinfl(first13 + str(pinfl_check_digit(first13)))


# Cyrillic capitals that look like Latin ones: people switch keyboard layouts mid-word.
_CYRILLIC_LOOKALIKES = str.maketrans("АВЕКМНОРСТХУ", "ABEKMHOPCTXY")
_PASSPORT_RE = re.compile(r"[A-Z]{2}[0-9]{7}")


@dataclass(frozen=True, slots=True)
class Passport:
    """A passport or ID card number: two Latin letters and seven digits, ``AA1234567``."""

    value: str

    @classmethod
    def parse(cls, text: str) -> Passport:
        """Upper-case, drop spaces, read Cyrillic look-alike letters as Latin."""
        cleaned = "".join(text.split()).upper().translate(_CYRILLIC_LOOKALIKES)
        if not _PASSPORT_RE.fullmatch(cleaned):
            raise InvalidInput("passport.format")
        return cls(cleaned)

    @property
    def series(self) -> str:
        return self.value[:2]

    @property
    def number(self) -> str:
        return self.value[2:]

    def __str__(self) -> str:
        return self.value


# Only what people put around digits; letters are refused before phonenumbers would read them
# as a vanity number (``90 ABC 45 67``).
_PHONE_CHARS_RE = re.compile(r"\+?[0-9 \-().\u00a0]+")
_UZ_COUNTRY_CODE = 998
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


@dataclass(frozen=True, slots=True)
class Msisdn:
    """An Uzbek mobile number in E.164, ``+998901234567``."""

    e164: str

    @classmethod
    def parse(cls, text: str) -> Msisdn:
        """Accept the forms people type: ``+998 (90) 123-45-67``, ``998901234567``,
        ``90 123 45 67``, ``901234567``, ``8 90 123 45 67``.

        Validity, country and line type come from the phonenumbers metadata, never a fixed list
        of prefixes: new operator ranges appear.
        """
        stripped = text.strip()
        if not _PHONE_CHARS_RE.fullmatch(stripped):
            raise InvalidInput("phone.invalid")
        digits = re.sub(r"[^0-9]", "", stripped)
        if stripped.startswith("+"):
            candidate = "+" + digits
        elif len(digits) == 10 and digits.startswith("8"):
            # The old Soviet trunk prefix; phonenumbers knows no trunk prefix for UZ.
            candidate = digits[1:]
        else:
            candidate = digits
        try:
            number = phonenumbers.parse(candidate, "UZ")
        except phonenumbers.NumberParseException:
            raise InvalidInput("phone.invalid") from None
        if not phonenumbers.is_valid_number(number):
            raise InvalidInput("phone.invalid")
        if number.country_code != _UZ_COUNTRY_CODE:
            raise InvalidInput("phone.not_uzbek", country_code=number.country_code)
        if phonenumbers.number_type(number) not in _MOBILE_TYPES:
            raise InvalidInput("phone.not_mobile")
        return cls(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))

    @property
    def operator(self) -> str:
        """The carrier's brand as phonenumbers names it (``Beeline``, ``Ucell``, ``MobiUZ``);
        empty when its table does not know the range."""
        return str(carrier.name_for_number(phonenumbers.parse(self.e164), "en"))

    @property
    def national(self) -> str:
        """``90 123 45 67``: how the number is read out in Uzbekistan."""
        n = self.e164[4:]
        return f"{n[:2]} {n[2:5]} {n[5:7]} {n[7:]}"

    def mask(self) -> str:
        """For logs: ``+99890*****67``."""
        return f"{self.e164[:6]}*****{self.e164[-2:]}"

    def __str__(self) -> str:
        return self.e164
