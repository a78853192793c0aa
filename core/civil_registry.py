"""What the civil registry's births and household memberships mean for a family, as pure rules.

A birth (``fhdyo.birth``) names the child by its PINFL and carries its birth date, sex, names and
the PINFL of its mother and/or father; a newborn joins the family of a registered parent. A
household membership (``fhdyo.household_member``) names the head of the household a person is
registered in; the person moves to that head's family. ``core.services.families`` applies them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput
from core.identity import Pinfl, age_on

# The parent fields of a birth and the sex each must have (the first PINFL digit says it).
PARENTS: Mapping[str, str] = {"mother": "f", "father": "m"}
ADULT_AGE = 18


def check_birth(item: str, child: str, value: Mapping[str, Any], as_of: dt.date) -> None:
    """A birth that contradicts itself is refused whether or not the child is registered yet."""
    born = dt.date.fromisoformat(value["birth_date"])
    if born > as_of:
        # The civil registry cannot have registered on its as-of date a birth that came later.
        raise InvalidInput("exchange.born_after_as_of", item=item, birth_date=born.isoformat(),
                           as_of=as_of.isoformat())
    for name, sex in PARENTS.items():
        parent = value.get(name)
        if parent is None:
            continue
        if parent == child:
            raise InvalidInput("exchange.bad_value", item=item, field=name, reason="own_parent")
        pinfl = Pinfl(parent)  # already parsed: a valid PINFL
        if pinfl.sex != sex:
            raise InvalidInput("exchange.bad_value", item=item, field=name, reason="sex", expected=sex)
        if pinfl.birth_date >= born:
            raise InvalidInput("exchange.bad_value", item=item, field=name, reason="born_after_child",
                               birth_date=born.isoformat())


def newborn_mismatch(child: str, value: Mapping[str, Any]) -> dict[str, str] | None:
    """What a new child's PINFL says against the record (its birth date and sex), or None.

    A newborn's PINFL is issued with the very birth registration, so the two agree; when they do
    not, one of them is mistyped, and child benefit by age must not rest on the wrong one. (An older
    person's birth date may have been corrected since their PINFL was issued: that is not checked.)
    """
    pinfl = Pinfl(child)
    born = dt.date.fromisoformat(value["birth_date"])
    if pinfl.birth_date != born or pinfl.sex != value["sex"]:
        return {"birth_date": born.isoformat(), "sex": value["sex"],
                "pinfl_birth_date": pinfl.birth_date.isoformat(), "pinfl_sex": pinfl.sex}
    return None


def newborn_relation(parent_relations: Iterable[str]) -> str:
    """The child's relation to the head of the family it joins, from its parents' relations there.

    A child of the head or of the head's spouse is the head's child; a child of the head's child is
    a grandchild (both are counted as children for child benefit and as births an application may
    declare); any other member's child is 'other'.
    """
    relations = set(parent_relations)
    if relations & {"head", "spouse"}:
        return "child"
    if "child" in relations:
        return "grandchild"
    return "other"


@dataclass(frozen=True, slots=True)
class Member:
    """A member left in a family whose head moved out, as the choice of a new head reads them."""

    id: int
    relation: str
    birth_date: dt.date


def next_head(members: Sequence[Member], on: dt.date) -> int | None:
    """Who heads a family its head has moved out of: the spouse, else the oldest adult, else the
    oldest member; None when no living member is left (the family is then no longer assessed and
    its assistance stops, as when the last member dies)."""
    if not members:
        return None
    spouse = [m for m in members if m.relation == "spouse"]
    adults = [m for m in members if age_on(m.birth_date, on) >= ADULT_AGE]
    pool = spouse or adults or list(members)
    return min(pool, key=lambda m: (m.birth_date, m.id)).id
