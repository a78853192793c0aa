"""Background jobs ``spsr serve`` runs: the daily decision run."""

from __future__ import annotations

import logging

from aiohttp import web

from spsr.server import CORE, periodic

log = logging.getLogger("spsr.jobs")

DAILY = 24 * 60 * 60


def mount(app: web.Application) -> None:
    async def decide_daily() -> None:
        from core.services.applications import decide_due

        summary = await decide_due(app[CORE])
        if summary.decided:
            log.info("daily decision run: %s", summary)

    app.cleanup_ctx.append(periodic("decide-daily", DAILY, decide_daily))
