"""Memorable households for storage tests, written through the registry service."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import select

from core.identity import make_pinfl
from core.services.registry import (
    NewMember,
    RegisterHousehold,
    household_view,
    record_income,
    register_household,
)
from core.storage.schema import District, Mahalla, Region
from core.storage.uow import Actor, Core

STAFF = Actor("staff", "dilnoza.karimova", "web")
CITIZEN = Actor("citizen", "+998901234567", "ussd")
AGENCY = Actor("agency", "soliq", "api")
MAHALLA_ID = 1726262001
_serial = itertools.count(100)


async def ensure_territory(core: Core) -> None:
    async with core.uow() as uow:
        s = uow.session
        if await s.get(Region, "1726") is None:
            s.add(Region(soato="1726", iso="UZ-TK", name_uz="Toshkent shahri", name_ru="город Ташкент",
                         name_kaa=None, name_en="Tashkent"))
            await s.flush()
            s.add(District(soato="1726262", region_soato="1726", kind="district", name_uz="Yunusobod tumani",
                           name_ru="Юнусабадский район", name_kaa=None, name_en="Yunusobod District"))
            await s.flush()
            s.add(Mahalla(id=MAHALLA_ID, district_soato="1726262", name_uz="Navbahor", name_ru="Навбахор",
                          name_kaa=None))
        await uow.commit()


def pinfl_for(birth: dt.date, sex: str) -> str:
    # Serials have three digits: wrap around rather than run out in a long session (each test has
    # its own database, so a serial may repeat across tests).
    return make_pinfl(birth, sex, 262, 100 + (next(_serial) - 100) % 900).value


async def make_family(
    core: Core,
    *,
    phone: str = "+998901234567",
    children: tuple[dt.date, ...] = (),
    monthly_income: int = 0,
    language: str = "uz",
    head_birth: dt.date = dt.date(1985, 3, 14),
    spouse: bool = True,
) -> tuple[int, str]:
    """A family (head, spouse, children) with the head's wage for the last six months; (id, head PINFL)."""
    await ensure_territory(core)
    head = pinfl_for(head_birth, "m")
    members = [NewMember(head, "Karimov", "Anvar", "head", patronymic="Rustam oʻgʻli")]
    if spouse:
        members.append(NewMember(pinfl_for(dt.date(1988, 7, 2), "f"), "Karimova", "Nodira", "spouse",
                                 patronymic="Akmal qizi"))
    for i, birth in enumerate(children):
        members.append(NewMember(pinfl_for(birth, "m" if i % 2 else "f"), "Anvarova" if i % 2 == 0 else "Anvarov",
                                 "Bola", "child"))
    async with core.uow() as uow:
        view = await register_household(uow, RegisterHousehold(
            mahalla_id=MAHALLA_ID, address="Navbahor koʻchasi 12", members=tuple(members), phone=phone,
            language=language), STAFF)
        today = core.clock.today().replace(day=1)
        for k in range(1, 7):
            month = (today - dt.timedelta(days=28 * k)).replace(day=1)
            await record_income(uow, head, month, "wage", monthly_income, AGENCY)
        await uow.commit()
    return view.id, head


async def members_of(core: Core, household_id: int) -> list[str]:
    async with core.uow() as uow:
        view = await household_view(uow.session, household_id)
        return [m.pinfl for m in view.members]


async def count(core: Core, model: type) -> int:
    async with core.uow() as uow:
        return len((await uow.session.scalars(select(model))).all())
