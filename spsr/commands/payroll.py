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
from core.i18n import N_
from core.services import payments
from core.storage.uow import Actor
from spsr.bootstrap import build_core
from spsr.files import binary_input, output_file
from spsr.language import ptr, tell, tr


def _default_user() -> str:
    return os.environ.get("USER") or getpass.getuser()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("payroll", help=tr("open, approve, export and reconcile a month's payroll"))
    actions = parser.add_subparsers(dest="action", metavar=ptr("metavar", "ACTION"), required=True)
    for name, text in (("open", N_("freeze the month's payroll from the enrolments")),
                       ("approve", N_("approve a frozen payroll (not by the person who opened it)")),
                       ("export", N_("write the approved payroll for the paying bank (CSV)")),
                       ("reconcile", N_("import the bank's results (CSV: line_id,status,amount,reason,"
                                        "bank_reference)"))):
        p = actions.add_parser(name, help=tr(text))
        if name != "reconcile":
            p.add_argument("--month", required=True, metavar=ptr("metavar", "MONTH"), help="YYYY-MM")
        if name == "export":
            p.add_argument("file", type=Path, metavar=ptr("metavar", "file"),
                           help=tr("the CSV to write; it holds personal data, so a new file is made readable by "
                                   "you alone (0600); an existing one keeps its permissions; a symbolic link is "
                                   "written through"))
        elif name == "reconcile":
            p.add_argument("file", type=Path, metavar=ptr("metavar", "file"), help=tr("the bank's result file (CSV)"))
        if name == "open":
            p.add_argument("--regenerate", action="store_true", help=tr("replace the lines (before approval only)"))
        p.add_argument("--by", default=_default_user(), metavar=ptr("metavar", "BY"),
                       help=tr("who acts (default: $USER)"))
        p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    actor = Actor("staff", args.by, "cli")

    async def go() -> int:
        core = await build_core(Settings.from_env())
        try:
            if args.action == "reconcile":
                with binary_input(args.file) as bank_file:
                    result = await payments.reconcile_payroll(core, payments.iter_results(bank_file), actor)
                print(tell("paid {paid}, failed {failed}, unchanged {unchanged}, rejected {rejected}, "
                           "notices {notices}", paid=result.paid, failed=result.failed,
                           unchanged=result.unchanged, rejected=result.refused, notices=result.notices))
                for index, code, params in result.rejected:
                    print(tell("line {line}: {reason} ({code})", line=index + 2, reason=describe(code, params),
                               code=code), file=sys.stderr)
                if result.refused > len(result.rejected):
                    print(tell("… and {count} more refused lines", count=result.refused - len(result.rejected)),
                          file=sys.stderr)
                return 1 if result.refused else 0
            month = payments.parse_month(args.month)
            if args.action == "open":
                view = await payments.open_payroll(core, month, actor, regenerate=args.regenerate)
            elif args.action == "approve":
                view = await payments.approve_payroll(core, month, actor)
            else:
                with output_file(args.file) as out:  # a refused export leaves an existing file as it was
                    count = await payments.export_payroll(core, month, out, actor)
                print(tell("{count} lines written to {file}", count=count, file=args.file))
                return 0
            print(summary(view))
            return 0
        except DomainError as exc:
            print(tell("spsr payroll: refused: {reason} ({code})", reason=describe(exc.code, exc.params),
                       code=exc.code), file=sys.stderr)
            return 2
        finally:
            await core.engine.dispose()

    return asyncio.run(go())


def summary(view: payments.CycleView) -> str:
    """One line on a payroll after open or approve."""
    said = dict(month=f"{view.month:%Y-%m}", state=_state(view.state), lines=view.line_count,
                total=view.total_amount, start=view.window_start, end=view.window_end, opened_by=view.opened_by)
    if view.approved_by:
        return tell("payroll {month}: {state}, {lines} lines, {total} so'm, window {start}..{end}, "
                    "opened by {opened_by}, approved by {approved_by}", approved_by=view.approved_by, **said)
    return tell("payroll {month}: {state}, {lines} lines, {total} so'm, window {start}..{end}, "
                "opened by {opened_by}", **said)


def _state(state: str) -> str:
    words = {"frozen": ptr("payroll state", "frozen"), "approved": ptr("payroll state", "approved"),
             "reconciled": ptr("payroll state", "reconciled")}
    return words.get(state, state)


# What each refusal means, for the person at the command line, in English and (through the catalogs)
# in their language; the code follows in brackets for scripts. Every code of core.services.payments
# has a sentence here (a test checks).
MESSAGES: dict[str, str] = {
    "payroll.month": N_("{month!r} is not a month: write it as YYYY-MM, for example 2026-12"),
    "payroll.actor_required": N_("--by is empty (or holds only spaces and invisible characters): name who acts, "
                              "so that whoever approves a payroll can be told apart from whoever opened it"),
    "payroll.actor_too_long": N_("--by is longer than {limit} characters; give a shorter name"),
    "payroll.already_open": N_("the payroll of {month} is already open; to replace its lines before it is "
                            "approved, add --regenerate"),
    "payroll.nothing_to_regenerate": N_("the payroll of {month} was never opened, so there is nothing to "
                                     "regenerate; open it without --regenerate"),
    "payroll.busy": N_("another command is writing to the registry and did not finish within {seconds} seconds; "
                    "nothing was changed: try again when it has finished"),
    "payroll.already_approved": N_("the payroll of {month} was already approved (by {by}); it can no longer be "
                                "opened, regenerated or approved"),
    "payroll.not_found": N_("there is no payroll for {month}; open it first with 'spsr payroll open --month {month}'"),
    "payroll.same_person": N_("{opened_by} opened the payroll of {month}, so someone else must approve it "
                           "(maker-checker)"),
    "payroll.not_approved": N_("the payroll of {month} has not been approved; someone other than the person who "
                            "opened it must run 'spsr payroll approve --month {month}' first"),
    "payroll.lines_in_payment": N_("the payroll of {month} cannot be regenerated: {lines} of its lines were "
                                "already sent to the bank, paid or failed, and replacing them could pay "
                                "families twice"),
    "payroll.too_early": N_("the payroll of {month} can be opened from {opens} on: families are still being "
                         "enrolled for it, and a payroll frozen now would leave them out"),
    "payroll.stale": N_("the payroll of {month} was frozen before some families were enrolled for it ({missing} "
                     "without a line); regenerate it ('spsr payroll open --month {month} --regenerate') so that "
                     "they are paid, then approve it"),
    "payroll.empty": N_("no enrolment is paid in {month}, so there is no payroll to open for it"),
    "payroll.no_window": N_("{month} is before the first payment window the rate book holds ({first}); no "
                         "payroll can be opened for it"),
    "payroll.already_reconciled": N_("the payroll of {month} is already reconciled: every line is paid or failed, "
                                  "so there is nothing to send to the bank"),
    "payroll.bad_header": N_("the first line of the bank file must be the header "
                          "line_id,status,amount,reason,bank_reference (any order, other columns allowed); "
                          "{problem} (it reads {found!r}); nothing was reconciled"),
    "payroll.not_utf8": N_("line {line} of the bank file is not UTF-8 text (save the file as UTF-8); nothing "
                        "was reconciled"),
    "payroll.no_lines": N_("the bank file has no result lines (it is empty or holds only the header); nothing "
                        "was reconciled"),
    "payroll.unknown_line": N_("line_id {line_id} is not a line of any payroll"),
    "payroll.amount_mismatch": N_("line_id {line_id}: the bank says {amount} so'm, the payroll line is for "
                               "{expected} so'm"),
    "payroll.bad_result": N_("line_id {line_id}: status {status!r} is neither 'paid' nor 'failed'"),
    "payroll.failure_reason_required": N_("line_id {line_id} failed, but the reason column does not say why"),
    "payroll.line_not_sent": N_("line_id {line_id} was never sent to the bank (it is {status})"),
    "payroll.line_reconciled": N_("line_id {line_id} was already reconciled as {status} on {on}; a different "
                               "result (status, reason or bank_reference) is refused"),
    "payroll.duplicate_line": N_("line_id {line_id} was already given, with the same result, earlier in the "
                              "file; this copy is ignored"),
    "payroll.conflicting_lines": N_("line_id {line_id} is in the file more than once with different results "
                                 "(status, amount, reason or bank_reference); "
                                 "none of them was applied (ask the bank which one is right)"),
    "payroll.malformed_line": "{problem}",  # a MALFORMED sentence
}
MALFORMED: dict[str, str] = {
    "not_utf8": N_("the line is not UTF-8 text"),
    "unreadable": N_("the line cannot be read as CSV"),
    "blank": N_("the line is empty"),
    "columns": N_("the line has {found} fields where the header has {expected}"),
    "missing": N_("{field} is empty"),
    "not_a_number": N_("{field} {value!r} is not a whole number"),
    "out_of_range": N_("{field} {value!r} is out of range"),
    "too_long": N_("{field} is {length} characters long; the registry keeps at most {limit}"),
}
UNREADABLE_LINE = N_("the line cannot be read")
# A bank file's line of a payroll nobody approved: the same refusal, said of that line.
LINE_NOT_APPROVED = N_("line_id {line_id}: the payroll of {month} has not been approved; someone other than the "
                       "person who opened it must run 'spsr payroll approve --month {month}' first")


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def describe(code: str, params: dict[str, Any]) -> str:
    """A refusal in the operator's language (English unless one is chosen), from its code and params."""
    shown = _Params(params)
    month = params.get("month")
    if isinstance(month, str) and len(month) == 10 and code != "payroll.month":  # that one quotes the input
        shown["month"] = month[:7]  # 2026-12-01 → 2026-12: a payroll is a month
    if code == "payroll.bad_header":
        shown["problem"] = _header_problem(params)
    elif code == "payroll.malformed_line":
        shown["problem"] = tr(MALFORMED.get(str(params.get("problem")), UNREADABLE_LINE)).format_map(shown)
    template = MESSAGES.get(code)
    if template is None:
        return ", ".join(f"{k}={v!r}" for k, v in params.items()) or tr("refused")
    if code == "payroll.not_approved" and "line_id" in params:  # one line of a bank file
        template = LINE_NOT_APPROVED
    return tr(template).format_map(shown)


def _header_problem(params: dict[str, Any]) -> str:
    missing, repeated = ", ".join(params.get("missing") or ()), ", ".join(params.get("repeated") or ())
    if missing and repeated:
        return tell("it lacks {missing} and it repeats {repeated}", missing=missing, repeated=repeated)
    if missing:
        return tell("it lacks {missing}", missing=missing)
    if repeated:
        return tell("it repeats {repeated}", repeated=repeated)
    return tr("it cannot be read")
