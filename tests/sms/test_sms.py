"""SMS: keywords in three languages and both scripts, STOP first, replies through the outbox,
segments per language, the sender and receipts."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from core.services.messages import render
from core.services.sms import compose, handle_inbound, parse, record_receipt, send_due
from core.storage.schema import Application, InboundSms, OutboxMessage, PhonePreference
from core.storage.uow import Core
from tests.storage.factories import make_family
from tests.ussd.conftest import PAID_PHONE, PHONE, STRANGER

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(("text", "command", "lang"), [
    ("HOLAT", "status", "uz"), ("holat", "status", "uz"), ("STATUS", "status", None), ("СТАТУС", "status", "ru"),
    ("TOʻLOV", "payment", "uz"), ("TOLOV", "payment", "uz"), ("to'lov", "payment", "uz"), ("ТЎЛОВ", "payment", "uz"),
    ("ОПЛАТА", "payment", "ru"), ("ARIZA 123", "application", "uz"), ("ЗАЯВКА 1", "application", "ru"),
    ("SHIKOYAT pul yoʻq", "grievance", "uz"), ("ЖАЛОБА нет денег", "grievance", "ru"), ("STOP", "stop", None),
    ("СТОП", "stop", None), ("START", "start", None), ("HELP", "help", None), ("YORDAM", "help", "uz"),
    ("ПОМОЩЬ", "help", "ru"), ("TÓLEM", "payment", "kaa"), ("salom", None, None),
    # Karakalpak typed without its letters, as on most phones (TOLEM, SHAGIM are read so too).
    ("jagday", "status", "kaa"), ("JARDEM", "help", "kaa"),
])
def test_keywords(text: str, command: str | None, lang: str | None) -> None:
    assert parse(text)[:2] == (command, lang)


@pytest.mark.parametrize(("text", "lang", "segments"), [
    ("Arizangiz raqami 204-543-134. Qaror haqida 2027-yil 1-yanvargacha xabar beramiz.", "uz", 1),
    ("Arzańızdıń nomeri 204-543-134. Sheshim haqqında 2027-jıl 1-yanvar shekem xabar beremiz.", "kaa", 1),
    ("Номер вашей заявки 204-543-134. О решении сообщим до 1 января 2027 г. Вопросы: 1140.", "ru", 2),
    ("Номер заявки 204-543-134.", "ru", 1),
    ("Toʻlov " * 40, "uz", 2),
])
def test_segments_per_language(text: str, lang: str, segments: int) -> None:
    sent, count = compose(text, lang)
    assert count == segments
    if lang != "ru":
        assert sent.isascii() or all(ch not in sent for ch in "ʻʼıńǵ")


async def _count(core: Core, model: type) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_stop_first_then_notices_are_not_sent(core: Core, demo: dict[str, str]) -> None:
    reply = await handle_inbound(core, PHONE, "STOP HOLAT", "gw-1")
    assert "START" in reply.text
    async with core.uow() as uow:
        assert (await uow.session.get(PhonePreference, PHONE)).sms_stopped

    class Gateway:
        sent: list[str] = []

        async def send(self, phone: str, text: str, reference: str) -> str:
            self.sent.append(text)
            return f"id-{reference}"

    gw = Gateway()
    await send_due(core, gw)
    # The STOP confirmation (a reply) goes; the family's notices (application.received) do not.
    assert any("START" in t for t in gw.sent)
    async with core.uow() as uow:
        dead = (await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.phone == PHONE,
                                                                      OutboxMessage.state == "dead"))).all()
    assert all(m.error == "stopped" for m in dead)


async def test_status_reply_and_receipt(core: Core, demo: dict[str, str]) -> None:
    reply = await handle_inbound(core, demo["refused_phone"], "СТАТУС", "gw-2")
    assert reply.language == "ru" and "не одобрена" in reply.text and "715 000 сум" in reply.text

    class Gateway:
        async def send(self, phone: str, text: str, reference: str) -> str:
            return f"id-{reference}"

    assert await send_due(core, Gateway()) >= 1
    assert await record_receipt(core, f"id-{reply.outbox_id}", "delivered")
    async with core.uow() as uow:
        row = await uow.session.get(OutboxMessage, reply.outbox_id)
        assert row.state == "delivered" and row.segments == 2


async def test_payment_only_to_registered_phone(core: Core, demo: dict[str, str]) -> None:
    assert "360 000" in (await handle_inbound(core, PAID_PHONE, "TOLOV")).text
    refused = await handle_inbound(core, STRANGER, "TOLOV")
    assert "1140" in refused.text and "360 000" not in refused.text


async def test_repeated_gateway_message_is_recorded_once(core: Core, demo: dict[str, str]) -> None:
    first = await handle_inbound(core, PHONE, "SHIKOYAT Pul kelmadi", "gw-3")
    again = await handle_inbound(core, PHONE, "SHIKOYAT Pul kelmadi", "gw-3")
    assert again.duplicate and again.text == first.text
    assert await _count(core, InboundSms) == 1


@pytest.mark.parametrize("text", ["", "   ", "x" * 2000, "ARIZA", "ARIZA 12", "ARIZA 123456789", "SHIKOYAT",
                                  "SHIKOYAT " + "я" * 2100, "ХОЛАТ", "123-456-789", "\x00\x01"])
async def test_bad_sms_gets_a_short_answer(core: Core, demo: dict[str, str], text: str) -> None:
    reply = await handle_inbound(core, PHONE, text)
    assert reply.text and len(reply.text) < 400
    assert await _count(core, Application) == 1


async def test_a_receipt_that_meets_the_senders_own_update_is_kept(core: Core, demo: dict[str, str]) -> None:
    """A fast gateway posts its receipt while the sender is still recording the submission: both
    touch the same row at once, and the receipt's "delivered" must survive the sender's "sent"."""
    replies = [await handle_inbound(core, PHONE, "HOLAT", f"race-{n}") for n in range(12)]
    receipts: list[asyncio.Task[bool]] = []

    class Gateway:
        async def send(self, phone: str, text: str, reference: str) -> str:
            # The receipt is on its way before the sender has even seen the gateway's answer.
            receipts.append(asyncio.create_task(record_receipt(core, f"id-{reference}", "delivered", reference)))
            await asyncio.sleep(0)
            return f"id-{reference}"

    while await send_due(core, Gateway()):
        pass
    assert all(await asyncio.gather(*receipts))
    async with core.uow() as uow:
        states = {r.id: r.state for r in (await uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_([r.outbox_id for r in replies])))).all()}
    assert states == {r.outbox_id: "delivered" for r in replies}


async def test_a_russian_date_at_a_sentence_end_has_one_full_stop(core: Core, demo: dict[str, str]) -> None:
    # "... до 25 декабря 2026 г." + the sentence's own "." must not reach the phone as "г..".
    taken = await handle_inbound(core, PHONE, "ЖАЛОБА нет денег", "gw-ru-1")
    assert taken.language == "ru" and "г." in taken.text and ".." not in taken.text


async def test_a_family_with_no_application_is_told_how_to_apply_not_sent_to_a_menu(core: Core) -> None:
    """SMS has no menu: the USSD and Telegram answer ("apply in the main menu") would strand them."""
    phones = {"uz": "+998901110001", "kaa": "+998901110002", "ru": "+998901110003"}
    for language, phone in phones.items():
        await make_family(core, phone=phone, language=language, head_birth=dt.date(1980, 1, int(phone[-1])))
    for (language, phone), keyword in zip(phones.items(), ("HOLAT", "JAGDAY", "СТАТУС"), strict=True):
        reply = await handle_inbound(core, phone, keyword)
        assert reply.language == language
        assert "*1140#" in reply.text and "Telegram" in reply.text, reply.text
        assert not any(word in reply.text.lower() for word in ("menyu", "меню")), reply.text


async def test_long_gateway_ids_that_share_their_first_64_characters_are_two_messages(core: Core) -> None:
    await make_family(core, phone=PHONE)
    first = await handle_inbound(core, PHONE, "HOLAT", "g" * 100)
    second = await handle_inbound(core, PHONE, "TOLOV", "g" * 101)
    assert not second.duplicate and second.outbox_id != first.outbox_id
    again = await handle_inbound(core, PHONE, "TOLOV", "g" * 101)
    assert again.duplicate and again.outbox_id == second.outbox_id
    assert await _count(core, InboundSms) == 2


async def test_a_bare_grievance_number_is_answered_in_the_language_of_the_last_keyword(core: Core) -> None:
    await make_family(core, phone=PHONE, language="uz")
    taken = await handle_inbound(core, PHONE, "ЖАЛОБА нет денег", "gw-1")
    assert taken.language == "ru"
    number = "".join(ch for ch in taken.text if ch.isdigit())[:9]
    status = await handle_inbound(core, PHONE, number, "gw-2")
    assert status.language == "ru" and status.text.startswith("Обращение "), status.text


async def test_a_notice_withdrawn_while_its_send_failed_is_not_tried_again(core: Core) -> None:
    """An ending notice is withdrawn when its family is found eligible again; if that happens while
    the gateway is failing to take it, the failure must not put it back in the queue."""
    from core.services import outbox

    household_id, _ = await make_family(core, phone="+998901234599")
    async with core.uow() as uow:
        await outbox.enqueue(uow, "enrolment.ending", {"last_month": "2027-06-01", "reasons": []},
                             household_id=household_id, dedupe_key="enrolment.ending:test")
        await uow.commit()

    class Gateway:
        async def send(self, phone: str, text: str, reference: str) -> str:
            async with core.uow() as uow:  # the assessment withdraws it meanwhile
                row = await uow.session.get(OutboxMessage, int(reference))
                assert row is not None
                row.state = "withdrawn"
                await uow.commit()
            raise ConnectionError("gateway down")

    assert await send_due(core, Gateway()) == 0
    async with core.uow() as uow:
        row = await uow.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == "enrolment.ending:test"))
        assert row is not None and (row.state, row.attempts, row.error) == ("withdrawn", 1, "gateway down")


async def test_a_notice_withdrawn_while_the_gateway_took_it_is_sent_and_followed_by_the_truth(core: Core) -> None:
    """If the family is found eligible again while its ending notice is in the gateway's hands, the
    notice goes out all the same: it is recorded as sent, and the family is told its assistance goes on."""
    from core.services import outbox

    household_id, _ = await make_family(core, phone="+998901234598")
    async with core.uow() as uow:
        await outbox.enqueue(uow, "enrolment.ending", {"last_month": "2027-06-01", "reasons": []},
                             household_id=household_id, dedupe_key="enrolment.ending:taken")
        await uow.commit()

    class Gateway:
        async def send(self, phone: str, text: str, reference: str) -> str:
            async with core.uow() as uow:  # the assessment withdraws it meanwhile
                row = await uow.session.get(OutboxMessage, int(reference))
                assert row is not None and row.template == "enrolment.ending"
                row.state = "withdrawn"
                await uow.commit()
            return f"gw-{reference}"

    assert await send_due(core, Gateway()) == 1
    async with core.uow() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.household_id == household_id)
                                          .order_by(OutboxMessage.id))).all()
        assert [(r.template, r.state) for r in rows] == [("enrolment.ending", "sent"), ("enrolment.continues", "pending")]
        assert rows[1].params == {"last_month": "2027-06-01"} and rows[1].channel == "sms"
        continues = rows[1].id

    class Recording:
        def __init__(self) -> None:
            self.texts: list[str] = []

        async def send(self, phone: str, text: str, reference: str) -> str:
            self.texts.append(text)
            return f"gw-{reference}"

    gateway = Recording()
    assert await send_due(core, gateway) == 1
    assert gateway.texts == [compose(render("enrolment.continues", {"last_month": "2027-06-01"}, "uz"), "uz")[0]]
    async with core.uow() as uow:
        row = await uow.session.get(OutboxMessage, continues)
        assert row is not None and row.state == "sent"
