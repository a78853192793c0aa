"""The server's shutdown: background jobs finish the run in progress, and no connection is left for the
garbage collector (aiosqlite's worker thread would then report into a closed event loop, in
whichever test ran next)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from aiohttp import web
from sqlalchemy import text

from core.config import Settings
from core.storage.engine import create_engine
from core.storage.uow import Core
from spsr.server import build_app, periodic

pytestmark = pytest.mark.postgres


async def test_shutdown_lets_a_job_finish_its_query_and_returns_every_connection(
        core: Core, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    runs = {"started": 0, "finished": 0}

    async def job() -> None:
        runs["started"] += 1
        async with core.uow() as uow:
            await uow.session.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)  # shutdown arrives here, in the middle of the unit of work
            await uow.session.execute(text("SELECT 2"))
        runs["finished"] += 1

    def mount(app: web.Application) -> None:
        app.cleanup_ctx.append(periodic("busy", 0.001, job))

    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            runner = web.AppRunner(build_app(core, Settings(database_url=database_url), mounts=[mount]))
            await runner.setup()
            await asyncio.sleep(0.02)
            await runner.cleanup()
            assert core.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert runs["started"] == runs["finished"] >= 3
    assert not [r for r in caplog.records if r.name.startswith("sqlalchemy")], caplog.text


async def test_shutdown_does_not_wait_out_the_pause_between_runs(core: Core, database_url: str) -> None:
    async def job() -> None:
        return None

    def mount(app: web.Application) -> None:
        app.cleanup_ctx.append(periodic("daily", 24 * 60 * 60, job))

    runner = web.AppRunner(build_app(core, Settings(database_url=database_url), mounts=[mount]))
    await runner.setup()
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await runner.cleanup()
    assert time.perf_counter() - started < 1


async def test_a_failing_job_is_retried_after_its_pause(core: Core, database_url: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def job() -> None:
        calls.append(1)
        raise RuntimeError("gateway down")

    def mount(app: web.Application) -> None:
        app.cleanup_ctx.append(periodic("flaky", 0.01, job))

    runner = web.AppRunner(build_app(core, Settings(database_url=database_url), mounts=[mount]))
    with caplog.at_level(logging.ERROR, logger="spsr.server"):
        await runner.setup()
        await asyncio.sleep(0.1)
        await runner.cleanup()
    assert len(calls) >= 2 and "periodic job flaky failed" in caplog.text


async def test_a_connection_that_died_while_idle_is_replaced_before_a_request_sees_it(
        core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    if core.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server to lose")
    from core.storage import engine as engine_module

    async with core.engine.connect() as conn:
        victim = await conn.scalar(text("SELECT pg_backend_pid()"))
    async with core.engine.connect() as conn:
        assert await conn.scalar(text("SELECT pg_backend_pid()")) == victim  # LIFO: the same one came back
    killer = create_engine(str(core.engine.url.render_as_string(hide_password=False)))
    async with killer.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
    await killer.dispose()
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)
    async with core.uow(read_only=True) as uow:
        assert await uow.session.scalar(text("SELECT pg_backend_pid()")) != victim
