"""Outbox sender benchmark: notices through the real SMS gateway simulator and the fake Bot API.

    .venv/bin/python bench/senders.py [--notices 20000] [--before 2000] [--concurrency 32] [--latency 0.05]
                                      [--rate 200] [--window 5]

Queues notices in a fresh SQLite database (or ``SPSR_DATABASE_URL``, whose outbox it empties) and
sends them with the rate limit set out of the way, in two ways: "before", one request at a time
with a transaction per result (the sender as it was: concurrency 1, ``flush_every`` 1), and
"after", ``--concurrency`` requests in flight with results written in batches. The gateway
simulator (``spsr sms-gateway``) and the fake Bot API (``spsr bot --fake-api``) run as their own
processes, as a real gateway would. Beside them, measured in the same run: the same POSTs from a
bare client (no database) to a bare aiohttp handler in its own process, and to the simulator
itself; neither sender can beat those. Loopback only; ``--latency`` makes every server answer that
late, as a gateway across a real network does (tens to hundreds of milliseconds).

Then the shared rate: two SMS senders on one database, each with its own engine (two server
processes' worth of connections), configured at ``--rate``, counted at the gateway over
``--window`` seconds: "before", each keeping the rate alone (as every process did), and "after",
sharing it through their heartbeats as ``spsr serve`` runs them; then one stops and the other,
alone, takes the whole rate back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.clock import FixedClock  # noqa: E402
from core.config import Settings, normalise_database_url  # noqa: E402
from core.services.dispatch import Pace  # noqa: E402
from core.services.sms import SmsSender  # noqa: E402
from core.storage.schema import OutboxMessage  # noqa: E402
from core.storage.uow import Core  # noqa: E402
from spsr.bootstrap import build_core  # noqa: E402
from ussd.sms_gateway import HttpSmsGateway  # noqa: E402

TOKEN = "123456:TEST-token"
UNLIMITED = 1_000_000.0  # messages a second: out of the way


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bare_app(latency: float) -> web.Application:
    """What any gateway must at least do: take a JSON POST and answer an id (``latency`` late)."""
    counter = itertools.count(1)

    async def send(request: web.Request) -> web.Response:
        await request.json()
        if latency:
            await asyncio.sleep(latency)
        return web.json_response({"id": f"bare-{next(counter)}"})

    app = web.Application()
    app.router.add_post("/send", send)
    return app


@contextlib.asynccontextmanager
async def _process(args: list[str], url: str) -> AsyncIterator[None]:
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url) as resp:
                        if resp.status < 500:
                            break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"{args} did not start")
        yield
    finally:
        proc.terminate()
        proc.wait(10)


async def _bare_client(url: str, count: int, concurrency: int, body: Callable[[int], dict[str, object]]) -> float:
    """Messages a second a client with no database gets from ``url``."""
    numbers = iter(range(count))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        async def worker() -> None:
            for n in numbers:
                async with http.post(url, json=body(n)) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


async def _queue(core: Core, count: int, channel: str) -> None:
    """``count`` enrolment notices, each to its own phone (or chat), worded at send time."""
    from sqlalchemy import delete, insert

    now = core.clock.now()
    async with core.engine.begin() as conn:
        await conn.execute(delete(OutboxMessage))
        rows = [{"created_at": now, "household_id": None, "channel": channel, "priority": 10, "language": "uz",
                 "phone": f"+99890{n:07d}", "telegram_chat_id": 10_000 + n if channel == "telegram" else None,
                 "template": "enrolment.ended", "params": {}, "state": "pending", "attempts": 0,
                 "next_attempt_at": now} for n in range(count)]
        for i in range(0, count, 5000):
            await conn.execute(insert(OutboxMessage), rows[i:i + 5000])


async def _timed(core: Core, count: int, channel: str, run: Callable[[], Awaitable[int]]) -> float:
    await _queue(core, count, channel)
    started = time.perf_counter()
    sent = await run()
    elapsed = time.perf_counter() - started
    assert sent == count, f"{channel}: {sent} of {count} sent"
    return count / elapsed


class _Counted(HttpSmsGateway):
    """The gateway, noting when each message was taken (``time.perf_counter``)."""

    def __init__(self, base_url: str, http: aiohttp.ClientSession, taken: list[float]) -> None:
        super().__init__(base_url, http)
        self.taken = taken

    async def send(self, phone: str, text: str, reference: str) -> str:
        answer = await super().send(phone, text, reference)
        self.taken.append(time.perf_counter())
        return answer


async def _window(taken: list[float], seconds: float) -> float:
    """Messages a second the gateway takes over the next ``seconds``."""
    before = len(taken)
    await asyncio.sleep(seconds)
    return (len(taken) - before) / seconds


async def _shared(core: Core, other: Core, gateway_url: str, rate: float, seconds: float,
                  concurrency: int) -> list[tuple[str, float]]:
    """Two SMS senders on one database, each its own engine, against the rate they are configured at."""
    # A beat of half a second: a joiner's wait (two beats) and a rebalance take a second, not ten.
    pace = Pace(rate=rate, concurrency=concurrency, beat=0.5)
    await _queue(core, int(rate * (seconds + 4) * 5), "sms")  # never runs dry
    taken: list[float] = []
    figures: list[tuple[str, float]] = [(f"configured: SPSR_SMS_PER_SECOND={rate:g}", rate)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2 * concurrency)) as http:
        a, b = (SmsSender(c, _Counted(gateway_url, http, taken), pace) for c in (core, other))
        # Before: each process kept the rate alone (one pass each, no heartbeat).
        tasks = [asyncio.create_task(s.run_once()) for s in (a, b)]
        await asyncio.sleep(1)
        figures.append(("SMS, 2 senders, before: the rate is each one's", await _window(taken, seconds)))
        for sender, task in zip((a, b), tasks, strict=True):
            await sender.stop(task)
        # After: as `spsr serve` runs them. b joins a running a, waits two beats, then both send.
        runs = {a: asyncio.create_task(a.run()), b: asyncio.create_task(b.run())}
        await asyncio.sleep(4 * pace.beat)
        figures.append(("SMS, 2 senders, after: sharing the rate", await _window(taken, seconds)))
        await b.stop(runs.pop(b))  # a takes b's share at its next beat
        await asyncio.sleep(2 * pace.beat)
        figures.append(("SMS, the other stopped: 1 sender, the whole rate", await _window(taken, seconds)))
        await a.stop(runs.pop(a))
    return figures


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("SPSR_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp}/bench.db"
        core = await build_core(Settings(database_url=normalise_database_url(url)),
                                clock=FixedClock(dt.date(2026, 12, 10)))
        print(f"database: {core.engine.dialect.name}; {args.notices} notices after, {args.before} before; "
              f"concurrency {args.concurrency}; answers {args.latency * 1000:g} ms late; {os.cpu_count()} cores")
        bare, gw, tg = _free_port(), _free_port(), _free_port()
        spsr = [sys.executable, "-m", "spsr.cli"]
        sms_body: Callable[[int], dict[str, object]] = lambda n: {  # noqa: E731
            "to": f"+99890{n:07d}", "text": "Yordam toʻxtatildi.", "reference": str(n), "callback_url": None}
        results: list[tuple[str, float]] = []
        delay = str(args.latency)
        async with (_process([sys.executable, __file__, "--bare", str(bare), "--latency", delay],
                             f"http://127.0.0.1:{bare}/"),
                    _process([*spsr, "sms-gateway", "--port", str(gw), "--answer-delay", delay],
                             f"http://127.0.0.1:{gw}/messages?to=x"),
                    _process([*spsr, "bot", "--fake-api", "--port", str(tg), "--latency", delay],
                             f"http://127.0.0.1:{tg}/")):
            c = args.concurrency
            results.append(("baseline: bare client → bare aiohttp handler",
                            await _bare_client(f"http://127.0.0.1:{bare}/send", args.notices, c, sms_body)))
            results.append(("baseline: bare client → SMS gateway simulator",
                            await _bare_client(f"http://127.0.0.1:{gw}/send", args.notices, c, sms_body)))

            async def sms(count: int, pace: Pace) -> int:
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pace.concurrency)) as http:
                    gateway = HttpSmsGateway(f"http://127.0.0.1:{gw}", http)
                    return (await SmsSender(core, gateway, pace).run_once()).sent

            one = Pace(rate=UNLIMITED, concurrency=1, flush_every=1)
            many = Pace(rate=UNLIMITED, concurrency=c)
            results.append(("SMS before: one at a time, a transaction each",
                            await _timed(core, args.before, "sms", lambda: sms(args.before, one))))
            results.append((f"SMS after: {c} in flight, results in batches",
                            await _timed(core, args.notices, "sms", lambda: sms(args.notices, many))))

            from telegram import Bot
            from telegram.request import HTTPXRequest

            from bots.sender import TelegramSender

            async def telegram(count: int, concurrency: int, flush_every: int) -> int:
                request = HTTPXRequest(connection_pool_size=concurrency)
                async with Bot(TOKEN, base_url=f"http://127.0.0.1:{tg}/bot", request=request) as bot:
                    sender = TelegramSender(core, bot, per_second=UNLIMITED, concurrency=concurrency)
                    sender.pace = Pace(rate=UNLIMITED, concurrency=concurrency, burst=UNLIMITED,
                                       flush_every=flush_every)
                    return (await sender.run_once()).sent

            results.append(("Telegram before: one at a time, a transaction each",
                            await _timed(core, args.before, "telegram", lambda: telegram(args.before, 1, 1))))
            results.append((f"Telegram after: {c} in flight, results in batches",
                            await _timed(core, args.notices, "telegram", lambda: telegram(args.notices, c, 200))))
            other = await build_core(Settings(database_url=normalise_database_url(url)),
                                     clock=FixedClock(dt.date(2026, 12, 10)))
            try:
                results.extend(await _shared(core, other, f"http://127.0.0.1:{gw}", args.rate, args.window, c))
            finally:
                await other.engine.dispose()
        await core.engine.dispose()
    width = max(len(name) for name, _ in results)
    for name, rate in results:
        print(f"{name:<{width}}  {rate:8.0f} messages/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notices", type=int, default=20_000, help="notices sent by the concurrent sender")
    parser.add_argument("--before", type=int, default=2_000, help="notices sent one at a time (slow)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds every gateway (and the bare handler) takes to answer, as over a network")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="SMS a second the two sharing senders are configured at (SPSR_SMS_PER_SECOND)")
    parser.add_argument("--window", type=float, default=5.0, help="seconds each shared-rate figure is counted over")
    parser.add_argument("--bare", type=int, help=argparse.SUPPRESS)  # run the bare handler on this port
    arguments = parser.parse_args()
    if arguments.bare:
        web.run_app(_bare_app(arguments.latency), host="127.0.0.1", port=arguments.bare, print=None, access_log=None)
    else:
        asyncio.run(main(arguments))
