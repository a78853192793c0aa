"""Whole conversations through the real Application and the fake Bot API, in each language."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from sqlalchemy import select

from bots.app import ASK_PHONE, NEEDS_PHONE, OLD_BUTTON
from core.i18n import Words, _, format_date_range, format_money, use_locale
from core.services.assessment import assess_households
from core.services.payments import open_payroll
from core.storage.schema import Application, Grievance, OutboxMessage
from core.storage.uow import Actor
from tests.storage.factories import make_family
from tests.telegram.conftest import CHAT, Harness

pytestmark = pytest.mark.postgres

PHONE = "+998901234567"
LANGS = [("Oʻzbekcha", "uz"), ("Qaraqalpaqsha", "kaa"), ("Русский", "ru")]


async def linked(bot: Harness, language: str) -> tuple[int, str]:
    household_id, head = await make_family(bot.core, phone=PHONE, children=(dt.date(2024, 5, 1),))
    await bot.say("/start")
    await bot.press(language)
    await bot.share(PHONE)
    return household_id, head


async def apply(bot: Harness, pinfl: str) -> None:
    await bot.press(bot.buttons()[0])  # Apply for assistance
    await bot.say(pinfl)
    await bot.press(bot.buttons()[0])  # Yes, this is my family
    await bot.press(bot.buttons()[0])  # nothing changed
    await bot.press(bot.buttons()[0])  # Submit


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_apply_check_and_hear_the_decision(bot: Harness, language: str, code: str) -> None:
    household_id, head = await linked(bot, language)
    await apply(bot, head)
    async with bot.core.uow() as uow:
        app = await uow.session.scalar(select(Application).where(Application.household_id == household_id))
        assert app is not None and app.channel == "telegram"
        number = app.number
    assert number in bot.all_text().replace("-", "")
    await bot.say("/cancel")
    await bot.press(bot.buttons()[1])  # My application
    assert number in bot.last_text().replace("-", "")
    # The notice of receipt goes through the outbox to this chat, in the chat's language.
    report = await bot.deliver_outbox()
    assert report.sent >= 1
    notices = bot.fake.sent(CHAT)[-report.sent:]
    assert any(number in n["text"].replace("-", "") for n in notices)
    async with bot.core.uow() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage))).all()
        assert {r.channel for r in rows} == {"telegram"} and {r.language for r in rows} == {code}
        assert all(r.state == "sent" for r in rows)


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_next_payment_and_a_grievance(bot: Harness, language: str, code: str) -> None:
    await make_family(bot.core, phone=PHONE, children=(dt.date(2025, 1, 1),), monthly_income=300_000)
    await assess_households(bot.core)  # enrolled
    await open_payroll(bot.core, dt.date(2027, 1, 1), Actor("staff", "dilnoza.karimova", "cli"))
    await bot.say("/start")
    await bot.press(language)
    await bot.share(PHONE)
    await bot.press(bot.buttons()[2])  # Next payment: the frozen January line
    with use_locale(code):
        assert format_money(360_000) in bot.last_text()
        assert format_date_range(dt.date(2027, 1, 4), dt.date(2027, 1, 27)) in bot.last_text()
    await bot.say("/cancel")
    await bot.press(bot.buttons()[3])  # Grievances
    await bot.press(bot.buttons()[0])  # New grievance
    await bot.press(bot.buttons()[0])  # Payment
    await bot.say("Toʻlov kelmadi, iltimos tekshiring.")
    async with bot.core.uow() as uow:
        g = await uow.session.scalar(select(Grievance))
        assert g is not None and g.channel == "telegram" and g.language == code
        number = g.number
    assert number.replace("-", "") in bot.all_text().replace("-", "")


async def test_unlinked_chat_shares_the_phone_before_applying_or_seeing_payments(bot: Harness) -> None:
    await make_family(bot.core, phone=PHONE)
    await bot.say("/start")
    await bot.press("Русский")
    with use_locale("ru"):
        assert bot.last_text() == _(ASK_PHONE)
    for button in (2, 0):  # Next payment, Apply: the registry answers only the family's own phone
        before = len(bot.fake.sent(CHAT))
        await bot.press(bot.buttons()[button])
        ask = bot.fake.sent(CHAT)[before:]
        assert ask and ask[-1]["reply_markup"]["keyboard"][0][0]["request_contact"] is True
        with use_locale("ru"):
            assert ask[-1]["text"] == _(NEEDS_PHONE)
    await bot.share(PHONE)  # then Apply goes on to the PINFL
    await bot.press(bot.buttons()[0])
    assert bot.keyboard_message()["text"].startswith("Подать заявку")


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_a_restart_in_the_middle_of_a_conversation(bot: Harness, language: str, code: str) -> None:
    _hid, head = await linked(bot, language)
    await bot.press(bot.buttons()[0])  # Apply: asks for the PINFL
    old = copy.deepcopy(bot.keyboard_message())
    await bot.stop()
    await bot.start()  # a new Application over the same database
    await bot.say(head)  # read as the PINFL the screen before the restart asked for
    assert "Anvar K*****v" in bot.last_text()
    with use_locale(code):
        assert bot.buttons()[0] == _(Words.YES)  # the family confirmation, still in the chat's language
    # A button from before the restart is recognised as old, not an error.
    await bot.press(old["reply_markup"]["inline_keyboard"][0][0]["text"], message=old)
    with use_locale(code):
        assert bot.fake.sent(method="answerCallbackQuery")[-1]["text"] == _(OLD_BUTTON)
