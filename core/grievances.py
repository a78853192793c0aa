"""Pure rules of a grievance: tracking numbers, states and the legal deadlines.

Tracking numbers are read out on the phone and typed on feature-phone keypads, so they are
digits only (no letter to mistake for a digit): 8 random digits and a Damm check digit, which
catches every single-digit error and every swap of adjacent digits. Shown as ``123-456-789``.

States: ``received → assigned → in_progress → answered → closed``; ``reopen`` takes an
answered or closed grievance back to ``in_progress``; ``escalate`` (see :func:`escalate`)
raises it to a higher body without leaving the working states.

Deadlines (Law on appeals of individuals, figures from the rate book): answer within 15 days,
or 1 month when a check is needed; one extension of at most 1 month; appeal within 1 year.
Months are calendar months: the same day next month, clamped to the month's end.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass

from core.applications import add_months
from core.errors import Conflict, InvalidInput, InvalidTransition
from core.rates import RateBook

GRIEVANCE_ERROR_CODES: tuple[str, ...] = (
    "grievance.number_format",
    "grievance.number_check",
    "grievance.transition",
    "grievance.unknown_state",
    "grievance.already_extended",
    "grievance.extension_too_long",
    "grievance.extension_days",
    "grievance.appeal_expired",
)

CATEGORIES: tuple[str, ...] = ("payment", "eligibility", "application", "data_error", "service_quality", "other")
CHANNELS: tuple[str, ...] = ("ussd", "sms", "telegram", "web", "api", "hotline")

RECEIVED = "received"
ASSIGNED = "assigned"
IN_PROGRESS = "in_progress"
ANSWERED = "answered"
CLOSED = "closed"
STATES: tuple[str, ...] = (RECEIVED, ASSIGNED, IN_PROGRESS, ANSWERED, CLOSED)
ESCALATED = "escalated"  # the target named in a refused escalation, not a state

TRANSITIONS: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({ASSIGNED}),
    ASSIGNED: frozenset({IN_PROGRESS}),
    IN_PROGRESS: frozenset({ANSWERED}),
    ANSWERED: frozenset({CLOSED, IN_PROGRESS}),  # in_progress: reopen
    CLOSED: frozenset({IN_PROGRESS}),  # reopen
}
ESCALATABLE: frozenset[str] = frozenset({RECEIVED, ASSIGNED, IN_PROGRESS})

# ---------------------------------------------------------------------------------------------
# Tracking numbers

# Damm's totally anti-symmetric quasigroup of order 10.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
_BODY_DIGITS = 8
_NUMBER_DIGITS = _BODY_DIGITS + 1

# The number holds nothing but digits, so a letter that looks like a digit can only mean it:
# Latin and Cyrillic O → 0, I / l / Ukrainian І → 1, Cyrillic З → 3.
_LOOKALIKES = str.maketrans({
    "O": "0", "o": "0", "О": "0", "о": "0",
    "I": "1", "l": "1", "|": "1", "І": "1", "і": "1",
    "З": "3", "з": "3",
})
_SEPARATORS = frozenset(" \t\u00a0-\u2010\u2011\u2012\u2013\u2014\u2212.")


def damm_digit(digits: str) -> int:
    """The Damm check digit of a string of ASCII digits (0 for a string that already ends in
    its check digit)."""
    interim = 0
    for d in digits:
        interim = _DAMM[interim][int(d)]
    return interim


@dataclass(frozen=True, slots=True)
class TrackingNumber:
    """Nine digits, the last a Damm check digit; ``str()`` gives ``123-456-789``."""

    digits: str

    @property
    def grouped(self) -> str:
        return f"{self.digits[:3]}-{self.digits[3:6]}-{self.digits[6:]}"

    def __str__(self) -> str:
        return self.grouped


def new_tracking_number(rng: random.Random) -> TrackingNumber:
    """A fresh number; the caller retries on the (rare) clash with a stored one."""
    body = f"{rng.randrange(10**_BODY_DIGITS):0{_BODY_DIGITS}d}"
    return TrackingNumber(body + str(damm_digit(body)))


def parse_tracking_number(text: str) -> TrackingNumber:
    """Read a typed or dictated number: spaces and dashes ignored, any script's decimal digits
    and the letters that look like digits accepted."""
    out = []
    for ch in text.strip().translate(_LOOKALIKES):
        if ch in _SEPARATORS:
            continue
        if not ch.isdecimal():
            raise InvalidInput("grievance.number_format")
        out.append(str(unicodedata.decimal(ch)))
    digits = "".join(out)
    if len(digits) != _NUMBER_DIGITS:
        raise InvalidInput("grievance.number_format")
    if damm_digit(digits) != 0:
        raise InvalidInput("grievance.number_check")
    return TrackingNumber(digits)


# ---------------------------------------------------------------------------------------------
# States


def transition(current: str, target: str) -> str:
    """Check a move of a grievance's state; returns ``target`` when it is allowed."""
    for state in (current, target):
        if state not in TRANSITIONS:
            raise InvalidInput("grievance.unknown_state", state=state)
    if target not in TRANSITIONS[current]:
        raise InvalidTransition("grievance.transition", current=current, target=target)
    return target


def reopen(current: str) -> str:
    """An answered or closed grievance goes back to ``in_progress``."""
    if current not in (ANSWERED, CLOSED):
        raise InvalidTransition("grievance.transition", current=current, target=IN_PROGRESS)
    return transition(current, IN_PROGRESS)


def escalate(current: str) -> str:
    """The state after escalating to a higher body; the caller sets the ``escalated`` flag.

    A ``received`` grievance moves to ``assigned`` (escalation gives it an owner at the higher
    body); an ``assigned`` or ``in_progress`` one keeps its state. An answered or closed
    grievance cannot be escalated: the family appeals it instead.
    """
    if current not in STATES:
        raise InvalidInput("grievance.unknown_state", state=current)
    if current not in ESCALATABLE:
        raise InvalidTransition("grievance.transition", current=current, target=ESCALATED)
    return ASSIGNED if current == RECEIVED else current


# ---------------------------------------------------------------------------------------------
# Deadlines


def due_date(received_on: dt.date, needs_check: bool, book: RateBook) -> dt.date:
    """Answer due by: received + 15 days, or + 1 month when a check is needed."""
    rules = book.grievance_deadlines.in_force(received_on)
    if needs_check:
        return add_months(received_on, rules.answer_with_check_months)
    return received_on + dt.timedelta(days=rules.answer_days)


def extend(due_on: dt.date, by_days: int, already_extended: bool, book: RateBook) -> dt.date:
    """The new due date after the one allowed extension of at most 1 month past ``due_on``."""
    rules = book.grievance_deadlines.in_force(due_on)
    if int(already_extended) >= rules.max_extensions:
        raise Conflict("grievance.already_extended", due_on=due_on.isoformat())
    if by_days < 1:
        raise InvalidInput("grievance.extension_days", by_days=by_days)
    new_due = due_on + dt.timedelta(days=by_days)
    latest = add_months(due_on, rules.extension_max_months)
    if new_due > latest:
        raise InvalidInput("grievance.extension_too_long", by_days=by_days, latest=latest.isoformat())
    return new_due


def appeal_deadline(answered_on: dt.date, book: RateBook) -> dt.date:
    """The last day an answer can be appealed to a higher body (1 year, inclusive)."""
    return add_months(answered_on, book.grievance_deadlines.in_force(answered_on).appeal_months)


def appeal_allowed(answered_on: dt.date, on: dt.date, book: RateBook) -> bool:
    return on <= appeal_deadline(answered_on, book)


def require_appeal_allowed(answered_on: dt.date, on: dt.date, book: RateBook) -> None:
    """Refuse an appeal made after the deadline (``grievance.appeal_expired``)."""
    deadline = appeal_deadline(answered_on, book)
    if on > deadline:
        raise Conflict("grievance.appeal_expired", deadline=deadline.isoformat())


def is_overdue(due_on: dt.date, on: dt.date) -> bool:
    """Overdue from the day after the due date."""
    return on > due_on
