"""Pure rules of payment: the monthly payment window, a payroll line's id and its status.

A payroll line moves ``scheduled → sent → paid | failed``; a failed line carries the bank's
reason code and may go back to ``scheduled`` for a retry in a later run.
"""

from __future__ import annotations

import calendar
import datetime as dt
import unicodedata
from dataclasses import dataclass

from core.errors import InvalidInput, InvalidTransition
from core.rates import RateBook

PAYMENT_ERROR_CODES: tuple[str, ...] = (
    "payment.transition",
    "payment.unknown_state",
    "payment.failure_reason_required",
)

SCHEDULED = "scheduled"
SENT = "sent"
PAID = "paid"
FAILED = "failed"
STATES: tuple[str, ...] = (SCHEDULED, SENT, PAID, FAILED)

TRANSITIONS: dict[str, frozenset[str]] = {
    SCHEDULED: frozenset({SENT}),
    SENT: frozenset({PAID, FAILED}),
    PAID: frozenset(),
    FAILED: frozenset({SCHEDULED}),
}


@dataclass(frozen=True, slots=True)
class PaymentWindow:
    """The days, both inclusive, between which a month's benefit is paid."""

    month: dt.date
    first_day: dt.date
    last_day: dt.date

    def contains(self, on: dt.date) -> bool:
        return self.first_day <= on <= self.last_day

    def position(self, on: dt.date) -> str:
        """``'before'``, ``'open'`` or ``'after'`` the window, for "when is my payment"."""
        if on < self.first_day:
            return "before"
        return "open" if on <= self.last_day else "after"


def payment_window(month: dt.date, book: RateBook) -> PaymentWindow:
    """The window of the month containing ``month`` (the 4th to the 27th), from the book row in
    force on the first of that month."""
    first = month.replace(day=1)
    rule = book.payment_window.in_force(first)
    last_day = min(rule.last_day, calendar.monthrange(first.year, first.month)[1])
    return PaymentWindow(first, first.replace(day=rule.first_day), first.replace(day=last_day))


# A name is stored in columns of this many characters (payment_cycles.opened_by, audit_log.actor_id).
STAFF_NAME_LIMIT = 80


def staff_name(typed: str) -> str:
    """A staff member's name as recorded: without the characters nobody sees (format characters
    such as U+200B or a bidi mark, controls), NFKC (full-width and other compatibility forms read
    as their plain letters), single spaces, no edge spaces. Empty when no name was given."""
    visible = "".join(ch if ch.isspace() or unicodedata.category(ch) not in ("Cf", "Cc") else ""
                      for ch in typed)
    return " ".join(unicodedata.normalize("NFKC", visible).split())


def same_person(a: str | None, b: str) -> bool:
    """Maker-checker compares people, not spellings: "Alice", "alice " and "alice" with an invisible
    character in it are one person."""
    return a is not None and _person_key(a) == _person_key(b)


def _person_key(name: str) -> str:
    # casefold() can leave a string that is no longer NFKC (e.g. U+0130 → i + U+0307): normalise again.
    return unicodedata.normalize("NFKC", staff_name(name).casefold())


# Enrolment ids below this number fit in a month's block of line ids.
MONTH_BLOCK = 10_000_000_000


def month_line_ids(month: dt.date) -> tuple[int, int]:
    """The first and the last id a payroll line of the month containing ``month`` can have (both
    inclusive): the lines of enrolments 1 … 9,999,999,999, see :func:`line_id`."""
    base = (month.year * 100 + month.month) * MONTH_BLOCK
    return base + 1, base + MONTH_BLOCK - 1


def line_id(month: dt.date, enrolment_id: int) -> int:
    """The id of the payroll line paying enrolment ``enrolment_id`` in the month containing
    ``month``: ``YYYYMM`` then the enrolment id on ten digits (enrolment 12345 in March 2027 is
    202703_0000012345).

    Computed, not drawn from a sequence, so that the primary key alone guarantees one line per
    enrolment per month (a second unique index cost a national payroll as much as writing its
    rows), a month's lines are one range of the key (read and deleted by a range scan, in
    enrolment order) and freezing draws no sequence value per line. Below 2**53 until the year
    9007, so a JSON client reads it exactly. Lines written before migration 0006 keep the
    smaller ids a sequence gave them (:data:`FIRST_LINE_ID`).
    """
    if not 0 < enrolment_id < MONTH_BLOCK:
        raise ValueError(f"enrolment id {enrolment_id} does not fit in a month's block of line ids")
    first, _ = month_line_ids(month)
    return first - 1 + enrolment_id


# Below it: a line numbered by a sequence before migration 0006 (no sequence reached it).
FIRST_LINE_ID = month_line_ids(dt.date.min)[0]


@dataclass(frozen=True, slots=True)
class LineStatus:
    """A payroll line's status; ``failure_reason`` is the bank's reason code when ``failed``."""

    status: str = SCHEDULED
    failure_reason: str | None = None


def transition(current: str, target: str) -> str:
    """Check a move of a payroll line's status; returns ``target`` when it is allowed."""
    for state in (current, target):
        if state not in TRANSITIONS:
            raise InvalidInput("payment.unknown_state", state=state)
    if target not in TRANSITIONS[current]:
        raise InvalidTransition("payment.transition", current=current, target=target)
    return target


def advance(line: LineStatus, target: str, *, reason: str | None = None) -> LineStatus:
    """Move a line; moving to ``failed`` needs a reason code, any other move clears it."""
    transition(line.status, target)
    if target == FAILED:
        if not reason:
            raise InvalidInput("payment.failure_reason_required")
        return LineStatus(FAILED, reason)
    return LineStatus(target, None)
