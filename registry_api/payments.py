"""Payment cycles, their frozen payroll lines, and a family's payment history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.errors import NotFound
from core.services.payments import household_lines, month_lines, parse_month
from core.storage.schema import Household, PaymentCycle, PayrollLine
from registry_api.http import Call, Op, Param, Result, decode_cursor, page
from registry_api.registry import HOUSEHOLD_PARAM, household_id_of
from registry_api.schema import DATE, MONEY, MONTH, NULLABLE_STR, component, obj, page_of

CYCLE = component("PaymentCycle", obj({
    "month": MONTH, "state": {"type": "string"}, "window_start": DATE, "window_end": DATE,
    "line_count": {"type": "integer"}, "total_amount": MONEY, "opened_by": {"type": "string"},
    "approved_by": NULLABLE_STR}, ("month", "state", "line_count", "total_amount")))
component("PayrollLine", obj({
    "id": {"type": "integer"}, "month": MONTH, "household_id": {"type": "integer"},
    "programme": {"type": "string"}, "amount": MONEY, "window_start": DATE, "window_end": DATE,
    "status": {"type": "string"}, "failure_reason": NULLABLE_STR}, ("id", "month", "amount", "status")))
MONTH_PARAM = Param("month", {"type": "string", "maxLength": 10}, True, "YYYY-MM")


def _cycle(c: PaymentCycle) -> dict[str, Any]:
    return {"month": c.month.isoformat()[:7], "state": c.state, "window_start": c.window_start.isoformat(),
            "window_end": c.window_end.isoformat(), "line_count": c.line_count, "total_amount": c.total_amount,
            "opened_by": c.opened_by, "approved_by": c.approved_by}


def _line(line: PayrollLine) -> dict[str, Any]:
    return {"id": line.id, "month": line.cycle_month.isoformat()[:7], "household_id": line.household_id,
            "programme": line.programme, "amount": line.amount, "window_start": line.window_start.isoformat(),
            "window_end": line.window_end.isoformat(), "status": line.status,
            "failure_reason": line.failure_reason}


async def list_cycles(call: Call) -> Result:
    """Payment cycles, newest month first."""
    before = decode_cursor(call.query["cursor"], str)
    uow = call.uow
    stmt = select(PaymentCycle)
    if before is not None:
        stmt = stmt.where(PaymentCycle.month < parse_month(before))
    rows = list((await uow.session.scalars(
        stmt.order_by(PaymentCycle.month.desc()).limit(call.query["limit"] + 1))).all())
    return page(call, rows, lambda c: c.month.isoformat()[:7], _cycle)


async def get_cycle(call: Call) -> Result:
    month = parse_month(call.path("month"))
    uow = call.uow
    c = await uow.session.get(PaymentCycle, month)
    if c is None:
        raise NotFound("payroll.not_found", month=month.isoformat())
    return Result(_cycle(c))


async def list_payroll_lines(call: Call) -> Result:
    """The frozen payroll lines of one month."""
    month = parse_month(call.path("month"))
    after = decode_cursor(call.query["cursor"])
    uow = call.uow
    if await uow.session.get(PaymentCycle, month) is None:
        raise NotFound("payroll.not_found", month=month.isoformat())
    stmt = select(PayrollLine).where(await month_lines(uow.session, month))  # a range of ids
    if after is not None:
        stmt = stmt.where(PayrollLine.id > after)
    rows = list((await uow.session.scalars(stmt.order_by(PayrollLine.id).limit(call.query["limit"] + 1))).all())
    return page(call, rows, lambda r: r.id, _line)


async def household_payments(call: Call) -> Result:
    """A family's payment history from frozen payrolls, newest first."""
    hid = household_id_of(call)
    before = decode_cursor(call.query["cursor"])
    uow = call.uow
    if await uow.session.get(Household, hid) is None:
        raise NotFound("household.not_found", household_id=hid)
    stmt = select(PayrollLine).where(await household_lines(uow.session, hid))
    if before is not None:
        stmt = stmt.where(PayrollLine.id < before)
    rows = list((await uow.session.scalars(
        stmt.order_by(PayrollLine.id.desc()).limit(call.query["limit"] + 1))).all())
    return page(call, rows, lambda r: r.id, _line)


OPS = (
    Op("GET", "/payment-cycles", list_cycles, "payments.read", "List payment cycles", "payments",
       page_of("PaymentCycle"), paginated=True),
    Op("GET", "/payment-cycles/{month}", get_cycle, "payments.read", "Read a payment cycle", "payments", CYCLE,
       path_params=(MONTH_PARAM,)),
    Op("GET", "/payment-cycles/{month}/lines", list_payroll_lines, "payments.read", "A cycle's payroll lines",
       "payments", page_of("PayrollLine"), path_params=(MONTH_PARAM,), paginated=True),
    Op("GET", "/households/{household_id}/payments", household_payments, "payments.read",
       "A family's payment history", "payments", page_of("PayrollLine"), path_params=(HOUSEHOLD_PARAM,),
       paginated=True),
)
