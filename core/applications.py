"""Pure rules of an application: its states, the month it is decided in, and its enrolment.

States: ``submitted → verifying → approved | rejected``, ``approved → enrolled → expired``,
and ``submitted → rejected`` for a refusal that needs no verification (a duplicate in the
month, an excluded family known at once).

Months are represented by their first day (``date(2026, 3, 1)`` is March 2026).
"""

from __future__ import annotations

import calendar
import datetime as dt

from core.amounts import CHILD_BENEFIT, MATERIAL_ASSISTANCE
from core.errors import InvalidInput, InvalidTransition
from core.rates import RateBook

APPLICATION_ERROR_CODES: tuple[str, ...] = ("application.transition", "application.unknown_state",
                                            "application.months")

SUBMITTED = "submitted"
VERIFYING = "verifying"
APPROVED = "approved"
REJECTED = "rejected"
ENROLLED = "enrolled"
EXPIRED = "expired"
STATES: tuple[str, ...] = (SUBMITTED, VERIFYING, APPROVED, REJECTED, ENROLLED, EXPIRED)
TERMINAL_STATES: frozenset[str] = frozenset({REJECTED, EXPIRED})

PROGRAMMES: tuple[str, ...] = (CHILD_BENEFIT, MATERIAL_ASSISTANCE)

TRANSITIONS: dict[str, frozenset[str]] = {
    SUBMITTED: frozenset({VERIFYING, REJECTED}),
    VERIFYING: frozenset({APPROVED, REJECTED}),
    APPROVED: frozenset({ENROLLED}),
    ENROLLED: frozenset({EXPIRED}),
    REJECTED: frozenset(),
    EXPIRED: frozenset(),
}


def first_of_month(d: dt.date) -> dt.date:
    return d.replace(day=1)


def add_months(d: dt.date, n: int) -> dt.date:
    """The same day ``n`` months later (or earlier), clamped to the end of a shorter month:
    31 January + 1 month = 28 (or 29) February."""
    index = d.year * 12 + (d.month - 1) + n
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def last_day_of_month(d: dt.date) -> dt.date:
    """The last day of ``d``'s month: a period paid through its last month ends that day."""
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def transition(current: str, target: str) -> str:
    """Check a move of an application's state; returns ``target`` when it is allowed."""
    for state in (current, target):
        if state not in TRANSITIONS:
            raise InvalidInput("application.unknown_state", state=state)
    if target not in TRANSITIONS[current]:
        raise InvalidTransition("application.transition", current=current, target=target)
    return target


def application_month(submitted_on: dt.date) -> dt.date:
    """The month an application counts against for the one-per-family-per-month rule."""
    return first_of_month(submitted_on)


def decision_month(submitted_on: dt.date, book: RateBook) -> dt.date:
    """In by the cut-off day (the 16th, inclusive) → decided that month; later → next month."""
    cutoff = book.applications.in_force(submitted_on).cutoff_day
    month = first_of_month(submitted_on)
    return month if submitted_on.day <= cutoff else add_months(month, 1)


def notice_by(decision_month: dt.date) -> dt.date:
    """The family is told the decision by the 1st of the month after the decision month."""
    return add_months(first_of_month(decision_month), 1)


def enrolment_period(decision_month: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """``(first_month, last_month)`` of the payments, both inclusive.

    The first payment is for the month **after** the decision month (the decision is made
    during the decision month and announced by the 1st of the next one, whose payroll is the
    first to carry the family); ``months`` months are paid, so the last is
    ``first_month + months - 1``.
    """
    if months < 1:
        raise InvalidInput("application.months", months=months)
    first = add_months(first_of_month(decision_month), 1)
    return first, add_months(first, months - 1)
