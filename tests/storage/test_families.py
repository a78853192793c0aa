"""The civil registry's births and household memberships change who a family is: a newborn joins
a registered parent's family, a member moves to the family of the head the registry names, and the
next ``spsr assess`` decides both families on who they are now."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from core.services.assessment import assess_households
from core.services.decisions import provenance_of
from core.services.exchange import expire_facts, ingest
from core.storage.schema import (
    Decision,
    ExchangeRecord,
    Fact,
    Household,
    Income,
    Person,
    Vehicle,
)
from core.storage.uow import Core
from tests.storage.factories import make_family, pinfl_for
from tests.storage.test_assessment import enrolments, wages

pytestmark = pytest.mark.postgres

BORN = dt.date(2026, 11, 20)


def birth(child: str, record_id: str = "BIRTH-1", *, as_of: str = "2026-11-25", **value: Any) -> dict[str, Any]:
    fields = {"birth_date": BORN.isoformat(), "sex": "f", "surname": "Karimova", "given_name": "Malika",
              "patronymic": "Anvar qizi", **value}
    return {"agency": "fhdyo", "item": "fhdyo.birth", "pinfl": child, "value": fields, "as_of": as_of,
            "record_id": record_id}


def member(pinfl: str, head: str, record_id: str = "MEMBER-1", as_of: str = "2026-12-01") -> dict[str, Any]:
    return {"agency": "fhdyo", "item": "fhdyo.household_member", "pinfl": pinfl, "value": head, "as_of": as_of,
            "record_id": record_id}


async def person(core: Core, pinfl: str) -> Person | None:
    async with core.uow() as uow:
        row = await uow.session.scalar(select(Person).where(Person.pinfl == pinfl))
        uow.session.expunge_all()
    return row


async def relative(core: Core, household_id: int, relation: str) -> str:
    async with core.uow() as uow:
        found = await uow.session.scalar(select(Person.pinfl).where(
            Person.household_id == household_id, Person.relation == relation).order_by(Person.id).limit(1))
    assert found is not None
    return found


async def latest_decision(core: Core, household_id: int) -> Decision:
    async with core.uow() as uow:
        row = await uow.session.scalar(select(Decision).where(Decision.household_id == household_id)
                                       .order_by(Decision.id.desc()).limit(1))
        assert row is not None
        uow.session.expunge_all()
    return row


async def persons_count(core: Core) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Person)) or 0)


# --- births ------------------------------------------------------------------------------------


async def test_a_newborn_joins_its_mother_s_family_which_then_gets_child_benefit(core: Core, clock) -> None:
    household_id, head = await make_family(core)  # a couple
    # 2,200,000 a month for two: 1,100,000 each, over 1.5 × the MCE (715,000): nothing.
    await ingest(core, wages(head, 2_200_000, "W"))
    first = await assess_households(core)
    assert (first.assessed, first.eligible) == (1, 0)
    mother = await relative(core, household_id, "spouse")
    child = pinfl_for(BORN, "f")
    assert (await person(core, child)) is None
    clock.advance(dt.timedelta(hours=1))
    result = await ingest(core, [birth(child, mother=mother)])
    assert (result.accepted, result.rejected) == (1, [])
    added = await person(core, child)
    assert added is not None
    assert (added.household_id, added.relation, added.birth_date, added.sex, added.surname, added.given_name,
            added.patronymic) == (household_id, "child", BORN, "f", "Karimova", "Malika", "Anvar qizi")

    # Three now: 733,333 each, under 1.25 × the MCE: child benefit for an infant, at 75 %.
    second = await assess_households(core)
    assert (second.assessed, second.eligible, second.enrolled) == (1, 1, 1)
    decision = await latest_decision(core, household_id)
    assert (decision.members, decision.children, decision.youngest_child_birth_date, decision.programme) == (
        3, 1, BORN, "child_benefit")
    assert decision.amount == 360_000 * 75 // 100
    async with core.uow() as uow:
        sources = (await provenance_of(uow, [decision]))[decision.id]
    assert sources[f"{child}:fhdyo.birth"]["record_id"] == "BIRTH-1"
    assert sources[f"{child}:fhdyo.birth"]["agency"] == "fhdyo"


async def test_a_newborn_raises_the_child_benefit_a_family_is_decided_for(core: Core, clock) -> None:
    household_id, head = await make_family(core, children=(dt.date(2020, 5, 5),))
    await ingest(core, wages(head, 900_000, "W"))
    await assess_households(core)
    before = await latest_decision(core, household_id)
    assert (before.eligible, before.amount_total) == (True, 275_000)  # one child aged 3-18
    clock.advance(dt.timedelta(hours=1))
    father = await relative(core, household_id, "head")
    await ingest(core, [birth(pinfl_for(BORN, "f"), father=father)])
    await assess_households(core)
    after = await latest_decision(core, household_id)
    # An infant first (360,000) and a second child (165,000).
    assert (after.eligible, after.children, after.amount_total) == (True, 2, 525_000)


async def test_a_child_of_the_head_s_child_is_a_grandchild_and_of_any_other_member_other(core: Core) -> None:
    household_id, _ = await make_family(core, children=(dt.date(2000, 2, 2), dt.date(1999, 3, 3)))
    daughter = await relative(core, household_id, "child")  # the first child is a daughter
    assert (await person(core, daughter)).sex == "f"  # type: ignore[union-attr]
    grandchild = pinfl_for(BORN, "f")
    await ingest(core, [birth(grandchild, mother=daughter)])
    assert (await person(core, grandchild)).relation == "grandchild"  # type: ignore[union-attr]
    other_family, other_head = await make_family(core, phone="+998901234568")
    async with core.uow() as uow:
        lodger = await uow.session.scalar(select(Person).where(Person.household_id == other_family,
                                                               Person.relation == "spouse"))
        assert lodger is not None
        lodger.relation = "other"
        await uow.commit()
    stranger = pinfl_for(BORN, "m")
    await ingest(core, [birth(stranger, "BIRTH-2", sex="m", mother=lodger.pinfl)])
    assert (await person(core, stranger)).relation == "other"  # type: ignore[union-attr]


async def test_with_both_parents_registered_the_child_joins_the_mother_s_family(core: Core) -> None:
    mothers_family, _ = await make_family(core)
    fathers_family, father = await make_family(core, phone="+998901234568")
    mother = await relative(core, mothers_family, "spouse")
    child = pinfl_for(BORN, "f")
    await ingest(core, [birth(child, mother=mother, father=father)])
    added = await person(core, child)
    assert added is not None and (added.household_id, added.relation) == (mothers_family, "child")
    # The mother dead before the birth: the father's family.
    async with core.uow() as uow:
        row = await uow.session.scalar(select(Person).where(Person.pinfl == mother))
        assert row is not None
        row.died_on = BORN - dt.timedelta(days=1)
        await uow.commit()
    second = pinfl_for(BORN, "m")
    await ingest(core, [birth(second, "BIRTH-2", sex="m", mother=mother, father=father)])
    assert (await person(core, second)).household_id == fathers_family  # type: ignore[union-attr]


async def test_every_bad_birth_and_membership_is_refused_with_its_reason_and_writes_nothing(core: Core) -> None:
    household_id, head = await make_family(core)
    mother = await relative(core, household_id, "spouse")
    dead_family, dead_head = await make_family(core, phone="+998901234568", spouse=False)
    async with core.uow() as uow:
        row = await uow.session.scalar(select(Person).where(Person.pinfl == dead_head))
        assert row is not None
        row.died_on = dt.date(2026, 6, 1)
        await uow.commit()
    child = pinfl_for(BORN, "f")
    stranger = pinfl_for(dt.date(1990, 4, 4), "f")  # valid, in no registry
    people, records = await persons_count(core), await _count(core, ExchangeRecord)
    batch = [
        birth(child, "R-0", mother=stranger),                                    # no parent registered
        birth(child, "R-1", father=dead_head),                                   # the only parent died before
        birth(child, "R-2", mother=mother, birth_date="2026-11-21"),             # the PINFL says the 20th
        birth(child, "R-3", mother=mother, sex="m"),                             # the PINFL says a girl
        birth(child, "R-4", mother=mother, as_of="2026-11-19"),                  # registered before it happened
        birth(child, "R-5", mother=mother, birth_date="2026-12-11"),             # after today
        birth(child, "R-6"),                                                     # no parent named
        birth(child, "R-7", mother=head),                                        # a man as the mother
        birth(child, "R-8", mother=child),                                       # her own mother
        birth(child, "R-9", mother=mother, given_name=""),                       # a name left out
        member(head, stranger, "R-10"),                                          # no such head
        member(head, dead_head, "R-11"),                                         # the head has died
        member(stranger, head, "R-12"),                                          # no such member
        member(head, "31210632040245", "R-13"),                                  # a wrong check digit
        birth(child, "R-14", mother=mother, father=""),                          # fine: a blank father is none
    ]
    result = await ingest(core, batch)
    assert [(i, code, params.get("reason")) for i, code, params in result.rejected] == [
        (0, "exchange.unknown_parent", None), (1, "exchange.parent_dead", None),
        (2, "exchange.birth_mismatch", None), (3, "exchange.birth_mismatch", None),
        (4, "exchange.born_after_as_of", None), (5, "exchange.bad_value", "future"),
        (6, "exchange.missing_field", None), (7, "exchange.bad_value", "sex"),
        (8, "exchange.bad_value", "own_parent"), (9, "exchange.empty_value", None),
        (10, "exchange.unknown_head", None), (11, "exchange.head_dead", None),
        (12, "exchange.unknown_pinfl", None), (13, "exchange.bad_value", "pinfl.check_digit")]
    assert result.rejected[0][2] == {"parents": {"mother": stranger[:6] + "*****" + stranger[11:]}}
    assert result.rejected[2][2]["pinfl_birth_date"] == "2026-11-20"
    assert result.accepted == 1
    assert await persons_count(core) == people + 1
    assert await _count(core, ExchangeRecord) == records + 1
    assert (await person(core, head)).household_id == household_id  # type: ignore[union-attr]
    assert dead_family != household_id


async def _count(core: Core, model: type) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_the_same_child_twice_is_one_person_and_a_newer_record_corrects_the_birth_date(core: Core) -> None:
    household_id, _ = await make_family(core)
    mother = await relative(core, household_id, "spouse")
    child = pinfl_for(BORN, "f")
    people = await persons_count(core)
    # Twice in one batch under two record ids, and the same record twice.
    first = await ingest(core, [birth(child, "B-1", mother=mother),
                                birth(child, "B-2", as_of="2026-11-26", mother=mother, given_name="Madina"),
                                birth(child, "B-1", mother=mother)])
    assert (first.accepted, first.superseded, first.unchanged, first.rejected) == (2, 1, 1, [])
    assert await persons_count(core) == people + 1
    assert (await person(core, child)).given_name == "Madina"  # type: ignore[union-attr]  # the newest record's
    again = await ingest(core, [birth(child, "B-1", mother=mother), birth(child, "B-2", as_of="2026-11-26",
                                                                          mother=mother, given_name="Madina")])
    assert (again.accepted, again.unchanged) == (0, 2)
    # A later record for the registered child: the civil registry corrects the birth date, nothing else.
    later = await ingest(core, [birth(child, "B-3", as_of="2026-12-02", mother=mother, birth_date="2026-11-19",
                                      given_name="Someone")])
    assert (later.accepted, later.superseded) == (1, 1)
    corrected = await person(core, child)
    assert corrected is not None and (corrected.birth_date, corrected.given_name) == (dt.date(2026, 11, 19), "Madina")
    # An older one is stale: kept, applied to nothing.
    older = await ingest(core, [birth(child, "B-0", as_of="2026-11-21", mother=mother)])
    assert (older.accepted, older.stale) == (1, 1)
    assert (await person(core, child)).birth_date == dt.date(2026, 11, 19)  # type: ignore[union-attr]
    assert await persons_count(core) == people + 1
    async with core.uow() as uow:
        statuses = dict((await uow.session.execute(
            select(ExchangeRecord.agency_record_id, ExchangeRecord.status))).all())
    assert statuses == {"B-0": "stale", "B-1": "superseded", "B-2": "superseded", "B-3": "current"}


async def test_a_birth_registered_a_century_ago_is_kept_as_expired_and_adds_no_one(core: Core) -> None:
    household_id, _ = await make_family(core)
    mother = await relative(core, household_id, "spouse")
    people = await persons_count(core)
    old = pinfl_for(dt.date(2026, 11, 20), "f")
    result = await ingest(core, [birth(old, as_of="1920-01-01", birth_date="1920-01-01", mother=mother)])
    # The record is refused before it is seen to be old: the mother was born after the child.
    assert [code for _, code, _ in result.rejected] == ["exchange.bad_value"]
    assert await persons_count(core) == people


# --- household membership ----------------------------------------------------------------------


async def test_a_member_who_moves_takes_their_income_and_assets_and_both_families_are_decided_again(
        core: Core, clock) -> None:
    son_born = dt.date(2000, 5, 5)
    old_family, old_head = await make_family(core, children=(son_born, son_born))
    new_family, new_head = await make_family(core, phone="+998901234568")
    async with core.uow() as uow:
        son = await uow.session.scalar(select(Person.pinfl).where(
            Person.household_id == old_family, Person.relation == "child", Person.sex == "m"))
    assert son is not None
    await ingest(core, wages(old_head, 1_200_000, "A") + wages(son, 900_000, "S") + wages(new_head, 600_000, "B")
                 + [{"agency": "yhxbb", "item": "yhxbb.vehicle", "pinfl": son, "key": "01A123BC", "as_of": "2026-12-01",
                     "record_id": "V-1", "value": {"year": 2010, "roadworthy": True, "kind": "car"}}])
    await assess_households(core)
    before_old, before_new = await latest_decision(core, old_family), await latest_decision(core, new_family)
    # 4 members with 2,100,000; 2 with 600,000.
    assert (before_old.members, before_old.income_per_member) == (4, 525_000)
    assert (before_new.members, before_new.income_per_member) == (2, 300_000)

    clock.advance(dt.timedelta(hours=1))
    result = await ingest(core, [member(son, new_head)])
    assert (result.accepted, result.rejected) == (1, [])
    moved = await person(core, son)
    assert moved is not None and (moved.household_id, moved.relation) == (new_family, "other")
    async with core.uow() as uow:
        s = uow.session
        assert set((await s.scalars(select(Income.household_id).where(Income.person_id == moved.id))).all()) == {
            new_family}
        assert (await s.scalars(select(Vehicle.household_id))).all() == [new_family]
        assert set((await s.scalars(select(Fact.household_id).where(Fact.pinfl == son))).all()) == {new_family}
        stamps = dict((await s.execute(select(Household.id, Household.data_changed_at))).all())
        created = await s.scalar(select(func.max(Household.created_at)))
    assert stamps[old_family] == stamps[new_family] > created  # both stamped by the batch

    summary = await assess_households(core)
    assert summary.assessed == 2
    after_old, after_new = await latest_decision(core, old_family), await latest_decision(core, new_family)
    assert (after_old.members, after_old.income_per_member) == (3, 400_000)  # 1,200,000 for 3
    assert (after_new.members, after_new.income_per_member) == (3, 500_000)  # 1,500,000 for 3
    assert (after_old.roadworthy_vehicles, after_new.roadworthy_vehicles) == (0, 1)
    async with core.uow() as uow:
        sources = (await provenance_of(uow, [after_new]))[after_new.id]
    assert sources[f"{son}:fhdyo.household_member"]["record_id"] == "MEMBER-1"
    assert f"{son}:soliq.wage|2026-11/301234567" in sources

    # The same record again changes nothing; the membership lapsing a year on moves no one back.
    assert (await ingest(core, [member(son, new_head)])).unchanged == 1
    clock.set(dt.date(2027, 12, 5))
    assert await expire_facts(core) >= 1
    assert (await person(core, son)).household_id == new_family  # type: ignore[union-attr]
    assert (await person(core, son)).relation == "other"  # type: ignore[union-attr]


async def test_a_head_who_moves_out_leaves_the_family_to_the_spouse(core: Core) -> None:
    old_family, old_head = await make_family(core, children=(dt.date(2001, 1, 1),))
    new_family, new_head = await make_family(core, phone="+998901234568")
    spouse = await relative(core, old_family, "spouse")
    await ingest(core, [member(old_head, new_head)])
    async with core.uow() as uow:
        head_id = await uow.session.scalar(select(Household.head_person_id).where(Household.id == old_family))
        heads = (await uow.session.execute(select(Person.pinfl, Person.household_id).where(
            Person.relation == "head").order_by(Person.household_id))).all()
        spouse_id = await uow.session.scalar(select(Person.id).where(Person.pinfl == spouse))
    assert head_id == spouse_id
    assert sorted(heads) == sorted([(spouse, old_family), (new_head, new_family)])  # one head a family


async def test_a_family_its_only_member_moves_out_of_is_paid_this_month_and_no_more(core: Core, clock) -> None:
    old_family, widow = await make_family(core, spouse=False, head_birth=dt.date(1950, 3, 14))
    assert (await assess_households(core)).enrolled == 1
    new_family, son = await make_family(core, phone="+998901234568")
    clock.set(dt.date(2027, 2, 10))
    await ingest(core, [member(widow, son, as_of="2027-02-04")])
    async with core.uow() as uow:
        assert await uow.session.scalar(select(Household.head_person_id).where(Household.id == old_family)) is None
    summary = await assess_households(core)
    assert (summary.errors, summary.ending) == (1, 1)  # the empty family is counted, not decided
    [enrolment] = await enrolments(core, old_family)
    assert (enrolment.last_month, enrolment.ended_on) == (dt.date(2027, 2, 1), dt.date(2027, 2, 28))
    assert (await latest_decision(core, new_family)).members == 3


async def test_moves_in_one_batch_follow_their_as_of_dates(core: Core) -> None:
    first, a = await make_family(core, spouse=False)
    second, b = await make_family(core, phone="+998901234568", spouse=False)
    third, c = await make_family(core, phone="+998901234569", spouse=False)
    # b joins c's family, then a joins b's (by then c's); a record naming one's own family moves no one.
    result = await ingest(core, [member(a, b, "M-A", as_of="2026-12-05"), member(b, c, "M-B", as_of="2026-12-01"),
                                 member(c, c, "M-C")])
    assert (result.accepted, result.rejected) == (3, [])
    assert [(await person(core, p)).household_id for p in (a, b, c)] == [third, third, third]  # type: ignore[union-attr]
    assert (first, second) != (third, third)


async def test_records_generated_for_a_seeded_registry_bring_births_and_moves_once(core: Core) -> None:
    import io
    import json

    from core.seed.loader import seed_registry
    from core.services.exchange import generate_records

    await seed_registry(core, 600, 1140)
    people = await persons_count(core)
    out = io.StringIO()
    await generate_records(core, out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    births = [r for r in records if r["item"] == "fhdyo.birth"]
    moves = [r for r in records if r["item"] == "fhdyo.household_member"]
    assert births and moves
    result = await ingest(core, records)
    assert (result.accepted, result.rejected) == (len(births) + len(moves), [])
    assert await persons_count(core) == people + len(births)
    async with core.uow() as uow:
        s = uow.session
        added = (await s.execute(select(Person.relation, Person.birth_date).where(
            Person.pinfl.in_([r["pinfl"] for r in births])))).all()
        joined = dict((await s.execute(select(Person.pinfl, Person.household_id).where(
            Person.pinfl.in_([r["pinfl"] for r in moves + [{"pinfl": m["value"]} for m in moves]])))).all())
    assert {relation for relation, _ in added} == {"child"}
    assert all(dt.date(2026, 11, 1) <= born <= dt.date(2026, 11, 30) for _, born in added)
    assert all(joined[m["pinfl"]] == joined[m["value"]] for m in moves)
    assert (await ingest(core, records)).unchanged == len(records)
    # Generated again, the births are the same records; the moved are no longer anyone's grown child.
    again = io.StringIO()
    await generate_records(core, again)
    assert [json.loads(line) for line in again.getvalue().splitlines()] == [r for r in records if r not in moves]


async def test_a_newer_membership_moves_the_member_again_and_an_older_one_moves_no_one(core: Core) -> None:
    first, a = await make_family(core)
    second, b = await make_family(core, phone="+998901234568", spouse=False)
    third, c = await make_family(core, phone="+998901234569", spouse=False)
    spouse = await relative(core, first, "spouse")
    await ingest(core, [member(spouse, b, "M-1", as_of="2026-12-01")])
    older = await ingest(core, [member(spouse, c, "M-0", as_of="2026-11-20")])
    assert (older.accepted, older.stale) == (1, 1)
    assert (await person(core, spouse)).household_id == second  # type: ignore[union-attr]
    newer = await ingest(core, [member(spouse, a, "M-2", as_of="2026-12-05")])
    assert (newer.accepted, newer.superseded) == (1, 1)
    assert (await person(core, spouse)).household_id == first  # type: ignore[union-attr]
    async with core.uow() as uow:
        statuses = dict((await uow.session.execute(
            select(ExchangeRecord.agency_record_id, ExchangeRecord.status))).all())
        fact = await uow.session.get(Fact, (spouse, "fhdyo.household_member"))
        assert fact is not None and (fact.household_id, fact.agency_record_id) == (first, "M-2")
    assert statuses == {"M-0": "stale", "M-1": "superseded", "M-2": "current"}
    assert third not in (first, second)
