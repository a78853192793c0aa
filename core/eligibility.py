"""The single criterion: is a family low-income, and if so, in which category and for what.

:func:`assess` takes the facts the registry pulled from the agencies and returns a
:class:`Decision` that records every figure it used (the rate rows, the filter thresholds, the
income months) and every reason, so that it can be explained to the family and re-checked
later without the live registry.

Rules, each read from the :class:`~core.rates.RateBook` row in force on ``on`` (the date of
the application):

- Income per member = total income of the 3 whole calendar months before the month of ``on``
  / members / 3, in whole so'm, **rounded down**. Income rows for other months are ignored.
- Exclusion filters (each a named reason): more than one residential property; any
  non-residential building; a roadworthy car at most 7 years old (age = ``on.year - year``);
  2 or more roadworthy vehicles; bank balances of at least 5 × the minimum wage; a member
  serving in a listed security body. Any filter hit makes the family ineligible; the income
  reason is still recorded, the category reason only for an eligible family.
- Before the 2026 scheme: income per member < MCE → eligible, category ``low_income``.
- From the 2026 scheme: income < MCE and no member able to work → ``state_supported``;
  income < MCE and some member able to work → ``poor``; MCE ≤ income < 1.5 × MCE →
  ``near_poor`` at the bracket's share (75 % / 50 %); else not eligible. A member is able to
  work when of working age (inclusive) and without disability group 1 or 2.
- Programme: ``child_benefit`` when any member is under 18 on ``on``, else
  ``material_assistance``. Monthly amount = full amount × share / 100, rounded down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from core import amounts
from core.applications import add_months, first_of_month
from core.errors import InvalidInput
from core.identity import age_on
from core.rates import ChildBenefitRates, NearPovertyBracket, RateBook, Row, WorkingAge

ELIGIBILITY_ERROR_CODES: tuple[str, ...] = (
    "eligibility.no_members",
    "eligibility.sex",
    "eligibility.disability",
    "eligibility.service_body",
    "eligibility.property_kind",
    "eligibility.income_month",
    "eligibility.negative_amount",
    "eligibility.birth_in_future",
)
EXCLUSION_CODES: tuple[str, ...] = (
    "exclusion.second_residence",
    "exclusion.non_residential_property",
    "exclusion.new_car",
    "exclusion.many_vehicles",
    "exclusion.bank_balance",
    "exclusion.security_service",
)
# Every code a Decision's reasons can carry (not errors: explanations shown to the family).
REASON_CODES: tuple[str, ...] = EXCLUSION_CODES + (
    "income.below_threshold",
    "income.near_poverty",
    "income.above_threshold",
    "category.state_supported",
    "category.poor",
)

SEXES: tuple[str, ...] = ("m", "f")
DISABILITIES: tuple[str, ...] = ("group1", "group2", "group3", "child")
SERVICE_BODIES: tuple[str, ...] = (
    "defence", "interior", "emergency", "state_security", "national_guard", "customs",
)
PROPERTY_KINDS: tuple[str, ...] = ("residential", "non_residential")
CATEGORIES: tuple[str, ...] = ("low_income", "state_supported", "poor", "near_poor")
MONTHS_COUNTED = 3


@dataclass(frozen=True, slots=True)
class MemberFacts:
    pinfl: str
    birth_date: dt.date
    sex: str
    relation: str
    disability: str | None = None
    service_body: str | None = None


@dataclass(frozen=True, slots=True)
class IncomeFacts:
    """Income of one member from one source in one month (``month`` is the 1st of the month)."""

    month: dt.date
    source: str
    amount: int


@dataclass(frozen=True, slots=True)
class VehicleFacts:
    year: int
    roadworthy: bool


@dataclass(frozen=True, slots=True)
class PropertyFacts:
    kind: str


@dataclass(frozen=True, slots=True)
class HouseholdFacts:
    members: tuple[MemberFacts, ...]
    incomes: tuple[IncomeFacts, ...] = ()
    vehicles: tuple[VehicleFacts, ...] = ()
    properties: tuple[PropertyFacts, ...] = ()
    bank_balance_total: int = 0


@dataclass(frozen=True)
class Reason:
    """A named rule that decided (or supported) the decision, with the figures to explain it.
    ``params`` hold JSON values only."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`assess`, with every input figure (``inputs``, JSON-serialisable)."""

    on: dt.date
    eligible: bool
    category: str | None
    programme: str
    share_percent: int
    monthly_amount: int
    duration_months: int
    mce: int
    income_total: int
    months_counted: int
    members: int
    income_per_member: int
    reasons: tuple[Reason, ...]
    inputs: Mapping[str, Any] = field(hash=False)

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat(),
            "eligible": self.eligible,
            "category": self.category,
            "programme": self.programme,
            "share_percent": self.share_percent,
            "monthly_amount": self.monthly_amount,
            "duration_months": self.duration_months,
            "mce": self.mce,
            "income_total": self.income_total,
            "months_counted": self.months_counted,
            "members": self.members,
            "income_per_member": self.income_per_member,
            "reasons": [r.to_dict() for r in self.reasons],
            "inputs": dict(self.inputs),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls(
            on=dt.date.fromisoformat(data["on"]),
            eligible=bool(data["eligible"]),
            category=data["category"],
            programme=str(data["programme"]),
            share_percent=int(data["share_percent"]),
            monthly_amount=int(data["monthly_amount"]),
            duration_months=int(data["duration_months"]),
            mce=int(data["mce"]),
            income_total=int(data["income_total"]),
            months_counted=int(data["months_counted"]),
            members=int(data["members"]),
            income_per_member=int(data["income_per_member"]),
            reasons=tuple(Reason(r["code"], dict(r["params"])) for r in data["reasons"]),
            inputs=dict(data["inputs"]),
        )


def income_months(on: dt.date) -> tuple[dt.date, ...]:
    """The whole calendar months counted for an application on ``on``, oldest first."""
    start = first_of_month(on)
    return tuple(add_months(start, -k) for k in range(MONTHS_COUNTED, 0, -1))


def able_to_work(member: MemberFacts, on: dt.date, rules: WorkingAge) -> bool:
    """Of working age (both ends inclusive) and without a disability that rules work out."""
    age = age_on(member.birth_date, on)
    max_age = rules.male_max_age if member.sex == "m" else rules.female_max_age
    return rules.min_age <= age <= max_age and member.disability not in rules.unable_disabilities


def _decimal(f: Fraction) -> str:
    """An exact decimal text for a ratio edge read from decimals (``Fraction(5, 4)`` → ``1.25``)."""
    d = Decimal(f.numerator) / Decimal(f.denominator)
    text = format(d.normalize(), "f")
    return text if "." in text else text + ".0"


def _row(row: Row[Any], value: Any) -> dict[str, Any]:
    return {"value": value, "effective_from": row.effective_from.isoformat(), "uncertain": row.uncertain}


def _validate(facts: HouseholdFacts, on: dt.date) -> None:
    if not facts.members:
        raise InvalidInput("eligibility.no_members")
    for m in facts.members:
        if m.sex not in SEXES:
            raise InvalidInput("eligibility.sex", sex=m.sex)
        if m.disability is not None and m.disability not in DISABILITIES:
            raise InvalidInput("eligibility.disability", disability=m.disability)
        if m.service_body is not None and m.service_body not in SERVICE_BODIES:
            raise InvalidInput("eligibility.service_body", service_body=m.service_body)
        if m.birth_date > on:
            raise InvalidInput("eligibility.birth_in_future", birth_date=m.birth_date.isoformat())
    for p in facts.properties:
        if p.kind not in PROPERTY_KINDS:
            raise InvalidInput("eligibility.property_kind", kind=p.kind)
    for i in facts.incomes:
        if i.month.day != 1:
            raise InvalidInput("eligibility.income_month", month=i.month.isoformat())
        if i.amount < 0:
            raise InvalidInput("eligibility.negative_amount", amount=i.amount)
    if facts.bank_balance_total < 0:
        raise InvalidInput("eligibility.negative_amount", amount=facts.bank_balance_total)


def assess(facts: HouseholdFacts, on: dt.date, book: RateBook) -> Decision:
    """Decide eligibility for an application made on ``on``."""
    _validate(facts, on)
    mce_row = book.mce.row_in_force(on)
    wage_row = book.minimum_wage.row_in_force(on)
    filters = book.exclusion_filters.in_force(on)
    working = book.working_age.in_force(on)
    scheme = book.eligibility_scheme.in_force(on)
    brackets: tuple[NearPovertyBracket, ...] = book.near_poverty_brackets.in_force(on)
    child_age_below = book.child_benefit.in_force(on).child_age_below
    mce = mce_row.value
    bank_limit = filters.bank_balance_min_wage_multiple * wage_row.value

    reasons: list[Reason] = []

    # Exclusion filters, in the order of the regulation.
    residential = sum(1 for p in facts.properties if p.kind == "residential")
    non_residential = sum(1 for p in facts.properties if p.kind == "non_residential")
    if residential > filters.max_residential_properties:
        reasons.append(Reason("exclusion.second_residence", {
            "residential_properties": residential, "limit": filters.max_residential_properties}))
    if non_residential and not filters.non_residential_allowed:
        reasons.append(Reason("exclusion.non_residential_property", {"non_residential_properties": non_residential}))
    roadworthy = [v for v in facts.vehicles if v.roadworthy]
    new_cars = [v for v in roadworthy if on.year - v.year <= filters.vehicle_age_limit_years]
    if new_cars:
        newest = max(v.year for v in new_cars)
        reasons.append(Reason("exclusion.new_car", {
            "year": newest, "age": on.year - newest, "limit_years": filters.vehicle_age_limit_years}))
    if len(roadworthy) >= filters.many_vehicles_from:
        reasons.append(Reason("exclusion.many_vehicles", {
            "roadworthy_vehicles": len(roadworthy), "limit": filters.many_vehicles_from}))
    if facts.bank_balance_total >= bank_limit:
        reasons.append(Reason("exclusion.bank_balance", {
            "bank_balance_total": facts.bank_balance_total, "limit": bank_limit,
            "minimum_wage": wage_row.value, "multiple": filters.bank_balance_min_wage_multiple}))
    bodies = sorted({m.service_body for m in facts.members
                     if m.service_body is not None and m.service_body in filters.service_bodies})
    for body in bodies:
        reasons.append(Reason("exclusion.security_service", {"body": body}))
    excluded = bool(reasons)

    # Income.
    months = income_months(on)
    counted = set(months)
    n = len(facts.members)
    income_total = sum(i.amount for i in facts.incomes if i.month in counted)
    income_per_member = income_total // (n * MONTHS_COUNTED)
    income_params = {"income_per_member": income_per_member, "mce": mce}
    able = [m for m in facts.members if able_to_work(m, on, working)]

    category: str | None = None
    share = 0
    if income_per_member < mce:
        reasons.append(Reason("income.below_threshold", income_params))
        if scheme == "single_criterion":
            category = "low_income"
        elif able:
            category = "poor"
            if not excluded:
                reasons.append(Reason("category.poor", {"able_members": len(able)}))
        else:
            category = "state_supported"
            if not excluded:
                reasons.append(Reason("category.state_supported", {"able_members": 0}))
        share = 100
    else:
        bracket = next((b for b in brackets if b.contains(income_per_member, mce)), None)
        if scheme == "categories" and bracket is not None:
            category = "near_poor"
            share = bracket.share_percent
            reasons.append(Reason("income.near_poverty", {
                **income_params, "from_ratio": _decimal(bracket.from_ratio),
                "below_ratio": _decimal(bracket.below_ratio), "share_percent": bracket.share_percent}))
        else:
            reasons.append(Reason("income.above_threshold", income_params))

    eligible = category is not None and not excluded
    if not eligible:
        category, share = None, 0

    children = [m.birth_date for m in facts.members if age_on(m.birth_date, on) < child_age_below]
    programme = amounts.CHILD_BENEFIT if children else amounts.MATERIAL_ASSISTANCE
    amount: amounts.Amount | None = None
    monthly = duration = 0
    if eligible:
        amount = (amounts.child_benefit(children, on, book) if children
                  else amounts.material_assistance(on, book))
        monthly = amount.total * share // 100
        durations = book.durations.in_force(on)
        key = category if category is not None and category in durations else programme
        if key not in durations:
            raise InvalidInput("rates.malformed", table="durations", detail=f"no duration for {key}")
        duration = durations[key]

    inputs: dict[str, Any] = {
        "on": on.isoformat(),
        "scheme": scheme,
        "rates": {
            "mce": _row(mce_row, mce),
            "minimum_wage": _row(wage_row, wage_row.value),
        },
        "thresholds": {
            "max_residential_properties": filters.max_residential_properties,
            "non_residential_allowed": filters.non_residential_allowed,
            "vehicle_age_limit_years": filters.vehicle_age_limit_years,
            "many_vehicles_from": filters.many_vehicles_from,
            "bank_balance_min_wage_multiple": filters.bank_balance_min_wage_multiple,
            "bank_balance_limit": bank_limit,
            "service_bodies": sorted(filters.service_bodies),
            "working_age": {"min_age": working.min_age, "male_max_age": working.male_max_age,
                            "female_max_age": working.female_max_age,
                            "unable_disabilities": sorted(working.unable_disabilities)},
            "child_age_below": child_age_below,
            "near_poverty_brackets": [
                {"from_ratio": _decimal(b.from_ratio), "below_ratio": _decimal(b.below_ratio),
                 "share_percent": b.share_percent} for b in brackets],
        },
        "income_months": [m.isoformat() for m in months],
        "income_rounding": "floor",
        "members": [
            {"pinfl": m.pinfl, "birth_date": m.birth_date.isoformat(), "sex": m.sex, "relation": m.relation,
             "disability": m.disability, "service_body": m.service_body, "age": age_on(m.birth_date, on),
             "able_to_work": able_to_work(m, on, working)}
            for m in facts.members],
        "incomes": [
            {"month": i.month.isoformat(), "source": i.source, "amount": i.amount, "counted": i.month in counted}
            for i in facts.incomes],
        "vehicles": [{"year": v.year, "roadworthy": v.roadworthy, "age": on.year - v.year} for v in facts.vehicles],
        "properties": [{"kind": p.kind} for p in facts.properties],
        "bank_balance_total": facts.bank_balance_total,
        "amount": None if amount is None else amount.to_dict(),
    }
    return Decision(
        on=on, eligible=eligible, category=category, programme=programme, share_percent=share,
        monthly_amount=monthly, duration_months=duration, mce=mce, income_total=income_total,
        months_counted=MONTHS_COUNTED, members=n, income_per_member=income_per_member,
        reasons=tuple(reasons), inputs=inputs,
    )


# --- the same rules as figures, for the set-based form in core/storage/assessment_sql.py --------


def age_cutoff(on: dt.date, years: int) -> dt.date:
    """The latest birth date of someone at least ``years`` old on ``on``: ``age_on(b, on) >= years``
    exactly when ``b <= age_cutoff(on, years)`` (29 February falls back to the 28th)."""
    year = on.year - years
    day = on.day
    if on.month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        day = 28
    return dt.date(year, on.month, day)


def _ceil(f: Fraction) -> int:
    return -((-f.numerator) // f.denominator)


@dataclass(frozen=True, slots=True)
class BracketBounds:
    """A near-poverty bracket as whole so'm: ``low <= income per member < high``."""

    low: int
    high: int
    share_percent: int
    from_ratio: str
    below_ratio: str


@dataclass(frozen=True)
class RulesInForce:
    """Every figure :func:`assess` reads on ``on``, resolved to plain values and birth-date cut-offs,
    so that a set-based query can apply the same rules without date arithmetic of its own."""

    on: dt.date
    scheme: str
    months: tuple[dt.date, ...]
    mce: int
    mce_from: dt.date
    minimum_wage: int
    minimum_wage_from: dt.date
    max_residential_properties: int
    non_residential_allowed: bool
    new_car_from_year: int
    vehicle_age_limit_years: int
    many_vehicles_from: int
    bank_balance_limit: int
    bank_balance_multiple: int
    service_bodies: tuple[str, ...]
    child_born_after: dt.date
    infant_born_after: dt.date
    working_born_on_or_before: dt.date
    male_working_born_after: dt.date
    female_working_born_after: dt.date
    unable_disabilities: tuple[str, ...]
    brackets: tuple[BracketBounds, ...]
    child_benefit: ChildBenefitRates
    child_benefit_from: dt.date
    material_assistance: int
    material_assistance_from: dt.date
    durations: Mapping[str, int]


def rules_in_force(on: dt.date, book: RateBook) -> RulesInForce:
    mce_row = book.mce.row_in_force(on)
    wage_row = book.minimum_wage.row_in_force(on)
    filters = book.exclusion_filters.in_force(on)
    working = book.working_age.in_force(on)
    cb_row = book.child_benefit.row_in_force(on)
    ma_row = book.material_assistance.row_in_force(on)
    mce = mce_row.value
    return RulesInForce(
        on=on, scheme=book.eligibility_scheme.in_force(on), months=income_months(on),
        mce=mce, mce_from=mce_row.effective_from,
        minimum_wage=wage_row.value, minimum_wage_from=wage_row.effective_from,
        max_residential_properties=filters.max_residential_properties,
        non_residential_allowed=filters.non_residential_allowed,
        new_car_from_year=on.year - filters.vehicle_age_limit_years,
        vehicle_age_limit_years=filters.vehicle_age_limit_years,
        many_vehicles_from=filters.many_vehicles_from,
        bank_balance_limit=filters.bank_balance_min_wage_multiple * wage_row.value,
        bank_balance_multiple=filters.bank_balance_min_wage_multiple,
        service_bodies=tuple(sorted(filters.service_bodies)),
        child_born_after=age_cutoff(on, cb_row.value.child_age_below),
        infant_born_after=age_cutoff(on, cb_row.value.infant_age_below),
        working_born_on_or_before=age_cutoff(on, working.min_age),
        male_working_born_after=age_cutoff(on, working.male_max_age + 1),
        female_working_born_after=age_cutoff(on, working.female_max_age + 1),
        unable_disabilities=tuple(sorted(working.unable_disabilities)),
        brackets=tuple(
            BracketBounds(_ceil(b.from_ratio * mce), _ceil(b.below_ratio * mce), b.share_percent,
                          _decimal(b.from_ratio), _decimal(b.below_ratio))
            for b in book.near_poverty_brackets.in_force(on)),
        child_benefit=cb_row.value, child_benefit_from=cb_row.effective_from,
        material_assistance=ma_row.value, material_assistance_from=ma_row.effective_from,
        durations=book.durations.in_force(on),
    )
