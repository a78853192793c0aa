"""Payment cycles: a month's payroll is frozen from the enrolments in one set-based statement,
and "when is my next payment?" is answered only from frozen payroll lines, never recomputed.

Amounts: each line carries the enrolment's decided amount. That amount was computed by the pure
``amounts`` rules from the rate tables in force on the decision date (the rates "in force" for the
period the family was enrolled for); freezing copies it in one statement, so the payroll equals
what the family was told. A new rate row during a running enrolment is *not* applied by the
freeze (see the report: re-rating at indexation is a separate, not yet written, pass).

Lifecycle: ``frozen`` (opened; may be regenerated) → ``approved`` (by someone other than the
opener: maker-checker) → export to the bank (lines ``scheduled → sent``) → ``reconcile`` with
the bank's results (lines ``paid | failed``; the cycle is ``reconciled`` when no line is left
``sent``). Families are told of each result through the outbox.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from sqlalchemy import bindparam, delete, func, insert, literal, select, update

from core.errors import Conflict, InvalidInput, NotFound
from core.payments import payment_window
from core.services.assessment import insert_notices, notice_routes, notice_row
from core.storage.schema import Enrolment, PaymentCycle, PayrollLine, Person
from core.storage.uow import Actor, Core, UnitOfWork

PAYMENT_SERVICE_ERROR_CODES = (
    "payroll.already_open",
    "payroll.already_approved",
    "payroll.not_found",
    "payroll.month",
    "payroll.same_person",
    "payroll.not_approved",
    "payroll.unknown_line",
    "payroll.amount_mismatch",
    "payroll.bad_result",
    "payroll.failure_reason_required",
    "payroll.line_not_sent",
    "payroll.duplicate_line",
    "payroll.malformed_line",
)
EXPORT_COLUMNS = ("line_id", "pinfl", "account", "amount", "window_start", "window_end")
RESULT_COLUMNS = ("line_id", "status", "amount", "reason", "bank_reference")


@dataclass(frozen=True)
class CycleView:
    month: dt.date
    state: str
    window_start: dt.date
    window_end: dt.date
    line_count: int
    total_amount: int
    opened_by: str
    approved_by: str | None


@dataclass(frozen=True)
class PaymentView:
    """One frozen payroll line as the family sees it."""

    month: dt.date
    programme: str
    amount: int
    window_start: dt.date
    window_end: dt.date
    status: str
    failure_reason: str | None


def _cycle_view(c: PaymentCycle) -> CycleView:
    return CycleView(c.month, c.state, c.window_start, c.window_end, c.line_count, c.total_amount,
                     c.opened_by, c.approved_by)


def parse_month(text: str) -> dt.date:
    """``2026-12`` → 1 December 2026."""
    try:
        year, month = text.strip().split("-")[:2]
        return dt.date(int(year), int(month), 1)
    except (ValueError, TypeError):
        raise InvalidInput("payroll.month", month=text) from None


async def open_payroll(core: Core, month: dt.date, actor: Actor, *, regenerate: bool = False) -> CycleView:
    """Freeze the month's payroll from the enrolments in force, in one pass and one transaction.

    A payroll can be regenerated (its lines replaced) until it is approved, never after.
    """
    month = month.replace(day=1)
    window = payment_window(month, core.book)
    async with core.uow() as uow:
        s = uow.session
        cycle = await s.get(PaymentCycle, month, with_for_update=True)
        if cycle is not None:
            if cycle.state != "frozen":
                raise Conflict("payroll.already_approved", month=month.isoformat())
            if not regenerate:
                raise Conflict("payroll.already_open", month=month.isoformat())
            await s.execute(delete(PayrollLine).where(PayrollLine.cycle_month == month))
        else:
            cycle = PaymentCycle(month=month, state="frozen", window_start=window.first_day,
                                 window_end=window.last_day, opened_by=actor.id, opened_at=uow.now())
            s.add(cycle)
            await s.flush()
        now = uow.now()
        source = select(
            literal(month).label("cycle_month"),
            Enrolment.household_id,
            Enrolment.id,
            Enrolment.programme,
            Enrolment.amount,
            literal(window.first_day).label("window_start"),
            literal(window.last_day).label("window_end"),
            literal("scheduled").label("status"),
            literal(now).label("updated_at"),
        ).where(Enrolment.state == "active", Enrolment.first_month <= month, Enrolment.last_month >= month)
        await s.execute(
            insert(PayrollLine).from_select(
                ["cycle_month", "household_id", "enrolment_id", "programme", "amount", "window_start",
                 "window_end", "status", "updated_at"],
                source,
            )
        )
        count, total = (await s.execute(
            select(func.count(), func.coalesce(func.sum(PayrollLine.amount), 0))
            .where(PayrollLine.cycle_month == month)
        )).one()
        cycle.line_count, cycle.total_amount = int(count), int(total)
        cycle.opened_by, cycle.opened_at = actor.id, now
        uow.audit(actor, "payroll.regenerated" if regenerate else "payroll.opened", "payroll",
                  month.isoformat(), lines=cycle.line_count, total=cycle.total_amount)
        view = _cycle_view(cycle)
        await uow.commit()
    return view


async def cycle(uow: UnitOfWork, month: dt.date) -> CycleView:
    c = await uow.session.get(PaymentCycle, month.replace(day=1))
    if c is None:
        raise NotFound("payroll.not_found", month=month.isoformat())
    return _cycle_view(c)


async def next_payment(uow: UnitOfWork, household_id: int) -> PaymentView | None:
    """The family's payment for this month or the next frozen one; else its latest one.

    Only frozen payrolls are read: a payment the registry has not frozen is not promised.
    """
    this_month = uow.today().replace(day=1)
    base = select(PayrollLine).where(PayrollLine.household_id == household_id)
    line = await uow.session.scalar(
        base.where(PayrollLine.cycle_month >= this_month).order_by(PayrollLine.cycle_month).limit(1))
    if line is None:
        line = await uow.session.scalar(base.order_by(PayrollLine.cycle_month.desc()).limit(1))
    return None if line is None else _payment_view(line)


async def payment_history(uow: UnitOfWork, household_id: int, limit: int = 24) -> list[PaymentView]:
    lines = (await uow.session.scalars(
        select(PayrollLine).where(PayrollLine.household_id == household_id)
        .order_by(PayrollLine.cycle_month.desc()).limit(limit)
    )).all()
    return [_payment_view(line) for line in lines]


def _payment_view(line: PayrollLine) -> PaymentView:
    return PaymentView(line.cycle_month, line.programme, line.amount, line.window_start, line.window_end,
                       line.status, line.failure_reason)


async def approve_payroll(core: Core, month: dt.date, actor: Actor) -> CycleView:
    """The checker approves a frozen payroll; the person who opened it may not (maker-checker)."""
    month = month.replace(day=1)
    async with core.uow() as uow:
        c = await uow.session.get(PaymentCycle, month, with_for_update=True)
        if c is None:
            raise NotFound("payroll.not_found", month=month.isoformat())
        if c.state != "frozen":
            raise Conflict("payroll.already_approved", month=month.isoformat(), by=c.approved_by)
        if c.opened_by == actor.id:
            raise Conflict("payroll.same_person", month=month.isoformat(), opened_by=c.opened_by)
        c.state, c.approved_by, c.approved_at = "approved", actor.id, uow.now()
        uow.audit(actor, "payroll.approved", "payroll", month.isoformat(), lines=c.line_count,
                  total=c.total_amount, opened_by=c.opened_by)
        view = _cycle_view(c)
        await uow.commit()
    return view


def account_placeholder(household_id: int) -> str:
    """The registry holds no card numbers yet: the bank matches on the head's PINFL and this id."""
    return f"SOCIAL-{household_id:010d}"


async def export_payroll(core: Core, month: dt.date, out: TextIO, actor: Actor) -> int:
    """Write an approved payroll for the paying bank (CSV, streamed) and mark its lines sent."""
    month = month.replace(day=1)
    async with core.uow() as uow:
        c = await uow.session.get(PaymentCycle, month, with_for_update=True)
        if c is None:
            raise NotFound("payroll.not_found", month=month.isoformat())
        if c.state == "frozen":
            raise Conflict("payroll.not_approved", month=month.isoformat())
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        count = 0
        rows = await uow.session.stream(
            select(PayrollLine.id, Person.pinfl, PayrollLine.household_id, PayrollLine.amount,
                   PayrollLine.window_start, PayrollLine.window_end)
            .outerjoin(Person, (Person.household_id == PayrollLine.household_id) & (Person.relation == "head"))
            .where(PayrollLine.cycle_month == month, PayrollLine.status.in_(("scheduled", "sent")))
            .order_by(PayrollLine.id).execution_options(yield_per=5000))
        async for line_id, pinfl, hid, amount, start, end in rows:
            writer.writerow((line_id, pinfl or "", account_placeholder(hid), amount, start.isoformat(),
                             end.isoformat()))
            count += 1
        await uow.session.execute(update(PayrollLine).where(
            PayrollLine.cycle_month == month, PayrollLine.status == "scheduled").values(
            status="sent", updated_at=uow.now()))
        uow.audit(actor, "payroll.exported", "payroll", month.isoformat(), lines=count)
        await uow.commit()
    return count


@dataclass
class ReconcileResult:
    paid: int = 0
    failed: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    notices: int = 0


def read_results(text: str) -> list[dict[str, str] | None]:
    """The bank's result file (CSV with :data:`RESULT_COLUMNS`); ``None`` for a line that cannot be read."""
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        return []
    names = [h.strip() for h in header]
    out: list[dict[str, str] | None] = []
    for row in reader:
        out.append(dict(zip(names, row, strict=True)) if len(row) == len(names) else None)
    return out


async def reconcile_payroll(core: Core, results: Sequence[Mapping[str, Any] | None], actor: Actor) -> ReconcileResult:
    """Import the bank's results: each line paid or failed (with the bank's reason).

    A line the registry did not send, an amount that differs, an unknown status: refused with a
    code and counted; the good lines are applied together; a repeated file changes nothing.
    """
    outcome = ReconcileResult()
    parsed: list[tuple[int, int, str, int, str | None, str | None]] = []
    seen: set[int] = set()
    for index, row in enumerate(results):
        if row is None:
            outcome.rejected.append((index, "payroll.malformed_line", {}))
            continue
        try:
            line_id, amount = int(str(row.get("line_id", "")).strip()), int(str(row.get("amount", "")).strip())
        except ValueError:
            outcome.rejected.append((index, "payroll.malformed_line", {}))
            continue
        status = str(row.get("status", "")).strip().lower()
        reason = (str(row.get("reason") or "").strip() or None)
        reference = (str(row.get("bank_reference") or "").strip() or None)
        if status not in ("paid", "failed"):
            outcome.rejected.append((index, "payroll.bad_result", {"status": status[:20]}))
        elif status == "failed" and not reason:
            outcome.rejected.append((index, "payroll.failure_reason_required", {"line_id": line_id}))
        elif line_id in seen:
            outcome.rejected.append((index, "payroll.duplicate_line", {"line_id": line_id}))
        else:
            seen.add(line_id)
            parsed.append((index, line_id, status, amount, reason[:40] if reason else None,
                           reference[:40] if reference else None))
    async with core.uow() as uow:
        s = uow.session
        lines: dict[int, tuple[dt.date, int, int, str, str | None]] = {}
        ids = [p[1] for p in parsed]
        for i in range(0, len(ids), 900):
            for lid, month, hid, amount, status, reason in await s.execute(
                    select(PayrollLine.id, PayrollLine.cycle_month, PayrollLine.household_id, PayrollLine.amount,
                           PayrollLine.status, PayrollLine.failure_reason)
                    .where(PayrollLine.id.in_(ids[i:i + 900]))):
                lines[lid] = (month, hid, amount, status, reason)
        updates: list[dict[str, Any]] = []
        for index, line_id, status, amount, reason, reference in parsed:
            line = lines.get(line_id)
            if line is None:
                outcome.rejected.append((index, "payroll.unknown_line", {"line_id": line_id}))
            elif line[2] != amount:
                outcome.rejected.append((index, "payroll.amount_mismatch",
                                         {"line_id": line_id, "amount": amount, "expected": line[2]}))
            elif line[3] == status and (status == "paid" or line[4] == reason):
                outcome.unchanged += 1
            elif line[3] != "sent":
                outcome.rejected.append((index, "payroll.line_not_sent", {"line_id": line_id, "status": line[3]}))
            else:
                updates.append({"lid": line_id, "st": status, "why": reason if status == "failed" else None,
                                "ref": reference, "hid": line[1], "month": line[0], "amount": amount})
        outcome.rejected.sort(key=lambda r: r[0])
        now = uow.now()
        if updates:
            t = PayrollLine.__table__
            await s.execute(update(t).where(t.c.id == bindparam("lid")).values(
                status=bindparam("st"), failure_reason=bindparam("why"), bank_reference=bindparam("ref"),
                updated_at=now), [{k: u[k] for k in ("lid", "st", "why", "ref")} for u in updates])
            routes = {}
            households = sorted({u["hid"] for u in updates})
            for i in range(0, len(households), 900):
                routes.update(await notice_routes(uow, households[i:i + 900]))
            notices = []
            for u in updates:
                route = routes.get(u["hid"])
                if route is not None:
                    template = f"payment.{u['st']}"
                    notices.append(notice_row(now, u["hid"], route, template, {
                        "month": u["month"].isoformat(), "amount": u["amount"], "reason": u["why"]},
                        f"{template}:{u['lid']}"))
            outcome.notices = await insert_notices(uow, notices)
            outcome.paid = sum(1 for u in updates if u["st"] == "paid")
            outcome.failed = len(updates) - outcome.paid
            for month in sorted({u["month"] for u in updates}):
                left = await s.scalar(select(func.count()).select_from(PayrollLine).where(
                    PayrollLine.cycle_month == month, PayrollLine.status.in_(("scheduled", "sent"))))
                if not left:
                    await s.execute(update(PaymentCycle).where(PaymentCycle.month == month).values(state="reconciled"))
        uow.audit(actor, "payroll.reconciled", "payroll", "bank", paid=outcome.paid, failed=outcome.failed,
                  unchanged=outcome.unchanged, rejected=len(outcome.rejected))
        await uow.commit()
    return outcome
