"""Automatic assignment: re-assess households whose data changed, enrol and end, tell the family.

Set-based and streaming: the registry is walked in ranges of household ids, one transaction per
range (a failure loses at most one range and a re-run resumes, since only households whose data
changed since their last assessment are due). For each range a handful of ``INSERT … SELECT`` and
``UPDATE`` statements (``core/storage/assessment_sql.py``) do all the work inside the database:

- every due household gets a decision with its reasons, its figures (small columns, not JSON:
  two million rows a pass, and the write-ahead log writes each byte again) and the ids of the
  agency records it rested on, from which ``core/services/decisions.py`` names the agency,
  record id and as-of date of each value;
- eligible and no active enrolment covering next month → a new enrolment from next month for
  the decided duration, at the decided amount; a family that was due to end is reinstated (its
  ending notice withdrawn if still unsent, else it is told its assistance goes on);
- not eligible with an active enrolment → it ends at the end of its period: ``ended_on`` is set
  to the last day of its ``last_month`` (never cut mid-period); ``advance_enrolments`` moves it
  to ``ended`` once that month is over;
- each family enrolled or ending gets a notice through the outbox (Telegram where linked, SMS
  otherwise, nothing after STOP), once: notices are keyed by enrolment.

Python holds one range's counters, never its rows, so memory does not grow with the registry.

Each pass is recorded in ``assessment_runs``. A pass without ``--all`` first finds the ranges
that hold a household changed since the latest finished pass began (less :data:`IN_FLIGHT`)
and not decided since (:func:`core.storage.assessment_sql.due_ranges`), and works only those:
a pass with nothing changed reads one index, where it probed every household's decisions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import DateTime, bindparam, exists, func, select, text, update

from core.applications import add_months
from core.clock import in_tashkent
from core.eligibility import rules_in_force
from core.errors import Conflict
from core.services.outbox import PRIORITY_NOTICE
from core.services.payments import first_open_month
from core.storage import assessment_sql as q
from core.storage.locks import ENROLMENT, INGEST, exclusive, transaction_lock
from core.storage.results import rowcount
from core.storage.schema import AssessmentRun, Decision, Enrolment, Household
from core.storage.uow import SYSTEM, Actor, Core, UnitOfWork

log = logging.getLogger(__name__)

# Households per transaction: big enough that each statement amortises its planning, small
# enough that one transaction stays short and a lock is not held for long.
CHUNK = 20_000

# How PostgreSQL runs each range's transaction.
RANGE_SETTINGS = (
    # Planned for each range, never once for all: the driver prepares these statements, and from
    # its sixth run on one connection PostgreSQL may keep a generic plan, which cannot see how
    # many rows :lo..:hi holds. Measured at 200,000 households: 0.8 s a range, then 48 s.
    "SET LOCAL plan_cache_mode = force_custom_plan",
    # No JIT: the decisions statement's estimated cost passes the server's threshold, and compiling
    # its expressions was never repaid over 20,000 rows: ~100 ms of a range's ~800 ms at 200,000
    # households, 806 -> 767 ms a range at 2,000,000 (five ranges across the registry, twice).
    "SET LOCAL jit = off",
)


# Writes stamp data_changed_at before they commit: a household changed this long before a pass
# began, but committed after the pass read its range, is still looked at by the next pass.
IN_FLIGHT = dt.timedelta(minutes=5)


@dataclass
class AssessSummary:
    assessed: int = 0
    eligible: int = 0
    enrolled: int = 0
    ending: int = 0
    reinstated: int = 0
    notices: int = 0
    errors: int = 0

    def add(self, other: AssessSummary) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def __str__(self) -> str:
        return (f"assessed {self.assessed}, eligible {self.eligible}, enrolled {self.enrolled}, "
                f"ending {self.ending}, reinstated {self.reinstated}, notices {self.notices}, "
                f"errors {self.errors}")


async def changed_since(uow: UnitOfWork) -> dt.datetime | None:
    """Households changed before this were decided by the latest finished pass (None: no pass yet)."""
    began = await uow.session.scalar(select(AssessmentRun.started_at).where(AssessmentRun.finished_at.is_not(None))
                                     .order_by(AssessmentRun.id.desc()).limit(1))
    return None if began is None else began - IN_FLIGHT


def _due(everything: bool, since: dt.datetime | None) -> Any:
    if everything:
        return True
    due = ~exists().where(Decision.household_id == Household.id, Decision.created_at >= Household.data_changed_at)
    return due if since is None else (Household.data_changed_at >= since) & due


async def households_due(core: Core, *, everything: bool = False) -> int:
    async with core.uow() as uow:
        since = None if everything else await changed_since(uow)
        return int(await uow.session.scalar(
            select(func.count()).select_from(Household).where(_due(everything, since))) or 0)


@dataclass(frozen=True)
class _Statements:
    decisions: Any
    due: Any
    counts: Any
    enrol: Any
    reinstate: Any
    continuing_notices: Any
    withdraw_ending_notices: Any
    ending_notices: Any
    end: Any
    end_unpeopled: Any
    started_notices: Any


def _stmt(sql: str) -> Any:
    t = text(sql)
    for stamp in ("now", "since"):  # typed, so that SQLite compares them as it stores its stamps
        if f":{stamp}" in sql:
            t = t.bindparams(bindparam(stamp, type_=DateTime(timezone=True)))
    return t


async def _statements(uow: UnitOfWork, everything: bool, since: bool) -> _Statements:
    rules = rules_in_force(uow.today(), uow.book)
    d = q.Dialect(uow.session.get_bind().dialect.name)
    # Families are enrolled from next month, or from the first month after it whose payroll is
    # not approved yet: from an approved one they would never be paid for it.
    first_month = await first_open_month(uow.session, add_months(uow.today().replace(day=1), 1))
    return _Statements(
        decisions=_stmt(q.decisions_insert(rules, d, everything=everything, since=since)),
        due=_stmt(q.due_in_range(everything=everything, since=since)),
        counts=_stmt("SELECT COUNT(*), COALESCE(SUM(CASE WHEN d.eligible THEN 1 ELSE 0 END), 0) "
                     f"FROM decisions d WHERE {q.NEW_DECISIONS}"),
        enrol=_stmt(q.new_enrolments(rules, d, first_month)),
        reinstate=_stmt(q.reinstate(rules, d)),
        continuing_notices=_stmt(q.continuing_notices(rules, d, PRIORITY_NOTICE)),
        withdraw_ending_notices=_stmt(q.withdraw_ending_notices(rules, d)),
        ending_notices=_stmt(q.ending_notices(rules, d, PRIORITY_NOTICE)),
        end=_stmt(q.end_enrolments(rules, d)),
        end_unpeopled=_stmt(q.end_unpeopled(rules, d)),
        started_notices=_stmt(q.started_notices(d, PRIORITY_NOTICE)),
    )


async def assess_households(
    core: Core,
    *,
    everything: bool = False,
    actor: Actor = SYSTEM,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
    workers: int = 2,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> AssessSummary:
    """Re-assess every household whose data changed since its last assessment (all with ``everything``).

    Another pass running: wait for it to finish (``on_wait`` is told once), or with ``wait=False``
    raise :class:`core.storage.locks.Busy`. ``on_start`` is given the number of households due once
    this pass holds the lock."""
    # One pass at a time, and never beside a decision run: each range's NOT EXISTS sees only
    # committed enrolments, so two at once would both enrol a family.
    async with exclusive(core.engine, ENROLMENT, wait=wait, on_wait=on_wait):
        await _not_behind(core)
        await _mark_periods_ending(core)
        if on_start is not None:
            on_start(await households_due(core, everything=everything))
        return await _assess(core, everything=everything, actor=actor, chunk=chunk, progress=progress,
                             workers=workers)


async def _not_behind(core: Core) -> None:
    """Refuse a pass dated before the latest one began: with the clock set back (a mistyped
    ``SPSR_TODAY``, a server's clock reset) it would enrol families from months already paid and
    end others in months gone by, and tell them so."""
    async with core.uow() as uow:
        last = await uow.session.scalar(select(func.max(AssessmentRun.started_at)))
        if last is not None and in_tashkent(last).date() > uow.today():
            raise Conflict("assessment.clock_behind", today=uow.today().isoformat(),
                           last=in_tashkent(last).date().isoformat())


async def _mark_periods_ending(core: Core) -> int:
    """The first pass of a month marks each household whose enrolment ends this month as changed,
    so that this pass reviews it (how many it marked).

    The review at the end of a period: an eligible family is enrolled again from next month without
    applying again (a state-supported one by law, DOMAIN.md), and one whose data never changes (no
    wage, no pension: the poorest) would otherwise be looked at only by ``--all``, its enrolment
    lapsing meanwhile. Marked through ``data_changed_at``, the passes of the rest of the month find
    it as they find any change, through its index, at no cost of their own."""
    async with core.uow() as uow:
        month = uow.today().replace(day=1)
        latest = await uow.session.scalar(select(func.max(AssessmentRun.started_at))
                                          .where(AssessmentRun.finished_at.is_not(None)))
        if latest is not None and in_tashkent(latest).date() >= month:
            return 0  # an earlier pass this month marked them
        now = uow.now()
        marked = rowcount(await uow.session.execute(
            update(Household).where(
                Household.id.in_(select(Enrolment.household_id).where(Enrolment.state == "active",
                                                                      Enrolment.last_month == month)),
                Household.data_changed_at < now)
            .values(data_changed_at=now)))
        await uow.commit()
    if marked:
        log.info("%d households whose enrolment ends in %s marked for review", marked, month.strftime("%Y-%m"))
    return marked


async def _assess(core: Core, *, everything: bool, actor: Actor, chunk: int,
                  progress: Callable[[int], None] | None, workers: int) -> AssessSummary:
    summary = AssessSummary()
    async with core.uow() as uow:
        since = None if everything else await changed_since(uow)
        run = AssessmentRun(started_at=uow.now(), everything=everything)
        uow.session.add(run)
        # Each bound its own subquery: SQLite reads one end of the primary key for a lone MIN or MAX,
        # and the whole table for both in one SELECT (44 ms at 200,000 households, every pass).
        low, high = (await uow.session.execute(select(select(func.min(Household.id)).scalar_subquery(),
                                                      select(func.max(Household.id)).scalar_subquery()))).one()
        statements = await _statements(uow, everything, since is not None)
        dialect = uow.session.get_bind().dialect.name
        if low is None:
            starts: list[int] = []
        elif everything:
            starts = list(range(int(low), int(high) + 1, chunk))
        else:
            found = await uow.session.execute(_stmt(q.due_ranges(since=since is not None)),
                                              {"low": int(low), "chunk": chunk, "since": since})
            starts = [int(low) + int(r) * chunk for r in found.scalars()]
        await uow.commit()
        run_id = run.id
    ranges = iter(starts)

    async def worker() -> None:
        for lo in ranges:  # one shared iterator: each range is taken by exactly one worker
            async with core.uow() as uow:
                part = await _assess_range(uow, statements, lo, lo + chunk - 1, since)
                await uow.commit()
            # Counted once committed, and with no await in between: the other worker adds too.
            summary.add(part)
            if progress is not None and (part.assessed or part.errors):
                progress(part.assessed + part.errors)

    # PostgreSQL works each range on one core; two ranges at once keep both cores of a small
    # server busy. SQLite has one writer, so one range at a time.
    await asyncio.gather(*(worker() for _ in range(workers if dialect == "postgresql" else 1)))
    async with core.uow() as uow:
        run = await uow.session.get_one(AssessmentRun, run_id)
        run.finished_at = uow.now()
        for f in fields(summary):  # the run's counters are named as the summary's
            setattr(run, f.name, getattr(summary, f.name))
        uow.audit(actor, "assessment.run", "assessment", uow.today().isoformat(), everything=everything,
                  assessed=summary.assessed, enrolled=summary.enrolled, ending=summary.ending,
                  errors=summary.errors)
        await uow.commit()
    return summary


async def _assess_range(uow: UnitOfWork, st: _Statements, lo: int, hi: int,
                        since: dt.datetime | None) -> AssessSummary:
    """Assess one range of household ids in ``uow``; what it did, counted (the caller commits)."""
    s = uow.session
    # No exchange batch in flight: one holding a household of the range stamped it changed before
    # this range's ``now``, and deciding it on the data the batch replaces would leave it decided.
    await transaction_lock(s, INGEST, shared=True)
    now = uow.now()
    ids: dict[str, Any] = {"lo": lo, "hi": hi}
    part = AssessSummary()
    if s.get_bind().dialect.name == "postgresql":
        for setting in RANGE_SETTINGS:
            await s.execute(text(setting))
    due = int(await s.scalar(st.due, ids if since is None else {**ids, "since": since}) or 0)
    if not due:
        return part
    before = int(await s.scalar(select(func.coalesce(func.max(Decision.id), 0))) or 0)
    enrolled_before = int(await s.scalar(select(func.coalesce(func.max(Enrolment.id), 0))) or 0)
    await s.execute(st.decisions, {**ids, "now": now} if since is None else {**ids, "now": now, "since": since})
    assessed, eligible = (await s.execute(st.counts, {**ids, "before": before})).one()
    part.assessed, part.eligible = int(assessed), int(eligible or 0)
    part.errors = due - part.assessed
    if part.errors:
        log.warning("%d households in ids %d..%d cannot be assessed (no members, or a birth date after today)",
                    part.errors, lo, hi)
        # Among them families no living member is left of: their assistance stops with this month.
        part.ending += rowcount(await s.execute(st.end_unpeopled, ids))
    if part.assessed:
        marks = {**ids, "before": before, "now": now}
        part.enrolled = rowcount(await s.execute(st.enrol, {**ids, "before": before}))
        # A family already told its assistance ends is told it goes on; an unsent ending notice is withdrawn.
        part.notices += rowcount(await s.execute(st.continuing_notices, marks))
        await s.execute(st.withdraw_ending_notices, {**ids, "before": before})
        part.reinstated = rowcount(await s.execute(st.reinstate, {**ids, "before": before}))
        part.notices += rowcount(await s.execute(st.ending_notices, marks))
        part.ending += rowcount(await s.execute(st.end, {**ids, "before": before}))
        part.notices += rowcount(await s.execute(
            st.started_notices, {**ids, "now": now, "enrolled_before": enrolled_before}))
    return part
