"""SMS endpoints (inbound messages, delivery receipts) and the sender job of ``spsr serve``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from core.config import Settings
from core.errors import InvalidInput
from core.services.dispatch import Pace
from core.services.sms import SmsSender, handle_inbound, record_receipt
from spsr.server import CORE, SETTINGS
from ussd.sms_gateway import HttpSmsGateway
from ussd.web import allowed, text_fields

log = logging.getLogger("spsr.sms")

MAX_BODY = 64 * 1024
SMS_SENDER = web.AppKey("sms_sender", SmsSender)


async def _fields(request: web.Request) -> dict[str, str]:
    if request.content_length and request.content_length > MAX_BODY:
        return {}
    if request.content_type == "application/json":
        try:
            data = json.loads(await request.text())
        except ValueError:
            return {}
        return {k: str(v) for k, v in data.items() if v is not None} if isinstance(data, dict) else {}
    return text_fields(await request.post())  # a file field is no message text


async def inbound(request: web.Request) -> web.Response:
    """One SMS from a citizen: the reply goes out through the outbox (and is echoed here)."""
    if not allowed(request):
        return web.json_response({"error": "forbidden"}, status=403)
    data = await _fields(request)
    sender = data.get("from", "")
    try:
        reply = await handle_inbound(request.app[CORE], sender, data.get("text", ""), data.get("id") or None)
    except InvalidInput as exc:
        return web.json_response({"error": exc.code}, status=400)
    if (sender_job := request.app.get(SMS_SENDER)) is not None:
        sender_job.wake.set()  # the reply goes now, not at the sender's next look
    return web.json_response({"reply": reply.text, "language": reply.language, "outbox_id": reply.outbox_id,
                              "duplicate": reply.duplicate})


async def receipt(request: web.Request) -> web.Response:
    """A delivery receipt: from the gateway only (the same key or addresses as inbound SMS), or
    anyone could mark a family's notices delivered or failed."""
    if not allowed(request):
        return web.json_response({"error": "forbidden"}, status=403)
    data = await _fields(request)
    found = await record_receipt(request.app[CORE], data.get("id", ""), data.get("status", ""),
                                 data.get("reference") or None)
    return web.json_response({"ok": found}, status=200 if found else 404)


def receipt_callback(settings: Settings) -> str:
    """Where the gateway posts receipts, with SPSR_USSD_KEY when one is set (see ``receipt``)."""
    url = (settings.public_url or "http://127.0.0.1:8080").rstrip("/") + "/sms/receipt"
    return url + ("?" + urlencode({"key": settings.ussd_key}) if settings.ussd_key else "")


def mount(app: web.Application) -> None:
    app.router.add_post("/sms/inbound", inbound)
    app.router.add_post("/sms/receipt", receipt)
    app.cleanup_ctx.append(_sender)


async def _sender(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.sms_gateway_url:
        yield
        return
    callback = receipt_callback(settings)
    pace = Pace(rate=settings.sms_per_second, concurrency=settings.sms_concurrency,
                lease=dt.timedelta(seconds=settings.outbox_lease_seconds))
    # One connection per request in flight: the pool never queues a send the pace let go.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pace.concurrency)) as http:
        sender = app[SMS_SENDER] = SmsSender(app[CORE], HttpSmsGateway(settings.sms_gateway_url, http, callback), pace)
        task = asyncio.create_task(sender.run(), name="sms-sender")
        yield
        await sender.stop(task)  # the sends in flight finish and are recorded; the rest is handed back
