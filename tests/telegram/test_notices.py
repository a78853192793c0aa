"""Notices through the outbox: a decision, a payment's status and a grievance's answer reach a
person linked on Telegram in their language; a person without Telegram gets an SMS."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from sqlalchemy import select, update

from bots.fake_api import _ApiError
from core.i18n import _, format_money, use_locale
from core.services import grievances
from core.services.applications import decide_due
from core.services.assessment import assess_households
from core.services.messages import UNKNOWN_ERROR, render
from core.services.payments import (
    approve_payroll,
    export_payroll,
    open_payroll,
    read_results,
    reconcile_payroll,
)
from core.services.sms import compose, send_due
from core.storage.schema import Application, Grievance, OutboxMessage
from core.storage.uow import Actor
from tests.storage.factories import make_family
from tests.telegram.conftest import CHAT, Harness

pytestmark = pytest.mark.postgres

PHONE = "+998901234567"
SMS_PHONE = "+998911234567"
LANGS = [("Oʻzbekcha", "uz"), ("Qaraqalpaqsha", "kaa"), ("Русский", "ru")]
MAKER = Actor("staff", "dilnoza.karimova", "cli")
CHECKER = Actor("staff", "jasur.toshmatov", "cli")
JANUARY = dt.date(2027, 1, 1)


class Gateway:
    """The SMS gateway, recording what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, phone: str, text: str, reference: str) -> str:
        self.sent.append((phone, text))
        return f"gw-{reference}"


async def link(bot: Harness, language: str, phone: str = PHONE) -> None:
    await bot.say("/start")
    await bot.press(language)
    await bot.share(phone)


async def notices(bot: Harness, template: str) -> list[OutboxMessage]:
    async with bot.core.uow() as uow:
        rows = list((await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                                               .order_by(OutboxMessage.id))).all())
        uow.session.expunge_all()
        return rows


def worded(row: OutboxMessage) -> str:
    text = render(row.template, row.params or {}, row.language)
    with use_locale(row.language):
        assert text != _(UNKNOWN_ERROR), f"{row.template} has no wording"
    return text


@pytest.mark.parametrize(("language", "code"), LANGS)
@pytest.mark.parametrize("status", ["paid", "failed"])
async def test_a_payment_status_reaches_telegram_and_sms(bot: Harness, language: str, code: str,
                                                         status: str) -> None:
    on_telegram, _ = await make_family(bot.core, phone=PHONE, children=(dt.date(2025, 1, 1),),
                                       monthly_income=300_000)
    by_sms, _ = await make_family(bot.core, phone=SMS_PHONE, children=(dt.date(2025, 1, 1),),
                                  monthly_income=300_000, language=code)
    await assess_households(bot.core)
    await link(bot, language)
    await open_payroll(bot.core, JANUARY, MAKER)
    await approve_payroll(bot.core, JANUARY, CHECKER)
    out = io.StringIO()
    await export_payroll(bot.core, JANUARY, out, CHECKER)
    reason = "card_blocked" if status == "failed" else ""
    lines = [line.split(",") for line in out.getvalue().splitlines()[1:]]
    bank = "line_id,status,amount,reason,bank_reference\n" + "".join(
        f"{line[0]},{status},{line[3]},{reason},XB-{i}\n" for i, line in enumerate(lines))
    result = await reconcile_payroll(bot.core, read_results(bank), CHECKER)
    assert result.notices == 2

    rows = {r.household_id: r for r in await notices(bot, f"payment.{status}")}
    assert (rows[on_telegram].channel, rows[on_telegram].telegram_chat_id, rows[on_telegram].language) == (
        "telegram", CHAT, code)
    assert (rows[by_sms].channel, rows[by_sms].phone, rows[by_sms].language) == ("sms", SMS_PHONE, code)

    before = len(bot.fake.sent(CHAT))
    report = await bot.deliver_outbox()
    assert report.sent >= 1
    expected = worded(rows[on_telegram])
    assert expected in [m["text"] for m in bot.fake.sent(CHAT)[before:]]
    with use_locale(code):
        assert format_money(360_000) in expected
    gateway = Gateway()
    await send_due(bot.core, gateway)
    assert (SMS_PHONE, compose(worded(rows[by_sms]), code)[0]) in gateway.sent
    # The Telegram family's payment notice is not sent again by SMS.
    assert all(not text.startswith(compose(expected, code)[0][:20]) for phone, text in gateway.sent if phone == PHONE)


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_a_decision_reaches_telegram_in_the_chats_language(bot: Harness, language: str, code: str) -> None:
    household_id, head = await make_family(bot.core, phone=PHONE, children=(dt.date(2024, 5, 1),))
    await link(bot, language)
    await bot.press(bot.buttons()[0])  # Apply for assistance
    await bot.say(head)
    await bot.press(bot.buttons()[0])  # Yes, this is my family
    await bot.press(bot.buttons()[0])  # nothing changed
    await bot.press(bot.buttons()[0])  # Submit
    await bot.deliver_outbox()  # the notice of receipt
    bot.core.clock.set(dt.date(2027, 1, 2))  # type: ignore[attr-defined]
    await decide_due(bot.core)
    async with bot.core.uow() as uow:
        app = await uow.session.scalar(select(Application).where(Application.household_id == household_id))
        assert app is not None
        number = app.number
    rows = [r for r in await notices(bot, "application.approved") + await notices(bot, "application.rejected")]
    assert len(rows) == 1 and rows[0].channel == "telegram" and rows[0].language == code
    before = len(bot.fake.sent(CHAT))
    assert (await bot.deliver_outbox()).sent >= 1
    texts = [m["text"] for m in bot.fake.sent(CHAT)[before:]]
    assert worded(rows[0]) in texts
    assert any(f"{number[:3]}-{number[3:6]}-{number[6:]}" in t for t in texts)


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_a_grievance_answer_reaches_telegram(bot: Harness, language: str, code: str) -> None:
    await make_family(bot.core, phone=PHONE)
    await link(bot, language)
    await bot.press(bot.buttons()[3])  # Grievances
    await bot.press(bot.buttons()[0])  # New grievance
    await bot.press(bot.buttons()[0])  # Payment
    await bot.say("Dekabr toʻlovi kelmadi.")
    async with bot.core.uow() as uow:
        g = await uow.session.scalar(select(Grievance))
        assert g is not None and g.telegram_chat_id == CHAT and g.language == code
        await grievances.answer(uow, g.number, "Toʻlov 20-dekabrda oʻtkazildi.", MAKER)
        await uow.commit()
        number = g.number
    (row,) = await notices(bot, "grievance.answered")
    assert (row.channel, row.telegram_chat_id, row.language) == ("telegram", CHAT, code)
    before = len(bot.fake.sent(CHAT))
    assert (await bot.deliver_outbox()).sent >= 1
    texts = [m["text"] for m in bot.fake.sent(CHAT)[before:]]
    assert worded(row) in texts
    assert any(f"{number[:3]}-{number[3:6]}-{number[6:]}" in t and "20-dekabrda" in t for t in texts)


async def test_an_ending_notice_withdrawn_while_telegram_took_it_is_followed_by_the_truth(bot: Harness) -> None:
    """Found eligible again while its ending notice was being sent: the family read that its
    assistance ends, so it is told next that it goes on; a notice Telegram refused stays withdrawn."""
    from core.services import outbox

    household_id, _ = await make_family(bot.core, phone=PHONE)
    await link(bot, "Русский")
    send = bot.fake._m_sendmessage
    refuse = [True]

    async def withdrawn_meanwhile(p: dict[str, Any]) -> Any:
        async with bot.core.uow() as uow:  # the assessment withdraws it while it is in hand
            await uow.session.execute(update(OutboxMessage).where(OutboxMessage.template == "enrolment.ending")
                                      .values(state="withdrawn"))
            await uow.commit()
        if refuse[0]:
            raise _ApiError(400, "Bad Request: chat not found")
        return await send(p)

    bot.fake._m_sendmessage = withdrawn_meanwhile  # type: ignore[method-assign]
    for key, refused in (("refused", True), ("taken", False)):
        refuse[0] = refused
        async with bot.core.uow() as uow:
            await outbox.enqueue(uow, "enrolment.ending", {"last_month": "2027-06-01", "reasons": []},
                                 household_id=household_id, dedupe_key=f"enrolment.ending:{key}")
            await uow.commit()
        await bot.deliver_outbox()
    bot.fake._m_sendmessage = send  # type: ignore[method-assign]
    states = {r.dedupe_key: r.state for r in await notices(bot, "enrolment.ending")}
    assert states == {"enrolment.ending:refused": "withdrawn", "enrolment.ending:taken": "sent"}, states
    told = await notices(bot, "enrolment.continues")
    assert len(told) == 1 and told[0].channel == "telegram" and told[0].language == "ru"
    before = len(bot.fake.sent(CHAT))
    await bot.deliver_outbox()
    assert [m["text"] for m in bot.fake.sent(CHAT)[before:]] == [worded(told[0])]
