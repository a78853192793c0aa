"""A seed into an empty registry builds its indexes after the load, and never loses one on the way.

The seed defers indexes on PostgreSQL only (on SQLite it does not pay); the tests that take
``deferring_everywhere`` make it defer on SQLite too, so that the bookkeeping is tested on both.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.seed import bulk, loader
from core.seed.bulk import DEFERRED_TABLE, IndexRestoreError, defer_indexes, restore_indexes
from core.seed.generator import COLUMNS
from core.seed.loader import seed_registry
from core.storage.engine import create_engine
from core.storage.schema import Base, Contact, Household
from core.storage.uow import Core

SEED = 1140


async def schema_of(engine: AsyncEngine) -> set[tuple[Any, ...]]:
    """Every table, index and constraint as the database itself describes it."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            indexes = (await conn.execute(text(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"))).all()
            constraints = (await conn.execute(text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE connamespace = current_schema()::regnamespace"))).all()
            tables = (await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))).all()
            return {("index", *r) for r in indexes} | {("constraint", *r) for r in constraints} | {
                ("table", *r) for r in tables}
        rows = (await conn.execute(text(  # ANALYZE's statistics table aside
            "SELECT type, tbl_name, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%'"))).all()
        return {tuple(r) for r in rows}


async def differences_from_the_models(core: Core) -> list[Any]:
    def diff(connection: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                     Base.metadata))

    async with core.engine.connect() as conn:
        return await conn.run_sync(diff)


async def has_bookkeeping(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return await bulk._has_deferred_table(conn)


async def households(core: Core) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Household)) or 0)


@pytest.fixture
def deferring_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "DEFERS_INDEXES", ("postgresql", "sqlite"))


class Killed(BaseException):
    """What SIGKILL would do to the seed: nothing after it runs, no ``except Exception`` sees it."""


async def test_a_seed_into_an_empty_registry_ends_with_every_index_and_constraint(core: Core) -> None:
    before = await schema_of(core.engine)
    report = await seed_registry(core, 60, SEED, chunk_size=16)
    assert report.households == 60
    assert (report.deferred_indexes > 0) == (core.engine.dialect.name == "postgresql")
    assert await schema_of(core.engine) == before
    assert await differences_from_the_models(core) == []
    # Seeding again adds to the registry and keeps every index up row by row.
    again = await seed_registry(core, 20, SEED + 1, chunk_size=16)
    assert again.households == 20 and again.deferred_indexes == 0
    assert await schema_of(core.engine) == before
    assert await households(core) == 80


async def test_keys_a_foreign_key_relies_on_stay_while_the_others_are_deferred(core: Core) -> None:
    before = await schema_of(core.engine)
    deferred = await defer_indexes(core.engine, COLUMNS)
    try:
        assert "ix_persons_household_figures" in deferred and "ix_exchange_records_pinfl" in deferred
        assert "pk_households" not in deferred and "pk_persons" not in deferred
        if core.engine.dialect.name == "postgresql":
            assert {"uq_persons_pinfl", "pk_facts", "uq_exchange_records_agency_record"} <= set(deferred)
        async with core.engine.connect() as conn:
            saved = {name: ddl for name, ddl in (await conn.execute(text(f"SELECT name, ddl FROM {DEFERRED_TABLE}"))).all()}
        assert set(saved) == set(deferred)
    finally:
        assert set(await restore_indexes(core.engine)) == set(deferred)
    assert await schema_of(core.engine) == before and not await has_bookkeeping(core.engine)


@pytest.mark.usefixtures("deferring_everywhere")
async def test_a_seed_deferring_everywhere_ends_with_every_index_and_constraint(core: Core) -> None:
    before = await schema_of(core.engine)
    report = await seed_registry(core, 30, SEED, chunk_size=8)
    assert report.households == 30 and report.deferred_indexes > 0
    assert await schema_of(core.engine) == before and not await has_bookkeeping(core.engine)
    assert await differences_from_the_models(core) == []


@pytest.mark.usefixtures("deferring_everywhere")
async def test_indexes_a_killed_seed_left_unbuilt_are_built_by_the_next_seed(
        core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    before = await schema_of(core.engine)
    write = bulk.BulkWriter.write
    written = 0

    async def dies_on_the_third_chunk(self: bulk.BulkWriter, chunk: Any) -> None:
        nonlocal written
        if written == 2:
            raise Killed
        written += 1
        await write(self, chunk)

    monkeypatch.setattr(bulk.BulkWriter, "write", dies_on_the_third_chunk)
    with pytest.raises(Killed):
        await seed_registry(core, 40, SEED, chunk_size=8)
    monkeypatch.setattr(bulk.BulkWriter, "write", write)
    assert await households(core) == 16
    assert await has_bookkeeping(core.engine) and await schema_of(core.engine) != before

    report = await seed_registry(core, 10, SEED + 1)
    assert report.deferred_indexes == 0  # the registry held rows: nothing deferred this time
    assert await schema_of(core.engine) == before and not await has_bookkeeping(core.engine)
    assert await differences_from_the_models(core) == []
    assert await households(core) == 26


async def test_a_unique_index_the_rows_break_is_refused_loudly_and_kept_for_the_next_try(core: Core) -> None:
    await seed_registry(core, 10, SEED)
    before = await schema_of(core.engine)
    await defer_indexes(core.engine, ["contacts"])
    # As though a killed load had left this unique index unbuilt and then rows broke it.
    async with core.engine.begin() as conn:
        await conn.execute(text(f"INSERT INTO {DEFERRED_TABLE} (name, ddl) VALUES "
                                "('uq_test_contacts_phone', 'CREATE UNIQUE INDEX uq_test_contacts_phone ON contacts (phone)')"))
        phone = await conn.scalar(select(Contact.phone).order_by(Contact.household_id).limit(1))
        await conn.execute(update(Contact).where(Contact.household_id.in_(
            select(Contact.household_id).order_by(Contact.household_id).limit(2).scalar_subquery())).values(phone=phone))
    try:
        with pytest.raises(IndexRestoreError) as refused:
            await seed_registry(core, 5, SEED + 1)
        assert set(refused.value.failures) == {"uq_test_contacts_phone"}
        assert "uq_test_contacts_phone" in str(refused.value)
        assert await households(core) == 10  # refused before writing anything
        # Everything else is built; the broken one stays on record and is refused again.
        async with core.engine.connect() as conn:
            left = (await conn.execute(text(f"SELECT name FROM {DEFERRED_TABLE}"))).scalars().all()
        assert left == ["uq_test_contacts_phone"]
        with pytest.raises(IndexRestoreError):
            await restore_indexes(core.engine)
    finally:
        async with core.engine.begin() as conn:  # the rows put right, the next try builds it
            await conn.execute(text("UPDATE contacts SET phone = '+998' || CAST(household_id AS TEXT) || '0000000'"))
    assert await restore_indexes(core.engine) == ["uq_test_contacts_phone"]
    async with core.engine.begin() as conn:
        await conn.execute(text("DROP INDEX uq_test_contacts_phone"))
    assert await schema_of(core.engine) == before and not await has_bookkeeping(core.engine)


@pytest.mark.usefixtures("deferring_everywhere")
async def test_a_seed_whose_rows_break_a_unique_key_fails_loudly(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    before = await schema_of(core.engine)
    write = bulk.BulkWriter.write
    first: list[str] = []

    async def repeats_a_pinfl(self: bulk.BulkWriter, chunk: dict[str, list[tuple[Any, ...]]]) -> None:
        persons = chunk["persons"]
        if first:
            persons[0] = (persons[0][0], first[0], *persons[0][2:])
        else:
            first.append(persons[0][1])
        await write(self, chunk)

    monkeypatch.setattr(bulk.BulkWriter, "write", repeats_a_pinfl)
    # PostgreSQL loads without the unique key and refuses to build it; SQLite keeps it (declared
    # in CREATE TABLE) and refuses the row.
    with pytest.raises((IndexRestoreError, IntegrityError)) as refused:
        await seed_registry(core, 20, SEED, chunk_size=10)
    monkeypatch.setattr(bulk.BulkWriter, "write", write)
    if isinstance(refused.value, IndexRestoreError):
        assert set(refused.value.failures) == {"uq_persons_pinfl"}
        assert "uq_persons_pinfl" in str(refused.value)
        async with core.engine.begin() as conn:
            await conn.execute(text("UPDATE persons SET pinfl = '99999999999999' "
                                    "WHERE id = (SELECT MAX(id) FROM persons WHERE pinfl = :p)"), {"p": first[0]})
        assert await restore_indexes(core.engine) == ["uq_persons_pinfl"]
    assert await schema_of(core.engine) == before and not await has_bookkeeping(core.engine)


def test_spsr_db_upgrade_builds_what_a_killed_seed_left(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from spsr.cli import main

    async def kill() -> tuple[set[tuple[Any, ...]], list[str]]:
        engine = create_engine(database_url)
        try:
            return await schema_of(engine), await defer_indexes(engine, COLUMNS)
        finally:
            await engine.dispose()

    async def look() -> tuple[set[tuple[Any, ...]], bool]:
        engine = create_engine(database_url)
        try:
            return await schema_of(engine), await has_bookkeeping(engine)
        finally:
            await engine.dispose()

    before, names = asyncio.run(kill())
    monkeypatch.setenv("SPSR_DATABASE_URL", database_url)
    assert main(["db", "upgrade"]) == 0
    assert f"built {len(names)} indexes and constraints" in capsys.readouterr().out
    assert asyncio.run(look()) == (before, False)


async def test_a_process_starting_builds_what_a_killed_seed_left_but_not_under_a_running_seed(
        database_url: str) -> None:
    """``spsr serve`` (any command building the core) repairs a dead seed's registry, and waits
    for a live one: a seed holds the seed lock while its indexes are deferred."""
    from core.config import Settings
    from spsr.bootstrap import build_core

    engine = create_engine(database_url)
    try:
        before = await schema_of(engine)
        names = await defer_indexes(engine, COLUMNS)
        assert names and await has_bookkeeping(engine)
        if engine.dialect.name == "postgresql":
            async with bulk.seed_lock(engine):  # a seed is loading
                core = await build_core(Settings(database_url=database_url))
                await core.engine.dispose()
                assert await has_bookkeeping(engine) and await schema_of(engine) != before
        core = await build_core(Settings(database_url=database_url))  # the seed is gone
        await core.engine.dispose()
        assert await schema_of(engine) == before and not await has_bookkeeping(engine)
    finally:
        await engine.dispose()


async def test_a_lane_killed_mid_seed_fails_the_seed_loudly_and_leaves_whole_chunks_and_every_index(
        core: Core) -> None:
    """SIGKILL one of the worker processes: the seed stops with an error, what was committed is whole
    chunks (each household with its people), and the indexes deferred for the load are built again."""
    import multiprocessing
    import os
    import signal

    before = await schema_of(core.engine)
    killed = False

    def kill_a_lane(done: int, total: int) -> None:
        nonlocal killed
        if not killed and done >= 16:
            lanes = multiprocessing.active_children()
            assert lanes
            os.kill(lanes[0].pid, signal.SIGKILL)
            killed = True

    with pytest.raises(Exception) as failed:
        await seed_registry(core, 2000, SEED, chunk_size=8, lanes=2, on_progress=kill_a_lane)
    assert killed and "a seed worker process died" in str(failed.value)
    async with core.sessions() as s:
        loaded = await households(core)
        empty = await s.scalar(text(
            "SELECT COUNT(*) FROM households h WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.household_id = h.id)"))
    assert 16 <= loaded < 2000 and loaded % 8 == 0 and empty == 0
    assert await schema_of(core.engine) == before and not await has_bookkeeping(core.engine)
