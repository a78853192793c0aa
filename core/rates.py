"""Every figure the law changes, as dated tables read from ``core/data/rates.json``.

A :class:`DatedTable` holds rows ``effective_from → value``; the row in force on a date is the
last one that started on or before it. The rules ask the :class:`RateBook` for the row in
force on the date that matters (the application date, the day a grievance was received), so
that a correction or a new decree is a data change, never a code change.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from core.errors import InvalidInput, NotFound

RATES_ERROR_CODES: tuple[str, ...] = ("rates.no_row", "rates.malformed")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Row(Generic[T]):
    """One row of a dated table: ``value`` is in force from ``effective_from`` on."""

    effective_from: dt.date
    value: T
    uncertain: bool = False


@dataclass(frozen=True)
class DatedTable(Generic[T]):
    """Rows in strictly increasing ``effective_from`` order, with where the figures come from."""

    name: str
    rows: tuple[Row[T], ...]
    note: str = ""
    source: str = ""
    _starts: tuple[dt.date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.rows:
            raise InvalidInput("rates.malformed", table=self.name, detail="no rows")
        starts = tuple(r.effective_from for r in self.rows)
        if any(a >= b for a, b in zip(starts, starts[1:], strict=False)):
            raise InvalidInput("rates.malformed", table=self.name, detail="rows not in date order")
        object.__setattr__(self, "_starts", starts)  # looked up on every decision

    def row_in_force(self, on: dt.date) -> Row[T]:
        """The row in force on ``on``; refuses a date before the first row (``rates.no_row``)."""
        i = bisect.bisect_right(self._starts, on)
        if i == 0:
            raise NotFound(
                "rates.no_row", table=self.name, on=on.isoformat(),
                first=self.rows[0].effective_from.isoformat(),
            )
        return self.rows[i - 1]

    def in_force(self, on: dt.date) -> T:
        return self.row_in_force(on).value


@dataclass(frozen=True, slots=True)
class ChildBenefitRates:
    """Monthly child benefit (UZS): the first child's amount depends on whether a child under
    ``infant_age_below`` is in the family; the second and each further child add to it."""

    first_under_3: int
    first_3_to_18: int
    second: int
    third_and_further: int
    infant_age_below: int
    child_age_below: int


@dataclass(frozen=True, slots=True)
class NearPovertyBracket:
    """Income ratio (income per member / MCE) in ``[from_ratio, below_ratio)`` → ``share_percent``."""

    from_ratio: Fraction
    below_ratio: Fraction
    share_percent: int

    def contains(self, income_per_member: int, mce: int) -> bool:
        """Exact test, no floats: ``from ≤ income / mce < below``."""
        ratio = Fraction(income_per_member, mce)
        return self.from_ratio <= ratio < self.below_ratio


@dataclass(frozen=True, slots=True)
class ApplicationRules:
    cutoff_day: int


@dataclass(frozen=True, slots=True)
class PaymentWindowRule:
    first_day: int
    last_day: int


@dataclass(frozen=True, slots=True)
class WorkingAge:
    """Working age in whole years, both ends inclusive; disabilities that make a member unable
    to work whatever the age."""

    min_age: int
    male_max_age: int
    female_max_age: int
    unable_disabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class ExclusionRules:
    max_residential_properties: int
    non_residential_allowed: bool
    vehicle_age_limit_years: int
    many_vehicles_from: int
    bank_balance_min_wage_multiple: int
    service_bodies: frozenset[str]


@dataclass(frozen=True, slots=True)
class GrievanceDeadlines:
    answer_days: int
    answer_with_check_months: int
    max_extensions: int
    extension_max_months: int
    appeal_months: int


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an integer, got {v!r}")
    return v


def _mapping(v: Any) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise TypeError(f"expected an object, got {v!r}")
    return v


def _child_benefit(v: Any) -> ChildBenefitRates:
    m = _mapping(v)
    return ChildBenefitRates(
        first_under_3=_int(m["first_under_3"]), first_3_to_18=_int(m["first_3_to_18"]),
        second=_int(m["second"]), third_and_further=_int(m["third_and_further"]),
        infant_age_below=_int(m["infant_age_below"]), child_age_below=_int(m["child_age_below"]),
    )


def _brackets(v: Any) -> tuple[NearPovertyBracket, ...]:
    if not isinstance(v, list):
        raise TypeError(f"expected a list, got {v!r}")
    out = []
    for item in v:
        m = _mapping(item)
        # Decimal strings ("1.25"), so that the edges are exact.
        out.append(NearPovertyBracket(
            Fraction(str(m["from_ratio"])), Fraction(str(m["below_ratio"])), _int(m["share_percent"])
        ))
    return tuple(out)


def _durations(v: Any) -> Mapping[str, int]:
    return MappingProxyType({str(k): _int(x) for k, x in _mapping(v).items()})


def _scheme(v: Any) -> str:
    if v not in ("single_criterion", "categories"):
        raise TypeError(f"unknown eligibility scheme {v!r}")
    return str(v)


def _applications(v: Any) -> ApplicationRules:
    return ApplicationRules(cutoff_day=_int(_mapping(v)["cutoff_day"]))


def _payment_window(v: Any) -> PaymentWindowRule:
    m = _mapping(v)
    return PaymentWindowRule(first_day=_int(m["first_day"]), last_day=_int(m["last_day"]))


def _working_age(v: Any) -> WorkingAge:
    m = _mapping(v)
    return WorkingAge(
        min_age=_int(m["min_age"]), male_max_age=_int(m["male_max_age"]),
        female_max_age=_int(m["female_max_age"]),
        unable_disabilities=frozenset(str(x) for x in m["unable_disabilities"]),
    )


def _exclusions(v: Any) -> ExclusionRules:
    m = _mapping(v)
    return ExclusionRules(
        max_residential_properties=_int(m["max_residential_properties"]),
        non_residential_allowed=bool(m["non_residential_allowed"]),
        vehicle_age_limit_years=_int(m["vehicle_age_limit_years"]),
        many_vehicles_from=_int(m["many_vehicles_from"]),
        bank_balance_min_wage_multiple=_int(m["bank_balance_min_wage_multiple"]),
        service_bodies=frozenset(str(x) for x in m["service_bodies"]),
    )


def _grievances(v: Any) -> GrievanceDeadlines:
    m = _mapping(v)
    return GrievanceDeadlines(
        answer_days=_int(m["answer_days"]),
        answer_with_check_months=_int(m["answer_with_check_months"]),
        max_extensions=_int(m["max_extensions"]),
        extension_max_months=_int(m["extension_max_months"]),
        appeal_months=_int(m["appeal_months"]),
    )


def _table(tables: Mapping[str, Any], name: str, parse: Callable[[Any], T]) -> DatedTable[T]:
    try:
        raw = _mapping(tables[name])
        rows = tuple(
            Row(
                effective_from=dt.date.fromisoformat(str(r["effective_from"])),
                value=parse(r["value"]),
                uncertain=bool(r.get("uncertain", False)),
            )
            for r in (_mapping(x) for x in raw["rows"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("rates.malformed", table=name, detail=str(exc)) from None
    return DatedTable(name, rows, note=str(raw.get("note", "")), source=str(raw.get("source", "")))


@dataclass(frozen=True)
class RateBook:
    """All the dated tables the rules read. Build it with :meth:`load` (the shipped data) or
    :meth:`from_dict` (tests, corrected data)."""

    mce: DatedTable[int]
    child_benefit: DatedTable[ChildBenefitRates]
    material_assistance: DatedTable[int]
    minimum_wage: DatedTable[int]
    eligibility_scheme: DatedTable[str]
    near_poverty_brackets: DatedTable[tuple[NearPovertyBracket, ...]]
    durations: DatedTable[Mapping[str, int]]
    applications: DatedTable[ApplicationRules]
    payment_window: DatedTable[PaymentWindowRule]
    working_age: DatedTable[WorkingAge]
    exclusion_filters: DatedTable[ExclusionRules]
    grievance_deadlines: DatedTable[GrievanceDeadlines]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RateBook:
        """Build from the JSON document's structure: ``{"tables": {name: {"rows": [...]}}}``."""
        try:
            tables = _mapping(data["tables"])
        except (KeyError, TypeError):
            raise InvalidInput("rates.malformed", table="", detail="no tables") from None
        return cls(
            mce=_table(tables, "mce", _int),
            child_benefit=_table(tables, "child_benefit", _child_benefit),
            material_assistance=_table(tables, "material_assistance", _int),
            minimum_wage=_table(tables, "minimum_wage", _int),
            eligibility_scheme=_table(tables, "eligibility_scheme", _scheme),
            near_poverty_brackets=_table(tables, "near_poverty_brackets", _brackets),
            durations=_table(tables, "durations", _durations),
            applications=_table(tables, "applications", _applications),
            payment_window=_table(tables, "payment_window", _payment_window),
            working_age=_table(tables, "working_age", _working_age),
            exclusion_filters=_table(tables, "exclusion_filters", _exclusions),
            grievance_deadlines=_table(tables, "grievance_deadlines", _grievances),
        )

    @classmethod
    def load(cls) -> RateBook:
        """The shipped rate book, read once per process."""
        return _load_shipped()

    @staticmethod
    def shipped_data() -> dict[str, Any]:
        """A fresh copy of the shipped JSON document, for tests that change one figure."""
        return copy.deepcopy(_shipped_json())


@functools.cache
def _shipped_json() -> dict[str, Any]:
    text = resources.files("core").joinpath("data/rates.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@functools.cache
def _load_shipped() -> RateBook:
    return RateBook.from_dict(_shipped_json())
