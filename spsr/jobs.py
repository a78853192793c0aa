"""Background jobs ``spsr serve`` runs: the daily decision run, and automatic assignment.

Agencies send data all day through the API; with ``SPSR_ASSESS_EVERY_SECONDS`` set (600 is a
good start), the families whose data changed are re-assessed that often (enrolled, ended, told),
after values past their validity are retired. It is off unless set, so that the demo registry
stays as seeded; ``spsr assess`` from cron does the same. Small ranges keep each transaction
short, so that on SQLite a citizen's USSD hop never waits long behind the assessment's writes.
"""

from __future__ import annotations

import logging
import os

from aiohttp import web

from spsr.server import CORE, periodic

log = logging.getLogger("spsr.jobs")

DAILY = 24 * 60 * 60
ASSESS_CHUNK = 2000


def mount(app: web.Application) -> None:
    async def decide_daily() -> None:
        from core.services.applications import decide_due

        summary = await decide_due(app[CORE])
        if summary.decided:
            log.info("daily decision run: %s", summary)

    async def assess_changed() -> None:
        from core.services.assessment import assess_households
        from core.services.exchange import expire_facts
        from core.storage.locks import Busy

        lapsed = await expire_facts(app[CORE])
        try:
            summary = await assess_households(app[CORE], chunk=ASSESS_CHUNK, wait=False)
        except Busy:  # a pass is running (``spsr assess``, another server process): it does the work
            log.info("assessment of changed households: a pass is already running; next time")
            return
        if lapsed or summary.assessed or summary.errors:
            log.info("assessment of changed households: %d values lapsed; %s", lapsed, summary)

    app.cleanup_ctx.append(periodic("decide-daily", DAILY, decide_daily))
    every = float(os.environ.get("SPSR_ASSESS_EVERY_SECONDS") or 0)
    if every > 0:
        app.cleanup_ctx.append(periodic("assess-changed", every, assess_changed))
