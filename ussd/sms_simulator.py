"""An SMS gateway simulator: a real HTTP server that accepts submissions, returns message ids,
keeps what it "delivered" for inspection and sends delivery receipts to the callback.

``POST /fail`` with ``{"count": n}`` makes the next n submissions fail with 503, as a gateway under
maintenance does (tests set ``app[FAILURES]`` directly)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
from aiohttp import web

from core.gsm import encoding, sms_segments

MESSAGES = web.AppKey("messages", list)
TASKS = web.AppKey("tasks", set)
FAILURES = web.AppKey("failures", list)  # [how many of the next submissions answer 503]


def build_gateway(receipt_delay: float = 0.2, answer_delay: float = 0.0) -> web.Application:
    """``answer_delay``: seconds each submission takes to be answered, as over a real network."""
    app = web.Application()
    app[MESSAGES] = []
    app[TASKS] = set()
    app[FAILURES] = [0]
    counter = itertools.count(1)

    async def send(request: web.Request) -> web.Response:
        if answer_delay:
            await asyncio.sleep(answer_delay)
        if app[FAILURES][0] > 0:
            app[FAILURES][0] -= 1
            return web.json_response({"error": "temporarily unavailable"}, status=503)
        data = await request.json()
        if not data.get("to") or not isinstance(data.get("text"), str):
            return web.json_response({"error": "to and text are required"}, status=400)
        mid = f"sim-{next(counter)}"
        text = data["text"]
        record: dict[str, Any] = {"id": mid, "to": data["to"], "text": text, "encoding": encoding(text),
                                  "segments": sms_segments(text), "reference": data.get("reference")}
        app[MESSAGES].append(record)
        callback = data.get("callback_url")
        if callback:
            task = asyncio.create_task(_receipt(callback, mid, data.get("reference"), receipt_delay))
            app[TASKS].add(task)
            task.add_done_callback(app[TASKS].discard)
        return web.json_response({"id": mid})

    async def messages(request: web.Request) -> web.Response:
        to = request.query.get("to")
        found = [m for m in app[MESSAGES] if to is None or m["to"] == to]
        return web.json_response(found)

    async def fail(request: web.Request) -> web.Response:
        data = await request.json()
        app[FAILURES][0] = max(0, int(data.get("count", 1)))
        return web.json_response({"failing": app[FAILURES][0]})

    app.router.add_post("/send", send)
    app.router.add_post("/fail", fail)
    app.router.add_get("/messages", messages)
    return app


async def _receipt(url: str, mid: str, reference: Any, delay: float) -> None:
    await asyncio.sleep(delay)
    try:
        async with aiohttp.ClientSession() as http:
            await http.post(url, json={"id": mid, "reference": reference, "status": "delivered"},
                            timeout=aiohttp.ClientTimeout(total=5))
    except (aiohttp.ClientError, TimeoutError):
        pass
