import datetime as dt

import pytest

from core.applications import (
    APPLICATION_ERROR_CODES,
    PROGRAMMES,
    STATES,
    add_months,
    application_month,
    decision_month,
    enrolment_period,
    notice_by,
    transition,
)
from core.errors import InvalidInput, InvalidTransition
from core.rates import RateBook

D = dt.date
BOOK = RateBook.load()


class TestCutOff:
    @pytest.mark.parametrize("submitted, month", [
        (D(2026, 3, 1), D(2026, 3, 1)),
        (D(2026, 3, 16), D(2026, 3, 1)),  # the 16th is in
        (D(2026, 3, 17), D(2026, 4, 1)),
        (D(2026, 3, 31), D(2026, 4, 1)),
        (D(2026, 2, 28), D(2026, 3, 1)),
        (D(2025, 12, 16), D(2025, 12, 1)),
        (D(2025, 12, 17), D(2026, 1, 1)),  # December → January
    ])
    def test_decision_month(self, submitted: dt.date, month: dt.date) -> None:
        assert decision_month(submitted, BOOK) == month

    def test_cut_off_day_comes_from_the_book(self) -> None:
        data = RateBook.shipped_data()
        data["tables"]["applications"]["rows"][0]["value"]["cutoff_day"] = 20
        assert decision_month(D(2026, 3, 20), RateBook.from_dict(data)) == D(2026, 3, 1)

    def test_notice_by_the_first_of_the_next_month(self) -> None:
        assert notice_by(D(2026, 3, 1)) == D(2026, 4, 1)
        assert notice_by(D(2025, 12, 1)) == D(2026, 1, 1)

    def test_application_month(self) -> None:
        assert application_month(D(2026, 3, 31)) == D(2026, 3, 1)
        assert application_month(D(2026, 3, 1)) == application_month(D(2026, 3, 17))


class TestEnrolment:
    def test_first_payment_is_the_month_after_the_decision_month(self) -> None:
        assert enrolment_period(D(2026, 3, 1), 6) == (D(2026, 4, 1), D(2026, 9, 1))
        assert enrolment_period(D(2025, 12, 1), 12) == (D(2026, 1, 1), D(2026, 12, 1))
        assert enrolment_period(D(2025, 11, 1), 1) == (D(2025, 12, 1), D(2025, 12, 1))

    def test_at_least_one_month(self) -> None:
        with pytest.raises(InvalidInput) as e:
            enrolment_period(D(2026, 3, 1), 0)
        assert e.value.code == "application.months"


class TestStates:
    @pytest.mark.parametrize("current, target", [
        ("submitted", "verifying"),
        ("submitted", "rejected"),
        ("verifying", "approved"),
        ("verifying", "rejected"),
        ("approved", "enrolled"),
        ("enrolled", "expired"),
    ])
    def test_allowed(self, current: str, target: str) -> None:
        assert transition(current, target) == target

    @pytest.mark.parametrize("current, target", [
        ("submitted", "approved"),
        ("verifying", "enrolled"),
        ("rejected", "verifying"),
        ("approved", "rejected"),
        ("expired", "enrolled"),
        ("enrolled", "submitted"),
        ("submitted", "submitted"),
    ])
    def test_refused(self, current: str, target: str) -> None:
        with pytest.raises(InvalidTransition) as e:
            transition(current, target)
        assert e.value.code == "application.transition"
        assert (e.value.current, e.value.target) == (current, target)
        assert e.value.params == {"current": current, "target": target}

    def test_unknown_state(self) -> None:
        with pytest.raises(InvalidInput) as e:
            transition("submitted", "paid")
        assert e.value.code == "application.unknown_state"

    def test_names(self) -> None:
        assert STATES == ("submitted", "verifying", "approved", "rejected", "enrolled", "expired")
        assert PROGRAMMES == ("child_benefit", "material_assistance")
        assert APPLICATION_ERROR_CODES == ("application.transition", "application.unknown_state",
                                           "application.months")


@pytest.mark.parametrize("start, n, end", [
    (D(2026, 1, 31), 1, D(2026, 2, 28)),
    (D(2024, 1, 31), 1, D(2024, 2, 29)),
    (D(2026, 3, 31), 1, D(2026, 4, 30)),
    (D(2025, 12, 15), 1, D(2026, 1, 15)),
    (D(2024, 2, 29), 12, D(2025, 2, 28)),
    (D(2026, 3, 1), -3, D(2025, 12, 1)),
])
def test_add_months_clamps_to_the_month_end(start: dt.date, n: int, end: dt.date) -> None:
    assert add_months(start, n) == end
