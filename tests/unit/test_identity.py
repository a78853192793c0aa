import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.identity import (
    IDENTITY_ERROR_CODES,
    Msisdn,
    Passport,
    Pinfl,
    age_on,
    make_pinfl,
    pinfl_check_digit,
)


def code_of(exc_info: pytest.ExceptionInfo[InvalidInput]) -> str:
    return exc_info.value.code


class TestPinfl:
    @pytest.mark.parametrize("text, born", [
        ("31210632040244", dt.date(1963, 10, 12)),
        ("31210932040247", dt.date(1993, 10, 12)),
        (" 3121 0632 0402 44 ", dt.date(1963, 10, 12)),
    ])
    def test_domain_examples_are_valid(self, text: str, born: dt.date) -> None:
        p = Pinfl.parse(text)
        assert p.birth_date == born
        assert p.sex == "m"
        assert str(p) == text.replace(" ", "")

    def test_public_package_example_fails_the_check(self) -> None:
        with pytest.raises(InvalidInput) as e:
            Pinfl.parse("30101990123458")
        assert code_of(e) == "pinfl.check_digit"

    def test_check_digit_weights(self) -> None:
        assert pinfl_check_digit("3121063204024") == 4
        assert pinfl_check_digit("3121093204024") == 7

    @pytest.mark.parametrize("text, code", [
        ("3121063204024", "pinfl.format"),
        ("312106320402444", "pinfl.format"),
        ("3121063204024A", "pinfl.format"),
        ("", "pinfl.format"),
        ("٣1210632040244", "pinfl.format"),  # an Arabic-Indic digit
        ("01210632040244", "pinfl.century"),
        ("71210632040244", "pinfl.century"),
        ("33202632040244", "pinfl.birth_date"),  # 32 February
        ("32902630000000", "pinfl.birth_date"),  # 29 February 1963
        ("31210632040245", "pinfl.check_digit"),
    ])
    def test_refusals(self, text: str, code: str) -> None:
        with pytest.raises(InvalidInput) as e:
            Pinfl.parse(text)
        assert code_of(e) == code

    def test_future_birth_date_refused_only_with_today(self) -> None:
        p = make_pinfl(dt.date(2026, 5, 1), "f", 1, 2)
        assert Pinfl.parse(p.value) == p
        with pytest.raises(InvalidInput) as e:
            Pinfl.parse(p.value, today=dt.date(2026, 4, 30))
        assert code_of(e) == "pinfl.birth_date"
        assert Pinfl.parse(p.value, today=dt.date(2026, 5, 1)) == p

    def test_sex_and_century_digits(self) -> None:
        assert make_pinfl(dt.date(1899, 1, 1), "m", 0, 0).value[0] == "1"
        assert make_pinfl(dt.date(1899, 1, 1), "f", 0, 0).value[0] == "2"
        assert make_pinfl(dt.date(1950, 1, 1), "f", 0, 0).value[0] == "4"
        assert make_pinfl(dt.date(2000, 1, 1), "m", 0, 0).value[0] == "5"
        assert make_pinfl(dt.date(2012, 2, 29), "f", 0, 0).sex == "f"
        with pytest.raises(InvalidInput):
            make_pinfl(dt.date(2100, 1, 1), "m", 0, 0)

    def test_mask(self) -> None:
        assert Pinfl.parse("31210632040244").mask() == "312106*****244"

    @given(
        born=st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2099, 12, 31)),
        sex=st.sampled_from(["m", "f"]),
        place=st.integers(0, 999),
        serial=st.integers(0, 999),
    )
    def test_make_pinfl_round_trips(self, born: dt.date, sex: str, place: int, serial: int) -> None:
        p = make_pinfl(born, sex, place, serial)
        parsed = Pinfl.parse(p.value)
        assert parsed == p
        assert (parsed.birth_date, parsed.sex, parsed.place, parsed.serial) == (born, sex, place, serial)

    @given(st.integers(0, 12), st.integers(1, 9))
    def test_any_single_digit_change_fails_the_check(self, position: int, delta: int) -> None:
        value = "31210632040244"
        changed = value[:position] + str((int(value[position]) + delta) % 10) + value[position + 1:]
        with pytest.raises(InvalidInput):
            Pinfl.parse(changed)


def test_age_on_counts_whole_years() -> None:
    assert age_on(dt.date(2020, 7, 1), dt.date(2023, 6, 30)) == 2
    assert age_on(dt.date(2020, 7, 1), dt.date(2023, 7, 1)) == 3
    assert age_on(dt.date(2020, 2, 29), dt.date(2021, 2, 28)) == 0
    assert age_on(dt.date(2020, 2, 29), dt.date(2021, 3, 1)) == 1


class TestPassport:
    @pytest.mark.parametrize("text", ["AA1234567", "aa 123 45 67", " Aa1234567", "АА1234567"])
    def test_accepted(self, text: str) -> None:
        p = Passport.parse(text)
        assert str(p) == "AA1234567"
        assert (p.series, p.number) == ("AA", "1234567")

    @pytest.mark.parametrize("text", ["A1234567", "AA123456", "AA12345678", "1234567AA", "ÄA1234567", ""])
    def test_refused(self, text: str) -> None:
        with pytest.raises(InvalidInput) as e:
            Passport.parse(text)
        assert code_of(e) == "passport.format"


class TestMsisdn:
    @pytest.mark.parametrize("text", [
        "+998 (90) 123-45-67",
        "+998901234567",
        "998901234567",
        "90 123 45 67",
        "901234567",
        "8 90 123 45 67",
        "8(90)123-45-67",
        "00998901234567",
    ])
    def test_typed_forms(self, text: str) -> None:
        m = Msisdn.parse(text)
        assert str(m) == "+998901234567"
        assert m.operator == "Beeline"
        assert m.national == "90 123 45 67"

    @pytest.mark.parametrize("text, operator", [
        ("+998 93 123 45 67", "Ucell"),
        ("+998 33 123 45 67", "HUMANS"),
        ("+998 99 123 45 67", "Uzbektelecom"),
        ("+998 88 123 45 67", "MobiUZ"),
        ("+998 98 123 45 67", "Perfectum"),
    ])
    def test_operator_from_metadata(self, text: str, operator: str) -> None:
        assert Msisdn.parse(text).operator == operator

    @pytest.mark.parametrize("text, code", [
        ("+998 71 123 45 67", "phone.not_mobile"),  # Tashkent fixed line
        ("+998 55 123 45 67", "phone.not_mobile"),
        ("+7 912 345 67 89", "phone.not_uzbek"),
        ("+998 90 123 45 6", "phone.invalid"),
        ("+998 90 123 45 678", "phone.invalid"),
        ("90 ABC 45 67", "phone.invalid"),  # vanity letters are not read as digits
        ("ninety", "phone.invalid"),
        ("", "phone.invalid"),
        ("0090 123 45 67", "phone.invalid"),
    ])
    def test_refusals(self, text: str, code: str) -> None:
        with pytest.raises(InvalidInput) as e:
            Msisdn.parse(text)
        assert code_of(e) == code

    def test_mask(self) -> None:
        assert Msisdn.parse("901234567").mask() == "+99890*****67"


def test_error_codes_are_listed() -> None:
    assert set(IDENTITY_ERROR_CODES) == {
        "pinfl.format", "pinfl.century", "pinfl.birth_date", "pinfl.check_digit",
        "passport.format", "phone.invalid", "phone.not_uzbek", "phone.not_mobile",
    }
