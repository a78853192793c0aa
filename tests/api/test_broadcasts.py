"""Operators' broadcasts through real HTTP: queued set-based to everyone reachable in the area, each
in their own language and channel; sent by the real senders (Telegram through the fake Bot API, SMS
through a recording gateway); emergency before notices and after replies; cancel; refusals."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import func, select

from bots.sender import TelegramSender
from bots.webhook import BOT
from core.broadcasts import sms_text
from core.services import outbox
from core.services.dispatch import Pace
from core.services.registry import NewMember, RegisterHousehold, register_household
from core.services.sms import SmsSender
from core.storage.schema import (
    AuditEntry,
    Broadcast,
    Contact,
    District,
    Mahalla,
    OutboxMessage,
    PhonePreference,
)
from core.storage.uow import Core
from tests.api.conftest import Api
from tests.api.test_access import problem
from tests.storage.factories import MAHALLA_ID, STAFF, ensure_territory, pinfl_for
from tests.telegram.conftest import Harness, bot  # noqa: F401  (the fake Bot API harness)
from tests.telegram.test_notices import Gateway  # an SMS gateway that records what it was given, in order

pytestmark = pytest.mark.postgres

OTHER_MAHALLA = 1726266001  # in Mirobod (1726266), another district of Tashkent
EMPTY_MAHALLA = 1726262002  # in Yunusobod, nobody lives there
TEXTS = {
    "uz": "Diqqat! Ertaga soat 10:00 dan 16:00 gacha Yunusobod tumanida suv boʻlmaydi.",
    "kaa": "Dıqqat! Erteń saat 10:00 den 16:00 ge shekem Yunusobod rayonında suw bolmaydı.",
    "ru": "Внимание! Завтра с 10:00 до 16:00 в Юнусабадском районе не будет воды.",
}
_births = itertools.count()


async def more_territory(core: Core) -> None:
    await ensure_territory(core)
    async with core.uow() as uow:
        s = uow.session
        if await s.get(District, "1726266") is None:
            s.add(District(soato="1726266", region_soato="1726", kind="district", name_uz="Mirobod tumani",
                           name_ru="Мирабадский район", name_kaa=None, name_en="Mirobod District"))
            await s.flush()
            s.add(Mahalla(id=OTHER_MAHALLA, district_soato="1726266", name_uz="Oybek", name_ru="Ойбек",
                          name_kaa=None))
            s.add(Mahalla(id=EMPTY_MAHALLA, district_soato="1726262", name_uz="Bodomzor", name_ru="Бодомзор",
                          name_kaa=None))
        await uow.commit()


async def family(core: Core, phone: str, language: str, *, mahalla: int = MAHALLA_ID, chat: int | None = None,
                 blocked: bool = False, stopped: bool = False) -> int:
    """A household of one in ``mahalla``, reached on ``phone`` in ``language``."""
    await more_territory(core)
    birth = dt.date(1970, 1, 1) + dt.timedelta(days=400 * (next(_births) % 40))
    async with core.uow() as uow:
        view = await register_household(uow, RegisterHousehold(
            mahalla_id=mahalla, address="Navbahor koʻchasi 1",
            members=(NewMember(pinfl_for(birth, "m"), "Karimov", "Anvar", "head"),), phone=phone,
            language=language), STAFF)
        contact = await uow.session.get(Contact, view.id)
        assert contact is not None
        contact.telegram_chat_id, contact.telegram_blocked = chat, blocked
        if stopped:
            uow.session.add(PhonePreference(phone=phone, language=language, sms_stopped=True, updated_at=uow.now()))
        await uow.commit()
    return view.id


def new(code: str = "1726262", kind: str = "district", **extra: object) -> dict[str, object]:
    return {"area": {"kind": kind, "code": code}, "texts": dict(TEXTS), **extra}


async def outbox_rows(core: Core) -> list[OutboxMessage]:
    async with core.uow() as uow:
        found = list((await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())
        uow.session.expunge_all()
        return found


async def number_of(core: Core, model: type) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


ONE_AT_A_TIME = Pace(rate=1_000_000, concurrency=1)


async def test_a_district_hears_it_each_in_its_own_language_and_nobody_outside(
        api: Api, bot: Harness) -> None:  # noqa: F811 (the harness fixture, imported above)
    on_telegram = await family(api.core, "+998901234501", "uz", chat=7001)
    by_sms = await family(api.core, "+998901234502", "ru")
    await family(api.core, "+998901234503", "kaa", stopped=True)
    blocked = await family(api.core, "+998901234504", "kaa", chat=7004, blocked=True)
    await family(api.core, "+998901234505", "uz", mahalla=OTHER_MAHALLA)

    resp = await api.post("/v1/broadcasts", new(emergency=True), "operator")
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert resp.headers["ETag"] == '"1"' and resp.headers["Location"] == f"/v1/broadcasts/{body['id']}"
    assert (body["households"], body["queued"], body["state"]) == (4, {"telegram": 1, "sms": 2}, "queued")
    assert body["priority"] == outbox.PRIORITY_EMERGENCY
    rows = await outbox_rows(api.core)
    assert {(r.household_id, r.channel, r.language) for r in rows} == {
        (on_telegram, "telegram", "uz"), (by_sms, "sms", "ru"), (blocked, "sms", "kaa")}
    assert {r.dedupe_key for r in rows} == {f"broadcast:{body['id']}:{h}" for h in (on_telegram, by_sms, blocked)}
    assert all(r.params == {"broadcast_id": body["id"]} and r.text is None for r in rows)

    gateway = Gateway()
    assert (await SmsSender(api.core, gateway, ONE_AT_A_TIME).run_once()).sent == 2
    # As every SMS: Karakalpak and Uzbek letters outside GSM-7 spelt the way people text them.
    assert sorted(gateway.sent) == [("+998901234502", TEXTS["ru"]), ("+998901234504", sms_text(TEXTS["kaa"], "kaa"))]
    assert sms_text(TEXTS["kaa"], "kaa").startswith("Di'qqat! Erten' saat")
    telegram = TelegramSender(api.core, bot.app[BOT].bot)
    assert (await telegram.run_once()).sent == 1
    assert bot.fake.texts(7001) == [TEXTS["uz"]]

    read = await (await api.get(f"/v1/broadcasts/{body['id']}", "auditor")).json()
    assert read["rows"]["telegram"]["sent"] == 1 and read["rows"]["sms"]["sent"] == 2
    assert read["rows"]["sms"]["pending"] == 0 and read["texts"] == TEXTS
    async with api.core.uow() as uow:
        audit = (await uow.session.scalars(select(AuditEntry).where(AuditEntry.action == "broadcast.queued"))).one()
        assert audit.actor_id == "operator-1" and audit.entity_id == str(body["id"])


async def test_an_emergency_goes_after_replies_and_before_notices_a_routine_one_after_both(api: Api) -> None:
    hid = await family(api.core, "+998901234511", "uz")
    async with api.core.uow() as uow:
        await outbox.enqueue(uow, "grievance.extended", {"number": "111222333", "due_on": "2026-12-25"},
                             household_id=hid, priority=outbox.PRIORITY_NOTICE)
        await outbox.enqueue(uow, "grievance.reopened", {"number": "444555666"}, household_id=hid,
                             priority=outbox.PRIORITY_REPLY)
        await uow.commit()
    routine = await api.post("/v1/broadcasts", new("1726", "region", texts={**TEXTS, "uz": "Yigʻilish ertaga."}),
                             "operator")
    assert routine.status == 201 and (await routine.json())["priority"] == outbox.PRIORITY_BULK
    assert (await api.post("/v1/broadcasts", new(str(MAHALLA_ID), "mahalla", emergency=True), "operator")).status == 201
    gateway = Gateway()
    assert (await SmsSender(api.core, gateway, ONE_AT_A_TIME).run_once()).sent == 4
    said = [text for _, text in gateway.sent]
    assert "444-555-666" in said[0] and said[1] == sms_text(TEXTS["uz"], "uz") and "111-222-333" in said[2]
    assert said[3] == "Yig'ilish ertaga."  # sent in GSM-7 spelling, as every Uzbek SMS


async def test_cancel_withdraws_the_unsent_and_keeps_the_sent(api: Api) -> None:
    for n in range(3):
        await family(api.core, f"+99890123452{n}", "ru")
    created = await (await api.post("/v1/broadcasts", new(channels=["sms"]), "operator")).json()
    gateway = Gateway()
    assert (await SmsSender(api.core, gateway, ONE_AT_A_TIME).run_once(limit=1)).sent == 1

    path = f"/v1/broadcasts/{created['id']}/cancel"
    await problem(await api.post(path, None, "operator"), 428, "precondition.required")
    await problem(await api.post(path, None, "operator", **{"If-Match": '"7"'}), 412, "broadcast.stale")
    resp = await api.post(path, None, "operator", **{"If-Match": '"1"'})
    assert resp.status == 200 and resp.headers["ETag"] == '"2"'
    cancelled = await resp.json()
    assert (cancelled["state"], cancelled["withdrawn"], cancelled["cancelled_by"]) == ("cancelled", 2, "operator-1")
    assert cancelled["rows"]["sms"] == {"pending": 0, "sent": 1, "delivered": 0, "failed": 0, "dead": 0,
                                        "withdrawn": 2}
    assert (await SmsSender(api.core, gateway, ONE_AT_A_TIME).run_once()).sent == 0
    assert len(gateway.sent) == 1
    await problem(await api.post(path, None, "operator", **{"If-Match": '"2"'}), 409, "broadcast.transition")
    await problem(await api.post(path, None, "operator", **{"If-Match": '"1"'}), 412, "broadcast.stale")
    await problem(await api.post("/v1/broadcasts/999/cancel", None, "operator", **{"If-Match": "*"}), 404,
                  "broadcast.not_found")


async def test_the_same_idempotency_key_twice_queues_once(api: Api) -> None:
    await family(api.core, "+998901234531", "uz")
    first = await api.post("/v1/broadcasts", new(), "operator", **{"Idempotency-Key": "suv-2026-12-10"})
    again = await api.post("/v1/broadcasts", new(), "operator", **{"Idempotency-Key": "suv-2026-12-10"})
    assert (first.status, again.status) == (201, 201) and again.headers["Idempotency-Replayed"] == "true"
    assert (await first.json())["id"] == (await again.json())["id"]
    assert await number_of(api.core, Broadcast) == 1 and len(await outbox_rows(api.core)) == 1


async def test_the_list_pages_newest_first_for_operators_admins_and_auditors(api: Api) -> None:
    await family(api.core, "+998901234541", "uz")
    ids = [(await (await api.post("/v1/broadcasts", new(), "operator")).json())["id"] for _ in range(3)]
    for role in ("operator", "admin", "auditor"):
        first = await (await api.get("/v1/broadcasts?limit=2", role)).json()
        assert [b["id"] for b in first["items"]] == ids[::-1][:2] and first["items"][0]["rows"] is None
        rest = await (await api.http.get(first["next"], headers=api.auth(role))).json()
        assert [b["id"] for b in rest["items"]] == [ids[0]] and rest["next"] is None
    await problem(await api.get("/v1/broadcasts", "hotline"), 403, "auth.role")


TOO_LONG_RU = "Внимание! " * 21  # 210 characters of UCS-2: four parts of 67
TOO_LONG_UZ = "Diqqat! Ertaga suv boʻlmaydi. " * 7  # 'ʻ' is sent as "'": GSM-7, 210 characters fit
LONGEST_UZ = "Diqqat! Ertaga suv bo'lmaydi. " * 16  # 480 GSM-7 characters: four parts of 153


@pytest.mark.parametrize(("body", "role", "status", "code"), [
    (new("1726999"), "operator", 422, "broadcast.unknown_area"),
    (new("17262"), "operator", 422, "broadcast.unknown_area"),
    (new("12", "region"), "operator", 422, "broadcast.unknown_area"),
    (new("99", "mahalla"), "operator", 422, "broadcast.unknown_area"),
    (new("9999999999", "mahalla"), "operator", 422, "broadcast.unknown_area"),  # past a 32-bit id
    ({"area": {"kind": "district", "code": "1726262"}, "texts": {"uz": "Diqqat!", "ru": "Внимание!"}},
     "operator", 422, "body.required"),
    (new(texts={**TEXTS, "kaa": "   "}), "operator", 422, "body.pattern"),
    (new(texts={**TEXTS, "ru": TOO_LONG_RU}), "operator", 422, "broadcast.text_too_long"),
    (new(texts={**TEXTS, "uz": LONGEST_UZ}), "operator", 422, "broadcast.text_too_long"),
    (new(urgent=True), "operator", 422, "body.unknown_field"),
    (new(channels=["fax"]), "operator", 422, "body.enum"),
    (new(channels=[]), "operator", 422, "body.min_items"),
    (new(str(EMPTY_MAHALLA), "mahalla"), "operator", 409, "broadcast.nobody_reachable"),
    (new(channels=["telegram"]), "operator", 409, "broadcast.nobody_reachable"),
    (new(), "hotline", 403, "auth.role"),
    (new(), "auditor", 403, "auth.role"),
    (new(), "admin", 403, "auth.role"),
])
async def test_a_refused_broadcast_queues_nothing(api: Api, body: dict[str, object], role: str, status: int,
                                                   code: str) -> None:
    await family(api.core, "+998901234551", "ru")  # reachable by SMS only
    refusal = await problem(await api.post("/v1/broadcasts", body, role, **{"Accept-Language": "kaa"}), status, code)
    assert refusal["title"] != "The request is not valid."
    assert await number_of(api.core, Broadcast) == 0 and await outbox_rows(api.core) == []


async def test_a_text_of_three_parts_is_taken(api: Api) -> None:
    await family(api.core, "+998901234561", "uz")
    ru = "Внимание! " * 20  # 200 UCS-2 characters: three parts of 67
    assert (await api.post("/v1/broadcasts", new(texts={**TEXTS, "ru": ru, "uz": TOO_LONG_UZ}), "operator")).status == 201


async def test_refusals_are_titled_in_the_callers_language(api: Api) -> None:
    for language, title in [("uz", "Matn juda uzun"), ("kaa", "Tekst júdá uzın"), ("ru", "Текст слишком длинный")]:
        refusal = await problem(await api.post("/v1/broadcasts", new(texts={**TEXTS, "ru": TOO_LONG_RU}), "operator",
                                               **{"Accept-Language": language}), 422, "broadcast.text_too_long")
        assert refusal["title"].startswith(title)
        assert refusal["params"] == {"language": "ru", "segments": 4, "limit": 3, "encoding": "ucs2"}


@pytest.mark.parametrize(("channels", "then"), [(["telegram", "sms"], ("sms", "pending")),
                                                 (["telegram"], ("telegram", "failed"))])
async def test_a_chat_that_blocked_the_bot_gets_sms_only_when_the_broadcast_allows_it(
        api: Api, bot: Harness, channels: list[str], then: tuple[str, str]) -> None:  # noqa: F811
    await family(api.core, "+998901234571", "uz", chat=7101)
    assert (await api.post("/v1/broadcasts", new(channels=channels), "operator")).status == 201
    bot.fake.blocked.add(7101)
    assert (await TelegramSender(api.core, bot.app[BOT].bot).run_once()).to_sms == 1
    (row,) = await outbox_rows(api.core)
    assert (row.channel, row.state) == then


async def test_a_nul_is_kept_out_of_texts_and_query_filters(api: Api) -> None:
    await family(api.core, "+998901234581", "uz")
    created = await api.post("/v1/broadcasts", new(texts={**TEXTS, "uz": "Diqqat!\x00"}), "operator")
    assert created.status == 201 and (await created.json())["texts"]["uz"] == "Diqqat!"
    # PostgreSQL refuses NUL in text: the filter is refused before it reaches the database (was a 500).
    await problem(await api.get("/v1/audit-log?entity=%004", "auditor"), 422, "query.control_character")



async def test_broadcast_rows_are_stamped_as_every_other_outbox_row(api: Api) -> None:
    """On SQLite stamps are text the senders compare: a row stamped "...+00:00" would sort after one
    of the same instant written by the ORM (PostgreSQL stores both as timestamps alike)."""
    if api.core.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL stores typed timestamps")
    hid = await family(api.core, "+998901234512", "uz")
    async with api.core.uow() as uow:
        await outbox.enqueue(uow, "grievance.reopened", {"number": "444555666"}, household_id=hid,
                             priority=outbox.PRIORITY_REPLY)
        await uow.commit()
    assert (await api.post("/v1/broadcasts", new(str(MAHALLA_ID), "mahalla"), "operator")).status == 201
    async with api.core.engine.connect() as conn:
        stamps = (await conn.exec_driver_sql("SELECT template, created_at, next_attempt_at FROM outbox")).all()
    assert {t for t, _, _ in stamps} == {"grievance.reopened", "broadcast"}
    assert all("+" not in created and "+" not in due for _, created, due in stamps), stamps
