"""USSD endpoint benchmark: many concurrent simulated sessions over HTTP on loopback.

    .venv/bin/python bench/ussd.py [--sessions 200] [--concurrency 50]

Starts, in this process, the real app (``spsr.server.build_app`` with the USSD mount) on a fresh
SQLite database (or ``SPSR_DATABASE_URL``) seeded with demo families, and a bare aiohttp handler
answering ``CON hello``; drives both with the same client and prints hops per second and p50/p99
latency side by side. Loopback only; concurrency is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.clock import FixedClock  # noqa: E402
from core.config import Settings, normalise_database_url  # noqa: E402
from spsr.bootstrap import build_core  # noqa: E402
from spsr.server import build_app  # noqa: E402

FLOWS = [["1", "3"], ["1", "2", "98"], ["1", "4", "1", "1", "Pul kelmadi"], ["2", "5", "3"], ["3", "1", "x", "0"]]


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def _drive(url: str, sessions: int, concurrency: int, phones: list[str]) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    gate = asyncio.Semaphore(concurrency)
    rng = random.Random(1140)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def session(i: int) -> None:
            nonlocal errors
            inputs = rng.choice(FLOWS)
            phone = phones[i % len(phones)]
            sid = f"bench-{i}-{rng.random()}"
            async with gate:
                for n in range(len(inputs) + 1):
                    form = {"sessionId": sid, "phoneNumber": phone, "serviceCode": "*1140#",
                            "networkCode": "63402", "text": "*".join(inputs[:n])}
                    t0 = time.perf_counter()
                    async with http.post(url, data=form) as resp:
                        body = await resp.text()
                    latencies.append(time.perf_counter() - t0)
                    if resp.status != 200 or not body.startswith(("CON", "END")):
                        errors += 1
                    if body.startswith("END"):
                        break

        t0 = time.perf_counter()
        await asyncio.gather(*(session(i) for i in range(sessions)))
        elapsed = time.perf_counter() - t0
    return elapsed, latencies, errors


def _report(name: str, elapsed: float, lat: list[float], errors: int) -> str:
    q = statistics.quantiles(lat, n=100)
    return (f"{name:<22} {len(lat) / elapsed:8.0f} hops/s   p50 {q[49] * 1000:6.1f} ms   "
            f"p99 {q[98] * 1000:6.1f} ms   ({len(lat)} hops, {errors} errors)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    concurrency = max(1, min(args.concurrency, 200))

    tmp = tempfile.mkdtemp()
    url = os.environ.get("SPSR_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    settings = Settings(database_url=normalise_database_url(url))
    core = await build_core(settings, clock=FixedClock(dt.date(2026, 12, 10)), rng=random.Random(1140))
    from tests.ussd.conftest import PAID_PHONE, PHONE, seed_demo

    demo = await seed_demo(core)
    phones = [PHONE, PAID_PHONE, demo["refused_phone"], "+998977770022"]
    from ussd import web as ussd_web

    app = build_app(core, settings, mounts=[ussd_web.mount])
    runner, port = await _serve(app)

    async def hello(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text="CON hello", content_type="text/plain")

    bare = web.Application()
    bare.router.add_post("/ussd", hello)
    bare_runner, bare_port = await _serve(bare)
    try:
        print(f"{args.sessions} sessions, concurrency {concurrency}, database {core.engine.url.get_backend_name()}")
        e, lat, err = await _drive(f"http://127.0.0.1:{bare_port}/ussd", args.sessions, concurrency, phones)
        print(_report("bare aiohttp CON hello", e, lat, err))
        e, lat, err = await _drive(f"http://127.0.0.1:{port}/ussd/africastalking", args.sessions, concurrency, phones)
        print(_report("spsr USSD endpoint", e, lat, err))
    finally:
        await runner.cleanup()
        await bare_runner.cleanup()
        await core.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
