"""SMS endpoints (inbound messages, delivery receipts) and the sender job of ``spsr serve``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from core.config import Settings
from core.errors import InvalidInput
from core.services.sms import handle_inbound, record_receipt, send_due
from spsr.server import CORE, SETTINGS, periodic
from ussd.sms_gateway import HttpSmsGateway
from ussd.web import allowed, text_fields

log = logging.getLogger("spsr.sms")

MAX_BODY = 64 * 1024


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
    async with aiohttp.ClientSession() as http:
        gateway = HttpSmsGateway(settings.sms_gateway_url, http, callback)

        async def job() -> None:
            await send_due(app[CORE], gateway)

        ctx = periodic("sms-sender", 1.0, job)(app)
        await ctx.__anext__()
        yield
        try:
            await ctx.__anext__()
        except StopAsyncIteration:
            pass
