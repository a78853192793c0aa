"""Load a synthetic registry into the database: territory first, then households in chunks.

Memory stays bounded whatever the size: the generator makes one chunk of households at a time
(in a worker thread, or a worker process for large runs, while the previous chunk is being
written), the bulk writer sends it in one
transaction, and only counters (ids, PINFL and phone serials, numbers handed out) outlive a
chunk. Ids are pre-assigned after the largest id already stored, so seeding a registry that
already holds households adds to it; never to a payroll it holds, which is frozen (the families
it adds go unpaid in those months).

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
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core import payments as pay_rules
from core.rates import RateBook
from core.seed.bulk import BulkWriter, IndexRestoreError, defer_indexes, restore_indexes, seed_lock
from core.seed.generator import (
    COLUMNS,
    ENCODED,
    ID_TABLES,
    PHONE_MULTIPLIER,
    PHONE_OFFSET,
    PHONE_SERIALS,
    PINFL_DAY_STEP,
    PINFL_FEMALE_STEP,
    PINFL_FIRST,
    PINFL_MULTIPLIER,
    PINFL_SERIALS,
    Chunk,
    Counters,
    Generator,
    TerritoryIndex,
    payroll_months,
)
from core.services.territory import district_weight, load_territory, region_profiles
from core.storage.engine import create_engine
from core.storage.schema import (
    Application,
    Base,
    District,
    Grievance,
    Household,
    Mahalla,
    PaymentCycle,
)
from core.storage.uow import Core

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 2000
SEEDED_BY = "seed"
SEEDED_CHECKER = "seed.checker"  # maker-checker: the seeded payrolls are approved by a second person


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
        counters.pinfl_used.update(await _serials_used(conn, _PINFL_SERIALS))
    if counters.next_id["households"] > 1:
        counters.phones_used.update(await _serials_used(conn, _PHONE_SERIALS))
    if counters.next_id["applications"] > 1:
        counters.applications = int(await conn.scalar(select(func.count()).select_from(Application)) or 0)
        counters.application_numbers = set((await conn.scalars(select(Application.number))).all())
    if counters.next_id["grievances"] > 1:
        counters.grievance_numbers = set((await conn.scalars(select(Grievance.number))).all())
    counters.payrolls_kept = frozenset((await conn.scalars(select(PaymentCycle.month).where(
        PaymentCycle.line_count > 0))).all())  # an empty one is a seed's unfinished work: see _ensure_cycles
    return counters


# Where numbering of PINFLs (per birth date and sex) and phones (per prefix) resumes: past the
# highest serial a seed used, which the generator's permutation gives back (serials of seeds made
# in lanes have gaps, so their count is not enough), and never before the count. A number that did
# not come from a seed (a real person's) reads as a random serial; those in the upper half of the
# space are ignored, so one can only move numbering on, never near the end of the space.
_PINFL_SERIALS = f"""
SELECT birth_date, sex, COUNT(*), MAX(CASE WHEN serial < {PINFL_SERIALS // 2} THEN serial END) FROM (
  SELECT birth_date, sex, ((((CAST(substr(pinfl, 8, 6) AS BIGINT) - {PINFL_FIRST}
      - (CAST({{ordinal}} AS BIGINT) * {PINFL_DAY_STEP} + CASE WHEN sex = 'f' THEN {PINFL_FEMALE_STEP} ELSE 0 END)
        % {PINFL_SERIALS}) % {PINFL_SERIALS}
      + {PINFL_SERIALS}) % {PINFL_SERIALS}) * {pow(PINFL_MULTIPLIER, -1, PINFL_SERIALS)}) % {PINFL_SERIALS} AS serial
  FROM persons WHERE sex IN ('m', 'f') AND length(pinfl) = 14
) s GROUP BY birth_date, sex
"""
_PHONE_SERIALS = f"""
SELECT prefix, COUNT(*), MAX(CASE WHEN serial < {PHONE_SERIALS // 2} THEN serial END) FROM (
  SELECT prefix, ((((CAST(tail AS BIGINT) - CAST(prefix AS BIGINT) * {PHONE_OFFSET}) % {PHONE_SERIALS}
      + {PHONE_SERIALS}) % {PHONE_SERIALS}) * {pow(PHONE_MULTIPLIER, -1, PHONE_SERIALS)}) % {PHONE_SERIALS} AS serial
  FROM (SELECT substr(phone, 5, 2) AS prefix, substr(phone, 7, 7) AS tail FROM contacts
        WHERE phone LIKE '+998%' AND length(phone) = 13) c
) s GROUP BY prefix
"""


async def _serials_used(conn: AsyncConnection, sql: str) -> dict[Any, int]:
    """Next serial per key, from one of the queries above."""
    if conn.dialect.name == "postgresql":
        ordinal = "(birth_date - DATE '0001-01-01' + 1)"
    else:
        ordinal = "(CAST(julianday(birth_date) - julianday('0001-01-01') AS INTEGER) + 1)"
    out: dict[Any, int] = {}
    for *key, count, top in (await conn.execute(text(sql.replace("{ordinal}", ordinal)))).all():
        if len(key) == 2:
            birth = key[0] if isinstance(key[0], dt.date) else dt.date.fromisoformat(key[0])
            k: Any = (birth, key[1])
        else:
            k = key[0]
        out[k] = max(int(count), -1 if top is None else int(top) + 1)
    return out


def seeded_cycle_state(month: dt.date, today: dt.date, window: pay_rules.PaymentWindow) -> str:
    """The state a seeded cycle is in, matching the lines the generator wrote for it: a month
    whose lines are all paid or failed is ``reconciled``; this month, once its window has begun
    (lines sent to the bank, some paid), ``approved``; before it, ``frozen`` (all scheduled)."""
    if month < today.replace(day=1) or today > window.last_day:
        return "reconciled"
    return "approved" if today >= window.first_day else "frozen"


async def _ensure_cycles(conn: AsyncConnection, core: Core, months: tuple[dt.date, ...]) -> tuple[dt.date, ...]:
    """Payment cycles the generated lines belong to, in the state their lines say
    (:func:`seeded_cycle_state`); opened by one seed actor, approved by another. Made before the
    lines, so that nobody opens one of these months meanwhile; a month that has a payroll keeps it
    as it is (no line is generated in it). A payroll is never opened empty, so an empty cycle is
    one a seed made and never finished (killed half-way): this seed fills and finishes it. The
    months whose cycles this seed finishes."""
    counted = dict((await conn.execute(select(PaymentCycle.month, PaymentCycle.line_count).where(
        PaymentCycle.month.in_(months)))).all())
    now, today = core.clock.now(), core.clock.today()
    made = tuple(m for m in months if not counted.get(m))
    for month in (m for m in made if m not in counted):
        window = pay_rules.payment_window(month, core.book)
        opened = min(now, dt.datetime.combine(month, dt.time(8, 0), tzinfo=now.tzinfo))
        state = seeded_cycle_state(month, today, window)
        approved = min(now, dt.datetime.combine(window.first_day - dt.timedelta(days=1), dt.time(11, 0),
                                                tzinfo=now.tzinfo))
        frozen = state == "frozen"
        await conn.execute(insert(PaymentCycle).values(
            month=month, state=state, window_start=window.first_day,
            window_end=window.last_day, opened_by=SEEDED_BY, opened_at=opened,
            approved_by=None if frozen else SEEDED_CHECKER, approved_at=None if frozen else approved,
            line_count=0, total_amount=0,
        ))
    return made


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
    """The totals of the cycles this seed made (``months``) from their lines, and no cycle for a
    month it wrote no line in (a month nobody is paid in has no payroll); PostgreSQL sequences
    past the ids we assigned; statistics."""
    if months:
        where = "month IN (" + ", ".join(f":m{i}" for i in range(len(months))) + ")"
        params = {f"m{i}": m for i, m in enumerate(months)}
        await conn.execute(text(
            "UPDATE payment_cycles SET "
            "line_count = (SELECT COUNT(*) FROM payroll_lines l WHERE l.cycle_month = payment_cycles.month), "
            "total_amount = (SELECT COALESCE(SUM(l.amount), 0) FROM payroll_lines l "
            f"WHERE l.cycle_month = payment_cycles.month) WHERE {where}"  # noqa: S608 - placeholders only
        ), params)
        await conn.execute(text(f"DELETE FROM payment_cycles WHERE line_count = 0 AND {where}"), params)  # noqa: S608
    if conn.dialect.name == "postgresql":
        for table in ID_TABLES:
            await conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed names
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ))
        await conn.execute(text("ANALYZE " + ", ".join(COLUMNS)))
    else:
        await conn.execute(text("ANALYZE"))


async def _vacuum(engine: AsyncEngine) -> None:
    """On PostgreSQL, vacuum the loaded tables once, as after any bulk load.

    Rows fresh from COPY carry no hint bits and no page is marked all-visible: left so, the first
    reader (the first ``spsr assess --all``) sets hint bits on every page it reads, writing the
    registry out again, and cannot use an index-only scan. At 200,000 households the facts of a
    range of 20,000 were read through the heap and hashed (250 ms, spilling to disk); once vacuumed,
    from the (household_id, record_id) index alone, in order (100 ms)."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM " + ", ".join(COLUMNS)))


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

# On PostgreSQL a large seed runs in this many lanes: worker processes that each generate their
# share of the households with their own lane of the counters and COPY it through their own
# connection, so generating (Python, one core a lane) and loading overlap, and the rows never go
# through the parent. The rows a seed makes depend on the number of lanes, as on the seed, so the
# default does not follow the machine's cores: `spsr seed --lanes N` asks for more.
LANES = 2
MAX_LANES = 16

_worker: Generator | None = None


def _start_worker(seed: int, index: TerritoryIndex, counters: Counters, today: dt.date, now: dt.datetime) -> None:
    global _worker
    _worker = Generator(random.Random(seed), index, counters, RateBook.load(), today, now)


def _worker_chunk(n: int) -> Chunk:
    assert _worker is not None
    return _worker.chunk(n)


def lane_rng(seed: int, lane: int) -> random.Random:
    """Lane 0 draws from the seed itself (a one-lane seed is what it always was)."""
    return random.Random(seed if lane == 0 else f"{seed}/lane {lane}")


@dataclass
class _Lane:
    generator: Generator
    loop: asyncio.AbstractEventLoop
    engine: AsyncEngine
    writer: BulkWriter | None = None


_lane: _Lane | None = None


def _start_lane(seed: int, index: TerritoryIndex, counters: Counters, today: dt.date, now: dt.datetime,
                url: str) -> None:
    global _lane
    _lane = _Lane(Generator(lane_rng(seed, counters.lane), index, counters, RateBook.load(), today, now),
                  asyncio.new_event_loop(), create_engine(url, pool_size=1, max_overflow=0))


def _lane_chunk(n: int) -> tuple[int, dict[str, int], bool]:
    """Make and write ``n`` households in this lane: (households, rows per table, whether the
    writer's connection checks references row by row)."""
    lane = _lane
    assert lane is not None
    if lane.writer is None:
        lane.writer = BulkWriter(lane.engine, COLUMNS, ENCODED)
        lane.loop.run_until_complete(lane.writer.__aenter__())
    chunk = lane.generator.chunk(n)
    lane.loop.run_until_complete(lane.writer.write(chunk.rows))
    return chunk.households, {t: len(rows) for t, rows in chunk.rows.items()}, lane.writer.references_checked_per_row


def _lane_close() -> None:
    lane = _lane
    if lane is not None:
        if lane.writer is not None:
            lane.loop.run_until_complete(lane.writer.__aexit__(None, None, None))
        lane.loop.run_until_complete(lane.engine.dispose())


async def seed_registry(
    core: Core,
    households: int,
    seed: int,
    *,
    if_empty: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    on_progress: Callable[[int, int], None] | None = None,
    process: bool | None = None,
    lanes: int | None = None,
) -> SeedReport:
    """Load the territory, then ``households`` synthetic households made from ``seed``.

    ``process`` runs the generator in a worker process (default: from :data:`PROCESS_FROM`
    households on, when the core uses the shipped rate book, which the worker loads itself). The
    worker is started with ``spawn``, which re-imports the ``__main__`` module: a script calling
    this must guard its entry point with ``if __name__ == "__main__"`` (``spsr`` does).

    ``lanes`` generators write at once, each in its own process with its own connection
    (default: :data:`LANES` on PostgreSQL when ``process``, else one).
    """
    async with seed_lock(core.engine):  # one seed at a time; no start-up builds its indexes under it
        return await _seed_registry(core, households, seed, if_empty=if_empty, chunk_size=chunk_size,
                                    on_progress=on_progress, process=process, lanes=lanes)


async def _seed_registry(
    core: Core,
    households: int,
    seed: int,
    *,
    if_empty: bool,
    chunk_size: int,
    on_progress: Callable[[int, int], None] | None,
    process: bool | None,
    lanes: int | None,
) -> SeedReport:
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
        made = await _ensure_cycles(conn, core, months)
        empty = await seeded_tables_empty(conn)
    first_ids = dict(counters.next_id)
    if process is None:
        process = households >= PROCESS_FROM and core.book is RateBook.load()
    if lanes is None:
        lanes = LANES if process and core.engine.dialect.name == "postgresql" else 1
    if not 1 <= lanes <= MAX_LANES:
        raise ValueError(f"lanes must be from 1 to {MAX_LANES}, not {lanes}")
    pool: ProcessPoolExecutor | None = None
    if process and lanes == 1:
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
        if lanes > 1:
            checked_per_row = await _load_lanes(
                [(seed, index, c, today, now, core.engine.url.render_as_string(hide_password=False))
                 for c in counters.split(lanes)],
                households=households, chunk_size=chunk_size, report=report, on_progress=on_progress)
        else:
            writer = await _load(make_async, households=households, chunk_size=chunk_size,
                                 core=core, report=report, on_progress=on_progress, pool=pool)
            checked_per_row = writer.references_checked_per_row
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
        if not checked_per_row:
            dangling = await dangling_references(conn, first_ids)
            if dangling:
                raise RuntimeError(f"seeded rows with dangling references: {dangling}")
        await _finish(conn, made)
    if unbuilt is not None:
        raise unbuilt
    await _vacuum(core.engine)
    report.seconds = time.perf_counter() - started
    log.info("seeded %d households (%s) in %.1f s%s", report.households,
             ", ".join(f"{t} {n}" for t, n in report.rows.items()), report.seconds,
             f", {len(deferred)} indexes built afterwards in {report.index_seconds:.1f} s" if deferred else "")
    return report


async def _load_lanes(
    lanes: list[tuple[Any, ...]],
    *,
    households: int,
    chunk_size: int,
    report: SeedReport,
    on_progress: Callable[[int, int], None] | None,
) -> bool:
    """Write ``households`` in parallel lanes (each started with its arguments of
    :func:`_start_lane`), an even share each; whether references were checked row by row."""
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    pools = [ProcessPoolExecutor(1, mp_context=context, initializer=_start_lane, initargs=args) for args in lanes]
    shares = [households // len(lanes) + (1 if w < households % len(lanes) else 0) for w in range(len(lanes))]
    checked_per_row = False

    async def run(w: int) -> None:
        nonlocal checked_per_row
        made = 0
        while made < shares[w]:
            n, rows, per_row = await loop.run_in_executor(pools[w], _lane_chunk, min(chunk_size, shares[w] - made))
            made += n
            # No await from here on: the other lanes count into the same report.
            checked_per_row = checked_per_row or per_row
            for table, count in rows.items():
                report.rows[table] += count
            report.households += n
            if on_progress is not None:
                on_progress(report.households, households)

    try:
        async with asyncio.TaskGroup() as group:
            for w in range(len(lanes)):
                group.create_task(run(w))
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]  # the first lane's failure; the others were stopped
        if isinstance(first, BrokenProcessPool):
            raise RuntimeError(f"a seed worker process died (killed, or out of memory) after {report.households:,} "
                               "households: what it had committed stays, in whole chunks") from first
        raise first from None
    finally:
        for pool in pools:
            try:
                await loop.run_in_executor(pool, _lane_close)
            except Exception:
                log.exception("a seed lane could not close its connection")
            pool.shutdown(cancel_futures=True)
    return checked_per_row


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
    writer = BulkWriter(core.engine, COLUMNS, ENCODED)
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
