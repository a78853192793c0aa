"""``spsr assess``: re-assess households whose data changed (``--all``: every household)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from core.config import Settings
from core.errors import Conflict
from core.i18n import N_
from core.services.assessment import CHUNK, AssessSummary, assess_households
from core.services.exchange import expire_facts
from core.storage.uow import Actor
from spsr.arguments import whole_number
from spsr.bootstrap import build_core
from spsr.language import number, ptr, tell, tr

# The bar's words by what it counts, in the operator's language (the counts as digits, as before).
COUNTING = {
    "households": N_("{done}/{total} households {rate}/s"),
    "lines": N_("{done}/{total} lines {rate}/s"),
}


class Progress:
    """A one-line progress bar on stderr: done / total, households per second."""

    def __init__(self, total: int = 0, label: str = "households") -> None:
        self.total, self.label, self.done = total, label, 0
        self.start = self.last = time.monotonic()

    def begin(self, total: int) -> None:
        """Start counting now, towards ``total`` (once the pass may run)."""
        self.total, self.done = total, 0
        self.start = self.last = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= 0.5 or self.done >= self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            # A range is worked whole: it may hold more due households than were counted up front.
            share = min(self.done / self.total, 1.0) if self.total else 1.0
            bar = "#" * int(share * 30)
            words = tell(COUNTING[self.label], done=self.done, total=self.total, rate=number(round(rate)))
            sys.stderr.write(f"\r[{bar:<30}] {words}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.done:
            sys.stderr.write("\n")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("assess", help=tr("re-assess changed households; enrol, end and notify families"))
    parser.add_argument("--all", action="store_true", help=tr("re-assess every household"))
    # The service's own range size, measured for it: ranges of 1,000 took twice as long in all.
    parser.add_argument("--chunk", type=whole_number(1), default=CHUNK, metavar=ptr("metavar", "CHUNK"),
                        help=tell("household ids per transaction (default {chunk})", chunk=number(CHUNK)))
    parser.add_argument("--quiet", action="store_true", help=tr("no progress bar"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    async def go() -> int:
        core = await build_core(Settings.from_env())
        try:
            # Data past its validity must not decide anything: retire it first.
            lapsed = await expire_facts(core)
            if lapsed and not args.quiet:
                print(tell("{count} agency values past their validity retired", count=lapsed), file=sys.stderr)
            progress = None if args.quiet else Progress()
            summary = await assess_households(
                core, everything=args.all, chunk=args.chunk, progress=progress,
                actor=Actor("system", "spsr assess", "cli"),
                on_wait=lambda: print(tell("another assessment pass is running: waiting for it to finish"),
                                      file=sys.stderr),
                on_start=None if progress is None else progress.begin)
            if progress is not None:
                progress.close()
        except Conflict as exc:  # assessment.clock_behind
            print(tell("spsr assess: refused: today is {today}, before the latest pass ({last}); is SPSR_TODAY "
                       "or the server's clock set back? Nothing was assessed ({code})",
                       today=exc.params["today"], last=exc.params["last"], code=exc.code), file=sys.stderr)
            return 2
        finally:
            await core.engine.dispose()
        print(said(core.clock.today(), summary))
        return 1 if summary.errors else 0

    return asyncio.run(go())


def said(today: object, summary: AssessSummary) -> str:
    """The pass's counts, one line; in English exactly ``f"{today}: {summary}"``."""
    return tell("{today}: assessed {assessed}, eligible {eligible}, enrolled {enrolled}, ending {ending}, "
                "reinstated {reinstated}, notices {notices}, errors {errors}", today=today,
                assessed=summary.assessed, eligible=summary.eligible, enrolled=summary.enrolled,
                ending=summary.ending, reinstated=summary.reinstated, notices=summary.notices,
                errors=summary.errors)
