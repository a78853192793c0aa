"""``spsr seed``: load the territory and a synthetic registry, then show citizens to try."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TextIO

from core.config import Settings
from core.seed.demo import demo_citizens
from core.seed.loader import DEFAULT_CHUNK, LANES, MAX_LANES, seed_registry
from spsr.arguments import whole_number
from spsr.bootstrap import build_core
from spsr.commands.demo import print_citizens
from spsr.language import number, ptr, tell, tr


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
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "." * (width - filled)
        line = f"seed [{bar}] {done:,}/{total:,} households, {rate:,.0f}/s, eta {eta:,.0f} s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


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
            print("spsr seed: --lanes needs PostgreSQL (SQLite has one writer: lanes would only wait for it)",
                  file=sys.stderr)
            return 2
        progress = None if args.quiet or args.households < 5000 else Progress()
        report = await seed_registry(core, args.households, args.seed, if_empty=args.if_empty,
                                     chunk_size=args.chunk, on_progress=progress, lanes=args.lanes)
        if report.skipped:
            print("the registry already holds households: nothing seeded (--if-empty)")
        else:
            print(f"seeded {report.households:,} households in {report.seconds:.1f} s "
                  f"({report.per_second:,.0f} households/s): "
                  + ", ".join(f"{n:,} {t}" for t, n in report.rows.items()))
            print_citizens(await demo_citizens(core))
    finally:
        await core.engine.dispose()
    return 0
