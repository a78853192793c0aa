"""Who belongs to which family, from the civil registry, inside an exchange batch.

A birth (``fhdyo.birth``) of a child the registry does not hold yet adds the child to the family
of a registered parent: the mother's when she is registered and alive on the birth date, else the
father's (``core.civil_registry.newborn_relation`` says what the child is to that family's head).
A birth of a registered person only corrects their birth date (``_apply``): the civil registry is
authoritative, and the rest (names, parents) the registry already holds.

A household membership (``fhdyo.household_member``) moves the member to the family of the head it
names, with their incomes, vehicles, properties, bank balances and facts; both families are
stamped changed, so the next ``spsr assess`` counts the member in the new one and no longer in the
old. A head who moves out leaves the family to its spouse, else its oldest adult
(``core.civil_registry.next_head``); a family left with no living member is not assessed any more
and its assistance stops with the month, as when the last member dies. A membership that lapses
moves no one back: a family is where the civil registry last placed it.

Every check runs against the registry as the batch found it (plus the newborns it adds); moves are
made in the order of their as-of dates, after the batch's other rows are written, in one statement
per table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.civil_registry import Member, newborn_mismatch, newborn_relation, next_head
from core.exchange import AgencyRecord, Catalogue, is_lapsed
from core.identity import Pinfl
from core.storage.in_lists import in_chunks
from core.storage.schema import BankBalance, Fact, Household, Income, Person, Property, Vehicle

FAMILY_ERROR_CODES: tuple[str, ...] = (
    "exchange.unknown_parent",
    "exchange.parent_dead",
    "exchange.birth_mismatch",
    "exchange.unknown_head",
    "exchange.head_dead",
)
# The tables whose rows belong to one person of a family and move with them.
_MEMBER_TABLES = (Income, Vehicle, Property, BankBalance)


def is_birth(catalogue: Catalogue, rec: AgencyRecord) -> bool:
    return _column(catalogue, rec) == "birth_date"


def is_membership(catalogue: Catalogue, rec: AgencyRecord) -> bool:
    return _column(catalogue, rec) == "household_id"


def _column(catalogue: Catalogue, rec: AgencyRecord) -> str | None:
    spec = catalogue.items[rec.item]
    return spec.applies.get("column") if spec.table == "persons" and spec.applies is not None else None


@dataclass(frozen=True, slots=True)
class _Registered:
    id: int
    household_id: int
    relation: str
    birth_date: dt.date
    died_on: dt.date | None

    def alive_on(self, day: dt.date) -> bool:
        return self.died_on is None or self.died_on >= day


@dataclass
class Placement:
    """A batch's births and memberships, checked: what is refused, and the newborns to add."""

    refused: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    newborns: dict[str, dict[str, Any]] = field(default_factory=dict)  # child PINFL → its persons row
    _people: dict[str, _Registered] = field(default_factory=dict)

    @property
    def refused_at(self) -> set[int]:
        return {index for index, _, _ in self.refused}


async def _registered(s: AsyncSession, pinfls: Iterable[str]) -> dict[str, _Registered]:
    out: dict[str, _Registered] = {}
    for chunk in in_chunks(sorted(set(pinfls))):
        rows = await s.execute(select(Person.pinfl, Person.id, Person.household_id, Person.relation,
                                      Person.birth_date, Person.died_on).where(Person.pinfl.in_(chunk)))
        out.update({p: _Registered(pid, hid, rel, born, died) for p, pid, hid, rel, born, died in rows})
    return out


async def place(s: AsyncSession, catalogue: Catalogue, records: Sequence[tuple[int, AgencyRecord]],
                persons: Mapping[str, tuple[int, int]], today: dt.date) -> Placement:
    """Check the births of unregistered children and every membership against the registry."""
    births = [(i, r) for i, r in records if is_birth(catalogue, r) and r.pinfl not in persons]
    moves = [(i, r) for i, r in records if is_membership(catalogue, r)]
    wanted = [r.value[name] for _, r in births for name in ("mother", "father") if r.value[name] is not None]
    wanted += [r.value for _, r in moves] + [r.pinfl for _, r in moves]
    placement = Placement(_people=await _registered(s, wanted) if wanted else {})
    people = placement._people
    admitted: dict[str, tuple[tuple[dt.date, int], dict[str, Any]]] = {}
    for index, rec in births:
        value = rec.value
        born = dt.date.fromisoformat(value["birth_date"])
        named = {name: people.get(value[name]) for name in ("mother", "father") if value[name] is not None}
        known = {name: p for name, p in named.items() if p is not None}
        if not known:
            placement.refused.append((index, "exchange.unknown_parent", {
                "parents": {name: Pinfl(value[name]).mask() for name in named}}))
            continue
        living = {name: p for name, p in known.items() if p.alive_on(born)}
        if not living:
            placement.refused.append((index, "exchange.parent_dead", {"birth_date": born.isoformat()}))
            continue
        mismatch = newborn_mismatch(rec.pinfl, value)
        if mismatch is not None:
            placement.refused.append((index, "exchange.birth_mismatch", mismatch))
            continue
        if is_lapsed(catalogue.items[rec.item], rec.as_of, today):
            continue  # kept as expired, as any lapsed record: it adds no one
        household_id = (living.get("mother") or living["father"]).household_id
        relation = newborn_relation(p.relation for p in living.values() if p.household_id == household_id)
        row = {"pinfl": rec.pinfl, "household_id": household_id, "relation": relation,
               "surname": value["surname"], "given_name": value["given_name"], "patronymic": value["patronymic"],
               "birth_date": born, "sex": value["sex"]}
        # The same child twice in a batch is one person: the newest record says who (as the fact will).
        order = (rec.as_of, index)
        if rec.pinfl not in admitted or admitted[rec.pinfl][0] < order:
            admitted[rec.pinfl] = (order, row)
    placement.newborns = {pinfl: row for pinfl, (_, row) in admitted.items()}
    for index, rec in moves:
        head = people.get(rec.value)
        if head is None:
            placement.refused.append((index, "exchange.unknown_head", {"head": Pinfl(rec.value).mask()}))
        elif not head.alive_on(rec.as_of + dt.timedelta(days=1)):
            # Dead on or before the as-of date: no household is headed by them that day.
            placement.refused.append((index, "exchange.head_dead", {"head": Pinfl(rec.value).mask(),
                                                                    "died_on": str(head.died_on)}))
    placement.refused.sort(key=lambda r: r[0])
    return placement


async def add_newborns(s: AsyncSession, placement: Placement, persons: dict[str, tuple[int, int]]) -> None:
    """Register the admitted newborns in their families; ``persons`` learns their ids."""
    rows = [row for pinfl, row in placement.newborns.items() if pinfl not in persons]
    if not rows:
        return
    await s.execute(insert(Person), rows)
    for chunk in in_chunks([r["pinfl"] for r in rows]):
        persons.update({p: (pid, hid) for p, pid, hid in await s.execute(
            select(Person.pinfl, Person.id, Person.household_id).where(Person.pinfl.in_(chunk)))})


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


async def move_members(s: AsyncSession, placement: Placement, catalogue: Catalogue,
                       changed: Iterable[AgencyRecord], persons: Mapping[str, tuple[int, int]],
                       today: dt.date) -> set[int]:
    """Move each member whose membership changed to the named head's family; the households
    they left and joined (to be stamped changed)."""
    people = placement._people
    where = {pinfl: hid for pinfl, (_, hid) in persons.items()}
    moves: list[dict[str, Any]] = []
    left_by_head: set[int] = set()
    for rec in sorted((r for r in changed if is_membership(catalogue, r)), key=lambda r: r.as_of):
        head = people[rec.value]
        target = where.get(rec.value, head.household_id)
        pid, start = persons[rec.pinfl]
        if target == where[rec.pinfl]:
            continue
        # A member moves once a batch (one value in force), so their rows are all in ``start``.
        moves.append({"b_pid": pid, "b_pinfl": rec.pinfl, "b_old": start, "b_new": target})
        where[rec.pinfl] = target
        if people[rec.pinfl].relation == "head" and people[rec.pinfl].household_id == start:
            left_by_head.add(start)
    if not moves:
        return set()
    # The relation is the head's to say; the civil registry's membership does not: 'other'.
    persons_t = _table(Person)
    await s.execute(update(persons_t).where(persons_t.c.id == bindparam("b_pid"))
                    .values(household_id=bindparam("b_new"), relation="other"), moves)
    for model in _MEMBER_TABLES:
        t = _table(model)
        await s.execute(update(t).where(and_(t.c.household_id == bindparam("b_old"), t.c.person_id == bindparam("b_pid")))
                        .values(household_id=bindparam("b_new")), moves)
    facts_t = _table(Fact)
    await s.execute(update(facts_t).where(facts_t.c.pinfl == bindparam("b_pinfl")).values(household_id=bindparam("b_new")),
                    moves)
    await _new_heads(s, sorted(left_by_head), today)
    return {m["b_old"] for m in moves} | {m["b_new"] for m in moves}


async def replace_dead_heads(s: AsyncSession, catalogue: Catalogue, changed: Iterable[AgencyRecord],
                             persons: Mapping[str, tuple[int, int]], today: dt.date) -> None:
    """A family whose head the civil registry reports dead (by today) is headed by the member
    ``next_head`` picks, as when a head moves out: the bank file names the head as the family's
    payee, and a dead person's account is not paid."""
    dead = [persons[r.pinfl][0] for r in changed if _column(catalogue, r) == "died_on" and r.value is not None
            and dt.date.fromisoformat(str(r.value)) <= today and r.pinfl in persons]
    if not dead:
        return
    households: list[int] = []
    for chunk in in_chunks(dead):
        households += (await s.scalars(select(Household.id).where(Household.head_person_id.in_(chunk)))).all()
    await _new_heads(s, sorted(households), today)


async def _new_heads(s: AsyncSession, households: list[int], today: dt.date) -> None:
    """A family whose head moved out is headed by the member ``next_head`` picks, or by no one."""
    if not households:
        return
    left: dict[int, list[Member]] = {hid: [] for hid in households}
    for chunk in in_chunks(households):
        for pid, hid, relation, born in await s.execute(
                select(Person.id, Person.household_id, Person.relation, Person.birth_date)
                .where(Person.household_id.in_(chunk), or_(Person.died_on.is_(None), Person.died_on > today))):
            left[hid].append(Member(pid, relation, born))
    heads = [{"hid": hid, "head": next_head(members, today)} for hid, members in left.items()]
    persons_t, households_t = _table(Person), _table(Household)
    await s.execute(update(households_t).where(households_t.c.id == bindparam("hid"))
                    .values(head_person_id=bindparam("head")), heads)
    chosen = [h for h in heads if h["head"] is not None]
    if chosen:
        await s.execute(update(persons_t).where(persons_t.c.id == bindparam("head")).values(relation="head"), chosen)
