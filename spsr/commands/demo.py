"""``spsr demo``: citizens to try the channels with, read from the registry."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

from core.config import Settings
from core.seed.demo import DemoCitizen, demo_citizens
from spsr.bootstrap import build_core
from spsr.language import number, ptr, tell, tr


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help=tr("list demo citizens (one per language and situation)"))
    parser.add_argument("--json", action="store_true", help=tr("print a JSON array"))
    parser.set_defaults(func=run)


def situations() -> dict[str, str]:
    """Each situation's name in the operator's language (in English, its code, as the JSON has it)."""
    return {
        "enrolled": ptr("demo situation", "enrolled"),
        "rejected": ptr("demo situation", "rejected"),
        "waiting": ptr("demo situation", "waiting"),
        "grievance": ptr("demo situation", "grievance"),
        "can_apply": ptr("demo situation", "can_apply"),
    }


def described(citizen: DemoCitizen) -> str:
    """The citizen's situation in a sentence in the operator's language (the JSON's ``details`` in English)."""
    said = citizen.said
    return tell(said.msgid, **{k: number(v) if isinstance(v, int) else v for k, v in said.params.items()})


def print_citizens(citizens: Sequence[DemoCitizen]) -> None:
    if not citizens:
        print(tr("no demo citizens: run `spsr seed` first"))
        return
    print(tr("Citizens to try (SPSR_TODAY pins the date they are described on):"))
    names = situations()
    width = max(map(len, names.values()))  # 9 in English, as before
    for c in citizens:
        print(f"  [{c.language}] {names.get(c.situation, c.situation):<{width}} {c.name}")
        print("      " + tell("PINFL {pinfl}  phone {phone}  household {household}",
                              pinfl=c.pinfl, phone=c.phone, household=c.household_id))
        print(f"      {described(c)}")


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
