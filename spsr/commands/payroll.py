"""``spsr payroll open|approve|export|reconcile``: a month's payroll, maker-checker, bank files."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from pathlib import Path

from core.config import Settings
from core.errors import DomainError
from core.services import payments
from core.storage.uow import Actor
from spsr.bootstrap import build_core


def _default_user() -> str:
    return os.environ.get("USER") or getpass.getuser()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("payroll", help="open, approve, export and reconcile a month's payroll")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("open", "freeze the month's payroll from the enrolments"),
                       ("approve", "approve a frozen payroll (not by the person who opened it)"),
                       ("export", "write the approved payroll for the paying bank (CSV)"),
                       ("reconcile", "import the bank's results (CSV: line_id,status,amount,reason,bank_reference)")):
        p = actions.add_parser(name, help=text)
        if name != "reconcile":
            p.add_argument("--month", required=True, help="YYYY-MM")
        if name in ("export", "reconcile"):
            p.add_argument("file", type=Path)
        if name == "open":
            p.add_argument("--regenerate", action="store_true", help="replace the lines (before approval only)")
        p.add_argument("--by", default=_default_user(), help="who acts (default: $USER)")
        p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    actor = Actor("staff", args.by, "cli")

    async def go() -> int:
        core = await build_core(Settings.from_env())
        try:
            if args.action == "reconcile":
                with args.file.open("r", encoding="utf-8", newline="") as bank_file:
                    result = await payments.reconcile_payroll(core, payments.iter_results(bank_file), actor)
                print(f"paid {result.paid}, failed {result.failed}, unchanged {result.unchanged}, "
                      f"rejected {result.refused}, notices {result.notices}")
                for index, code, params in result.rejected:
                    print(json.dumps({"line": index + 2, "code": code, "params": params}), file=sys.stderr)
                if result.refused > len(result.rejected):
                    print(f"… and {result.refused - len(result.rejected)} more refused lines", file=sys.stderr)
                return 1 if result.refused else 0
            month = payments.parse_month(args.month)
            if args.action == "open":
                view = await payments.open_payroll(core, month, actor, regenerate=args.regenerate)
            elif args.action == "approve":
                view = await payments.approve_payroll(core, month, actor)
            else:
                with args.file.open("w", encoding="utf-8", newline="") as out:
                    count = await payments.export_payroll(core, month, out, actor)
                print(f"{count} lines written to {args.file}")
                return 0
            print(f"payroll {view.month:%Y-%m}: {view.state}, {view.line_count} lines, {view.total_amount} so'm, "
                  f"window {view.window_start}..{view.window_end}, opened by {view.opened_by}"
                  + (f", approved by {view.approved_by}" if view.approved_by else ""))
            return 0
        except DomainError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 2
        finally:
            await core.engine.dispose()

    return asyncio.run(go())
