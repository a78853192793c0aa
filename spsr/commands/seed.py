"""``spsr seed``: load the territory and a synthetic registry, then show citizens to try."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TextIO

from core.config import Settings
from core.i18n import N_
from core.seed.demo import demo_citizens
from core.seed.loader import DEFAULT_CHUNK, LANES, MAX_LANES, SeedReport, seed_registry
from spsr.arguments import whole_number
from spsr.bootstrap import build_core
from spsr.commands.demo import print_citizens
from spsr.language import decimal, number, ptr, tell, tr

#: The bar's width in English; another language gives up as many marks as its words are longer,
#: so that the line is as wide in every language (and fits 80 columns where the English one does).
BAR_WIDTH = 30
PROGRESS = N_("seed [{bar}] {done}/{total} households, {rate}/s, eta {eta} s")


def progress_line(done: int, total: int, rate: float, eta: float) -> str:
    """One state of the bar, in the operator's language."""
    said = dict(done=number(done), total=number(total), rate=number(round(rate)), eta=number(round(eta)))
    template = tr(PROGRESS)
    longer = len(template.format(bar="", **said)) - len(PROGRESS.format(bar="", **said))
    width = max(BAR_WIDTH - longer, 10)
    filled = int(width * done / total) if total else width
    return template.format(bar="#" * filled + "." * (width - filled), **said)


class Progress:
    """A plain-text progress bar on stderr: redrawn in place on a terminal, a line every few
    seconds otherwise (CI logs)."""

    def __init__(self, stream: TextIO = sys.stderr, every: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < self.every and done < total:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate else 0.0
        line = progress_line(done, total, rate, eta)
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def table_words() -> dict[str, str]:
    """What a seeded table holds, as the summary counts it, in the operator's language."""
    # The word that goes with a count in "{count} {table}" (Uzbek, Karakalpak: singular after a number).
    return {
        "households": ptr("seeded table", "households"),
        "persons": ptr("seeded table", "persons"),
        "incomes": ptr("seeded table", "incomes"),
        "vehicles": ptr("seeded table", "vehicles"),
        "properties": ptr("seeded table", "properties"),
        "bank_balances": ptr("seeded table", "bank_balances"),
        "notebook_memberships": ptr("seeded table", "notebook_memberships"),
        "contacts": ptr("seeded table", "contacts"),
        "applications": ptr("seeded table", "applications"),
        "decisions": ptr("seeded table", "decisions"),
        "enrolments": ptr("seeded table", "enrolments"),
        "payroll_lines": ptr("seeded table", "payroll_lines"),
        "exchange_records": ptr("seeded table", "exchange_records"),
        "facts": ptr("seeded table", "facts"),
        "grievances": ptr("seeded table", "grievances"),
    }


def summary(report: SeedReport) -> str:
    """What a seed wrote, one line; in English word for word as before."""
    words = table_words()
    # Translators: one table's count in the seed's summary; {table} is a "seeded table" word.
    rows = ", ".join(tell("{count} {table}", count=number(n), table=words.get(t, t)) for t, n in report.rows.items())
    return tell("seeded {households} households in {seconds} s ({rate} households/s): {rows}",
                households=number(report.households), seconds=decimal(report.seconds),
                rate=number(round(report.per_second)), rows=rows)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("seed", help=tr("load the territory and a synthetic registry for demos"))
    parser.add_argument("--households", type=whole_number(0), default=2000, metavar=ptr("metavar", "HOUSEHOLDS"),
                        help=tr("households to add (default 2000)"))
    parser.add_argument("--seed", type=int, default=1140, metavar=ptr("metavar", "SEED"),
                        help=tr("random seed: the same seed gives the same data"))
    parser.add_argument("--if-empty", action="store_true", help=tr("do nothing when the registry holds households"))
    parser.add_argument("--chunk", type=whole_number(1), default=DEFAULT_CHUNK, metavar=ptr("metavar", "CHUNK"),
                        help=tr("households per transaction"))
    parser.add_argument("--lanes", type=whole_number(1, MAX_LANES), default=None, metavar=ptr("metavar", "LANES"),
                        help=tell("worker processes generating and loading at once on PostgreSQL, 1-{most} "
                                  "(default {lanes} for large seeds; the data depends on it, like on --seed)",
                                  most=number(MAX_LANES), lanes=number(LANES)))
    parser.add_argument("--quiet", action="store_true", help=tr("no progress bar"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    core = await build_core(Settings.from_env())
    try:
        if (args.lanes or 1) > 1 and core.engine.dialect.name != "postgresql":
            print(tr("spsr seed: --lanes needs PostgreSQL (SQLite has one writer: lanes would only wait for it)"),
                  file=sys.stderr)
            return 2
        progress = None if args.quiet or args.households < 5000 else Progress()
        report = await seed_registry(core, args.households, args.seed, if_empty=args.if_empty,
                                     chunk_size=args.chunk, on_progress=progress, lanes=args.lanes)
        if report.skipped:
            print(tr("the registry already holds households: nothing seeded (--if-empty)"))
        else:
            print(summary(report))
            print_citizens(await demo_citizens(core))
    finally:
        await core.engine.dispose()
    return 0
