"""The set-based assessment applies exactly the rules of ``core.eligibility.assess``.

Random families, loaded straight into the tables, with figures placed on every edge the rules
have (an 18th birthday today, the last day of working age, income per member one so'm either
side of the MCE and of each near-poverty bracket, a car exactly at the age limit, a bank balance
at the limit, 29 February), are assessed once by SQL; each decision is then compared, figure by
figure and reason by reason, with ``assess`` run on the same facts read back from the database.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from core.eligibility import (
    DISABILITIES,
    SERVICE_BODIES,
    HouseholdFacts,
    IncomeFacts,
    MemberFacts,
    PropertyFacts,
    VehicleFacts,
    age_cutoff,
    assess,
    income_months,
    rules_in_force,
)
from core.identity import make_pinfl
from core.rates import RateBook
from core.services.assessment import assess_households
from core.storage.schema import BankBalance, Decision, Household, Income, Person, Property, Vehicle
from core.storage.uow import Core
from tests.storage.factories import MAHALLA_ID, ensure_territory

pytestmark = pytest.mark.postgres

FAMILIES = 160


def _birth_dates(rng: random.Random, on: dt.date) -> list[dt.date]:
    """Birth dates on and around every age edge of the rules, and some anywhere."""
    edges = [0, 1, 2, 3, 15, 16, 17, 18, 54, 55, 59, 60]
    out = []
    for years in edges:
        cut = age_cutoff(on, years)
        out += [cut - dt.timedelta(days=1), cut, cut + dt.timedelta(days=1)]
    out += [dt.date(2008, 2, 29), dt.date(2012, 2, 29), dt.date(2024, 2, 29)]
    return [d for d in out if d <= on] + [on - dt.timedelta(days=rng.randint(0, 80 * 365)) for _ in range(20)]


def _families(rng: random.Random, on: dt.date, book: RateBook) -> list[dict[str, Any]]:
    rules = rules_in_force(on, book)
    births = _birth_dates(rng, on)
    targets = [rules.mce - 1, rules.mce, rules.mce + 1, 0]
    for b in rules.brackets:
        targets += [b.low - 1, b.low, b.high - 1, b.high]
    families = []
    for k in range(FAMILIES):
        size = rng.randint(1, 7)
        members = [{
            "birth": rng.choice(births), "sex": rng.choice("mf"),
            "disability": rng.choice([None] * 6 + list(DISABILITIES)),
            "body": rng.choice([None] * 25 + list(SERVICE_BODIES)),
            # Dead by the day (no member then), on it, or after it (still one).
            "died": rng.choice([None] * 20 + [on - dt.timedelta(days=40), on, on + dt.timedelta(days=1)]),
        } for _ in range(size)]
        ipm = rng.choice(targets) if k % 3 else rng.randint(0, 3 * rules.mce)
        total = max(ipm, 0) * size * 3 + rng.randint(0, size * 3 - 1)
        vehicles = [{"year": rng.choice([rules.new_car_from_year - 1, rules.new_car_from_year,
                                         on.year, 1995]), "roadworthy": rng.random() < 0.7}
                    for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3]))]
        properties = [rng.choice(["residential"] * 4 + ["non_residential"])
                      for _ in range(rng.choice([0, 1, 1, 1, 2]))]
        bank = rng.choice([0, 0, 0, rules.bank_balance_limit - 1, rules.bank_balance_limit, 10 ** 9])
        families.append({"members": members, "income": total, "vehicles": vehicles,
                         "properties": properties, "bank": bank})
    # Every edge date as the only child of a family that qualifies (the amount turns on the
    # youngest child's age), and as a lone member (poor or state-supported turns on working age).
    parent = {"birth": dt.date(1980, 5, 5), "sex": "m", "disability": "group1", "body": None}
    for birth in _birth_dates(rng, on)[:-20]:
        for sex in "mf":
            lone = {"birth": birth, "sex": sex, "disability": None, "body": None}
            families.append({"members": [parent, lone], "income": 0, "vehicles": [], "properties": [],
                             "bank": 0})
            families.append({"members": [lone], "income": 0, "vehicles": [], "properties": [], "bank": 0})
    return families


async def _load(core: Core, families: list[dict[str, Any]], on: dt.date) -> None:
    await ensure_territory(core)
    now = core.clock.now()
    months = income_months(on)
    async with core.uow() as uow:
        s = uow.session
        hids = [(await s.execute(insert(Household).returning(Household.id).values(
            region_soato="1726", district_soato="1726262", mahalla_id=MAHALLA_ID, address="Test 1",
            created_at=now, data_changed_at=now))).scalar_one() for _ in families]
        serial = iter(range(1, 10 ** 6))
        await s.execute(insert(Person), [
            {"pinfl": make_pinfl(m["birth"], m["sex"], 262, next(serial)).value, "household_id": hid,
             "relation": "head" if i == 0 else "other", "surname": "Test", "given_name": "Test",
             "birth_date": m["birth"], "sex": m["sex"], "disability": m["disability"], "service_body": m["body"],
             "died_on": m.get("died")}
            for hid, fam in zip(hids, families, strict=True) for i, m in enumerate(fam["members"])])
        people: dict[int, list[int]] = defaultdict(list)
        for pid, hid in await s.execute(select(Person.id, Person.household_id).order_by(Person.id)):
            people[hid].append(pid)
        incomes, vehicles, properties, balances = [], [], [], []
        for hid, fam in zip(hids, families, strict=True):
            # The counted income split unevenly over members and months, plus a month not counted.
            left = fam["income"]
            for j, month in enumerate(months):
                part = left if j == len(months) - 1 else left // 2
                left -= part
                incomes.append({"household_id": hid, "person_id": people[hid][j % len(people[hid])],
                                "month": month, "source": "wage", "amount": part})
            incomes.append({"household_id": hid, "person_id": people[hid][0], "month": on.replace(day=1),
                            "source": "wage", "amount": 10 ** 8})
            vehicles += [{"household_id": hid, "year": v["year"], "roadworthy": v["roadworthy"]}
                         for v in fam["vehicles"]]
            properties += [{"household_id": hid, "kind": kind} for kind in fam["properties"]]
            if fam["bank"]:
                balances += [{"household_id": hid, "amount": fam["bank"] - fam["bank"] // 3, "as_of": on},
                             {"household_id": hid, "amount": fam["bank"] // 3, "as_of": on}]
        for model, rows in ((Income, incomes), (Vehicle, vehicles), (Property, properties),
                            (BankBalance, balances)):
            if rows:
                await s.execute(insert(model), rows)
        await uow.commit()


async def _python_decisions(core: Core, on: dt.date) -> dict[int, Any]:
    async with core.uow() as uow:
        s = uow.session
        members: dict[int, list[MemberFacts]] = defaultdict(list)
        for p in (await s.scalars(select(Person).order_by(Person.id))).all():
            if p.died_on is not None and p.died_on <= on:
                continue  # no member on the day
            members[p.household_id].append(MemberFacts(p.pinfl, p.birth_date, p.sex, p.relation, p.disability,
                                                       p.service_body))
        incomes: dict[int, list[IncomeFacts]] = defaultdict(list)
        for i in (await s.scalars(select(Income))).all():
            incomes[i.household_id].append(IncomeFacts(i.month, i.source, i.amount))
        vehicles: dict[int, list[VehicleFacts]] = defaultdict(list)
        for v in (await s.scalars(select(Vehicle))).all():
            vehicles[v.household_id].append(VehicleFacts(v.year, v.roadworthy))
        properties: dict[int, list[PropertyFacts]] = defaultdict(list)
        for p in (await s.scalars(select(Property))).all():
            properties[p.household_id].append(PropertyFacts(p.kind))
        bank: dict[int, int] = defaultdict(int)
        for b in (await s.scalars(select(BankBalance))).all():
            bank[b.household_id] += b.amount
    return {hid: assess(HouseholdFacts(tuple(ms), tuple(incomes[hid]), tuple(vehicles[hid]),
                                       tuple(properties[hid]), bank[hid]), on, core.book)
            for hid, ms in members.items()}


def _compare(rows: Any, expected: dict[int, Any]) -> set[tuple[bool, str | None, str]]:
    """Each decision row against ``assess``'s, figure by figure; the outcomes seen."""
    seen: set[tuple[bool, str | None, str]] = set()
    for row in rows:
        want = expected[row.household_id]
        got = {"eligible": row.eligible, "category": row.category, "programme": row.programme,
               "amount": row.amount, "share": row.share_percent, "duration": row.duration_months,
               "mce": row.mce, "ipm": row.income_per_member, "reasons": row.reasons,
               "members": row.members, "income": row.income_total}
        assert got == {"eligible": want.eligible, "category": want.category, "programme": want.programme,
                       "amount": want.monthly_amount, "share": want.share_percent,
                       "duration": want.duration_months, "mce": want.mce, "ipm": want.income_per_member,
                       "reasons": [r.to_dict() for r in want.reasons], "members": want.members,
                       "income": want.income_total}, row.household_id
        seen.add((want.eligible, want.category, want.programme))
    return seen


@pytest.mark.parametrize("on", [dt.date(2026, 12, 10), dt.date(2025, 10, 16), dt.date(2028, 2, 29)],
                         ids=["categories", "single_criterion", "29_february"])
async def test_sql_and_python_decide_every_family_alike(core: Core, clock, on: dt.date) -> None:
    clock.set(on)
    rng = random.Random(f"assess-{on}")
    await _load(core, _families(rng, on, core.book), on)
    summary = await assess_households(core, everything=True, chunk=37)  # many ranges, some empty
    expected = await _python_decisions(core, on)
    async with core.uow() as uow:
        rows = (await uow.session.scalars(select(Decision).where(Decision.application_id.is_(None)))).all()
        uow.session.expunge_all()  # keep the loaded values readable after the session closes
    assert summary.assessed == len(rows) == len(expected) > FAMILIES
    assert summary.eligible == sum(1 for d in expected.values() if d.eligible)
    seen = _compare(rows, expected)
    # The random families reach every outcome the scheme has, so the comparison means something.
    categories = {c for _, c, _ in seen}
    assert {True, False} <= {e for e, _, _ in seen}
    assert {"child_benefit", "material_assistance"} <= {p for _, _, p in seen}
    if on.year >= 2026:
        assert {"poor", "state_supported", "near_poor"} <= categories
    else:
        assert "low_income" in categories


async def test_only_the_families_whose_data_changed_are_read_and_decided_again(core: Core, clock) -> None:
    """The daily pass reads only the due families of each range: those get decisions equal to
    ``assess``'s, and their neighbours in the same ranges get none."""
    on = dt.date(2026, 12, 10)
    clock.set(on)
    rng = random.Random(f"assess-due-{on}")
    await _load(core, _families(rng, on, core.book), on)
    clock.advance(dt.timedelta(minutes=10))  # loaded before the --all pass began, past the margin for writes in flight
    await assess_households(core, everything=True, chunk=37)
    clock.advance(dt.timedelta(hours=1))
    async with core.uow() as uow:
        before = int(await uow.session.scalar(select(func.max(Decision.id))) or 0)
        changed = set((await uow.session.scalars(select(Household.id).where(Household.id % 3 == 0))).all())
        # and one of the families --all could not decide (every member dead), with the others left alone
        decided_before = select(Decision.household_id)
        changed.add(min((await uow.session.scalars(
            select(Household.id).where(Household.id.not_in(decided_before), Household.id % 3 != 0))).all()))
        await uow.session.execute(update(Household).where(Household.id.in_(changed)).values(data_changed_at=uow.now()))
        await uow.commit()
    summary = await assess_households(core, chunk=37)
    expected = await _python_decisions(core, on)
    async with core.uow() as uow:
        rows = (await uow.session.scalars(select(Decision).where(Decision.id > before))).all()
        uow.session.expunge_all()
    # A changed family whose every member has died is counted, not decided; one that did not change
    # is not looked at (--all counted it).
    decided = changed & expected.keys()
    assert decided and summary.assessed == len(rows) == len(decided)
    assert summary.errors == len(changed - expected.keys()) > 0
    assert {r.household_id for r in rows} == decided
    _compare(rows, {hid: expected[hid] for hid in decided})
    # Changed within the margin for writes in flight before the last pass began: the dead are counted again.
    again = await assess_households(core, chunk=37)
    assert (again.assessed, again.errors) == (0, len(changed - expected.keys()))
