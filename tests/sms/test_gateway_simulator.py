"""Outbound SMS end to end over real HTTP: the outbox sender submits to the gateway simulator on a
loopback port, stores the gateway's id and the segment count, and records the delivery receipt the
simulator posts back to the server's callback; a gateway 5xx is retried later without loss, and a
phone that sent STOP gets nothing more."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from core.clock import FixedClock
from core.config import Settings
from core.gsm import encoding, sms_segments
from core.services import outbox
from core.services.sms import handle_inbound, send_due
from core.storage.schema import InboundSms, OutboxMessage
from core.storage.uow import Core
from spsr.server import build_app
from tests.storage.factories import make_family
from tests.ussd.conftest import PHONE
from ussd import web as ussd_web
from ussd.sms_gateway import HttpSmsGateway
from ussd.sms_simulator import FAILURES, MESSAGES, build_gateway

pytestmark = pytest.mark.postgres

KAA_PHONE = "+998936660044"
RU_PHONE = "+998977001122"


@pytest.fixture
async def wired(core: Core, aiohttp_client: Callable[..., Awaitable[TestClient]]):
    """The simulator and the server (for its receipt callback), each on its own loopback port."""
    gateway_app = build_gateway(receipt_delay=0.0)  # receipts may overtake the sender's own update
    gateway_server = TestServer(gateway_app, host="127.0.0.1")
    await gateway_server.start_server()
    server = await aiohttp_client(build_app(core, Settings(database_url="unused"), mounts=[ussd_web.mount]))
    async with aiohttp.ClientSession() as http:
        gateway = HttpSmsGateway(str(gateway_server.make_url("")), http,
                                 callback_url=str(server.make_url("/sms/receipt")))
        yield gateway_app, gateway
    await gateway_server.close()


async def _rows(core: Core, phone: str | None = None) -> list[SimpleNamespace]:
    """The SMS outbox as plain values (read inside the unit of work, usable after it)."""
    async with core.uow() as uow:
        query = select(OutboxMessage).where(OutboxMessage.channel == "sms").order_by(OutboxMessage.id)
        if phone is not None:
            query = query.where(OutboxMessage.phone == phone)
        return [SimpleNamespace(**{c.key: getattr(r, c.key) for c in OutboxMessage.__table__.columns})
                for r in (await uow.session.scalars(query)).all()]


async def _until_delivered(core: Core, ids: set[int]) -> None:
    for _ in range(500):  # up to 10 s: the receipts travel over HTTP, on a loaded CI machine too
        if all(r.state == "delivered" for r in await _rows(core) if r.id in ids):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the delivery receipts did not arrive")


async def test_submit_store_id_and_segments_then_record_the_receipt(core: Core, wired) -> None:
    gateway_app, gateway = wired
    await make_family(core, phone=PHONE, language="uz")
    await make_family(core, phone=KAA_PHONE, language="kaa", head_birth=dt.date(1981, 3, 4))
    await make_family(core, phone=RU_PHONE, language="ru", head_birth=dt.date(1983, 5, 6))
    replies = [await handle_inbound(core, PHONE, "YORDAM", "in-1"),
               await handle_inbound(core, KAA_PHONE, "JÁRDEM", "in-2"),
               await handle_inbound(core, RU_PHONE, "ПОМОЩЬ", "in-3")]
    assert [r.language for r in replies] == ["uz", "kaa", "ru"]

    assert await send_due(core, gateway) == 3
    submitted = {m["reference"]: m for m in gateway_app[MESSAGES]}
    rows = {r.id: r for r in await _rows(core) if r.id in {x.outbox_id for x in replies}}
    for reply in replies:
        row = rows[reply.outbox_id]
        sent = submitted[str(row.id)]
        assert row.state in ("sent", "delivered") and row.sent_at is not None
        assert row.provider_message_id == sent["id"]
        assert sent["text"] == row.text and row.segments == sent["segments"] == sms_segments(row.text)
    # Uzbek and Karakalpak travel in GSM 7-bit (160/153 a part), Russian in UCS-2 (70/67).
    by_language = {r.language: submitted[str(r.id)] for r in rows.values()}
    assert by_language["uz"]["encoding"] == by_language["kaa"]["encoding"] == "gsm7"
    assert by_language["ru"]["encoding"] == "ucs2"
    for language, message in by_language.items():
        single, part = (160, 153) if message["encoding"] == "gsm7" else (70, 67)
        expected = 1 if len(message["text"]) <= single else -(-len(message["text"]) // part)
        assert message["segments"] == expected, (language, message)
    assert encoding(by_language["kaa"]["text"]) == "gsm7" and "ı" not in by_language["kaa"]["text"]

    await _until_delivered(core, set(rows))


async def test_a_gateway_5xx_is_retried_later_without_loss(core: Core, wired, clock: FixedClock) -> None:
    gateway_app, gateway = wired
    await make_family(core, phone=PHONE, language="uz")
    first = await handle_inbound(core, PHONE, "HOLAT", "in-5")
    second = await handle_inbound(core, PHONE, "TOLOV", "in-6")
    gateway_app[FAILURES][0] = 2  # the gateway is down for the next two submissions

    assert await send_due(core, gateway) == 0
    rows = {r.id: r for r in await _rows(core, PHONE)}
    for reply in (first, second):
        row = rows[reply.outbox_id]
        assert row.state == "pending" and row.attempts == 1 and "503" in (row.error or "")
    assert gateway_app[MESSAGES] == []
    assert await send_due(core, gateway) == 0  # not due yet: the retry waits for its backoff

    clock.advance(dt.timedelta(minutes=5))
    assert await send_due(core, gateway) == 2
    references = [m["reference"] for m in gateway_app[MESSAGES]]
    assert sorted(references) == sorted({str(first.outbox_id), str(second.outbox_id)})  # each once
    await _until_delivered(core, {first.outbox_id, second.outbox_id})


async def test_a_stopped_phone_gets_nothing_but_the_stop_confirmation(core: Core, wired) -> None:
    gateway_app, gateway = wired
    household_id, _head = await make_family(core, phone=PHONE, language="uz")
    stop = await handle_inbound(core, PHONE, "STOP", "in-7")
    async with core.uow() as uow:  # a notice after STOP: an answered grievance, a payment date…
        await outbox.enqueue(uow, "enrolment.ended", {}, household_id=household_id, dedupe_key="t:ended")
        await uow.commit()

    await send_due(core, gateway)
    to_phone = [m for m in gateway_app[MESSAGES] if m["to"] == PHONE]
    assert [m["reference"] for m in to_phone] == [str(stop.outbox_id)]
    assert "START" in to_phone[0]["text"]
    assert all(r.state in ("dead", "sent", "delivered") for r in await _rows(core, PHONE))
    assert not [r for r in await _rows(core, PHONE) if r.template == "enrolment.ended" and r.state != "dead"]


async def test_the_gateway_simulator_answers_over_http(wired) -> None:
    gateway_app, gateway = wired
    async with aiohttp.ClientSession() as http:
        base = gateway.base_url
        async with http.post(f"{base}/send", json={"to": "+998901234567"}) as resp:
            assert resp.status == 400
        async with http.post(f"{base}/fail", json={"count": 1}) as resp:
            assert (await resp.json()) == {"failing": 1}
        async with http.post(f"{base}/send", json={"to": "+998901234567", "text": "Salom"}) as resp:
            assert resp.status == 503
        async with http.get(f"{base}/messages") as resp:
            assert await resp.json() == []
    assert isinstance(gateway_app, web.Application)


async def test_a_receipt_needs_the_gateway_key_and_the_callback_carries_it(core: Core, aiohttp_client) -> None:
    """Nobody but the gateway marks a family's notice delivered or failed."""
    from ussd.sms_web import receipt_callback

    settings = Settings(database_url="unused", ussd_key="s3 cret&", public_url="https://spsr.example/")
    assert receipt_callback(settings) == "https://spsr.example/sms/receipt?key=s3+cret%26"
    assert receipt_callback(Settings(database_url="unused")) == "http://127.0.0.1:8080/sms/receipt"
    await make_family(core, phone=PHONE, language="uz")
    reply = await handle_inbound(core, PHONE, "YORDAM", "in-1")
    async with core.uow() as uow:
        row = await uow.session.get(OutboxMessage, reply.outbox_id)
        assert row is not None
        row.provider_message_id = "gw-1"
        await uow.commit()
    client = await aiohttp_client(build_app(core, settings, mounts=[ussd_web.mount]))
    forged = {"id": "gw-1", "status": "Failed", "reference": str(reply.outbox_id)}
    for url in ("/sms/receipt", "/sms/receipt?key=wrong"):
        response = await client.post(url, json=forged)
        assert response.status == 403, url
    assert [r.state for r in await _rows(core)] == ["pending"]
    response = await client.post("/sms/receipt?key=s3+cret%26", json={**forged, "status": "Delivered"})
    assert response.status == 200
    assert [r.state for r in await _rows(core)] == ["delivered"]


async def test_inbound_sms_over_http_form_json_and_bad_bodies(core: Core, aiohttp_client) -> None:
    await make_family(core, phone=PHONE, language="uz")
    client = await aiohttp_client(build_app(core, Settings(database_url="unused", ussd_key="k"),
                                            mounts=[ussd_web.mount]))
    sms = {"from": PHONE, "text": "YORDAM", "id": "in-1"}
    assert (await client.post("/sms/inbound", data=sms)).status == 403
    response = await client.post("/sms/inbound?key=k", data=sms)
    assert response.status == 200
    body = await response.json()
    assert body["language"] == "uz" and "HOLAT" in body["reply"] and not body["duplicate"]
    again = await (await client.post("/sms/inbound?key=k", json=sms)).json()
    assert again["duplicate"] and again["outbox_id"] == body["outbox_id"]
    # A file where the text should be is no text: the sender is told the message was empty.
    form = aiohttp.FormData()
    form.add_field("from", PHONE)
    form.add_field("id", "in-2")
    form.add_field("text", b"HOLAT", filename="holat.txt", content_type="text/plain")
    filed = await (await client.post("/sms/inbound?key=k", data=form)).json()
    assert "YORDAM" in filed["reply"] and "FileField" not in filed["reply"]
    async with core.uow() as uow:
        stored = await uow.session.scalar(select(InboundSms.text).where(InboundSms.gateway_message_id == "in-2"))
    assert stored == ""
    for bad in ({"text": "HOLAT"}, {"from": "12", "text": "HOLAT"}):
        response = await client.post("/sms/inbound?key=k", data=bad)
        assert response.status == 400, bad
        assert "error" in await response.json()
