"""``spsr payroll open|approve|export|reconcile``: a month's payroll, maker-checker, bank files."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from core.config import Settings
from core.errors import DomainError
from core.services import payments
from core.storage.uow import Actor
from spsr.bootstrap import build_core
from spsr.files import binary_input, output_file


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
        if name == "export":
            p.add_argument("file", type=Path, help="the CSV to write; it holds personal data, so a new file is made "
                                                   "readable by you alone (0600); an existing one keeps its "
                                                   "permissions; a symbolic link is written through")
        elif name == "reconcile":
            p.add_argument("file", type=Path, help="the bank's result file (CSV)")
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
                with binary_input(args.file) as bank_file:
                    result = await payments.reconcile_payroll(core, payments.iter_results(bank_file), actor)
                print(f"paid {result.paid}, failed {result.failed}, unchanged {result.unchanged}, "
                      f"rejected {result.refused}, notices {result.notices}")
                for index, code, params in result.rejected:
                    print(f"line {index + 2}: {describe(code, params)} ({code})", file=sys.stderr)
                if result.refused > len(result.rejected):
                    print(f"… and {result.refused - len(result.rejected)} more refused lines", file=sys.stderr)
                return 1 if result.refused else 0
            month = payments.parse_month(args.month)
            if args.action == "open":
                view = await payments.open_payroll(core, month, actor, regenerate=args.regenerate)
            elif args.action == "approve":
                view = await payments.approve_payroll(core, month, actor)
            else:
                with output_file(args.file) as out:  # a refused export leaves an existing file as it was
                    count = await payments.export_payroll(core, month, out, actor)
                print(f"{count} lines written to {args.file}")
                return 0
            print(f"payroll {view.month:%Y-%m}: {view.state}, {view.line_count} lines, {view.total_amount} so'm, "
                  f"window {view.window_start}..{view.window_end}, opened by {view.opened_by}"
                  + (f", approved by {view.approved_by}" if view.approved_by else ""))
            return 0
        except DomainError as exc:
            print(f"spsr payroll: refused: {describe(exc.code, exc.params)} ({exc.code})", file=sys.stderr)
            return 2
        finally:
            await core.engine.dispose()

    return asyncio.run(go())


# What each refusal means, for the person at the command line; the code follows in brackets for
# scripts. Every code of core.services.payments has a sentence here (a test checks).
MESSAGES: dict[str, str] = {
    "payroll.month": "{month!r} is not a month: write it as YYYY-MM, for example 2026-12",
    "payroll.actor_required": "--by is empty (or holds only spaces and invisible characters): name who acts, "
                              "so that whoever approves a payroll can be told apart from whoever opened it",
    "payroll.actor_too_long": "--by is longer than {limit} characters; give a shorter name",
    "payroll.already_open": "the payroll of {month} is already open; to replace its lines before it is "
                            "approved, add --regenerate",
    "payroll.nothing_to_regenerate": "the payroll of {month} was never opened, so there is nothing to "
                                     "regenerate; open it without --regenerate",
    "payroll.busy": "another command is writing to the registry and did not finish within {seconds} seconds; "
                    "nothing was changed: try again when it has finished",
    "payroll.already_approved": "the payroll of {month} was already approved (by {by}); it can no longer be "
                                "opened, regenerated or approved",
    "payroll.not_found": "there is no payroll for {month}; open it first with 'spsr payroll open --month {month}'",
    "payroll.same_person": "{opened_by} opened the payroll of {month}, so someone else must approve it "
                           "(maker-checker)",
    "payroll.not_approved": "the payroll of {month} has not been approved; someone other than the person who "
                            "opened it must run 'spsr payroll approve --month {month}' first",
    "payroll.lines_in_payment": "the payroll of {month} cannot be regenerated: {lines} of its lines were "
                                "already sent to the bank, paid or failed, and replacing them could pay "
                                "families twice",
    "payroll.too_early": "the payroll of {month} can be opened from {opens} on: families are still being "
                         "enrolled for it, and a payroll frozen now would leave them out",
    "payroll.stale": "the payroll of {month} was frozen before some families were enrolled for it ({missing} "
                     "without a line); regenerate it ('spsr payroll open --month {month} --regenerate') so that "
                     "they are paid, then approve it",
    "payroll.empty": "no enrolment is paid in {month}, so there is no payroll to open for it",
    "payroll.no_window": "{month} is before the first payment window the rate book holds ({first}); no "
                         "payroll can be opened for it",
    "payroll.already_reconciled": "the payroll of {month} is already reconciled: every line is paid or failed, "
                                  "so there is nothing to send to the bank",
    "payroll.bad_header": "the first line of the bank file must be the header "
                          "line_id,status,amount,reason,bank_reference (any order, other columns allowed); "
                          "{problem} (it reads {found!r}); nothing was reconciled",
    "payroll.not_utf8": "line {line} of the bank file is not UTF-8 text (save the file as UTF-8); nothing "
                        "was reconciled",
    "payroll.no_lines": "the bank file has no result lines (it is empty or holds only the header); nothing "
                        "was reconciled",
    "payroll.unknown_line": "line_id {line_id} is not a line of any payroll",
    "payroll.amount_mismatch": "line_id {line_id}: the bank says {amount} so'm, the payroll line is for "
                               "{expected} so'm",
    "payroll.bad_result": "line_id {line_id}: status {status!r} is neither 'paid' nor 'failed'",
    "payroll.failure_reason_required": "line_id {line_id} failed, but the reason column does not say why",
    "payroll.line_not_sent": "line_id {line_id} was never sent to the bank (it is {status})",
    "payroll.line_reconciled": "line_id {line_id} was already reconciled as {status} on {on}; a different "
                               "result (status, reason or bank_reference) is refused",
    "payroll.duplicate_line": "line_id {line_id} was already given, with the same result, earlier in the "
                              "file; this copy is ignored",
    "payroll.conflicting_lines": "line_id {line_id} is in the file more than once with different results "
                                 "(status, amount, reason or bank_reference); "
                                 "none of them was applied (ask the bank which one is right)",
    "payroll.malformed_line": "{problem}",
}
MALFORMED: dict[str, str] = {
    "not_utf8": "the line is not UTF-8 text",
    "unreadable": "the line cannot be read as CSV",
    "blank": "the line is empty",
    "columns": "the line has {found} fields where the header has {expected}",
    "missing": "{field} is empty",
    "not_a_number": "{field} {value!r} is not a whole number",
    "out_of_range": "{field} {value!r} is out of range",
    "too_long": "{field} is {length} characters long; the registry keeps at most {limit}",
}


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def describe(code: str, params: dict[str, Any]) -> str:
    """A refusal in plain English, from its code and params."""
    shown = _Params(params)
    month = params.get("month")
    if isinstance(month, str) and len(month) == 10 and code != "payroll.month":  # that one quotes the input
        shown["month"] = month[:7]  # 2026-12-01 → 2026-12: a payroll is a month
    if code == "payroll.bad_header":
        said = []
        if params.get("missing"):
            said.append("it lacks " + ", ".join(params["missing"]))
        if params.get("repeated"):
            said.append("it repeats " + ", ".join(params["repeated"]))
        shown["problem"] = " and ".join(said) or "it cannot be read"
    elif code == "payroll.malformed_line":
        shown["problem"] = MALFORMED.get(str(params.get("problem")), "the line cannot be read").format_map(shown)
    template = MESSAGES.get(code)
    if template is None:
        return ", ".join(f"{k}={v!r}" for k, v in params.items()) or "refused"
    if code == "payroll.not_approved" and "line_id" in params:  # one line of a bank file
        template = "line_id {line_id}: " + template
    return template.format_map(shown)
