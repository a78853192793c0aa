"""Payroll commands at the same time, as two `spsr payroll` processes run them: each command here has
its own engine, connection and event loop (a thread), and the test makes them meet where a race
would hurt (after a given statement, each waits for the others a moment). A command that waits
for another's lock simply does not get there in time: the others go on after the moment.

Either way the outcome must be what running them one after the other gives, and never a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select

from core.errors import Conflict, DomainError
from core.services import payments
from core.services.payments import (
    ReconcileResult,
    approve_payroll,
    export_payroll,
    open_payroll,
    read_results,
    reconcile_payroll,
)
from core.storage import engine as engine_settings
from core.storage.engine import create_engine, session_factory
from core.storage.schema import AuditEntry, OutboxMessage, PaymentCycle, PayrollLine
from core.storage.uow import Core
from tests.storage.test_payroll import CHECKER, JANUARY, MAKER, exported_january, two_enrolled_families

pytestmark = pytest.mark.postgres

MOMENT = 1.5  # seconds a command waits for the others where they meet


class Meeting:
    """Where the commands meet: each, once it has run a statement holding its marker, waits until
    all have (or :data:`MOMENT` has passed; then nobody waits any more)."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=MOMENT)

    def join(self, engine: Any, marker: str) -> None:
        met = False

        def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            nonlocal met
            if marker in statement and not met:
                met = True
                try:
                    self.barrier.wait()
                except threading.BrokenBarrierError:
                    pass

        event.listen(engine.sync_engine, "after_cursor_execute", after)


Job = Callable[[Core], Awaitable[Any]]


async def at_once(core: Core, url: str, jobs: list[tuple[Job, str]]) -> list[Any]:
    """Run each job (with the marker of its meeting place) in its own thread, loop and engine; what
    each returned or raised."""
    meeting = Meeting(len(jobs))

    def run(job: Job, marker: str) -> Any:
        async def go() -> Any:
            engine = create_engine(url)
            meeting.join(engine, marker)
            own = dataclasses.replace(core, engine=engine, sessions=session_factory(engine))
            try:
                return await job(own)
            except Exception as exc:  # kept for the test to look at, whatever it is
                return exc
            finally:
                await engine.dispose()

        return asyncio.run(go())

    return list(await asyncio.gather(*(asyncio.to_thread(run, job, marker) for job, marker in jobs)))


JUDGED = "UPDATE bank_results SET verdict"  # a reconcile has judged its lines
READ_CYCLE = "FROM payment_cycles"  # open, approve and export have read the payroll
NOWHERE = "no statement holds this"  # a command that meets nobody


def bank_file(lines: tuple[str, ...], status: str) -> str:
    reason = "card_blocked" if status == "failed" else ""
    return "line_id,status,amount,reason,bank_reference\n" + "".join(
        f"{line},{status},360000,{reason},XB-{line}\n" for line in lines)


async def test_two_contradicting_bank_files_at_once_are_judged_one_after_the_other(
        core: Core, database_url: str) -> None:
    lines = await exported_january(core)

    def reconcile(status: str) -> Job:
        return lambda c: reconcile_payroll(c, read_results(bank_file(lines, status)), CHECKER)

    paid, failed = await at_once(core, database_url, [(reconcile("paid"), JUDGED), (reconcile("failed"), JUDGED)])
    assert isinstance(paid, ReconcileResult) and isinstance(failed, ReconcileResult), (paid, failed)
    first, second = (paid, failed) if paid.paid else (failed, paid)
    assert (first.paid + first.failed, first.refused, first.notices) == (2, 0, 2)
    assert (second.paid, second.failed, second.notices, second.refused) == (0, 0, 0, 2)
    async with core.uow() as uow:
        s = uow.session
        statuses = set((await s.scalars(select(PayrollLine.status))).all())
        assert statuses == ({"paid"} if first is paid else {"failed"})
        notices = (await s.scalars(select(OutboxMessage.template).where(OutboxMessage.template.like("payment.%")))).all()
        assert sorted(notices) == ["payment.paid" if first is paid else "payment.failed"] * 2
        assert (await s.get(PaymentCycle, JANUARY)).state == "reconciled"  # type: ignore[union-attr]


async def test_three_openings_of_one_month_at_once_open_it_once(core: Core, database_url: str) -> None:
    await two_enrolled_families(core)

    async def open_january(c: Core) -> Any:
        return await open_payroll(c, JANUARY, MAKER)

    outcomes = await at_once(core, database_url, [(open_january, READ_CYCLE)] * 3)
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(refused) == 2, outcomes
    assert {(type(o), o.code) for o in refused} == {(Conflict, "payroll.already_open")}
    async with core.uow() as uow:
        assert (await uow.session.get(PaymentCycle, JANUARY)).line_count == 2  # type: ignore[union-attr]
        assert await uow.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "payroll.opened")) == 1


async def test_an_approval_and_a_regeneration_at_once_happen_one_after_the_other(
        core: Core, database_url: str) -> None:
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)

    async def approve(c: Core) -> Any:
        return await approve_payroll(c, JANUARY, CHECKER)

    async def regenerate(c: Core) -> Any:
        return await open_payroll(c, JANUARY, MAKER, regenerate=True)

    approved, regenerated = await at_once(core, database_url, [(approve, READ_CYCLE), (regenerate, READ_CYCLE)])
    assert not isinstance(approved, Exception), approved
    # Regenerated first and then approved, or refused because approved first: nothing else.
    assert not isinstance(regenerated, Exception) or (
        isinstance(regenerated, Conflict) and regenerated.code == "payroll.already_approved"), regenerated
    async with core.uow() as uow:
        cycle = await uow.session.get(PaymentCycle, JANUARY)
        assert cycle is not None and (cycle.state, cycle.line_count) == ("approved", 2)
        assert await uow.session.scalar(select(func.count()).select_from(PayrollLine)) == 2
        actions = (await uow.session.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "payroll").order_by(AuditEntry.id))).all()
    assert actions == ["payroll.opened", "payroll.approved"] or actions == [
        "payroll.opened", "payroll.regenerated", "payroll.approved"]  # never regenerated once approved


async def test_a_reconcile_during_an_export_judges_the_lines_once_they_are_sent(
        core: Core, database_url: str) -> None:
    """The bank's results for lines being exported wait for the export; they never land between the
    export reading its lines and marking them sent."""
    lines = await exported_january(core)
    out = io.StringIO()
    exporting, reconciled_first = threading.Event(), threading.Event()

    def export_reads(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if READ_CYCLE in statement:
            exporting.set()
        elif "persons" in statement:  # its lines read: give the reconcile a moment to slip in
            reconciled_first.wait(MOMENT)

    async def export(c: Core) -> Any:
        event.listen(c.engine.sync_engine, "after_cursor_execute", export_reads)
        return await export_payroll(c, JANUARY, out, CHECKER)

    async def reconcile(c: Core) -> Any:
        event.listen(c.engine.sync_engine, "commit", lambda _conn: reconciled_first.set())
        assert await asyncio.to_thread(exporting.wait, 10)  # the export has the payroll first
        # One line of two: the payroll stays open, so the reconcile has no other reason to wait.
        return await reconcile_payroll(c, read_results(bank_file(lines[:1], "paid")), CHECKER)

    exported, reconciled = await at_once(core, database_url, [(export, NOWHERE), (reconcile, NOWHERE)])
    assert exported == 2 and isinstance(reconciled, ReconcileResult), (exported, reconciled)
    assert (reconciled.paid, reconciled.refused) == (1, 0)
    async with core.uow() as uow:
        actions = (await uow.session.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "payroll").order_by(AuditEntry.id))).all()
    assert actions[-2:] == ["payroll.exported", "payroll.reconciled"]


async def test_a_writer_holding_sqlite_past_the_busy_timeout_is_a_refusal(
        core: Core, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if core.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL waits for a row lock as long as it is held")
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    monkeypatch.setattr(engine_settings, "SQLITE_BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(payments, "SQLITE_BUSY_TIMEOUT_MS", 200)
    engine = create_engine(database_url)
    impatient = dataclasses.replace(core, engine=engine, sessions=session_factory(engine))
    try:
        async with core.engine.connect() as other:
            await other.exec_driver_sql("BEGIN IMMEDIATE")  # another command, writing
            with pytest.raises(Conflict) as err:
                await approve_payroll(impatient, JANUARY, CHECKER)
            assert (err.value.code, err.value.params) == ("payroll.busy", {"seconds": 0})
            await other.rollback()
    finally:
        await engine.dispose()
    assert (await approve_payroll(core, JANUARY, CHECKER)).state == "approved"
