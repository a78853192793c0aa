"""``spsr decide``: decide every application whose verification is complete (daily in ``serve``)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from core.config import Settings
from core.services.applications import DecideSummary, decide_due
from core.storage.uow import Actor
from spsr.bootstrap import build_core
from spsr.language import tell, tr


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("decide", help=tr("verify and decide waiting applications; start and end enrolments"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    async def go() -> int:
        core = await build_core(Settings.from_env())
        try:
            summary = await decide_due(
                core, Actor("system", "spsr decide", "cli"),
                on_wait=lambda: print(tell("an assessment pass or another decision run is enrolling families: "
                                           "waiting for it to finish"), file=sys.stderr))
        finally:
            await core.engine.dispose()
        print(said(core.clock.today(), summary))
        for error in summary.errors:
            print(tell("  error: {error}", error=error))
        return 1 if summary.errors else 0

    return asyncio.run(go())


def said(today: object, summary: DecideSummary) -> str:
    """The run's counts, one line; in English exactly ``f"{today}: {summary}"``."""
    return tell("{today}: verified {verified}, awaiting data {awaiting}, approved {approved}, rejected {rejected}, "
                "enrolled {enrolled}, expired {expired}", today=today, verified=summary.verified,
                awaiting=summary.awaiting, approved=summary.approved, rejected=summary.rejected,
                enrolled=summary.enrolled, expired=summary.expired)
