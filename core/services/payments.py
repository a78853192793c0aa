"""Payment cycles: a month's payroll is frozen from the enrolments in one set-based statement,
and "when is my next payment?" is answered only from frozen payroll lines, never recomputed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, literal, select

from core.errors import Conflict, InvalidInput, NotFound
from core.payments import payment_window
from core.storage.schema import Enrolment, PaymentCycle, PayrollLine
from core.storage.uow import Actor, Core, UnitOfWork

PAYMENT_SERVICE_ERROR_CODES = (
    "payroll.already_open",
    "payroll.already_approved",
    "payroll.not_found",
    "payroll.month",
)


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
