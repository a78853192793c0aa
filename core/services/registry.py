"""Registry use cases: register a household, find one, and read the facts eligibility needs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.eligibility import (
    DISABILITIES,
    SERVICE_BODIES,
    HouseholdFacts,
    IncomeFacts,
    MemberFacts,
    PropertyFacts,
    VehicleFacts,
    income_months,
)
from core.errors import Conflict, InvalidInput, NotFound
from core.identity import Msisdn, Pinfl
from core.storage.locks import INGEST, transaction_lock
from core.storage.schema import (
    BankBalance,
    Contact,
    District,
    Household,
    Income,
    Mahalla,
    Person,
    Property,
    Vehicle,
)
from core.storage.uow import Actor, UnitOfWork

RELATIONS = ("head", "spouse", "child", "grandchild", "parent", "sibling", "other")
INCOME_SOURCES = ("wage", "pension", "self_employment", "agriculture", "benefit", "other")
LANGUAGES = ("uz", "kaa", "ru")
CHANNELS = ("sms", "telegram", "ussd")

REGISTRY_ERROR_CODES = (
    "household.no_head",
    "household.two_heads",
    "household.unknown_mahalla",
    "household.not_found",
    "person.unknown_relation",
    "person.unknown_disability",
    "person.unknown_service_body",
    "person.sex",
    "person.already_registered",
    "person.duplicate_in_household",
    "person.not_found",
    "income.negative",
    "income.unknown_source",
    "contact.unknown_language",
    "contact.unknown_channel",
)


@dataclass(frozen=True)
class NewMember:
    pinfl: str
    surname: str
    given_name: str
    relation: str
    patronymic: str | None = None
    disability: str | None = None
    service_body: str | None = None
    passport: str | None = None


@dataclass(frozen=True)
class RegisterHousehold:
    """Register a household with its members and contact; the head is the member with relation ``head``."""

    mahalla_id: int
    address: str
    members: tuple[NewMember, ...]
    phone: str
    language: str = "uz"
    channel: str = "sms"


@dataclass(frozen=True)
class MemberView:
    person_id: int
    pinfl: str
    surname: str
    given_name: str
    patronymic: str | None
    relation: str
    birth_date: dt.date
    sex: str
    disability: str | None

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.surname, self.given_name, self.patronymic) if p)


@dataclass(frozen=True)
class HouseholdView:
    id: int
    region_soato: str
    district_soato: str
    mahalla_id: int
    address: str
    members: tuple[MemberView, ...]
    phone: str | None
    language: str
    channel: str
    telegram_chat_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Who heads the family now: after a head dies or moves out, another member (core.services.families).
    head_person_id: int | None = None

    @property
    def head(self) -> MemberView | None:
        if self.head_person_id is not None:
            return next((m for m in self.members if m.person_id == self.head_person_id), None)
        return next((m for m in self.members if m.relation == "head"), None)


def _check_member(m: NewMember, today: dt.date) -> Pinfl:
    pinfl = Pinfl.parse(m.pinfl, today=today)
    if m.relation not in RELATIONS:
        raise InvalidInput("person.unknown_relation", relation=m.relation)
    if m.disability is not None and m.disability not in DISABILITIES:
        raise InvalidInput("person.unknown_disability", disability=m.disability)
    if m.service_body is not None and m.service_body not in SERVICE_BODIES:
        raise InvalidInput("person.unknown_service_body", service_body=m.service_body)
    return pinfl


async def register_household(uow: UnitOfWork, cmd: RegisterHousehold, actor: Actor) -> HouseholdView:
    """Register a new household: every PINFL valid and new, one head, a known mahalla."""
    today = uow.today()
    pinfls = [_check_member(m, today) for m in cmd.members]
    heads = [m for m in cmd.members if m.relation == "head"]
    if not heads:
        raise InvalidInput("household.no_head")
    if len(heads) > 1:
        raise InvalidInput("household.two_heads")
    if len({p.value for p in pinfls}) != len(pinfls):
        raise InvalidInput("person.duplicate_in_household")
    if cmd.language not in LANGUAGES:
        raise InvalidInput("contact.unknown_language", language=cmd.language)
    if cmd.channel not in CHANNELS:
        raise InvalidInput("contact.unknown_channel", channel=cmd.channel)
    phone = Msisdn.parse(cmd.phone)
    s = uow.session
    mahalla = await s.get(Mahalla, cmd.mahalla_id)
    if mahalla is None:
        raise NotFound("household.unknown_mahalla", mahalla_id=cmd.mahalla_id)
    district = await s.get(District, mahalla.district_soato)
    assert district is not None  # a mahalla's district is a foreign key
    taken = (await s.scalars(select(Person.pinfl).where(Person.pinfl.in_([p.value for p in pinfls])))).all()
    if taken:
        raise Conflict("person.already_registered", pinfl=Pinfl(taken[0]).mask())

    now = uow.now()
    household = Household(
        region_soato=district.region_soato,
        district_soato=district.soato,
        mahalla_id=mahalla.id,
        address=cmd.address,
        created_at=now,
        data_changed_at=now,
    )
    s.add(household)
    await s.flush()
    persons = [
        Person(
            pinfl=p.value,
            household_id=household.id,
            relation=m.relation,
            surname=m.surname,
            given_name=m.given_name,
            patronymic=m.patronymic,
            birth_date=p.birth_date,
            sex=p.sex,
            disability=m.disability,
            service_body=m.service_body,
            passport=m.passport,
        )
        for m, p in zip(cmd.members, pinfls, strict=True)
    ]
    s.add_all(persons)
    await s.flush()
    household.head_person_id = next(p.id for p in persons if p.relation == "head")
    s.add(
        Contact(
            household_id=household.id,
            phone=phone.e164,
            language=cmd.language,
            channel=cmd.channel,
            updated_at=now,
        )
    )
    uow.audit(actor, "household.registered", "household", household.id, members=len(persons))
    await s.flush()
    return await household_view(s, household.id)


async def household_view(s: AsyncSession, household_id: int) -> HouseholdView:
    household = await s.get(Household, household_id)
    if household is None:
        raise NotFound("household.not_found", household_id=household_id)
    members = (
        await s.scalars(select(Person).where(Person.household_id == household_id).order_by(Person.id))
    ).all()
    contact = await s.get(Contact, household_id)
    return HouseholdView(
        id=household.id,
        region_soato=household.region_soato,
        district_soato=household.district_soato,
        mahalla_id=household.mahalla_id,
        address=household.address,
        members=tuple(
            MemberView(
                person_id=p.id,
                pinfl=p.pinfl,
                surname=p.surname,
                given_name=p.given_name,
                patronymic=p.patronymic,
                relation=p.relation,
                birth_date=p.birth_date,
                sex=p.sex,
                disability=p.disability,
            )
            for p in members
        ),
        phone=contact.phone if contact else None,
        language=contact.language if contact else "uz",
        channel=contact.channel if contact else "sms",
        telegram_chat_id=contact.telegram_chat_id if contact else None,
        head_person_id=household.head_person_id,
    )


async def household_id_for_pinfl(s: AsyncSession, pinfl: Pinfl | str) -> int:
    value = pinfl.value if isinstance(pinfl, Pinfl) else pinfl
    hid = await s.scalar(select(Person.household_id).where(Person.pinfl == value))
    if hid is None:
        raise NotFound("person.not_found", pinfl=Pinfl(value).mask() if len(value) == 14 else value)
    return hid


async def household_ids_for_phone(s: AsyncSession, phone: str) -> list[int]:
    return list((await s.scalars(select(Contact.household_id).where(Contact.phone == phone))).all())


async def phone_owns_household(s: AsyncSession, phone: str, household_id: int) -> bool:
    """The identity factor on USSD and SMS: the gateway's phone must be the household's own."""
    registered = await s.scalar(select(Contact.phone).where(Contact.household_id == household_id))
    return registered is not None and registered == phone


async def record_income(
    uow: UnitOfWork, pinfl: str, month: dt.date, source: str, amount: int, actor: Actor
) -> None:
    """Record (or correct) one month's income of one person from one source."""
    if amount < 0:
        raise InvalidInput("income.negative", amount=amount)
    if source not in INCOME_SOURCES:
        raise InvalidInput("income.unknown_source", source=source)
    p = Pinfl.parse(pinfl)
    s = uow.session
    person = await s.scalar(select(Person).where(Person.pinfl == p.value))
    if person is None:
        raise NotFound("person.not_found", pinfl=p.mask())
    month = month.replace(day=1)
    existing = await s.scalar(
        select(Income).where(Income.person_id == person.id, Income.month == month, Income.source == source)
    )
    if existing is None:
        s.add(Income(household_id=person.household_id, person_id=person.id, month=month, source=source,
                     amount=amount, agency=actor.id if actor.kind == "agency" else None))
    else:
        existing.amount = amount
    household = await s.get(Household, person.household_id)
    assert household is not None
    # Stamped once no assessment range is reading (as an exchange batch stamps): a range deciding
    # this family before the commit, on the old income, would otherwise look newer than the change.
    await transaction_lock(s, INGEST)
    household.data_changed_at = uow.now()
    uow.audit(actor, "income.recorded", "person", p.mask(), month=month, source=source, amount=amount)


async def household_facts(s: AsyncSession, household_id: int, on: dt.date) -> HouseholdFacts:
    """Everything the eligibility rules read about one household, for a decision on ``on``: its
    members living on that day (one the civil registry reports dead by then is no member)."""
    members = (await s.scalars(select(Person).where(
        Person.household_id == household_id, or_(Person.died_on.is_(None), Person.died_on > on)))).all()
    if not members:
        raise NotFound("household.not_found", household_id=household_id)
    months = income_months(on)
    incomes = (
        await s.execute(
            select(Income.month, Income.source, func.sum(Income.amount))
            .where(Income.household_id == household_id, Income.month.in_(months))
            .group_by(Income.month, Income.source)
        )
    ).all()
    vehicles = (await s.execute(select(Vehicle.year, Vehicle.roadworthy).where(
        Vehicle.household_id == household_id))).all()
    properties = (await s.scalars(select(Property.kind).where(Property.household_id == household_id))).all()
    balance = await s.scalar(
        select(func.coalesce(func.sum(BankBalance.amount), 0)).where(BankBalance.household_id == household_id)
    )
    return HouseholdFacts(
        members=tuple(
            MemberFacts(
                pinfl=m.pinfl,
                birth_date=m.birth_date,
                sex=m.sex,
                relation=m.relation,
                disability=m.disability,
                service_body=m.service_body,
            )
            for m in members
        ),
        incomes=tuple(IncomeFacts(month=r[0], source=r[1], amount=int(r[2])) for r in incomes),
        vehicles=tuple(VehicleFacts(year=r[0], roadworthy=bool(r[1])) for r in vehicles),
        properties=tuple(PropertyFacts(kind=k) for k in properties),
        bank_balance_total=int(balance or 0),
    )
