"""Every kind of bad input the issue names, on USSD and SMS: a short answer in the person's language
that says what to do next, no server error, nothing recorded twice or lost."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.grievances import damm_digit
from core.services.sms import handle_inbound
from core.storage.schema import Application, ChannelSession, Grievance, InboundSms, OutboxMessage
from core.storage.uow import Core
from tests.ussd.conftest import PHONE, STRANGER, session_for
from ussd.simulator import play

pytestmark = pytest.mark.postgres

UNKNOWN_GRIEVANCE = "12345678" + str(damm_digit("12345678"))  # well formed, never issued

# (what, phone, inputs, words the last screen must show). PHONE is registered in Uzbek: its session
# opens on the Uzbek home menu; STRANGER meets the language menu first (3 = Russian).
CASES = [
    ("a letter where a menu number is expected", PHONE, ["x"], "Bunday tanlov yo'q"),
    ("a Cyrillic word for a number (wrong script)", STRANGER, ["3", "два"], "Такого пункта нет"),
    ("an option that does not exist", PHONE, ["9"], "ko'rsatilgan raqamlardan birini yuboring"),
    ("an option that does not exist, in Russian", STRANGER, ["3", "7"], "Отправьте один из показанных номеров"),
    ("letters for a PINFL", PHONE, ["1", "ABCDEFGHIJKLMN"], "JShShIR 14 ta raqamdan iborat"),
    ("an empty PINFL", PHONE, ["1", ""], "JShShIR 14 ta raqamdan iborat"),
    ("a PINFL with a wrong check digit", PHONE, ["1", "31210632040245"], "oxirgi raqam mos emas"),
    ("a PINFL with a wrong check digit, in Russian", STRANGER, ["3", "1", "31210632040245"],
     "последняя цифра не сходится"),
    ("a PINFL typed with a Cyrillic O (read as 0) that the registry does not hold", PHONE,
     ["1", "3121О632040244"], "Reestrda bu JShShIR bilan shaxs yo'q"),
    ("an unknown grievance number", PHONE, ["4", "2", UNKNOWN_GRIEVANCE], "Bunday raqamli murojaat yo'q"),
    ("a grievance number with a typing error", PHONE, ["4", "2", "123456780"], "Raqamda xato bor"),
    ("a grievance too long", PHONE, ["4", "1", "1", "Pul " * 150], "500 belgidan oshirmang"),
    ("an empty grievance", PHONE, ["4", "1", "1", " "], "muammo haqida bir necha so'z yozing"),
    ("'more' on a screen that has no more", PHONE, ["3", "98"], "to'lov rejalashtirilmagan"),
]


@pytest.mark.parametrize(("what", "phone", "inputs", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_bad_ussd_input_gets_a_short_answer(demo, ussd_client, what: str, phone: str, inputs: list[str],
                                                  expected: str) -> None:
    transcript = await play(session_for(ussd_client, phone), inputs)
    last = transcript.rsplit(">>> ", 1)[-1]
    assert "[GATEWAY]" not in transcript
    assert "[CON]" in last, f"{what}: the session should go on\n{transcript}"
    assert expected in last, f"{what}\n{transcript}"


async def _count(core: Core, model: type) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_repeated_grievance_hop_records_one_grievance(core: Core, demo, ussd_client) -> None:
    form = {"sessionId": "rep-g", "phoneNumber": PHONE, "serviceCode": "*1140#", "networkCode": "63402"}
    replies = []
    for text in ["", "4", "4*1", "4*1*1", "4*1*1*Pul kelmadi", "4*1*1*Pul kelmadi"]:
        resp = await ussd_client.post("/ussd/africastalking", data={**form, "text": text})
        replies.append(await resp.text())
    assert replies[-1] == replies[-2] and replies[-1].startswith("END ")
    assert await _count(core, Grievance) == 1


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300) | st.sampled_from(["STOP", "HOLAT", "ARIZA", "SHIKOYAT", "СТАТУС", "?", ""]),
       sender=st.sampled_from([PHONE, STRANGER]))
async def test_fuzzed_sms_never_breaks_and_is_answered_once(core: Core, demo, text: str, sender: str) -> None:
    gateway_id = f"fz-{uuid.uuid4().hex}"
    before = await _count(core, InboundSms)
    reply = await handle_inbound(core, sender, text, gateway_id)
    again = await handle_inbound(core, sender, text, gateway_id)
    assert reply.text and len(reply.text) < 700
    assert again.duplicate and again.outbox_id == reply.outbox_id
    assert await _count(core, InboundSms) == before + 1


async def test_a_2000_character_sms_is_stored_cut_and_answered(core: Core, demo) -> None:
    reply = await handle_inbound(core, PHONE, "SHIKOYAT " + "Pul kelmadi. " * 160, "long-1")
    assert "2000 belgidan oshirmang" in reply.text  # refused, saying what to do: write it shorter
    async with core.uow() as uow:
        stored = await uow.session.scalar(select(InboundSms).where(InboundSms.gateway_message_id == "long-1"))
        assert stored is not None and len(stored.text) <= 2000
        assert await uow.session.scalar(select(func.count()).select_from(OutboxMessage)
                                        .where(OutboxMessage.id == reply.outbox_id)) == 1


async def test_an_expired_session_is_not_continued(core: Core, demo, ussd_client, clock) -> None:
    import datetime as dt

    form = {"sessionId": "exp-2", "phoneNumber": PHONE, "serviceCode": "*1140#", "networkCode": "63402"}
    await ussd_client.post("/ussd/africastalking", data={**form, "text": ""})
    clock.advance(dt.timedelta(minutes=4))
    body = await (await ussd_client.post("/ussd/africastalking", data={**form, "text": "1"})).text()
    assert body.startswith("END ") and "*1140#" in body
    async with core.uow() as uow:
        row = await uow.session.get(ChannelSession, "ussd:exp-2")
        assert row is not None and row.ended
    assert await _count(core, Application) == 1  # only the demo's refused application


async def test_a_star_typed_in_a_grievance_is_kept(core: Core, demo, ussd_client) -> None:
    # Africa's Talking joins the inputs with "*": a "*" the person typed must not cut the text.
    form = {"sessionId": "star-g", "phoneNumber": PHONE, "serviceCode": "*1140#", "networkCode": "63402"}
    for text in ["", "4", "4*1", "4*1*1", "4*1*1*Pul *kelmadi* 2 oy"]:
        resp = await ussd_client.post("/ussd/africastalking", data={**form, "text": text})
        assert resp.status == 200
    assert (await resp.text()).startswith("END ")
    async with core.uow() as uow:
        assert await uow.session.scalar(select(Grievance.text)) == "Pul *kelmadi* 2 oy"
