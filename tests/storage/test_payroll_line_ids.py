"""Payroll line ids: computed from the month and the enrolment (migration 0006), so the key keeps one
line per enrolment per month and a month's lines are one range of it; lines numbered before still count."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select, text, update

from core.errors import Conflict
from core.payments import FIRST_LINE_ID, line_id
from core.services.payments import (
    approve_payroll,
    cycle,
    export_payroll,
    household_lines,
    month_lines,
    open_payroll,
    payment_history,
    read_results,
    reconcile_payroll,
)
from core.storage.schema import PayrollLine
from core.storage.uow import Core
from tests.storage.test_payroll import CHECKER, JANUARY, MAKER, two_enrolled_families

pytestmark = pytest.mark.postgres

FEBRUARY = dt.date(2027, 2, 1)


async def lines_of(core: Core, month: dt.date) -> list[tuple[int, int, dt.datetime]]:
    """(id, enrolment, updated_at) of the month's lines, by id."""
    async with core.uow() as uow:
        rows = (await uow.session.execute(
            select(PayrollLine.id, PayrollLine.enrolment_id, PayrollLine.updated_at)
            .where(PayrollLine.cycle_month == month).order_by(PayrollLine.id))).all()
    return [(i, e, at) for i, e, at in rows]


async def number_as_before_0006(core: Core, month: dt.date, first: int) -> list[int]:
    """Give the month's lines small ids, as a sequence did before migration 0006."""
    assert first < FIRST_LINE_ID
    async with core.uow() as uow:
        ids = (await uow.session.scalars(
            select(PayrollLine.id).where(PayrollLine.cycle_month == month).order_by(PayrollLine.id))).all()
        for n, old in enumerate(ids):
            await uow.session.execute(update(PayrollLine).where(PayrollLine.id == old).values(id=first + n))
        await uow.commit()
    return [first + n for n in range(len(ids))]


def bank_file(rows: list[tuple[int, str, str]]) -> str:
    return "line_id,status,amount,reason,bank_reference\n" + "".join(
        f"{i},{status},360000,{reason},XB-{i}\n" for i, status, reason in rows)


async def test_a_line_id_is_its_month_and_its_enrolment(core: Core) -> None:
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    lines = await lines_of(core, JANUARY)
    assert len(lines) == 2
    assert [i for i, _, _ in lines] == [line_id(JANUARY, e) for _, e, _ in lines]
    assert all(str(i).startswith("202701") for i, _, _ in lines)


async def test_opening_a_month_twice_is_refused_and_adds_no_line(core: Core) -> None:
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    with pytest.raises(Conflict) as err:
        await open_payroll(core, JANUARY, MAKER)
    assert err.value.code == "payroll.already_open"
    assert len(await lines_of(core, JANUARY)) == 2


async def test_regenerating_before_approval_replaces_the_lines_under_the_same_ids(core: Core, clock) -> None:
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    before = await lines_of(core, JANUARY)
    clock.advance(dt.timedelta(hours=1))
    regenerated = await open_payroll(core, JANUARY, MAKER, regenerate=True)
    after = await lines_of(core, JANUARY)
    assert regenerated.line_count == 2
    assert [(i, e) for i, e, _ in after] == [(i, e) for i, e, _ in before]
    assert all(new > old for (_, _, new), (_, _, old) in zip(after, before, strict=True))  # written again


async def test_export_and_reconcile_go_by_line_id(core: Core, clock) -> None:
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    clock.set(dt.date(2027, 1, 10))  # February's payroll opens from January on
    await open_payroll(core, FEBRUARY, MAKER)  # the next month's range is not January's
    await approve_payroll(core, JANUARY, CHECKER)
    out = io.StringIO()
    assert await export_payroll(core, JANUARY, out, CHECKER) == 2
    exported = [int(row.split(",")[0]) for row in out.getvalue().splitlines()[1:]]
    assert exported == [i for i, _, _ in await lines_of(core, JANUARY)]
    first, second = exported
    result = await reconcile_payroll(core, read_results(bank_file([(first, "paid", ""),
                                                                   (second, "failed", "card_blocked")])), CHECKER)
    assert (result.paid, result.failed, result.refused) == (1, 1, 0)
    async with core.uow() as uow:
        assert (await cycle(uow, JANUARY)).state == "reconciled"
        assert (await cycle(uow, FEBRUARY)).state == "frozen"
        statuses = (await uow.session.scalars(
            select(PayrollLine.status).where(PayrollLine.cycle_month == FEBRUARY))).all()
    assert statuses == ["scheduled", "scheduled"]


async def test_lines_numbered_before_0006_are_still_exported_reconciled_and_regenerated(core: Core, clock) -> None:
    """Lines already sent to a bank keep their ids; a month's queries find them beside the range."""
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    clock.set(dt.date(2027, 1, 10))  # February's payroll opens from January on
    await open_payroll(core, FEBRUARY, MAKER)
    january = await number_as_before_0006(core, JANUARY, 7)
    await number_as_before_0006(core, FEBRUARY, 9)

    await approve_payroll(core, JANUARY, CHECKER)
    out = io.StringIO()
    assert await export_payroll(core, JANUARY, out, CHECKER) == 2
    assert [int(row.split(",")[0]) for row in out.getvalue().splitlines()[1:]] == january == [7, 8]
    result = await reconcile_payroll(core, read_results(bank_file([(7, "paid", ""), (8, "paid", "")])), CHECKER)
    assert (result.paid, result.refused) == (2, 0)
    async with core.uow() as uow:
        assert (await cycle(uow, JANUARY)).state == "reconciled"

    regenerated = await open_payroll(core, FEBRUARY, MAKER, regenerate=True)  # still frozen: renumbered
    assert regenerated.line_count == 2
    assert [i for i, _, _ in await lines_of(core, FEBRUARY)] == [
        line_id(FEBRUARY, e) for _, e, _ in await lines_of(core, FEBRUARY)]
    async with core.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(PayrollLine)) == 4


async def test_a_months_lines_are_found_by_index(core: Core, clock) -> None:
    """By the key's range, and lines numbered before 0006 by the partial index that holds only them."""
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    await number_as_before_0006(core, JANUARY, 7)
    clock.set(dt.date(2027, 1, 10))  # February's payroll opens from January on
    await open_payroll(core, FEBRUARY, MAKER)
    async with core.uow() as uow:
        s = uow.session
        dialect = s.get_bind().dialect
        for month, kind in ((FEBRUARY, "a range"), (JANUARY, "numbered before")):
            stmt = select(func.count(), func.sum(PayrollLine.amount)).where(await month_lines(s, month))
            sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            if dialect.name == "postgresql":
                await s.execute(text("SET LOCAL enable_seqscan = off"))  # any index path will do
                plan = "\n".join((await s.scalars(text("EXPLAIN " + sql))).all())
                assert "Seq Scan" not in plan, (kind, plan)
                assert "pk_payroll_lines" in plan
            else:
                plan = "\n".join(str(row[-1]) for row in (await s.execute(text("EXPLAIN QUERY PLAN " + sql))).all())
                assert "SCAN payroll_lines" not in plan, (kind, plan)
                assert "INTEGER PRIMARY KEY" in plan
            if kind == "numbered before":  # either partial index: both hold only those lines
                assert "_before_0006" in plan, plan
        if dialect.name == "postgresql":
            ddl = await s.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_payroll_lines_before_0006'"))
        else:
            ddl = await s.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'ix_payroll_lines_before_0006'"))
    assert str(FIRST_LINE_ID) in ddl  # the migration's constant is the rule's


async def test_a_familys_lines_are_found_by_key_and_those_numbered_before_0006_by_their_index(core: Core, clock) -> None:
    """No index on the household: its enrolments give its lines' ids; older lines have a partial index."""
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    january = await number_as_before_0006(core, JANUARY, 7)
    clock.set(dt.date(2027, 1, 10))  # February's payroll opens from January on
    await open_payroll(core, FEBRUARY, MAKER)
    async with core.uow() as uow:
        s = uow.session
        households = sorted((await s.scalars(select(PayrollLine.household_id).distinct())).all())
        assert len(households) == 2
        for hid in households:
            history = await payment_history(uow, hid)
            assert [p.month for p in history] == [FEBRUARY, JANUARY]
            where = await household_lines(s, hid)
            ids = sorted((await s.scalars(select(PayrollLine.id).where(where))).all())
            assert ids[0] in january and ids[1] >= FIRST_LINE_ID
            assert ids == sorted((await s.scalars(select(PayrollLine.id).where(PayrollLine.household_id == hid))).all())
            # Found by index: the key for new lines, the partial index for the older ones.
            sql = str(select(PayrollLine.id).where(where).compile(
                dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True}))
            if s.get_bind().dialect.name == "postgresql":
                await s.execute(text("SET LOCAL enable_seqscan = off"))
                plan = "\n".join((await s.scalars(text("EXPLAIN " + sql))).all())
                assert "Seq Scan" not in plan, plan  # on a few rows the key may serve both parts
            else:
                plan = "\n".join(str(r[-1]) for r in (await s.execute(text("EXPLAIN QUERY PLAN " + sql))).all())
                assert "SCAN payroll_lines" not in plan, plan
                assert "ix_payroll_lines_household_before_0006" in plan, plan
        # A family with no enrolment has no lines, and asking costs one probe.
        assert (await s.scalars(select(PayrollLine.id).where(await household_lines(s, 10**9)))).all() == []


async def test_seeded_lines_are_numbered_by_month_and_enrolment(core: Core) -> None:
    from core.seed.loader import seed_registry

    await seed_registry(core, 30, 7)
    async with core.uow() as uow:
        lines = (await uow.session.execute(select(
            PayrollLine.id, PayrollLine.cycle_month, PayrollLine.enrolment_id, PayrollLine.status,
            PayrollLine.bank_reference))).all()
    assert lines
    assert all(i == line_id(month, e) for i, month, e, _, _ in lines)
    assert all(ref == f"XB{i}" for i, _, _, status, ref in lines if status == "paid")
    assert (await seed_registry(core, 10, 8)).households == 10  # seeding more still numbers its rows


async def test_a_registry_upgrades_to_computed_line_ids_keeping_its_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """0006: lines written before keep their ids; one more line of a month and enrolment is refused
    by the key, no longer by a unique index."""
    from core.storage.engine import create_engine
    from core.storage.migrate import upgrade

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'lines.db'}")
    insert = ("INSERT INTO payroll_lines (id, cycle_month, household_id, enrolment_id, programme, amount,"
              " window_start, window_end, status, updated_at) VALUES (:id, '2026-11-01', 1, :e, 'child_benefit',"
              " 360000, '2026-11-04', '2026-11-27', 'sent', '2026-11-03 10:00:00')")
    try:
        await upgrade(engine, "0005")
        async with engine.begin() as conn:
            for n in (1, 2):
                await conn.execute(text(insert), {"id": n, "e": 40 + n})
        await upgrade(engine)
        async with engine.begin() as conn:
            ids = (await conn.execute(text("SELECT id, enrolment_id FROM payroll_lines ORDER BY id"))).all()
            assert [tuple(r) for r in ids] == [(1, 41), (2, 42)]
            await conn.execute(text(insert), {"id": 3, "e": 41})  # the unique index is gone
            indexes = (await conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'payroll_lines'"))).scalars().all()
        assert set(indexes) == {"ix_payroll_lines_household_before_0006", "ix_payroll_lines_before_0006"}
    finally:
        await engine.dispose()
