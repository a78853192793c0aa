import datetime as dt

import pytest

from core.errors import InvalidInput, InvalidTransition
from core.payments import PAYMENT_ERROR_CODES, LineStatus, advance, payment_window, transition
from core.rates import RateBook

D = dt.date
BOOK = RateBook.load()


def test_window_is_the_4th_to_the_27th() -> None:
    w = payment_window(D(2026, 3, 15), BOOK)
    assert (w.month, w.first_day, w.last_day) == (D(2026, 3, 1), D(2026, 3, 4), D(2026, 3, 27))
    w = payment_window(D(2026, 2, 1), BOOK)
    assert (w.first_day, w.last_day) == (D(2026, 2, 4), D(2026, 2, 27))


@pytest.mark.parametrize("on, position", [
    (D(2026, 3, 3), "before"), (D(2026, 3, 4), "open"), (D(2026, 3, 27), "open"), (D(2026, 3, 28), "after"),
])
def test_window_position(on: dt.date, position: str) -> None:
    w = payment_window(on, BOOK)
    assert w.position(on) == position
    assert w.contains(on) == (position == "open")


def test_last_day_is_clamped_to_a_short_month() -> None:
    data = RateBook.shipped_data()
    data["tables"]["payment_window"]["rows"][0]["value"]["last_day"] = 30
    assert payment_window(D(2026, 2, 1), RateBook.from_dict(data)).last_day == D(2026, 2, 28)


@pytest.mark.parametrize("current, target", [
    ("scheduled", "sent"), ("sent", "paid"), ("sent", "failed"), ("failed", "scheduled"),
])
def test_allowed(current: str, target: str) -> None:
    assert transition(current, target) == target


@pytest.mark.parametrize("current, target", [
    ("scheduled", "paid"), ("paid", "failed"), ("paid", "scheduled"), ("failed", "paid"), ("sent", "scheduled"),
])
def test_refused(current: str, target: str) -> None:
    with pytest.raises(InvalidTransition) as e:
        transition(current, target)
    assert e.value.code == "payment.transition"
    assert (e.value.current, e.value.target) == (current, target)


def test_unknown_state() -> None:
    with pytest.raises(InvalidInput) as e:
        transition("sent", "lost")
    assert e.value.code == "payment.unknown_state"


def test_failure_carries_a_reason_and_a_retry_clears_it() -> None:
    line = advance(advance(LineStatus(), "sent"), "failed", reason="bank.card_closed")
    assert line == LineStatus("failed", "bank.card_closed")
    retry = advance(line, "scheduled")
    assert retry == LineStatus("scheduled", None)
    assert advance(advance(retry, "sent"), "paid") == LineStatus("paid", None)


def test_failure_needs_a_reason() -> None:
    with pytest.raises(InvalidInput) as e:
        advance(LineStatus("sent"), "failed")
    assert e.value.code == "payment.failure_reason_required"
    assert set(PAYMENT_ERROR_CODES) == {"payment.transition", "payment.unknown_state",
                                        "payment.failure_reason_required"}
