import datetime as dt

import pytest

from core.errors import InvalidInput, InvalidTransition
from core.payments import (
    FIRST_LINE_ID,
    PAYMENT_ERROR_CODES,
    LineStatus,
    advance,
    line_id,
    month_line_ids,
    payment_window,
    same_person,
    staff_name,
    transition,
)
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


def test_a_line_id_is_the_month_then_the_enrolment_on_ten_digits() -> None:
    assert line_id(D(2027, 3, 1), 12345) == 202703_0000012345
    assert line_id(D(2027, 3, 31), 12345) == line_id(D(2027, 3, 1), 12345)
    assert month_line_ids(D(2027, 3, 9)) == (202703_0000000001, 202703_9999999999)
    first, last = month_line_ids(D(2027, 3, 1))
    assert first == line_id(D(2027, 3, 1), 1) and last == line_id(D(2027, 3, 1), 9_999_999_999)
    assert month_line_ids(D(2027, 2, 1))[1] < first and last < month_line_ids(D(2027, 4, 1))[0]
    assert month_line_ids(D(2027, 12, 1))[1] < month_line_ids(D(2028, 1, 1))[0]


@pytest.mark.parametrize("enrolment_id", [0, -1, 10_000_000_000])
def test_an_enrolment_id_that_does_not_fit_its_months_block_is_refused(enrolment_id: int) -> None:
    with pytest.raises(ValueError):
        line_id(D(2027, 3, 1), enrolment_id)


def test_line_ids_stay_above_the_sequences_and_exact_in_json() -> None:
    assert FIRST_LINE_ID == month_line_ids(D(1, 1, 1))[0] > 10**12
    assert month_line_ids(D(9006, 12, 1))[1] < 2**53


def test_a_staff_name_is_recorded_without_what_nobody_sees() -> None:
    assert staff_name("  alice\u200b \u00a0 smith\u2060\t") == "alice smith"
    assert staff_name("ａｌｉｃｅ\u200e") == "alice"
    assert staff_name("\u200b\u200d\ufeff \x07") == ""
    assert same_person("Alice Smith", "ALICE\u00ad  smith\u200b") and not same_person("alice", "alicia")
    assert same_person("İlyos", "i̇lyos") and not same_person(None, "alice")
