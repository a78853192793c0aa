"""Synthetic civil-registry events for a seeded registry (``spsr exchange generate``): births to
some mothers of child-bearing age and some grown children moving to another family, so that a demo
or a benchmark exercises ``core.services.families``.

Deterministic for a registry, a seed and a month: each household or person is drawn from a
generator of its own. Births fall in the calendar month before the records' as-of date, so the
births of two months never share a day; their PINFLs take serials from the top of the space,
which the seed never hands out (``core.seed.loader`` ignores the upper half).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.identity import make_pinfl
from core.seed import names
from core.seed.generator import PINFL_SERIALS, pinfl_tail
from core.storage.in_lists import in_chunks
from core.storage.schema import Contact, Person

# Shares of the synthetic data, not of the law: about 2 % of mothers of child-bearing age give
# birth in a month, and 1 % of grown children living with their parents move to another family.
BIRTH_SHARE = 0.02
MOVE_SHARE = 0.01
MOTHER_AGES = (18, 45)
MOVER_AGES = (18, 30)
# A mover joins a family a few household ids away (often the same district: ids are seeded by it).
MOVE_REACH = 40

Event = tuple[int, str, dict[str, Any]]  # household id, PINFL, the record but for agency and as-of


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _feminine(surname: str) -> str:
    return surname if surname.endswith("a") else surname + "a"


def _masculine(surname: str) -> str:
    return surname[:-1] if surname.endswith(("ova", "eva", "ina")) else surname


async def family_events(s: AsyncSession, today: dt.date, as_of: dt.date, seed: int,
                        keep: Callable[[int], bool]) -> AsyncIterator[Event]:
    """Births, then moves, each in household or person order."""
    async for event in _births(s, today, as_of, seed, keep):
        yield event
    async for event in _moves(s, today, seed, keep):
        yield event


async def _births(s: AsyncSession, today: dt.date, as_of: dt.date, seed: int,
                  keep: Callable[[int], bool]) -> AsyncIterator[Event]:
    last = as_of - dt.timedelta(days=1)
    first = last.replace(day=1)
    father = aliased(Person)
    rows = await s.stream(
        select(Person.household_id, Person.pinfl, Person.surname, father.pinfl, father.given_name, father.surname,
               Contact.language)
        .outerjoin(father, and_(father.household_id == Person.household_id, father.sex == "m",
                                father.relation.in_(("head", "spouse")), father.relation != Person.relation,
                                father.died_on.is_(None)))
        .outerjoin(Contact, Contact.household_id == Person.household_id)
        .where(Person.sex == "f", Person.relation.in_(("head", "spouse")), Person.died_on.is_(None),
               Person.birth_date > _years_before(today, MOTHER_AGES[1] + 1),
               Person.birth_date <= _years_before(first, MOTHER_AGES[0]))
        .order_by(Person.household_id, Person.id).execution_options(yield_per=10_000))
    serials: dict[tuple[dt.date, str], int] = {}
    previous = None
    async for hid, mother, mother_surname, dad, dad_given, dad_surname, language in rows:
        if hid == previous:  # one birth a family at most (two fathers read: the same mother twice)
            continue
        previous = hid
        rng = random.Random(f"{seed}:birth:{hid}:{first.isoformat()}")
        if not keep(hid) or rng.random() >= BIRTH_SHARE:
            continue
        born = first + dt.timedelta(days=rng.randint(0, (last - first).days))
        sex = "m" if rng.random() < 0.51 else "f"
        n = serials.get((born, sex), 0)
        serials[(born, sex)] = n + 1
        child = make_pinfl(born, sex, *pinfl_tail(born, sex, PINFL_SERIALS - 1 - n)).value
        style = language if language in names.CULTURES else "uz"
        given = rng.choice((names.KAA_MALE if sex == "m" else names.KAA_FEMALE) if style == "kaa"
                           else (names.UZ_MALE if sex == "m" else names.UZ_FEMALE))
        family = dad_surname or mother_surname
        value = {"birth_date": born.isoformat(), "sex": sex,
                 "surname": _masculine(family) if sex == "m" else _feminine(family), "given_name": given,
                 "patronymic": names.patronymic(dad_given, sex, style) if dad_given else None,
                 "mother": mother, "father": dad}
        yield hid, child, {"item": "fhdyo.birth", "value": value, "record_id": f"fhdyo.birth:{child}"}


async def _moves(s: AsyncSession, today: dt.date, seed: int, keep: Callable[[int], bool]) -> AsyncIterator[Event]:
    movers: list[tuple[int, int, str, int]] = []  # person, household, PINFL, the household joined
    rows = await s.stream(
        select(Person.id, Person.household_id, Person.pinfl)
        .where(Person.relation == "child", Person.died_on.is_(None),
               Person.birth_date > _years_before(today, MOVER_AGES[1] + 1),
               Person.birth_date <= _years_before(today, MOVER_AGES[0]))
        .order_by(Person.id).execution_options(yield_per=10_000))
    async for pid, hid, pinfl in rows:
        rng = random.Random(f"{seed}:move:{pid}:{today.isoformat()[:7]}")
        if keep(hid) and rng.random() < MOVE_SHARE:
            movers.append((pid, hid, pinfl, hid + rng.randint(1, MOVE_REACH)))
    heads: dict[int, str] = {}
    for chunk in in_chunks(sorted({target for *_, target in movers})):
        heads.update(dict((await s.execute(select(Person.household_id, Person.pinfl).where(
            Person.household_id.in_(chunk), Person.relation == "head", Person.died_on.is_(None)))).all()))
    for pid, hid, pinfl, target in movers:
        head = heads.get(target)
        if head is not None:
            yield hid, pinfl, {"item": "fhdyo.household_member", "value": head,
                               "record_id": f"fhdyo.household_member:{pid}:{today.isoformat()[:7]}"}
