"""``spsr demo``: citizens to try the channels with, read from the registry."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

from core.config import Settings
from core.seed.demo import DemoCitizen, demo_citizens
from spsr.bootstrap import build_core
from spsr.language import tr


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help=tr("list demo citizens (one per language and situation)"))
    parser.add_argument("--json", action="store_true", help=tr("print a JSON array"))
    parser.set_defaults(func=run)


def print_citizens(citizens: Sequence[DemoCitizen]) -> None:
    if not citizens:
        print("no demo citizens: run `spsr seed` first")
        return
    print("Citizens to try (SPSR_TODAY pins the date they are described on):")
    for c in citizens:
        print(f"  [{c.language}] {c.situation:<9} {c.name}")
        print(f"      PINFL {c.pinfl}  phone {c.phone}  household {c.household_id}")
        print(f"      {c.details}")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    core = await build_core(Settings.from_env())
    try:
        citizens = await demo_citizens(core)
    finally:
        await core.engine.dispose()
    if args.json:
        print(json.dumps([c.to_dict() for c in citizens], ensure_ascii=False, indent=2))
    else:
        print_citizens(citizens)
    return 0
