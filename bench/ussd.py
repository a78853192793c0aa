"""USSD endpoint benchmark: many concurrent simulated sessions over HTTP on loopback.

    .venv/bin/python bench/ussd.py [--sessions 200] [--concurrency 50]

Starts, in this process, the real app (``spsr.server.build_app`` with the USSD mount) on a fresh
SQLite database (or ``SPSR_DATABASE_URL``) seeded with demo families, and a bare aiohttp handler
answering ``CON hello``; drives both with the same client and prints hops per second and p50/p99
latency side by side. A hop counts as a failure when it is not a CON/END reply, when its END is an
apology ("service unavailable": a database timeout or error behind it), or when it took longer than
a gateway's per-step deadline; failures are printed by kind. Loopback only; concurrency is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.clock import FixedClock  # noqa: E402
from core.config import Settings, normalise_database_url  # noqa: E402
from spsr.bootstrap import build_core  # noqa: E402
from spsr.server import build_app  # noqa: E402

# Journeys per kind of phone: the demo families' phones open on the home menu (the registry knows
# their language); a stranger's phone first meets the language menu.
REGISTERED_FLOWS = [["3"], ["2", "98"], ["4", "1", "1", "Pul kelmadi"], ["5", "3", "3"], ["1", "x", "0", "00"],
                    ["4", "2", "123456789"], ["99", "0", "2"]]
STRANGER_FLOWS = [["1", "3"], ["3", "4", "1", "6", "Karta ishlamayapti"], ["2", "1", "31210632040244"]]
DEADLINE = 2.0  # seconds: what a gateway waits for each answer before dropping the session


def _apologies() -> set[str]:
    """Every END that is an apology rather than an answer, as each language's screen shows it."""
    from core.i18n import Words, _, use_locale
    from core.services.messages import UNKNOWN_ERROR
    from core.text import gsm_spelling

    found = set()
    for lang in ("uz", "kaa", "ru"):
        with use_locale(lang):
            for msgid in (Words.UNAVAILABLE, UNKNOWN_ERROR):
                found.update({_(msgid), gsm_spelling(_(msgid), lang)})
    return found


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


@dataclass
class Run:
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def fail(self, kind: str, example: str) -> None:
        self.failures[kind] += 1
        self.examples.setdefault(kind, example)


async def _drive(url: str, sessions: int, concurrency: int, phones: list[str], stranger: str) -> Run:
    """Play ``sessions`` sessions, ``concurrency`` at a time; a hop fails when the HTTP status is not
    200, the body is neither CON nor END, the END is an apology, or the answer came after DEADLINE."""
    run = Run()
    apologies = _apologies()
    gate = asyncio.Semaphore(concurrency)
    rng = random.Random(1140)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def session(i: int) -> None:
            phone = phones[i % len(phones)]
            inputs = rng.choice(STRANGER_FLOWS if phone == stranger else REGISTERED_FLOWS)
            sid = f"bench-{i}-{rng.random()}"
            async with gate:
                for n in range(len(inputs) + 1):
                    form = {"sessionId": sid, "phoneNumber": phone, "serviceCode": "*1140#",
                            "networkCode": "63402", "text": "*".join(inputs[:n])}
                    t0 = time.perf_counter()
                    try:
                        async with http.post(url, data=form) as resp:
                            status, body = resp.status, await resp.text()
                    except aiohttp.ClientError as exc:
                        status, body = 0, repr(exc)
                    took = time.perf_counter() - t0
                    run.latencies.append(took)
                    if status != 200 or not body.startswith(("CON", "END")):
                        run.fail("bad reply", f"HTTP {status}: {body[:80]!r}")
                        break
                    if took > DEADLINE:
                        run.fail(f"slower than {DEADLINE:g} s", f"{took:.2f} s for {form['text']!r}")
                    if body.startswith("END"):
                        if body[4:].strip() in apologies:
                            run.fail("END apology", body[:80])
                        break

        t0 = time.perf_counter()
        await asyncio.gather(*(session(i) for i in range(sessions)))
        run.elapsed = time.perf_counter() - t0
    return run


def _drive_in_process(url: str, sessions: int, concurrency: int, phones: list[str], stranger: str) -> Run:
    return asyncio.run(_drive(url, sessions, concurrency, phones, stranger))


def _report(name: str, run: Run) -> str:
    lat = run.latencies
    q = statistics.quantiles(lat, n=100)
    failed = sum(run.failures.values())
    lines = [f"{name:<22} {len(lat) / run.elapsed:8.0f} hops/s   p50 {q[49] * 1000:6.1f} ms   "
             f"p99 {q[98] * 1000:6.1f} ms   ({len(lat)} hops, {failed} failures)"]
    for kind, count in run.failures.most_common():
        lines.append(f"    {count:5d} x {kind}: e.g. {run.examples[kind]}")
    return "\n".join(lines)


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
    from tests.ussd.conftest import PAID_PHONE, PHONE, STRANGER, seed_demo

    demo = await seed_demo(core)
    phones = [PHONE, PAID_PHONE, demo["refused_phone"], STRANGER]
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
        # The gateway side runs in its own process, as a real gateway would: its 50 sessions must not
        # compete with the server for one event loop.
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            for name, target in (("bare aiohttp CON hello", f"http://127.0.0.1:{bare_port}/ussd"),
                                 ("spsr USSD endpoint", f"http://127.0.0.1:{port}/ussd/africastalking")):
                run = await loop.run_in_executor(pool, _drive_in_process, target, args.sessions, concurrency,
                                                 phones, phones[-1])
                print(_report(name, run))
    finally:
        await runner.cleanup()
        await bare_runner.cleanup()
        await core.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
