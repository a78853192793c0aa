"""Payment cycles: a month's payroll is frozen from the enrolments in one set-based statement,
and "when is my next payment?" is answered only from frozen payroll lines, never recomputed.

Amounts: an enrolment keeps what its amount is made of (programme, counted children, whether the
youngest is under 3, the category's share); freezing prices each line at the rate tables in
force in the payroll's month (``amounts.price``, rendered in SQL), so an indexation reaches every
running enrolment from the month it takes effect. Until then the line equals what the family
was told at the decision.

Line ids: a line's id is computed from its month and enrolment (``core.payments.line_id``), so a
month's lines are one range of the primary key: queries by month go through :func:`month_lines`.

Lifecycle: ``frozen`` (opened; may be regenerated) → ``approved`` (by someone other than the
opener: maker-checker) → export to the bank (lines ``scheduled → sent``) → ``reconcile`` with
the bank's results (lines ``paid | failed``; the cycle is ``reconciled`` when no line is left
``sent``). Families are told of each result through the outbox.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from core.amounts import MATERIAL_ASSISTANCE, AmountBasis, price
from core.applications import add_months
from core.clock import TASHKENT
from core.errors import Conflict, InvalidInput, NotFound
from core.payments import (
    FIRST_LINE_ID,
    STAFF_NAME_LIMIT,
    line_id,
    month_line_ids,
    payment_window,
    same_person,
    staff_name,
)
from core.rates import RateBook
from core.services.outbox import PRIORITY_NOTICE
from core.storage.assessment_sql import OUTBOX_INSERT, REACHABLE, Dialect, contact_join, route_columns
from core.storage.engine import SQLITE_BUSY_TIMEOUT_MS
from core.storage.results import rowcount
from core.storage.schema import Enrolment, Household, PaymentCycle, PayrollLine, Person
from core.storage.uow import Actor, Core, UnitOfWork

PAYMENT_SERVICE_ERROR_CODES = (
    "payroll.already_open",
    "payroll.busy",
    "payroll.nothing_to_regenerate",
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
    "payroll.line_reconciled",
    "payroll.duplicate_line",
    "payroll.malformed_line",
    "payroll.actor_required",
    "payroll.actor_too_long",
    "payroll.lines_in_payment",
    "payroll.empty",
    "payroll.no_window",
    "payroll.already_reconciled",
    "payroll.conflicting_lines",
    "payroll.bad_header",
    "payroll.not_utf8",
    "payroll.no_lines",
    "payroll.too_early",
    "payroll.stale",
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


# ASCII digits only: int() also reads "+5", " 1" and Arabic-Indic digits, none of which is a month.
_MONTH = re.compile(r"([0-9]{4})-([0-9]{1,2})")


def parse_month(text: str) -> dt.date:
    """``2026-12`` (or ``2026-1``; spaces around are dropped) → the first of that month; anything
    else (``2026-13``, ``2026-12-05``, ``2026-+5``) is refused, quoting what was given."""
    matched = _MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
    try:
        if matched is None:
            raise ValueError(text)
        return dt.date(int(matched[1]), int(matched[2]), 1)
    except ValueError:
        raise InvalidInput("payroll.month", month=text) from None


async def month_lines(session: AsyncSession, month: dt.date) -> sa.ColumnElement[bool]:
    """Where-clause of the payroll lines of ``month``, found by key: the month's range of ids
    (``core.payments.line_id``), an ordered range scan. Lines numbered by a sequence before
    migration 0006 are outside it; if the month has any (one probe of the partial index that
    holds only them), they are added."""
    first, last = month_line_ids(month)
    in_range = PayrollLine.id.between(first, last)
    numbered_before = sa.and_(_numbered_before_0006(), PayrollLine.cycle_month == month)
    if await session.scalar(select(literal(1)).where(numbered_before).limit(1)) is None:
        return in_range
    return sa.or_(in_range, numbered_before)


def _numbered_before_0006() -> sa.ColumnElement[bool]:
    # Inlined, not bound: only a literal bound lets PostgreSQL match a partial index's predicate.
    return PayrollLine.id < sa.bindparam("first_line_id", FIRST_LINE_ID, literal_execute=True)


async def household_lines(session: AsyncSession, household_id: int) -> sa.ColumnElement[bool]:
    """Where-clause of a family's payroll lines, found by key: for each of its enrolments, the
    ids its lines have in the months a payroll was opened (``core.payments.line_id``), a few
    dozen probes of the primary key. A line remembers its household, but an index on it cost
    the national payroll 40 % of its time; only lines numbered before migration 0006 are found
    through one (partial, holding only them)."""
    enrolments = (await session.execute(
        select(Enrolment.id, Enrolment.first_month, Enrolment.last_month)
        .where(Enrolment.household_id == household_id))).all()
    ids: list[int] = []
    if enrolments:
        months = (await session.scalars(select(PaymentCycle.month).where(
            PaymentCycle.month.between(min(e.first_month for e in enrolments),
                                       max(e.last_month for e in enrolments))))).all()
        ids = [line_id(m, e.id) for e in enrolments for m in months if e.first_month <= m <= e.last_month]
    mine = PayrollLine.household_id == household_id  # as before: the family the line was frozen for
    before = sa.and_(_numbered_before_0006(), mine)
    return sa.or_(sa.and_(PayrollLine.id.in_(ids), mine), before) if ids else before


async def first_open_month(session: AsyncSession, month: dt.date) -> dt.date:
    """``month``, or the first month after it whose payroll is not yet approved: a family enrolled
    from a month whose payroll was approved before it would never be paid for that month."""
    approved = set((await session.scalars(select(PaymentCycle.month).where(
        PaymentCycle.month >= month, PaymentCycle.state != "frozen"))).all())
    while month in approved:
        month = add_months(month, 1)
    return month


def line_id_sql(month: dt.date, enrolment_id: sa.ColumnExpressionArgument[int]) -> sa.ColumnElement[int]:
    """:func:`core.payments.line_id` in SQL, for the enrolment id in ``enrolment_id`` (a column)."""
    first, _ = month_line_ids(month)
    return literal(first - 1, sa.BigInteger) + enrolment_id


def household_line_exists(household_id: Any, month: dt.date, *criteria: Any) -> sa.ColumnElement[bool]:
    """EXISTS a payroll line of the family in ``household_id`` (a correlated column) in ``month``."""
    by_key = sa.exists().where(Enrolment.household_id == household_id,
                               PayrollLine.id == line_id_sql(month, Enrolment.id),
                               PayrollLine.household_id == household_id, *criteria)
    before = sa.exists().where(_numbered_before_0006(), PayrollLine.household_id == household_id,
                               PayrollLine.cycle_month == month, *criteria)
    return sa.or_(by_key, before)


def _priced(month: dt.date, book: RateBook) -> Any:
    """Each enrolment's amount at the rates in force in ``month`` (``amounts.price`` in SQL), so an
    indexation reaches every running enrolment; an enrolment without its basis keeps its amount."""
    cb = book.child_benefit.in_force(month)
    ma = book.material_assistance.in_force(month)
    children = (sa.case((Enrolment.infant.is_(True), cb.first_under_3), else_=cb.first_3_to_18)
                + sa.case((Enrolment.children >= 2, cb.second), else_=0)
                + sa.case((Enrolment.children > 2, (Enrolment.children - 2) * cb.third_and_further), else_=0))
    full = sa.case((Enrolment.programme == MATERIAL_ASSISTANCE, ma), else_=children)
    return sa.case((Enrolment.share_percent.is_(None), Enrolment.amount),
                   else_=full * Enrolment.share_percent // 100).label("amount")


def _acting(actor: Actor) -> Actor:
    """The actor under the name recorded (:func:`core.payments.staff_name`); an empty name is
    refused, since maker-checker cannot tell two people apart without names."""
    name = staff_name(actor.id)
    if not name:
        raise InvalidInput("payroll.actor_required")
    if len(name) > STAFF_NAME_LIMIT:
        raise InvalidInput("payroll.actor_too_long", limit=STAFF_NAME_LIMIT)
    return dataclasses.replace(actor, id=name)


@contextlib.asynccontextmanager
async def _writing(core: Core) -> AsyncIterator[UnitOfWork]:
    """The unit of work of a use case that changes payrolls: one at a time, as if run one after the
    other. PostgreSQL: each locks the payment cycle rows it works on (``FOR UPDATE``) before it
    judges anything. SQLite: each takes the write lock at its start (``BEGIN IMMEDIATE``), waiting
    for another writer as long as the busy timeout allows; a transaction that only read first would
    fail at its first write once another had committed ("database is locked", which no timeout
    waits out). A writer still busy when the timeout runs out is a refusal, not a traceback."""
    try:
        async with core.uow(write=True) as uow:
            yield uow
    except OperationalError as exc:
        if "database is locked" not in str(exc.orig):
            raise
        raise Conflict("payroll.busy", seconds=SQLITE_BUSY_TIMEOUT_MS // 1000) from None


async def open_payroll(core: Core, month: dt.date, actor: Actor, *, regenerate: bool = False) -> CycleView:
    """Freeze the month's payroll from the enrolments in force, in one pass and one transaction.

    A payroll can be regenerated (its lines replaced) until it is approved, never after. A month
    in which no enrolment is paid has no payroll: it is refused, not frozen empty. Nor is a month
    after the next: every assessment and every month's decisions enrol families from the next
    month, so a payroll frozen further ahead would leave out everyone enrolled meanwhile.
    """
    month = month.replace(day=1)
    actor = _acting(actor)  # audited under the name recorded
    by = actor.id
    if month > add_months(core.clock.today().replace(day=1), 1):
        raise InvalidInput("payroll.too_early", month=month.isoformat(), opens=add_months(month, -1).isoformat())
    try:
        window = payment_window(month, core.book)
    except NotFound as exc:  # rates.no_row: before the first payment window the rate book holds
        raise InvalidInput("payroll.no_window", month=month.isoformat(), first=exc.params.get("first")) from None
    async with _writing(core) as uow:
        s = uow.session
        cycle = await s.get(PaymentCycle, month, with_for_update=True)
        if cycle is not None:
            if cycle.state != "frozen":
                raise Conflict("payroll.already_approved", month=month.isoformat(), by=cycle.approved_by)
            if not regenerate:
                raise Conflict("payroll.already_open", month=month.isoformat())
            lines = await month_lines(s, month)
            # A line the bank has seen may be paid: replacing it with a scheduled one pays twice.
            in_payment = await s.scalar(select(func.count()).select_from(PayrollLine).where(
                lines, PayrollLine.status != "scheduled"))
            if in_payment:
                raise Conflict("payroll.lines_in_payment", month=month.isoformat(), lines=int(in_payment))
            await s.execute(delete(PayrollLine).where(lines))
        elif regenerate:  # opening it under another name would audit a regeneration that never was
            raise NotFound("payroll.nothing_to_regenerate", month=month.isoformat())
        else:
            cycle = PaymentCycle(month=month, state="frozen", window_start=window.first_day,
                                 window_end=window.last_day, opened_by=by, opened_at=uow.now())
            s.add(cycle)
            try:
                await s.flush()
            except IntegrityError:  # opened meanwhile by another command (PostgreSQL waited for it)
                raise Conflict("payroll.already_open", month=month.isoformat()) from None
        now = uow.now()
        source = select(
            line_id_sql(month, Enrolment.id).label("id"),
            literal(month).label("cycle_month"),
            Enrolment.household_id,
            Enrolment.id,
            Enrolment.programme,
            _priced(month, core.book),
            literal(window.first_day).label("window_start"),
            literal(window.last_day).label("window_end"),
            literal("scheduled").label("status"),
            literal(now).label("updated_at"),
        ).where(Enrolment.state == "active", Enrolment.first_month <= month, Enrolment.last_month >= month)
        write = insert(PayrollLine).from_select(
            ["id", "cycle_month", "household_id", "enrolment_id", "programme", "amount", "window_start",
             "window_end", "status", "updated_at"],
            source,
        )
        if s.get_bind().dialect.name == "postgresql":
            # Counted as written, in the server: reading the lines back cost a tenth of the pass.
            written = write.returning(PayrollLine.amount).cte("written")
            count, total = (await s.execute(
                select(func.count(), func.coalesce(func.sum(written.c.amount), 0)))).one()
        else:  # SQLite has no INSERT inside WITH
            await s.execute(write)
            count, total = (await s.execute(
                select(func.count(), func.coalesce(func.sum(PayrollLine.amount), 0))
                .where(PayrollLine.id.between(*month_line_ids(month)))  # a new or regenerated month
            )).one()
        if not count:  # no enrolment is paid that month: nothing to freeze (rolled back)
            raise Conflict("payroll.empty", month=month.isoformat())
        cycle.line_count, cycle.total_amount = int(count), int(total)
        cycle.opened_by, cycle.opened_at = by, now
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
    """The family's payment for this month or the next frozen one; else the one its enrolment
    leads it to expect; else its latest one.

    A frozen payroll's line is the payment. Without one, a family enrolled for a month whose
    payroll is not frozen yet (every family an assessment has just enrolled) is told what it may
    expect, marked ``expected``: the amount at the rates in force that month and the month's
    payment window, not a promise. Only then the latest payment it had.
    """
    this_month = uow.today().replace(day=1)
    base = select(PayrollLine).where(await household_lines(uow.session, household_id))
    line = await uow.session.scalar(
        base.where(PayrollLine.cycle_month >= this_month).order_by(PayrollLine.cycle_month).limit(1))
    if line is not None:
        return _payment_view(line)
    expected = await _expected_payment(uow, household_id, this_month)
    if expected is not None:
        return expected
    line = await uow.session.scalar(base.order_by(PayrollLine.cycle_month.desc()).limit(1))
    return None if line is None else _payment_view(line)


async def _expected_payment(uow: UnitOfWork, household_id: int, this_month: dt.date) -> PaymentView | None:
    """The first month from ``this_month`` an active enrolment covers and no approved payroll has
    passed over, as the month's payroll would pay it (one frozen without the family is regenerated
    before it can be approved)."""
    enrolments = (await uow.session.scalars(
        select(Enrolment).where(Enrolment.household_id == household_id, Enrolment.state == "active",
                                Enrolment.last_month >= this_month).order_by(Enrolment.first_month))).all()
    for e in enrolments:
        month = await first_open_month(uow.session, max(e.first_month, this_month))
        if month <= e.last_month:
            window = payment_window(month, uow.book)
            return PaymentView(month, e.programme, _price_of(e, month, uow.book), window.first_day,
                               window.last_day, "expected", None)
    return None


def _price_of(e: Enrolment, month: dt.date, book: RateBook) -> int:
    """One enrolment's amount in ``month``, as :func:`_priced` prices it in a payroll."""
    if e.share_percent is None:
        return e.amount
    return price(AmountBasis(e.programme, e.children or 0, bool(e.infant), e.share_percent), month, book)


async def payment_history(uow: UnitOfWork, household_id: int, limit: int = 24) -> list[PaymentView]:
    lines = (await uow.session.scalars(
        select(PayrollLine).where(await household_lines(uow.session, household_id))
        .order_by(PayrollLine.cycle_month.desc()).limit(limit)
    )).all()
    return [_payment_view(line) for line in lines]


def _payment_view(line: PayrollLine) -> PaymentView:
    return PaymentView(line.cycle_month, line.programme, line.amount, line.window_start, line.window_end,
                       line.status, line.failure_reason)


async def approve_payroll(core: Core, month: dt.date, actor: Actor) -> CycleView:
    """The checker approves a frozen payroll; the person who opened it may not (maker-checker)."""
    month = month.replace(day=1)
    actor = _acting(actor)  # audited under the name recorded
    by = actor.id
    async with _writing(core) as uow:
        c = await uow.session.get(PaymentCycle, month, with_for_update=True)
        if c is None:
            raise NotFound("payroll.not_found", month=month.isoformat())
        if c.state != "frozen":
            raise Conflict("payroll.already_approved", month=month.isoformat(), by=c.approved_by)
        if same_person(c.opened_by, by):
            raise Conflict("payroll.same_person", month=month.isoformat(), opened_by=c.opened_by)
        missing = await _unfrozen(uow.session, month)
        if missing:  # approved as it is, they would never be paid for this month
            raise Conflict("payroll.stale", month=month.isoformat(), missing=missing)
        c.state, c.approved_by, c.approved_at = "approved", by, uow.now()
        uow.audit(actor, "payroll.approved", "payroll", month.isoformat(), lines=c.line_count,
                  total=c.total_amount, opened_by=c.opened_by)
        view = _cycle_view(c)
        await uow.commit()
    return view


async def _unfrozen(session: AsyncSession, month: dt.date) -> int:
    """Enrolments paid in ``month`` with no line in its payroll: enrolled after it was frozen."""
    e = Enrolment
    by_key = sa.exists().where(PayrollLine.id == line_id_sql(month, e.id))
    before = sa.exists().where(_numbered_before_0006(), PayrollLine.cycle_month == month,
                               PayrollLine.enrolment_id == e.id)
    return int(await session.scalar(select(func.count()).select_from(e).where(
        e.state == "active", e.first_month <= month, e.last_month >= month, ~by_key, ~before)) or 0)


def account_placeholder(household_id: int) -> str:
    """The registry holds no card numbers yet: the bank matches on the head's PINFL and this id."""
    return f"SOCIAL-{household_id:010d}"


async def export_payroll(core: Core, month: dt.date, out: TextIO, actor: Actor) -> int:
    """Write an approved payroll for the paying bank (CSV, streamed) and mark its lines sent."""
    month = month.replace(day=1)
    actor = _acting(actor)
    async with _writing(core) as uow:
        c = await uow.session.get(PaymentCycle, month, with_for_update=True)
        if c is None:
            raise NotFound("payroll.not_found", month=month.isoformat())
        if c.state == "frozen":
            raise Conflict("payroll.not_approved", month=month.isoformat())
        if c.state == "reconciled":  # every line paid or failed: a file would hold only its header
            raise Conflict("payroll.already_reconciled", month=month.isoformat())
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        count = 0
        lines = await month_lines(uow.session, month)
        rows = await uow.session.stream(
            select(PayrollLine.id, Person.pinfl, PayrollLine.household_id, PayrollLine.amount,
                   PayrollLine.window_start, PayrollLine.window_end)
            # The payee is whoever heads the family now (a dead or departed head is replaced).
            .outerjoin(Household, Household.id == PayrollLine.household_id)
            .outerjoin(Person, Person.id == Household.head_person_id)
            .where(lines, PayrollLine.status.in_(("scheduled", "sent")))
            .order_by(PayrollLine.id).execution_options(yield_per=5000))
        async for line_id, pinfl, hid, amount, start, end in rows:
            writer.writerow((line_id, pinfl or "", account_placeholder(hid), amount, start.isoformat(),
                             end.isoformat()))
            count += 1
        await uow.session.execute(update(PayrollLine).where(
            lines, PayrollLine.status == "scheduled").values(
            status="sent", updated_at=uow.now()))
        uow.audit(actor, "payroll.exported", "payroll", month.isoformat(), lines=count)
        await uow.commit()
    return count


@dataclass
class ReconcileResult:
    paid: int = 0
    failed: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # the first ones
    notices: int = 0
    refused: int = 0  # all of them


@dataclass(frozen=True)
class MalformedLine:
    """A line of the bank's file that is not a row of results, and why (``problem`` and its
    details become the params of ``payroll.malformed_line``)."""

    problem: str  # not_utf8 | unreadable | blank | columns
    details: dict[str, Any] = field(default_factory=dict)


def iter_results(lines: Iterable[str | bytes]) -> Iterator[dict[str, str] | MalformedLine]:
    """The bank's result file (CSV with :data:`RESULT_COLUMNS`, in any order, other columns
    ignored), a row at a time, from its lines as text or as bytes (decoded here, one line at a
    time, so one line that is not UTF-8 is refused alone). Takes an open file, so a national
    file is never held in memory.

    The first line must be the header: a file without one would lose its first result, so a
    header lacking a required column refuses the whole file (``payroll.bad_header``), as does a
    header that is not UTF-8 (``payroll.not_utf8``: a UTF-16 or binary file). A UTF-8 byte-order
    mark is dropped.
    """
    texts = iter(lines)
    first = next(texts, None)
    if first is None:
        return
    header = _decoded(first)
    if header is None:
        raise InvalidInput("payroll.not_utf8", line=1)
    names = [h.strip().lower() for h in next(csv.reader([header.removeprefix("\ufeff")]), [])]
    missing = [c for c in RESULT_COLUMNS if c not in names]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if missing or repeated:
        raise InvalidInput("payroll.bad_header", missing=missing, repeated=repeated,
                           found=header.strip()[:120])
    for raw in texts:
        text = _decoded(raw)
        if text is None:
            yield MalformedLine("not_utf8")
            continue
        try:
            row = next(csv.reader([text]), [])
        except csv.Error as exc:
            yield MalformedLine("unreadable", {"detail": str(exc)})
            continue
        if not any(cell.strip() for cell in row):
            yield MalformedLine("blank")
        elif len(row) != len(names):
            yield MalformedLine("columns", {"expected": len(names), "found": len(row)})
        else:
            yield dict(zip(names, row, strict=True))


def _decoded(line: str | bytes) -> str | None:
    if isinstance(line, str):
        return line
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_results(text: str) -> list[dict[str, str] | MalformedLine]:
    return list(iter_results(text.splitlines()))


# What payroll_lines.failure_reason and bank_reference hold, in characters.
RESULT_TEXT_LIMIT = 40
RECONCILE_BATCH = 10_000
MAX_REJECTED_DETAILS = 10_000  # every refusal is counted; the first ones are listed

_STAGING = sa.Table(
    "bank_results", sa.MetaData(),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("line_id", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(RESULT_TEXT_LIMIT)),
    sa.Column("reference", sa.String(RESULT_TEXT_LIMIT)),
    sa.Column("verdict", sa.String(40)),  # a refusal code (SQLite does not check the length; PostgreSQL does)
    prefixes=["TEMPORARY"],
    postgresql_on_commit="drop",  # a stream's portal keeps it in use until the commit
)

# The payrolls the file's lines belong to, locked before they are judged: a second file waits for
# the first (or for an export), and is judged against its results. In month order, so two files
# never each hold a month the other waits for.
_LOCK_CYCLES = """
SELECT c.month FROM payment_cycles c
WHERE c.month IN (SELECT l.cycle_month FROM bank_results b JOIN payroll_lines l ON l.id = b.line_id)
ORDER BY c.month FOR UPDATE
"""

# Each staged line's fate, decided in SQL against the payroll (first match wins). A line the
# file gives twice with different results (a status, an amount, a reason or a bank reference) is
# refused every time: the bank contradicts itself, and applying whichever came first would be a
# guess. Given twice alike, the first counts. A line already reconciled takes the same result
# again as "unchanged"; any other is refused: what the bank reported first was acted on (the
# family was told), and a correction is a matter for people, not for a file.
_VERDICT = """
UPDATE bank_results SET verdict = CASE
  WHEN EXISTS (SELECT 1 FROM bank_results t WHERE t.line_id = bank_results.line_id AND t.idx <> bank_results.idx
               AND (t.status <> bank_results.status OR t.amount <> bank_results.amount
                    OR (t.status = 'failed' AND COALESCE(t.reason, '') <> COALESCE(bank_results.reason, ''))
                    OR COALESCE(t.reference, '') <> COALESCE(bank_results.reference, '')))
    THEN 'payroll.conflicting_lines'
  WHEN EXISTS (SELECT 1 FROM bank_results t WHERE t.line_id = bank_results.line_id AND t.idx < bank_results.idx)
    THEN 'payroll.duplicate_line'
  WHEN l.id IS NULL THEN 'payroll.unknown_line'
  WHEN c.state IS NULL OR c.state NOT IN ('approved', 'reconciled') THEN 'payroll.not_approved'
  WHEN l.amount <> bank_results.amount THEN 'payroll.amount_mismatch'
  WHEN l.status = bank_results.status AND (l.status = 'paid' OR l.failure_reason = bank_results.reason)
       AND COALESCE(l.bank_reference, '') = COALESCE(bank_results.reference, '')
    THEN 'unchanged'
  WHEN l.status IN ('paid', 'failed') THEN 'payroll.line_reconciled'
  WHEN l.status <> 'sent' THEN 'payroll.line_not_sent'
  ELSE 'ok' END
FROM bank_results b LEFT JOIN payroll_lines l ON l.id = b.line_id
  LEFT JOIN payment_cycles c ON c.month = l.cycle_month
WHERE b.idx = bank_results.idx
"""

_APPLY = """
UPDATE payroll_lines SET status = b.status, bank_reference = b.reference, updated_at = :now,
  failure_reason = CASE WHEN b.status = 'failed' THEN b.reason END
FROM bank_results b WHERE payroll_lines.id = b.line_id AND b.verdict = 'ok'
"""


def _notices_sql(dialect: str) -> str:
    d = Dialect(dialect)
    params = d.obj(("month", "l.cycle_month"), ("amount", "l.amount"), ("reason", "l.failure_reason"))
    return f"""
{OUTBOX_INSERT}
SELECT {route_columns("l.household_id", PRIORITY_NOTICE)}, 'payment.' || l.status, {params},
       'pending', 0, :now, 'payment.' || l.status || ':' || l.id
FROM bank_results b JOIN payroll_lines l ON l.id = b.line_id
{contact_join("l.household_id")}
WHERE b.verdict = 'ok' AND {REACHABLE}
ON CONFLICT (dedupe_key) DO NOTHING
"""


def _local_date(stamp: dt.datetime) -> dt.date:
    """The registry's day of a stored time (PostgreSQL gives it back in UTC, SQLite as written)."""
    return (stamp.astimezone(TASHKENT) if stamp.tzinfo else stamp).date()


def _number(row: Mapping[str, Any], name: str, least: int) -> int | tuple[str, dict[str, Any]]:
    """A whole number from ``least`` to below 2**62 in column ``name``, or why it is not one."""
    text = str(row.get(name) or "").strip()
    if not text:
        return "payroll.malformed_line", {"problem": "missing", "field": name}
    try:
        value = int(text)
    except ValueError:
        return "payroll.malformed_line", {"problem": "not_a_number", "field": name, "value": text[:24]}
    if not least <= value < 2 ** 62:
        return "payroll.malformed_line", {"problem": "out_of_range", "field": name, "value": text[:24]}
    return value


def _parse(index: int, row: Mapping[str, Any] | MalformedLine
           ) -> tuple[dict[str, Any] | None, tuple[str, dict[str, Any]] | None]:
    """One line of the bank's file: a staged row, or why it was refused."""
    if isinstance(row, MalformedLine):
        return None, ("payroll.malformed_line", {"problem": row.problem, **row.details})
    line_id = _number(row, "line_id", 1)
    if isinstance(line_id, tuple):
        return None, line_id
    amount = _number(row, "amount", 0)
    if isinstance(amount, tuple):
        return None, amount
    status = str(row.get("status", "")).strip().lower()
    reason = (str(row.get("reason") or "").strip() or None)
    reference = (str(row.get("bank_reference") or "").strip() or None)
    if status not in ("paid", "failed"):
        return None, ("payroll.bad_result", {"line_id": line_id, "status": status[:20]})
    if status == "failed" and not reason:
        return None, ("payroll.failure_reason_required", {"line_id": line_id})
    reason = reason if status == "failed" else None  # a paid line has no reason: not kept, not judged
    for name, text in (("reason", reason), ("bank_reference", reference)):
        if text is not None and len(text) > RESULT_TEXT_LIMIT:  # cut short, it would be another reason
            return None, ("payroll.malformed_line", {"problem": "too_long", "field": name, "length": len(text),
                                                     "limit": RESULT_TEXT_LIMIT})
    return {"idx": index, "line_id": line_id, "status": status, "amount": amount, "reason": reason,
            "reference": reference, "verdict": None}, None


async def reconcile_payroll(core: Core, results: Iterable[Mapping[str, Any] | MalformedLine],
                            actor: Actor) -> ReconcileResult:
    """Import the bank's results: each line paid or failed (with the bank's reason).

    Set-based, for a national file: lines stream into a temporary table in batches, SQL judges
    them all against the payroll at once and applies the good ones in one statement, in one
    transaction. A line the registry did not send, a line of a payroll nobody approved, an amount
    that differs, an unknown status, a line twice, a line already reconciled with another result:
    refused with a code and counted; a repeated file changes nothing; a file with no result lines
    is refused (``payroll.no_lines``). Files of the same payroll are judged one after the other.
    """
    actor = _acting(actor)
    outcome = ReconcileResult()
    refused = 0

    def refuse(index: int, code: str, params: dict[str, Any]) -> None:
        nonlocal refused
        refused += 1
        if len(outcome.rejected) < MAX_REJECTED_DETAILS:
            outcome.rejected.append((index, code, params))

    async with _writing(core) as uow:
        s = uow.session
        dialect = s.get_bind().dialect.name
        temp = "pg_temp" if dialect == "postgresql" else "temp"
        await s.execute(sa.text(f"DROP TABLE IF EXISTS {temp}.bank_results"))  # left by a crashed run
        await s.run_sync(lambda sync: _STAGING.create(sync.connection()))
        columns = [c.name for c in _STAGING.columns]

        async def stage(rows: list[dict[str, Any]]) -> None:
            if dialect == "postgresql":  # COPY: a national file stages in seconds
                raw = await (await s.connection()).get_raw_connection()
                await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                    "bank_results", records=[tuple(r[c] for c in columns) for r in rows], columns=columns)
            else:
                await s.execute(insert(_STAGING), rows)

        batch: list[dict[str, Any]] = []
        index = -1
        for index, row in enumerate(results):
            staged, why = _parse(index, row)
            if why is not None:
                refuse(index, *why)
            else:
                batch.append(staged)  # type: ignore[arg-type]
            if len(batch) >= RECONCILE_BATCH:
                await stage(batch)
                batch = []
        if index < 0:  # an empty or header-only file: nothing to reconcile, say so (rolled back)
            raise InvalidInput("payroll.no_lines")
        if batch:
            await stage(batch)
        await s.execute(sa.text("CREATE INDEX ix_bank_results_line ON bank_results (line_id, idx)"))
        if dialect == "postgresql":  # SQLite holds its write lock since the start (_writing)
            await s.execute(sa.text("ANALYZE bank_results"))
            await s.execute(sa.text(_LOCK_CYCLES))
        await s.execute(sa.text(_VERDICT))
        rows = await s.stream(sa.text(
            "SELECT b.idx, b.verdict, b.line_id, b.amount, l.amount, l.status, l.cycle_month, l.updated_at"
            " FROM bank_results b LEFT JOIN payroll_lines l ON l.id = b.line_id"
            " WHERE b.verdict NOT IN ('ok', 'unchanged') ORDER BY b.idx"
        ).columns(cycle_month=sa.Date, updated_at=sa.DateTime(timezone=True)))
        async for idx, verdict, line_id, amount, expected, status, month, updated in rows:
            params: dict[str, Any] = {"line_id": line_id}
            if verdict == "payroll.not_approved":
                params.update(month=f"{month:%Y-%m}")
            elif verdict == "payroll.amount_mismatch":
                params.update(amount=amount, expected=expected)
            elif verdict == "payroll.line_not_sent":
                params.update(status=status)
            elif verdict == "payroll.line_reconciled":
                params.update(status=status, on=_local_date(updated).isoformat())
            refuse(idx, verdict, params)
        await rows.close()
        outcome.rejected.sort(key=lambda r: r[0])
        counts: dict[str, int] = dict((await s.execute(sa.text(
            "SELECT b.verdict || ':' || b.status, COUNT(*) FROM bank_results b"
            " WHERE b.verdict IN ('ok', 'unchanged') GROUP BY b.verdict, b.status"))).all())
        outcome.paid, outcome.failed = int(counts.get("ok:paid", 0)), int(counts.get("ok:failed", 0))
        outcome.unchanged = int(counts.get("unchanged:paid", 0)) + int(counts.get("unchanged:failed", 0))
        outcome.refused = refused
        now = uow.now()
        stamp = [sa.bindparam("now", type_=sa.DateTime(timezone=True))]
        if outcome.paid or outcome.failed:
            await s.execute(sa.text(_APPLY).bindparams(*stamp), {"now": now})
            outcome.notices = rowcount(await s.execute(sa.text(_notices_sql(dialect)).bindparams(*stamp),
                                                       {"now": now}))
            months = (await s.scalars(sa.text(
                "SELECT DISTINCT l.cycle_month AS month FROM bank_results b JOIN payroll_lines l ON l.id = b.line_id"
                " WHERE b.verdict = 'ok'").columns(month=sa.Date))).all()
            for month in months:
                left = await s.scalar(select(func.count()).select_from(PayrollLine).where(
                    await month_lines(s, month), PayrollLine.status.in_(("scheduled", "sent"))))
                if not left:
                    await s.execute(update(PaymentCycle).where(PaymentCycle.month == month).values(state="reconciled"))
        if dialect != "postgresql":
            await s.execute(sa.text(f"DROP TABLE {temp}.bank_results"))
        uow.audit(actor, "payroll.reconciled", "payroll", "bank", paid=outcome.paid, failed=outcome.failed,
                  unchanged=outcome.unchanged, rejected=refused)
        await uow.commit()
    return outcome
