"""Households, persons and who looked at them; territory. Every read of a person is audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput, NotFound
from core.identity import Pinfl
from core.storage.schema import (
    AuditEntry,
    Contact,
    District,
    Fact,
    Household,
    Income,
    Mahalla,
    Person,
    Region,
)
from registry_api.http import Call, Op, Param, Result, decode_cursor, page
from registry_api.schema import (
    DATE,
    DATETIME,
    MONEY,
    MONTH,
    NULLABLE_STR,
    PINFL,
    Properties,
    component,
    iso_datetime,
    obj,
    page_of,
)

CONTRIBUTIONS = component("Contributions", obj({
    "facts": {"type": "array", "items": obj({
        "pinfl_masked": {"type": "string"}, "item": {"type": "string"}, "agency": {"type": "string"},
        "agency_record_id": {"type": "string"}, "as_of": DATE, "received_at": DATETIME,
        "value": {"type": "object"}})},
    "incomes": {"type": "array", "items": obj({
        "pinfl_masked": {"type": "string"}, "month": MONTH, "source": {"type": "string"}, "amount": MONEY,
        "agency": NULLABLE_STR})},
}, ("facts", "incomes")))
MEMBER: Properties = {
    "pinfl": PINFL, "household_id": {"type": "integer"}, "relation": {"type": "string"},
    "surname": {"type": "string"}, "given_name": {"type": "string"}, "patronymic": NULLABLE_STR,
    "birth_date": DATE, "sex": {"enum": ["m", "f"]}, "disability": NULLABLE_STR, "service_body": NULLABLE_STR,
    "died_on": {"type": ["string", "null"], "format": "date",
                "description": "the day the civil registry reports the person died: from then no member of the family"},
}
PERSON = component("Person", obj({**MEMBER, "contributions": CONTRIBUTIONS}, tuple(MEMBER) + ("contributions",)))
HOUSEHOLD = component("Household", obj({
    "id": {"type": "integer"}, "region_soato": {"type": "string"}, "district_soato": {"type": "string"},
    "mahalla_id": {"type": "integer"}, "address": {"type": "string"}, "phone": NULLABLE_STR,
    "language": {"type": "string"}, "channel": {"type": "string"}, "created_at": DATETIME,
    "members": {"type": "array", "items": obj(MEMBER, tuple(MEMBER))}, "contributions": CONTRIBUTIONS,
}, ("id", "region_soato", "district_soato", "mahalla_id", "members", "contributions")))
component("AccessEntry", obj({
    "at": DATETIME, "client": {"type": "string"}, "actor_kind": {"type": "string"}, "channel": {"type": "string"},
    "action": {"type": "string"}, "route": NULLABLE_STR}, ("at", "client", "action")))
component("Region", obj({"soato": {"type": "string"}, "iso": {"type": "string"}, "name_uz": {"type": "string"},
                         "name_ru": {"type": "string"}, "name_kaa": NULLABLE_STR, "name_en": {"type": "string"}},
                        ("soato", "name_uz")))
component("District", obj({"soato": {"type": "string"}, "region_soato": {"type": "string"},
                           "kind": {"type": "string"}, "name_uz": {"type": "string"},
                           "name_ru": {"type": "string"}, "name_kaa": NULLABLE_STR,
                           "name_en": {"type": "string"}}, ("soato", "name_uz")))
component("Mahalla", obj({"id": {"type": "integer"}, "district_soato": {"type": "string"},
                          "name_uz": {"type": "string"}, "name_ru": NULLABLE_STR, "name_kaa": NULLABLE_STR},
                         ("id", "name_uz")))

PINFL_PARAM = Param("pinfl", {"type": "string", "maxLength": 40}, True, "14-digit PINFL")
HOUSEHOLD_PARAM = Param("household_id", {"type": "integer"}, True)


def household_id_of(call: Call) -> int:
    raw = call.path("household_id")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidInput("path.household_id", value=raw[:20])
    return int(raw)


def _member(p: Person) -> dict[str, Any]:
    return {"pinfl": p.pinfl, "household_id": p.household_id, "relation": p.relation, "surname": p.surname,
            "given_name": p.given_name, "patronymic": p.patronymic, "birth_date": p.birth_date.isoformat(),
            "sex": p.sex, "disability": p.disability, "service_body": p.service_body,
            "died_on": p.died_on.isoformat() if p.died_on else None}


def _iso(value: dt.datetime) -> str:
    return iso_datetime(value)


async def contributions(s: AsyncSession, persons: Sequence[Person]) -> dict[str, Any]:
    """What each agency told the registry about these persons, and when."""
    pinfls = {p.pinfl: p for p in persons}
    ids = {p.id: p for p in persons}
    facts = (await s.scalars(select(Fact).where(Fact.pinfl.in_(list(pinfls))).order_by(Fact.pinfl, Fact.item))).all()
    incomes = (await s.scalars(select(Income).where(Income.person_id.in_(list(ids)))
                               .order_by(Income.person_id, Income.month.desc(), Income.source).limit(500))).all()
    return {
        "facts": [{"pinfl_masked": Pinfl(f.pinfl).mask(), "item": f.item, "agency": f.agency,
                   "agency_record_id": f.agency_record_id, "as_of": f.as_of.isoformat(),
                   "received_at": _iso(f.received_at), "value": f.value} for f in facts],
        "incomes": [{"pinfl_masked": Pinfl(ids[i.person_id].pinfl).mask(), "month": i.month.isoformat()[:7],
                     "source": i.source, "amount": i.amount, "agency": i.agency} for i in incomes],
    }


def audit_reads(call: Call, persons: Sequence[Person], action: str = "person.read") -> None:
    """The entity id is the internal person id: a PINFL never goes into the audit log in clear."""
    route = call.request.match_info.route.resource.canonical if call.request.match_info.route.resource else None
    for p in persons:
        call.audit_read(action, "person", p.id, route=route, role=call.client.role)


async def person_by_pinfl(s: AsyncSession, raw: str) -> Person:
    pinfl = Pinfl.parse(raw)
    person = await s.scalar(select(Person).where(Person.pinfl == pinfl.value))
    if person is None:
        raise NotFound("person.not_found", pinfl=pinfl.mask())
    return person


async def get_person(call: Call) -> Result:
    """A person with what each agency contributed."""
    uow = call.uow
    person = await person_by_pinfl(uow.session, call.path("pinfl"))
    body = {**_member(person), "contributions": await contributions(uow.session, [person])}
    audit_reads(call, [person])
    return Result(body)


async def get_household(call: Call) -> Result:
    """A household, its members and contact, with what each agency contributed."""
    hid = household_id_of(call)
    uow = call.uow
    s = uow.session
    household = await s.get(Household, hid)
    if household is None:
        raise NotFound("household.not_found", household_id=hid)
    members = (await s.scalars(select(Person).where(Person.household_id == hid).order_by(Person.id))).all()
    contact = await s.get(Contact, hid)
    body = {
        "id": household.id, "region_soato": household.region_soato,
        "district_soato": household.district_soato, "mahalla_id": household.mahalla_id,
        "address": household.address, "created_at": _iso(household.created_at),
        "phone": contact.phone if contact else None, "language": contact.language if contact else "uz",
        "channel": contact.channel if contact else "sms",
        "members": [_member(p) for p in members], "contributions": await contributions(s, members),
    }
    audit_reads(call, members)
    return Result(body)


async def person_access_log(call: Call) -> Result:
    """Who looked at this person's data, newest first."""
    before = decode_cursor(call.query["cursor"])
    uow = call.uow
    person = await person_by_pinfl(uow.session, call.path("pinfl"))
    stmt = select(AuditEntry).where(AuditEntry.entity == "person", AuditEntry.entity_id == str(person.id))
    if before is not None:
        stmt = stmt.where(AuditEntry.id < before)
    rows = list((await uow.session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(call.query["limit"] + 1))).all())
    audit_reads(call, [person], "person.access_log_read")
    return page(call, rows, lambda r: r.id, lambda r: {
        "at": _iso(r.at), "client": r.actor_id, "actor_kind": r.actor_kind, "channel": r.channel,
        "action": r.action, "route": (r.details or {}).get("route")})


# --- territory -----------------------------------------------------------------------------------


def _names(row: Any, *extra: str) -> dict[str, Any]:
    return {k: getattr(row, k) for k in (*extra, "name_uz", "name_ru", "name_kaa")}


async def list_regions(call: Call) -> Result:
    """The 14 regions."""
    after = decode_cursor(call.query["cursor"], str)
    uow = call.uow
    stmt = select(Region).order_by(Region.soato)
    if after is not None:
        stmt = stmt.where(Region.soato > after)
    rows = list((await uow.session.scalars(stmt.limit(call.query["limit"] + 1))).all())
    return page(call, rows, lambda r: r.soato,
                lambda r: {**_names(r, "soato", "iso"), "name_en": r.name_en})


async def list_districts(call: Call) -> Result:
    """The districts and cities of a region."""
    after = decode_cursor(call.query["cursor"], str)
    soato = call.path("region")
    uow = call.uow
    if await uow.session.get(Region, soato) is None:
        raise NotFound("territory.unknown_region", soato=soato[:10])
    stmt = select(District).where(District.region_soato == soato).order_by(District.soato)
    if after is not None:
        stmt = stmt.where(District.soato > after)
    rows = list((await uow.session.scalars(stmt.limit(call.query["limit"] + 1))).all())
    return page(call, rows, lambda r: r.soato,
                lambda r: {**_names(r, "soato", "region_soato", "kind"), "name_en": r.name_en})


async def list_mahallas(call: Call) -> Result:
    """The mahallas of a district."""
    after = decode_cursor(call.query["cursor"])
    soato = call.path("district")
    uow = call.uow
    if await uow.session.get(District, soato) is None:
        raise NotFound("territory.unknown_district", soato=soato[:12])
    stmt = select(Mahalla).where(Mahalla.district_soato == soato).order_by(Mahalla.id)
    if after is not None:
        stmt = stmt.where(Mahalla.id > after)
    rows = list((await uow.session.scalars(stmt.limit(call.query["limit"] + 1))).all())
    return page(call, rows, lambda r: r.id, lambda r: _names(r, "id", "district_soato"))


REGION_PARAM = Param("region", {"type": "string", "maxLength": 10}, True, "region SOATO code")
DISTRICT_PARAM = Param("district", {"type": "string", "maxLength": 12}, True, "district SOATO code")

OPS = (
    Op("GET", "/persons/{pinfl}", get_person, "registry.read", "Read a person", "registry", PERSON,
       path_params=(PINFL_PARAM,)),
    Op("GET", "/persons/{pinfl}/access-log", person_access_log, "access_log.read",
       "Who looked at this person's data", "registry", page_of("AccessEntry"),
       path_params=(PINFL_PARAM,), paginated=True),
    Op("GET", "/households/{household_id}", get_household, "registry.read", "Read a household", "registry",
       HOUSEHOLD, path_params=(HOUSEHOLD_PARAM,)),
    Op("GET", "/regions", list_regions, "territory.read", "List regions", "territory", page_of("Region"),
       paginated=True),
    Op("GET", "/regions/{region}/districts", list_districts, "territory.read", "List a region's districts",
       "territory", page_of("District"), path_params=(REGION_PARAM,), paginated=True),
    Op("GET", "/districts/{district}/mahallas", list_mahallas, "territory.read", "List a district's mahallas",
       "territory", page_of("Mahalla"), path_params=(DISTRICT_PARAM,), paginated=True),
)
