"""Requests per second and p99 of the registry API beside a bare aiohttp handler, in one run.

Real HTTP on loopback: a server and a client in one process, a fresh SQLite database (or a fresh
database created on the PostgreSQL server of --database-url, dropped at the end), a few thousand
requests per endpoint at a fixed concurrency. Each person read is audited: the last lines count the
audit entries and the transactions that wrote them.

    .venv/bin/python -m bench.api [--requests 2000] [--concurrency 16]
    .venv/bin/python -m bench.api --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from core.clock import FixedClock
from core.config import Settings, normalise_database_url
from core.rates import RateBook
from core.storage.engine import create_engine, session_factory
from core.storage.migrate import upgrade
from core.storage.schema import AuditEntry
from core.storage.uow import Actor, Core
from registry_api import app as registry_app
from registry_api.audit import READ_AUDIT
from registry_api.clients import add_client
from spsr.server import build_app
from tests.conftest import TODAY
from tests.storage.factories import make_family


async def bare(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def hammer(session: aiohttp.ClientSession, url: str, headers: dict[str, str], total: int,
                 concurrency: int) -> tuple[float, float, float, float]:
    latencies: list[float] = []
    left = iter(range(total))

    async def worker() -> None:
        for _ in left:
            started = time.perf_counter()
            async with session.get(url, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            latencies.append(time.perf_counter() - started)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return total / elapsed, statistics.median(latencies) * 1000, p99 * 1000, cpu / total * 1000


@asynccontextmanager
async def fresh_database(database_url: str | None) -> AsyncIterator[str]:
    """A fresh SQLite file, or a fresh database on the given PostgreSQL server."""
    if database_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield normalise_database_url(str(Path(tmp) / "bench.db"))
        return
    server = normalise_database_url(database_url)
    name = f"spsr_bench_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        engine = create_engine(server)
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(sql)
        await engine.dispose()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main(total: int, concurrency: int, database_url: str | None) -> None:
    async with fresh_database(database_url) as url:
        await run(total, concurrency, url)


async def run(total: int, concurrency: int, url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    core = Core(engine=engine, sessions=session_factory(engine), clock=FixedClock(TODAY), book=RateBook.load(),
                rng=random.Random(1))
    async with core.uow() as uow:
        _, key = await add_client(uow, "bench", "hotline", Actor("system", "bench", "cli"), rate_per_minute=10**9)
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
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
            for _ in range(20):  # a few grievances to list
                async with s.post(base + "/v1/grievances", json={"category": "payment", "text": "Pul kelmadi",
                                                                  "phone": "+998901234567"}, headers=headers) as r:
                    assert r.status == 201
            print(f"{total} requests per endpoint, concurrency {concurrency}, database {engine.dialect.name}")
            # CPU ms/req: this process's CPU (client, server and aiosqlite threads) per request; it
            # holds steady when other work shares the machine, where req/s does not.
            print(f"{'endpoint':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11}")
            for name, path in (("bare aiohttp handler", "/bare"), ("GET /v1/persons/{pinfl}", f"/v1/persons/{head}"),
                               ("GET /v1/grievances?limit=20", "/v1/grievances?limit=20")):
                await hammer(s, base + path, headers, min(200, total), concurrency)  # warm up
                rps, p50, p99, cpu_ms = await hammer(s, base + path, headers, total, concurrency)
                print(f"{name:34} {rps:8.0f} {p50:8.2f} {p99:8.2f} {cpu_ms:11.2f}")
        async with core.uow() as uow:
            audited = await uow.session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "person.read"))
        print(f"person reads audited: {audited} in {app[READ_AUDIT].batches} transactions")
    finally:
        await runner.cleanup()
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.database_url))
