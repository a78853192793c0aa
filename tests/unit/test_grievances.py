import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import Conflict, InvalidInput, InvalidTransition
from core.grievances import (
    CATEGORIES,
    CHANNELS,
    GRIEVANCE_ERROR_CODES,
    TrackingNumber,
    appeal_allowed,
    appeal_deadline,
    damm_digit,
    due_date,
    escalate,
    extend,
    is_overdue,
    new_tracking_number,
    parse_tracking_number,
    reopen,
    require_appeal_allowed,
    transition,
)
from core.rates import RateBook

D = dt.date
BOOK = RateBook.load()
NUMBER = new_tracking_number(random.Random(2026))


class TestTrackingNumbers:
    def test_shape(self) -> None:
        assert len(NUMBER.digits) == 9 and NUMBER.digits.isdigit()
        assert str(NUMBER) == f"{NUMBER.digits[:3]}-{NUMBER.digits[3:6]}-{NUMBER.digits[6:]}"
        assert damm_digit(NUMBER.digits) == 0

    def test_known_damm_digit(self) -> None:
        assert damm_digit("572") == 4
        assert parse_tracking_number("000-000-000") == TrackingNumber("000000000")

    def test_same_seed_same_number(self) -> None:
        assert new_tracking_number(random.Random(7)) == new_tracking_number(random.Random(7))

    @pytest.mark.parametrize("typed", [
        "{g}", "{d}", " {d} ", "{spaced}", "{g}".replace("-", "–"),
    ])
    def test_typed_forms(self, typed: str) -> None:
        d = NUMBER.digits
        text = typed.format(g=NUMBER.grouped, d=d, spaced=f"{d[:3]} {d[3:6]} {d[6:]}")
        assert parse_tracking_number(text) == NUMBER

    def test_letters_that_look_like_digits(self) -> None:
        n = TrackingNumber("103" + "103" + "10" + str(damm_digit("10310310")))
        assert parse_tracking_number("IO3-lОЗ-1o" + n.digits[-1]) == n  # Latin I/O/l/o, Cyrillic О/З

    def test_other_scripts_decimal_digits(self) -> None:
        full_width = "".join(chr(0xFF10 + int(c)) for c in NUMBER.digits)
        assert parse_tracking_number(full_width) == NUMBER

    @pytest.mark.parametrize("text", ["", "12345678", "1234567890", "12A-456-789", "123_456_789", "123+456+789"])
    def test_format_refused(self, text: str) -> None:
        with pytest.raises(InvalidInput) as e:
            parse_tracking_number(text)
        assert e.value.code == "grievance.number_format"

    @given(st.integers(0, 10**8 - 1), st.integers(0, 8), st.integers(1, 9))
    def test_every_single_digit_error_is_caught(self, body: int, position: int, delta: int) -> None:
        digits = f"{body:08d}"
        good = digits + str(damm_digit(digits))
        bad = good[:position] + str((int(good[position]) + delta) % 10) + good[position + 1:]
        with pytest.raises(InvalidInput) as e:
            parse_tracking_number(bad)
        assert e.value.code == "grievance.number_check"

    @given(st.integers(0, 10**8 - 1), st.integers(0, 7))
    def test_every_adjacent_swap_is_caught(self, body: int, position: int) -> None:
        digits = f"{body:08d}"
        good = digits + str(damm_digit(digits))
        if good[position] == good[position + 1]:
            return
        bad = good[:position] + good[position + 1] + good[position] + good[position + 2:]
        with pytest.raises(InvalidInput):
            parse_tracking_number(bad)


class TestStates:
    @pytest.mark.parametrize("current, target", [
        ("received", "assigned"), ("assigned", "in_progress"), ("in_progress", "answered"),
        ("answered", "closed"), ("answered", "in_progress"), ("closed", "in_progress"),
    ])
    def test_allowed(self, current: str, target: str) -> None:
        assert transition(current, target) == target

    @pytest.mark.parametrize("current, target", [
        ("received", "answered"), ("received", "in_progress"), ("assigned", "closed"), ("closed", "assigned"),
        ("in_progress", "received"),
    ])
    def test_refused(self, current: str, target: str) -> None:
        with pytest.raises(InvalidTransition) as e:
            transition(current, target)
        assert e.value.code == "grievance.transition"

    def test_reopen(self) -> None:
        assert reopen("answered") == "in_progress"
        assert reopen("closed") == "in_progress"
        with pytest.raises(InvalidTransition):
            reopen("assigned")

    def test_escalate(self) -> None:
        assert escalate("received") == "assigned"
        assert escalate("assigned") == "assigned"
        assert escalate("in_progress") == "in_progress"
        for state in ("answered", "closed"):
            with pytest.raises(InvalidTransition) as e:
                escalate(state)
            assert (e.value.current, e.value.target) == (state, "escalated")
        with pytest.raises(InvalidInput):
            escalate("lost")

    def test_unknown_state(self) -> None:
        with pytest.raises(InvalidInput) as e:
            transition("received", "escalated")
        assert e.value.code == "grievance.unknown_state"


class TestDeadlines:
    @pytest.mark.parametrize("received, needs_check, due", [
        (D(2026, 3, 1), False, D(2026, 3, 16)),
        (D(2026, 12, 20), False, D(2027, 1, 4)),
        (D(2024, 2, 20), False, D(2024, 3, 6)),  # leap year
        (D(2025, 2, 20), False, D(2025, 3, 7)),
        (D(2026, 3, 1), True, D(2026, 4, 1)),
        (D(2026, 1, 31), True, D(2026, 2, 28)),
        (D(2024, 1, 31), True, D(2024, 2, 29)),
        (D(2026, 12, 31), True, D(2027, 1, 31)),
    ])
    def test_due_date(self, received: dt.date, needs_check: bool, due: dt.date) -> None:
        assert due_date(received, needs_check, BOOK) == due

    def test_extend_once_by_at_most_a_month(self) -> None:
        assert extend(D(2026, 1, 31), 28, False, BOOK) == D(2026, 2, 28)
        with pytest.raises(InvalidInput) as e:
            extend(D(2026, 1, 31), 29, False, BOOK)
        assert e.value.code == "grievance.extension_too_long"
        assert extend(D(2026, 3, 16), 30, False, BOOK) == D(2026, 4, 15)
        assert extend(D(2026, 3, 16), 31, False, BOOK) == D(2026, 4, 16)
        with pytest.raises(InvalidInput):
            extend(D(2026, 3, 16), 32, False, BOOK)
        with pytest.raises(Conflict) as c:
            extend(D(2026, 3, 16), 5, True, BOOK)
        assert c.value.code == "grievance.already_extended"
        with pytest.raises(InvalidInput) as e:
            extend(D(2026, 3, 16), 0, False, BOOK)
        assert e.value.code == "grievance.extension_days"

    def test_appeal_within_a_year(self) -> None:
        assert appeal_deadline(D(2026, 3, 10), BOOK) == D(2027, 3, 10)
        assert appeal_deadline(D(2024, 2, 29), BOOK) == D(2025, 2, 28)
        assert appeal_allowed(D(2026, 3, 10), D(2027, 3, 10), BOOK)
        assert not appeal_allowed(D(2026, 3, 10), D(2027, 3, 11), BOOK)
        require_appeal_allowed(D(2026, 3, 10), D(2027, 3, 10), BOOK)
        with pytest.raises(Conflict) as e:
            require_appeal_allowed(D(2026, 3, 10), D(2027, 3, 11), BOOK)
        assert e.value.code == "grievance.appeal_expired"
        assert e.value.params == {"deadline": "2027-03-10"}

    def test_overdue_from_the_day_after(self) -> None:
        assert not is_overdue(D(2026, 3, 16), D(2026, 3, 16))
        assert is_overdue(D(2026, 3, 16), D(2026, 3, 17))


def test_vocabularies() -> None:
    assert "payment" in CATEGORIES and "other" in CATEGORIES
    assert CHANNELS == ("ussd", "sms", "telegram", "web", "api", "hotline")
    assert len(set(GRIEVANCE_ERROR_CODES)) == len(GRIEVANCE_ERROR_CODES) == 8
