"""Monthly benefit amounts, as a breakdown that can be explained line by line.

Child benefit (rates from the book row in force on ``on``): children under 18 are ordered
youngest first. The first child is paid ``first_under_3`` when the youngest is under 3, else
``first_3_to_18``; the second child adds ``second``; each third and further child adds
``third_and_further``. Children aged 1, 5, 8 and 12 at the 2025-07-01 rates:
360,000 + 165,000 + 110,000 + 110,000 = 745,000.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput
from core.identity import age_on
from core.rates import RateBook

AMOUNTS_ERROR_CODES: tuple[str, ...] = ("amounts.no_children", "amounts.birth_in_future")
# Codes of the breakdown lines, for the explanation shown to the family.
AMOUNT_LINE_CODES: tuple[str, ...] = (
    "child_benefit.first_under_3",
    "child_benefit.first_3_to_18",
    "child_benefit.second",
    "child_benefit.third_and_further",
    "material_assistance.base",
)

CHILD_BENEFIT = "child_benefit"
MATERIAL_ASSISTANCE = "material_assistance"


@dataclass(frozen=True, slots=True)
class AmountLine:
    """One line of the breakdown; ``birth_date`` names the child it is for."""

    code: str
    amount: int
    birth_date: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "amount": self.amount,
            "birth_date": None if self.birth_date is None else self.birth_date.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Amount:
    """A full monthly amount in so'm and how it is made up, with the rate row it came from."""

    programme: str
    lines: tuple[AmountLine, ...]
    rates_from: dt.date

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "programme": self.programme,
            "total": self.total,
            "rates_from": self.rates_from.isoformat(),
            "lines": [line.to_dict() for line in self.lines],
        }


def children_under_age(birth_dates: Iterable[dt.date], on: dt.date, book: RateBook) -> tuple[dt.date, ...]:
    """Birth dates of the children who count on ``on`` (under 18), youngest first."""
    limit = book.child_benefit.in_force(on).child_age_below
    dates = tuple(birth_dates)
    for born in dates:
        if born > on:
            raise InvalidInput("amounts.birth_in_future", birth_date=born.isoformat())
    return tuple(sorted((b for b in dates if age_on(b, on) < limit), reverse=True))


def child_benefit(child_birth_dates: Iterable[dt.date], on: dt.date, book: RateBook) -> Amount:
    """Child benefit for the month containing ``on``; adults among the dates are ignored."""
    row = book.child_benefit.row_in_force(on)
    rates = row.value
    children = children_under_age(child_birth_dates, on, book)
    if not children:
        raise InvalidInput("amounts.no_children")
    youngest = children[0]
    if age_on(youngest, on) < rates.infant_age_below:
        lines = [AmountLine("child_benefit.first_under_3", rates.first_under_3, youngest)]
    else:
        lines = [AmountLine("child_benefit.first_3_to_18", rates.first_3_to_18, youngest)]
    for i, born in enumerate(children[1:]):
        if i == 0:
            lines.append(AmountLine("child_benefit.second", rates.second, born))
        else:
            lines.append(AmountLine("child_benefit.third_and_further", rates.third_and_further, born))
    return Amount(CHILD_BENEFIT, tuple(lines), row.effective_from)


def material_assistance(on: dt.date, book: RateBook) -> Amount:
    """Material assistance for a family with no children under 18."""
    row = book.material_assistance.row_in_force(on)
    return Amount(MATERIAL_ASSISTANCE, (AmountLine("material_assistance.base", row.value),), row.effective_from)


@dataclass(frozen=True, slots=True)
class AmountBasis:
    """What a monthly amount is made of, independent of the rates: priced again each month
    (:func:`price`) so that an indexation reaches running enrolments."""

    programme: str
    children: int
    infant: bool
    share_percent: int

    @classmethod
    def of(cls, amount: Amount, share_percent: int) -> AmountBasis:
        return cls.from_codes(amount.programme, [line.code for line in amount.lines], share_percent)

    @classmethod
    def from_codes(cls, programme: str, codes: Iterable[str], share_percent: int) -> AmountBasis:
        """From the codes of an amount's breakdown lines (as kept in a decision's inputs)."""
        codes = list(codes)
        children = sum(1 for c in codes if c.startswith("child_benefit."))
        return cls(programme, children, "child_benefit.first_under_3" in codes, share_percent)


def price(basis: AmountBasis, on: dt.date, book: RateBook) -> int:
    """The monthly amount of ``basis`` at the rates in force on ``on`` (same rounding as a decision)."""
    if basis.programme == MATERIAL_ASSISTANCE:
        total = book.material_assistance.in_force(on)
    else:
        r = book.child_benefit.in_force(on)
        total = ((r.first_under_3 if basis.infant else r.first_3_to_18)
                 + (r.second if basis.children >= 2 else 0)
                 + max(basis.children - 2, 0) * r.third_and_further)
    return total * basis.share_percent // 100
