"""The web server ``spsr serve`` runs: one aiohttp app on which every front end mounts its routes."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from sqlalchemy import text

from core.config import Settings
from core.storage.migrate import is_current
from core.storage.uow import Core

log = logging.getLogger("spsr.server")

CORE = web.AppKey("core", Core)
SETTINGS = web.AppKey("settings", Settings)

# A front end mounts itself with a function taking the app; routes and background jobs go there.
Mount = Callable[[web.Application], None]


async def healthz(request: web.Request) -> web.Response:
    """Alive, and the database answers."""
    core = request.app[CORE]
    try:
        async with core.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means the database is unreachable
        log.warning("health check failed: %s", exc)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "today": core.clock.today().isoformat()})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers and its schema is the newest migration."""
    core = request.app[CORE]
    try:
        current = await is_current(core.engine)
    except Exception as exc:
        log.warning("readiness check failed: %s", exc)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    if not current:
        return web.json_response({"status": "unavailable", "migrations": "behind"}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "migrations": "current"})


# How long shutdown waits for a job in progress before cancelling it.
STOP_GRACE_SECONDS = 10.0


def periodic(name: str, every_seconds: float, job: Callable[[], Awaitable[object]]) -> Callable[
    [web.Application], AsyncIterator[None]
]:
    """A cleanup context running ``job`` every ``every_seconds`` while the app lives; errors are logged.

    Shutdown lets a run in progress finish (up to ``STOP_GRACE_SECONDS``) and cancels only the wait
    between runs: a job cancelled in the middle of a query leaves its connection to the garbage
    collector, and aiosqlite's worker thread then reports into a closed event loop."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        stopping = asyncio.Event()

        async def loop() -> None:
            while not stopping.is_set():
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("periodic job %s failed; will retry", name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), every_seconds)

        task = asyncio.create_task(loop(), name=name)
        yield
        stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("periodic job %s still running after %.0f s; cancelling it", name, STOP_GRACE_SECONDS)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ctx


def build_app(core: Core, settings: Settings, mounts: list[Mount] | None = None) -> web.Application:
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[CORE] = core
    app[SETTINGS] = settings
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for mount in mounts or default_mounts():
        mount(app)
    return app


def default_mounts() -> list[Mount]:
    """Every front end ``spsr serve`` serves; each module mounts its own routes and jobs."""
    from spsr import jobs

    return [jobs.mount, importlib.import_module("ussd.web").mount, importlib.import_module("registry_api.app").mount,
            importlib.import_module("bots.webhook").mount]
