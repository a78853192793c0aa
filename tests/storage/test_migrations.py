"""Alembic builds exactly the models' schema, on both databases, from one linear history."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from core.storage.migrate import head_revision, is_current
from core.storage.schema import Base
from core.storage.uow import Core

pytestmark = pytest.mark.postgres


def test_one_head() -> None:
    assert head_revision()


async def test_migrations_match_the_models(core: Core) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)

    async with core.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []
    assert await is_current(core.engine)


async def test_a_registry_with_data_upgrades_from_the_first_revision(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SQLite alters tables by copying them: rows that point at a copied table must not stop it."""
    from core.clock import FixedClock
    from core.rates import RateBook
    from core.seed.loader import seed_registry
    from core.storage.engine import create_engine, session_factory
    from core.storage.migrate import current_revision, upgrade

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(engine, "0001")
        import datetime as dt

        from sqlalchemy import text

        core = Core(engine=engine, sessions=session_factory(engine), clock=FixedClock(dt.date(2026, 12, 10)),
                    book=RateBook.load())
        async with engine.begin() as conn:  # a registry written under revision 0001
            await conn.execute(text(
                "INSERT INTO regions VALUES ('1726', 'UZ-TK', 'Toshkent shahri', 'город Ташкент', NULL, 'Tashkent')"))
            await conn.execute(text(
                "INSERT INTO districts VALUES ('1726262', '1726', 'district', 'Yunusobod tumani', 'Юнусабадский район',"
                " NULL, 'Yunusobod', 0)"))
            await conn.execute(text("INSERT INTO mahallas VALUES (1, '1726262', 'Navbahor', NULL, NULL)"))
            await conn.execute(text(
                "INSERT INTO households (id, region_soato, district_soato, mahalla_id, address, created_at,"
                " data_changed_at, assessed_at) VALUES (1, '1726', '1726262', 1, 'Navbahor 1', '2026-01-01 10:00:00',"
                " '2026-01-01 10:00:00', NULL)"))
            await conn.execute(text(
                "INSERT INTO persons (id, pinfl, household_id, relation, surname, given_name, birth_date, sex)"
                " VALUES (1, '31403855260011', 1, 'head', 'Karimov', 'Anvar', '1985-03-14', 'm')"))
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT COUNT(*) FROM persons"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1  # back on
        assert (await seed_registry(core, 10, 1)).households == 10  # and the registry still works
    finally:
        await engine.dispose()


async def test_a_current_database_is_opened_without_reading_every_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every command opens the database through ``upgrade``: at the head revision it runs nothing,
    where SQLite's foreign key check after a migration reads every row (seconds at national size)."""
    from sqlalchemy import event

    from core.storage.engine import create_engine
    from core.storage.migrate import upgrade

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'current.db'}")
    seen: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: seen.append(statement))
    try:
        await upgrade(engine)
        assert any("foreign_key_check" in s for s in seen)  # a migration ran: checked
        seen.clear()
        await upgrade(engine)
        assert not any("foreign_key_check" in s or "foreign_keys=OFF" in s for s in seen)
        assert await is_current(engine)
    finally:
        await engine.dispose()


async def test_facts_learn_their_exchange_record_on_upgrade(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """0005: each fact held before it gets the id of the exchange record it came from."""
    from sqlalchemy import text

    from core.storage.engine import create_engine
    from core.storage.migrate import upgrade

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'facts.db'}")
    try:
        await upgrade(engine, "0004")
        async with engine.begin() as conn:
            for rid, (agency, record) in enumerate((("soliq", "W-1"), ("soliq", "W-2"), ("yhxbb", "W-1")), 1):
                await conn.execute(text(
                    "INSERT INTO exchange_records (id, agency, agency_record_id, item, pinfl, value, as_of,"
                    " received_at, status) VALUES (:id, :a, :r, 'soliq.wage', '31403855260011', '{}',"
                    " '2026-12-01', '2026-12-05 10:00:00', 'current')"), {"id": rid * 10, "a": agency, "r": record})
            await conn.execute(text(
                "INSERT INTO facts (pinfl, item, household_id, value, agency, agency_record_id, as_of, received_at)"
                " VALUES ('31403855260011', 'soliq.wage|x', 1, '{}', 'yhxbb', 'W-1', '2026-12-01',"
                " '2026-12-05 10:00:00')"))
        await upgrade(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT record_id FROM facts"))).scalar() == 30
    finally:
        await engine.dispose()


async def test_a_bulk_decision_written_before_0008_reads_the_same_after_it_and_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """0008 moves a bulk decision's figures from JSON to columns for new rows only: one written
    before keeps its JSON and reads as the same document; a downgrade drops the columns, keeping
    every row."""
    import json

    from alembic import command
    from sqlalchemy import select, text

    from core.rates import RateBook
    from core.services.decisions import decision_document
    from core.storage.engine import create_engine, session_factory
    from core.storage.migrate import alembic_config, upgrade
    from core.storage.schema import Decision

    figures = {"members": 3, "income_total": 900_000, "able_members": 1, "children": 2,
               "youngest_child_birth_date": "2025-01-01", "residential_properties": 1,
               "non_residential_properties": 0, "roadworthy_vehicles": 0, "newest_roadworthy_year": None,
               "bank_balance_total": 0, "amount_total": 600_000}
    inputs = {"trigger": "assessment", "form": "set-based", "scheme": "categories", "figures": figures,
              "sources": []}
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'decisions.db'}")
    try:
        await upgrade(engine, "0007")
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # the decision alone is enough here
            await conn.execute(text(
                "INSERT INTO decisions (id, household_id, application_id, decided_on, eligible, category, programme,"
                " amount, share_percent, duration_months, mce, income_per_member, reasons, inputs, created_at)"
                " VALUES (1, 1, NULL, '2026-12-10', 1, 'poor', 'child_benefit', 600000, 100, 6, 900000, 100000,"
                " '[]', :inputs, '2026-12-10 10:00:00')"), {"inputs": json.dumps(inputs)})
            await conn.commit()
        await upgrade(engine)
        async with session_factory(engine)() as session:
            row = (await session.execute(select(Decision))).scalar_one()
            assert row.members is None and row.sources is None
            document = decision_document(row, RateBook.load())
        assert {k: document["inputs"][k] for k in figures} == figures
        assert document["members"] == 3 and document["inputs"]["scheme"] == "categories"

        def down(connection):  # type: ignore[no-untyped-def]
            command.downgrade(alembic_config(connection), "0007")

        async with engine.connect() as conn:
            await conn.run_sync(down)
            await conn.commit()
            columns = {r[1] for r in (await conn.exec_driver_sql("PRAGMA table_info(decisions)")).all()}
            assert "members" not in columns and "sources" not in columns
            assert (await conn.execute(text("SELECT COUNT(*) FROM decisions"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_enrolments_lose_their_checked_keys_and_keep_their_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """0009 drops the enrolments' checked keys (SQLite copies the table to do it) and adds a partial
    index after the copy; a downgrade puts the keys back. Either way every enrolment stays, with its
    household and decision."""
    from alembic import command
    from sqlalchemy import inspect, text

    from core.storage.engine import create_engine
    from core.storage.migrate import alembic_config, upgrade

    def keys(connection):  # type: ignore[no-untyped-def]
        return {fk["referred_table"] for fk in inspect(connection).get_foreign_keys("enrolments")}

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'enrolments.db'}")
    try:
        await upgrade(engine, "0008")
        async with engine.connect() as conn:
            assert await conn.run_sync(keys) == {"households", "decisions"}
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # the enrolments alone are enough here
            for i in (1, 2):
                await conn.execute(text(
                    "INSERT INTO enrolments (id, household_id, programme, category, decision_id, first_month,"
                    " last_month, amount, state) VALUES (:i, :i, 'child_benefit', 'poor', :d, '2027-01-01',"
                    " '2027-06-01', 600000, 'active')"), {"i": i, "d": 10 + i})
            await conn.commit()
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(keys) == set()
            assert (await conn.execute(text("SELECT SUM(household_id), SUM(decision_id) FROM enrolments"))).one() \
                == (3, 23)
            indexes = {r[1] for r in (await conn.exec_driver_sql("PRAGMA index_list(enrolments)")).all()}
            assert {"ix_enrolments_household_state", "ix_enrolments_period", "ix_enrolments_ending"} <= indexes
            ending = (await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'ix_enrolments_ending'")))
            assert "WHERE state = 'active' AND ended_on IS NOT NULL" in ending.scalar()  # still partial

        def down(connection):  # type: ignore[no-untyped-def]
            command.downgrade(alembic_config(connection), "0008")

        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # as core.storage.migrate.upgrade does
            await conn.run_sync(down)
            await conn.commit()
            assert await conn.run_sync(keys) == {"households", "decisions"}
            assert (await conn.execute(text("SELECT COUNT(*) FROM enrolments"))).scalar() == 2
    finally:
        await engine.dispose()
