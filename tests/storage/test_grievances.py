"""Grievances on the storage: intake, the legal deadlines, the state machine, appeals, notices."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from core.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from core.services import grievances as svc
from core.storage.schema import AuditEntry, Grievance, OutboxMessage
from core.storage.uow import Actor, Core
from tests.storage.factories import STAFF, count, make_family

pytestmark = pytest.mark.postgres
CITIZEN = Actor("citizen", "+998901234567", "sms")


async def raise_one(core: Core, **kw: object) -> svc.GrievanceView:
    fields: dict[str, object] = dict(category="payment", text="Dekabr oyi nafaqasi kelmadi", channel="sms",
                                     language="uz", phone="+998901234567")
    fields.update(kw)
    async with core.uow() as uow:
        view = await svc.raise_grievance(uow, svc.RaiseGrievance(**fields), CITIZEN)  # type: ignore[arg-type]
        await uow.commit()
    return view


async def act(core: Core, fn, *args, **kw):
    async with core.uow() as uow:
        view = await fn(uow, *args, **kw)
        await uow.commit()
    return view


async def test_received_the_same_day_with_a_15_day_deadline(core: Core) -> None:
    household_id, _ = await make_family(core)
    g = await raise_one(core)
    assert g.state == "received" and g.received_on == dt.date(2026, 12, 10)
    assert g.due_on == dt.date(2026, 12, 25)
    assert g.household_id == household_id and g.region_soato == "1726"
    assert len(g.number) == 9 and g.grouped_number.count("-") == 2
    checked = await raise_one(core, needs_check=True, text="Tekshiruv kerak")
    assert checked.due_on == dt.date(2027, 1, 10)


async def test_the_whole_life_of_a_grievance_reaches_the_citizen(core: Core) -> None:
    await make_family(core)
    g = await raise_one(core)
    g = await act(core, svc.assign, g.number, "dilnoza.karimova", STAFF)
    assert g.state == "assigned"
    g = await act(core, svc.start, g.number, STAFF)
    g = await act(core, svc.extend, g.number, 30, "Bank maʼlumoti kutilmoqda", STAFF)
    assert g.extended and g.due_on == dt.date(2027, 1, 24)
    with pytest.raises(Conflict):
        await act(core, svc.extend, g.number, 5, "yana", STAFF)
    g = await act(core, svc.answer, g.number, "Toʻlov 12-dekabrda oʻtkazildi.", STAFF)
    assert g.state == "answered" and g.answered_on == dt.date(2026, 12, 10)
    g = await act(core, svc.close, g.number, STAFF)
    g = await act(core, svc.reopen, g.number, STAFF, "citizen says not received")
    assert g.state == "in_progress"
    async with core.uow() as uow:
        templates = (await uow.session.scalars(select(OutboxMessage.template).order_by(OutboxMessage.id))).all()
        actions = (await uow.session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "grievance").order_by(AuditEntry.id))).all()
    assert templates == ["grievance.extended", "grievance.answered", "grievance.reopened"]
    assert actions == ["grievance.received", "grievance.assigned", "grievance.in_progress", "grievance.extended",
                       "grievance.answered", "grievance.closed", "grievance.reopened"]


async def test_transitions_a_grievance_cannot_make(core: Core) -> None:
    g = await raise_one(core)
    with pytest.raises(InvalidTransition):
        await act(core, svc.close, g.number, STAFF)
    g = await act(core, svc.answer, g.number, "Javob", STAFF)
    with pytest.raises(InvalidTransition):
        await act(core, svc.escalate, g.number, STAFF)
    with pytest.raises(InvalidTransition):
        await act(core, svc.assign, g.number, "someone", STAFF)


async def test_escalation_gives_an_owner_and_counts_levels(core: Core) -> None:
    g = await raise_one(core)
    g = await act(core, svc.escalate, g.number, STAFF, "viloyat")
    assert g.state == "assigned" and g.escalation_level == 1
    g = await act(core, svc.escalate, g.number, STAFF, "vazirlik")
    assert g.escalation_level == 2


async def test_a_stale_version_cannot_overwrite_anothers_work(core: Core) -> None:
    g = await raise_one(core)
    await act(core, svc.assign, g.number, "a", STAFF, expected_version=g.version)
    with pytest.raises(Conflict) as err:
        await act(core, svc.assign, g.number, "b", STAFF, expected_version=g.version)
    assert err.value.code == "grievance.stale"


async def test_an_appeal_within_a_year_refers_to_the_original(core: Core, clock) -> None:
    g = await raise_one(core)
    await act(core, svc.answer, g.number, "Rad etildi", STAFF)
    clock.set(dt.date(2027, 6, 1))
    appeal = await raise_one(core, appeal_of=g.grouped_number, text="Qaror bilan rozi emasman")
    assert appeal.appeal_of == g.number
    clock.set(dt.date(2027, 12, 11))
    with pytest.raises(Conflict) as err:
        await raise_one(core, appeal_of=g.number, text="Kech")
    assert err.value.code == "grievance.appeal_expired"


async def test_a_citizen_sees_only_their_own(core: Core) -> None:
    g = await raise_one(core)
    async with core.uow() as uow:
        assert (await svc.find_grievance(uow, g.number, phone="+998901234567")).number == g.number
        with pytest.raises(Forbidden):
            await svc.find_grievance(uow, g.number, phone="+998935554433")
        with pytest.raises(NotFound):
            await svc.find_grievance(uow, "000-000-000")


async def test_bad_grievances_are_refused_and_nothing_is_written(core: Core) -> None:
    for kw, code in [
        ({"text": "   "}, "grievance.empty_text"),
        ({"text": "x" * 2001}, "grievance.text_too_long"),
        ({"category": "weather"}, "grievance.unknown_category"),
        ({"phone": None}, "grievance.anonymous"),
        ({"phone": "+74951234567"}, "phone.not_uzbek"),
    ]:
        with pytest.raises(InvalidInput) as err:
            await raise_one(core, **kw)
        assert err.value.code == code
    assert await count(core, Grievance) == 0


async def test_a_repeated_submission_is_recorded_once(core: Core) -> None:
    a = await raise_one(core, idempotency_key="sms:gw-77")
    b = await raise_one(core, idempotency_key="sms:gw-77")
    assert a.number == b.number and await count(core, Grievance) == 1


async def test_control_characters_never_reach_the_database(core: Core) -> None:
    g = await raise_one(core, text="Pul\x00 kelmadi\udc88")
    assert g.text == "Pul kelmadi"


async def test_a_grievance_raised_on_telegram_is_answered_on_telegram(core: Core) -> None:
    from core.services.conversations import Who, telegram_chat

    who = Who("tg:555001", "+998901234567", "telegram", "ru", 1)
    assert telegram_chat(who) == 555001
    g = await raise_one(core, channel="telegram", language="ru", telegram_chat_id=telegram_chat(who))
    await act(core, svc.answer, g.number, "Выплата проведена 12 декабря.", STAFF)
    async with core.uow() as uow:
        sent = (await uow.session.execute(select(OutboxMessage.channel, OutboxMessage.telegram_chat_id,
                                                 OutboxMessage.language))).all()
    assert sent == [("telegram", 555001, "ru")]
