"""Load a synthetic registry into the database: territory first, then households in chunks.

Memory stays bounded whatever the size: the generator makes one chunk of households at a time
(in a worker thread, or a worker process for large runs, while the previous chunk is being
written), the bulk writer sends it in one
transaction, and only counters (ids, PINFL and phone serials, numbers handed out) outlive a
chunk. Ids are pre-assigned after the largest id already stored, so seeding a registry that
already holds households adds to it.

Into an empty registry on PostgreSQL the tables are loaded without the indexes and keys no
foreign key needs (:func:`core.seed.bulk.defer_indexes`), which are built once at the end; a
registry that holds rows keeps all of them, maintained row by row. What a killed seed left
unbuilt is built at the start of the next one (or by ``spsr db upgrade``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from core import payments as pay_rules
from core.identity import Pinfl
from core.rates import RateBook
from core.seed.bulk import BulkWriter, IndexRestoreError, defer_indexes, restore_indexes
from core.seed.generator import (
    COLUMNS,
    ID_TABLES,
    Chunk,
    Counters,
    Generator,
    TerritoryIndex,
    payroll_months,
)
from core.services.territory import district_weight, load_territory, region_profiles
from core.storage.schema import (
    Application,
    Base,
    Contact,
    District,
    Grievance,
    Household,
    Mahalla,
    PaymentCycle,
    Person,
)
from core.storage.uow import Core

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 2000
SEEDED_BY = "seed"


@dataclass
class SeedReport:
    """What a seeding run wrote, and how fast."""

    households: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    skipped: bool = False  # --if-empty found households already
    deferred_indexes: int = 0  # built after the load rather than kept up row by row
    index_seconds: float = 0.0  # building them

    @property
    def per_second(self) -> float:
        return self.households / self.seconds if self.seconds else 0.0


async def has_households(core: Core) -> bool:
    async with core.engine.connect() as conn:
        return (await conn.scalar(select(Household.id).limit(1))) is not None


async def seeded_tables_empty(conn: AsyncConnection) -> bool:
    """Whether every table the seed writes is empty (then the load may defer their indexes)."""
    for name in COLUMNS:
        if await conn.scalar(text(f"SELECT 1 FROM {name} LIMIT 1")) is not None:  # noqa: S608 - fixed names
            return False
    return True


async def territory_index(conn: AsyncConnection) -> TerritoryIndex:
    """Weights and mahallas of the territory as stored (regions without mahallas are left out)."""
    profiles = region_profiles()
    districts = (await conn.execute(select(District.soato, District.region_soato).order_by(District.soato))).all()
    mahallas: dict[str, list[tuple[int, str]]] = {}
    for mid, district, name in (await conn.execute(
            select(Mahalla.id, Mahalla.district_soato, Mahalla.name_uz).order_by(Mahalla.id))).all():
        mahallas.setdefault(district, []).append((mid, name))
    units = Counter(r for _, r in districts)
    by_region: dict[str, tuple[list[str], list[float]]] = {}
    for soato, region in districts:
        if soato not in mahallas:
            continue
        population = profiles[region].population if region in profiles else 1_000_000
        soatos, weights = by_region.setdefault(region, ([], []))
        soatos.append(soato)
        weights.append(district_weight(soato, population, units[region]))
    regions = tuple(sorted(by_region))
    if not regions:
        raise RuntimeError("no mahallas in the database: load the territory first")
    return TerritoryIndex(
        regions=regions,
        region_weights=tuple(float(profiles[r].population if r in profiles else 1_000_000) for r in regions),
        ru_share={r: profiles[r].ru_share if r in profiles else 0.1 for r in regions},
        kaa_share={r: profiles[r].kaa_share if r in profiles else 0.0 for r in regions},
        districts={r: (tuple(s), tuple(w)) for r, (s, w) in by_region.items()},
        mahallas={d: tuple(m) for d, m in mahallas.items()},
    )


async def counters_from(conn: AsyncConnection) -> Counters:
    """Where numbering resumes, read from what is stored (nothing to read in an empty registry)."""
    counters = Counters.empty()
    for table in ID_TABLES:
        top = await conn.scalar(text(f"SELECT MAX(id) FROM {table}"))  # noqa: S608 - fixed table names
        counters.next_id[table] = int(top or 0) + 1
    if counters.next_id["persons"] > 1:
        prefix = func.substr(Person.pinfl, 1, 7)
        for key, n in (await conn.execute(select(prefix, func.count()).group_by(prefix))).all():
            p = Pinfl(key + "0000000")
            counters.pinfl_used[(p.birth_date, p.sex)] = int(n)
        phone_prefix = func.substr(Contact.phone, 5, 2)
        for key, n in (await conn.execute(select(phone_prefix, func.count()).group_by(phone_prefix))).all():
            counters.phones_used[key] = int(n)
    if counters.next_id["applications"] > 1:
        counters.applications = int(await conn.scalar(select(func.count()).select_from(Application)) or 0)
        counters.application_numbers = set((await conn.scalars(select(Application.number))).all())
    if counters.next_id["grievances"] > 1:
        counters.grievance_numbers = set((await conn.scalars(select(Grievance.number))).all())
    return counters


async def _ensure_cycles(conn: AsyncConnection, core: Core, months: tuple[dt.date, ...]) -> None:
    """Payment cycles the generated lines belong to: past months reconciled, this month frozen."""
    existing = set((await conn.scalars(select(PaymentCycle.month).where(PaymentCycle.month.in_(months)))).all())
    now = core.clock.now()
    this_month = core.clock.today().replace(day=1)
    for month in months:
        if month in existing:
            continue
        window = pay_rules.payment_window(month, core.book)
        opened = min(now, dt.datetime.combine(month, dt.time(8, 0), tzinfo=now.tzinfo))
        past = month < this_month
        approved = min(now, dt.datetime.combine(window.first_day - dt.timedelta(days=1), dt.time(11, 0),
                                                tzinfo=now.tzinfo))
        await conn.execute(insert(PaymentCycle).values(
            month=month, state="reconciled" if past else "frozen", window_start=window.first_day,
            window_end=window.last_day, opened_by=SEEDED_BY, opened_at=opened,
            approved_by=SEEDED_BY if past else None, approved_at=approved if past else None,
            line_count=0, total_amount=0,
        ))


async def dangling_references(conn: AsyncConnection, first_ids: dict[str, int]) -> dict[str, int]:
    """Rows written from ``first_ids`` on whose foreign keys point nowhere, per ``table.column``."""
    out: dict[str, int] = {}
    for name in COLUMNS:
        table = Base.metadata.tables[name]
        key = "id" if "id" in table.c else "household_id"
        first = first_ids["households" if key == "household_id" else name]
        for fk in table.foreign_keys:
            col, target = fk.parent.name, fk.column
            n = await conn.scalar(text(
                f"SELECT COUNT(*) FROM {name} t WHERE t.{key} >= :first AND t.{col} IS NOT NULL "  # noqa: S608
                f"AND NOT EXISTS (SELECT 1 FROM {target.table.name} p WHERE p.{target.name} = t.{col})"
            ), {"first": first})
            if n:
                out[f"{name}.{col}"] = int(n)
    return out


async def _finish(conn: AsyncConnection, months: tuple[dt.date, ...]) -> None:
    """Cycle totals from their lines; PostgreSQL sequences past the ids we assigned; statistics."""
    await conn.execute(text(
        "UPDATE payment_cycles SET "
        "line_count = (SELECT COUNT(*) FROM payroll_lines l WHERE l.cycle_month = payment_cycles.month), "
        "total_amount = (SELECT COALESCE(SUM(l.amount), 0) FROM payroll_lines l "
        "WHERE l.cycle_month = payment_cycles.month) "
        "WHERE month IN (" + ", ".join(f":m{i}" for i in range(len(months))) + ")"
    ), {f"m{i}": m for i, m in enumerate(months)})
    if conn.dialect.name == "postgresql":
        for table in ID_TABLES:
            await conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed names
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ))
        await conn.execute(text("ANALYZE " + ", ".join(COLUMNS)))
    else:
        await conn.execute(text("ANALYZE"))


# Where loading an empty registry without its indexes pays. PostgreSQL, 1,000,000 households on
# two cores: 853 s instead of 1,046 s, of which writing chunks 353 s instead of 799 s and the
# server's CPU 187 s instead of 339 s, building the 42 indexes (111 s) included. Keeping the 22
# led by an id or household id (appended in order) cost more than building them (960 s; the
# server 148 s of CPU during the load instead of 76 s). SQLite gains nothing measurable (200,000
# households: the same CPU, the peak memory 257 MB -> 375 MB): its random-keyed keys (a PINFL, an
# agency's record id) are declared in CREATE TABLE and cannot be dropped.
DEFERS_INDEXES = ("postgresql",)

# Above this many households the generator runs in its own process (one more CPU, no GIL shared
# with the writer); below it, a thread is quicker to start.
PROCESS_FROM = 20_000

_worker: Generator | None = None


def _start_worker(seed: int, index: TerritoryIndex, counters: Counters, today: dt.date, now: dt.datetime) -> None:
    global _worker
    _worker = Generator(random.Random(seed), index, counters, RateBook.load(), today, now)


def _worker_chunk(n: int) -> Chunk:
    assert _worker is not None
    return _worker.chunk(n)


async def seed_registry(
    core: Core,
    households: int,
    seed: int,
    *,
    if_empty: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    on_progress: Callable[[int, int], None] | None = None,
    process: bool | None = None,
) -> SeedReport:
    """Load the territory, then ``households`` synthetic households made from ``seed``.

    ``process`` runs the generator in a worker process (default: from :data:`PROCESS_FROM`
    households on, when the core uses the shipped rate book, which the worker loads itself). The
    worker is started with ``spawn``, which re-imports the ``__main__`` module: a script calling
    this must guard its entry point with ``if __name__ == "__main__"`` (``spsr`` does).
    """
    report = SeedReport()
    started = time.perf_counter()
    # Indexes a seed killed half-way left unbuilt come first: nothing below may run without them.
    leftovers = await restore_indexes(core.engine)
    if leftovers:
        log.warning("built %d indexes and constraints an unfinished seed had left unbuilt: %s",
                    len(leftovers), ", ".join(leftovers))
    if if_empty and await has_households(core):
        report.skipped = True
        return report
    await load_territory(core)
    today, now = core.clock.today(), core.clock.now()
    months = payroll_months(today)
    async with core.engine.begin() as conn:
        index = await territory_index(conn)
        counters = await counters_from(conn)
        await _ensure_cycles(conn, core, months)
        empty = await seeded_tables_empty(conn)
    first_ids = dict(counters.next_id)
    if process is None:
        process = households >= PROCESS_FROM and core.book is RateBook.load()
    pool: ProcessPoolExecutor | None = None
    if process:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                                   initargs=(seed, index, counters, today, now))
        loop = asyncio.get_running_loop()

        async def make_async(n: int) -> Chunk | None:
            return await loop.run_in_executor(pool, _worker_chunk, n) if n > 0 else None
    else:
        generator = Generator(random.Random(seed), index, counters, core.book, today, now)

        def make(n: int) -> Chunk | None:
            return generator.chunk(n) if n > 0 else None

        async def make_async(n: int) -> Chunk | None:
            return await asyncio.to_thread(make, n)

    defer = empty and households > 0 and core.engine.dialect.name in DEFERS_INDEXES
    deferred = await defer_indexes(core.engine, COLUMNS) if defer else []
    report.deferred_indexes = len(deferred)
    try:
        writer = await _load(make_async, households=households, chunk_size=chunk_size,
                             core=core, report=report, on_progress=on_progress, pool=pool)
    except Exception:
        if deferred:
            try:
                await restore_indexes(core.engine)
            except Exception:
                log.exception("the seed failed, and so did building its deferred indexes again: "
                              "the next seed or `spsr db upgrade` tries again")
        raise
    unbuilt: IndexRestoreError | None = None
    if deferred:
        index_started = time.perf_counter()
        try:
            await restore_indexes(core.engine)
        except IndexRestoreError as exc:
            unbuilt = exc  # raised once the rows are checked and the sequences set
        report.index_seconds = time.perf_counter() - index_started
    async with core.engine.begin() as conn:
        if not writer.references_checked_per_row:
            dangling = await dangling_references(conn, first_ids)
            if dangling:
                raise RuntimeError(f"seeded rows with dangling references: {dangling}")
        await _finish(conn, months)
    if unbuilt is not None:
        raise unbuilt
    report.seconds = time.perf_counter() - started
    log.info("seeded %d households (%s) in %.1f s%s", report.households,
             ", ".join(f"{t} {n}" for t, n in report.rows.items()), report.seconds,
             f", {len(deferred)} indexes built afterwards in {report.index_seconds:.1f} s" if deferred else "")
    return report


async def _load(
    make_async: Callable[[int], Coroutine[Any, Any, Chunk | None]],
    *,
    households: int,
    chunk_size: int,
    core: Core,
    report: SeedReport,
    on_progress: Callable[[int, int], None] | None,
    pool: ProcessPoolExecutor | None,
) -> BulkWriter:
    """Write chunks until ``households`` are in; the writer (which says how references were checked)."""
    done = 0
    writer = BulkWriter(core.engine, COLUMNS)
    async with writer:
        # Make the next chunk in a worker thread while this one is written.
        pending = asyncio.create_task(make_async(min(chunk_size, households)))
        try:
            while True:
                chunk = await pending
                if chunk is None:
                    break
                done += chunk.households
                pending = asyncio.create_task(make_async(min(chunk_size, households - done)))
                await writer.write(chunk.rows)
                for table, rows in chunk.rows.items():
                    report.rows[table] += len(rows)
                report.households = done
                if on_progress is not None:
                    on_progress(done, households)
        finally:
            if not pending.done():
                with contextlib.suppress(Exception):
                    await pending
            if pool is not None:
                pool.shutdown()
    return writer
