"""Requests per second and p99 of the registry API beside a bare aiohttp handler, in one run.

Real HTTP on loopback: a server and a client in one process, a fresh SQLite database (or
SPSR_DATABASE_URL), a few thousand requests per endpoint at a fixed concurrency.

    .venv/bin/python -m bench.api [--requests 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from core.clock import FixedClock
from core.config import Settings, normalise_database_url
from core.rates import RateBook
from core.storage.engine import create_engine, session_factory
from core.storage.migrate import upgrade
from core.storage.uow import Actor, Core
from registry_api import app as registry_app
from registry_api.clients import add_client
from spsr.server import build_app
from tests.conftest import TODAY
from tests.storage.factories import make_family


async def bare(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def hammer(session: aiohttp.ClientSession, url: str, headers: dict[str, str], total: int,
                 concurrency: int) -> tuple[float, float, float]:
    latencies: list[float] = []
    left = iter(range(total))

    async def worker() -> None:
        for _ in left:
            started = time.perf_counter()
            async with session.get(url, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return total / elapsed, statistics.median(latencies) * 1000, p99 * 1000


async def main(total: int, concurrency: int, database_url: str | None) -> None:
    tmp = tempfile.TemporaryDirectory()
    url = normalise_database_url(database_url or str(Path(tmp.name) / "bench.db"))
    engine = create_engine(url)
    await upgrade(engine)
    core = Core(engine=engine, sessions=session_factory(engine), clock=FixedClock(TODAY), book=RateBook.load(),
                rng=random.Random(1))
    async with core.uow() as uow:
        _, key = await add_client(uow, f"bench-{random.randrange(10**6)}", "hotline", Actor("system", "bench", "cli"),
                                  rate_per_minute=10**9)
        await uow.commit()
    _, head = await make_family(core)
    app = build_app(core, Settings(database_url=url), mounts=[registry_app.mount])
    app.router.add_get("/bare", bare)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        for _ in range(20):  # a few grievances to list
            async with s.post(base + "/v1/grievances", json={"category": "payment", "text": "Pul kelmadi",
                                                              "phone": "+998901234567"}, headers=headers) as r:
                assert r.status == 201
        print(f"{total} requests per endpoint, concurrency {concurrency}, database {engine.dialect.name}")
        print(f"{'endpoint':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, path in (("bare aiohttp handler", "/bare"), ("GET /v1/persons/{pinfl}", f"/v1/persons/{head}"),
                           ("GET /v1/grievances?limit=20", "/v1/grievances?limit=20")):
            await hammer(s, base + path, headers, min(200, total), concurrency)  # warm up
            rps, p50, p99 = await hammer(s, base + path, headers, total, concurrency)
            print(f"{name:34} {rps:8.0f} {p50:8.2f} {p99:8.2f}")
    await runner.cleanup()
    await engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.database_url))
