"""Bulk writing of generated rows: COPY on PostgreSQL, executemany on SQLite, one transaction a chunk.

Rows come as tuples in the column order of :data:`core.seed.generator.COLUMNS`, with their ids
already assigned. On PostgreSQL they go through asyncpg's binary ``copy_records_to_table`` on
the driver connection underneath SQLAlchemy's, inside SQLAlchemy's transaction; on SQLite through
one ``executemany`` per table of the compiled Core ``INSERT``, with each value passed through the
column type's own bind processor so that dates, stamps, booleans and JSON are stored exactly as
the ORM would store them.

Loading into empty tables, :func:`defer_indexes` drops their secondary indexes and the unique and
primary keys no foreign key relies on, and :func:`restore_indexes` builds them again afterwards,
each in one sorted pass: kept up row by row, an index keyed in random order (a PINFL, an agency's
record id) costs a random page write per row once it outgrows the buffer cache. The definitions
are saved in :data:`DEFERRED_TABLE` in the transaction that drops them, so a load killed half-way
leaves a record of what to build, and the next seed (or ``spsr db upgrade``) builds it first.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.storage.schema import Base

Row = tuple[Any, ...]

log = logging.getLogger(__name__)

# Bookkeeping, not part of the schema: created by defer_indexes, dropped once restore_indexes has
# built everything it names, so between those two only.
DEFERRED_TABLE = "seed_deferred_indexes"
# Sort memory of each index build on PostgreSQL (the server's default is 64MB): a build whose sort
# fits in it makes one pass over the table and writes no temporary files.
MAINTENANCE_WORK_MEM = "256MB"


# One encoder for every value: json.dumps with options builds a new one per call, which was a
# quarter of the cost of the JSON columns (16 values a household).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
encode_json = _ENCODER.encode


class BulkWriter:
    """Write chunks of rows, table by table in the given order, each chunk in one transaction.

    The JSON columns of the tables in ``encoded`` arrive as JSON text and are passed on untouched:
    the seed writes its agency records' small values itself (converting a household's rows: 65 ->
    21 µs)."""

    def __init__(self, engine: AsyncEngine, columns: Mapping[str, Sequence[str]],
                 encoded: Iterable[str] = ()) -> None:
        self.engine = engine
        self.columns = {t: tuple(c) for t, c in columns.items()}
        self.postgres = engine.dialect.name == "postgresql"
        self.tables: dict[str, Table] = {t: Base.metadata.tables[t] for t in columns}
        self._conn: AsyncConnection | None = None
        self._sql: dict[str, str] = {}
        self._converters: dict[str, list[Callable[[Any], Any] | None]] = {}
        dialect = engine.dialect
        encoded = set(encoded)
        for name, cols in self.columns.items():
            table = self.tables[name]
            convs: list[Callable[[Any], Any] | None] = []
            for c in cols:
                column = table.c[c]
                affinity = column.type._type_affinity
                is_json = affinity is not None and affinity.__name__ in ("JSON", "JSONB")
                if is_json and name in encoded:
                    convs.append(None)  # JSON text already
                elif self.postgres:
                    convs.append(encode_json if is_json else None)
                else:
                    convs.append(column.type.dialect_impl(dialect).bind_processor(dialect))
            self._converters[name] = convs
            if not self.postgres:
                compiled = insert(table).compile(dialect=dialect, column_keys=list(cols))
                if tuple(compiled.positiontup or ()) != cols:
                    raise ValueError(f"{name}: columns {cols} are not in the table's order")
                self._sql[name] = str(compiled)

    async def __aenter__(self) -> BulkWriter:
        self._conn = await self.engine.connect()
        self.references_checked_per_row = True
        if self.postgres:
            # Per-row foreign-key triggers cost more than the COPY itself. A role allowed to (a
            # superuser, as in development) loads with them off, like pg_restore does; the
            # loader then checks every reference of the new rows in one set-based pass.
            try:
                async with self._conn.begin():
                    await self._conn.execute(text("SET session_replication_role = replica"))
                self.references_checked_per_row = False
            except DBAPIError:
                await self._conn.rollback()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            if self.postgres and not self.references_checked_per_row:
                async with self._conn.begin():
                    await self._conn.execute(text("SET session_replication_role = DEFAULT"))
            await self._conn.close()
            self._conn = None

    def _convert(self, table: str, rows: Sequence[Row]) -> list[Row]:
        convs = self._converters[table]
        active = [(i, f) for i, f in enumerate(convs) if f is not None]
        if not active:
            return list(rows)
        out = []
        for row in rows:
            values = list(row)
            for i, f in active:
                v = values[i]
                if v is not None:
                    values[i] = f(v)
            out.append(tuple(values))
        return out

    async def write(self, chunk: Mapping[str, Sequence[Row]]) -> None:
        """Write one chunk atomically; tables in the order of ``columns`` (parents first)."""
        conn = self._conn
        assert conn is not None, "use BulkWriter as an async context manager"
        async with conn.begin():
            if self.postgres:
                # Any statement makes SQLAlchemy's asyncpg adapter open its transaction, which the
                # COPYs on the driver connection below then run inside.
                await conn.execute(text("SELECT 1"))
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                for table, cols in self.columns.items():
                    rows = chunk.get(table)
                    if rows:
                        await driver.copy_records_to_table(table, records=self._convert(table, rows),
                                                           columns=list(cols))
            else:
                for table in self.columns:
                    rows = chunk.get(table)
                    if rows:
                        await conn.exec_driver_sql(self._sql[table], self._convert(table, rows))


class IndexRestoreError(RuntimeError):
    """Indexes or constraints a bulk load deferred that could not be built again.

    ``failures`` maps each name to the database's reason, typically a unique or primary key the
    loaded rows break. Their definitions stay in :data:`DEFERRED_TABLE`, so every later seed or
    ``spsr db upgrade`` tries again, and fails again until the rows are put right.
    """

    def __init__(self, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        listed = "; ".join(f"{name}: {reason}" for name, reason in self.failures.items())
        super().__init__(f"could not build again {len(self.failures)} index(es) deferred by a seed "
                         f"(their definitions are kept in {DEFERRED_TABLE}): {listed}")


@dataclass(frozen=True)
class _Deferrable:
    name: str
    ddl: str  # builds it again
    drop: str


# Per index of the given tables in the current schema. An index behind a primary-key, unique or
# exclusion constraint is rebuilt as that constraint; one a foreign key relies on (conindid) is
# left alone, as is every foreign key itself.
_PG_DEFERRABLE = """
SELECT ic.relname AS name,
       CASE WHEN c.oid IS NULL THEN pg_get_indexdef(i.indexrelid)
            ELSE format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', n.nspname, t.relname, c.conname,
                        pg_get_constraintdef(c.oid)) END AS ddl,
       CASE WHEN c.oid IS NULL THEN format('DROP INDEX %I.%I', n.nspname, ic.relname)
            ELSE format('ALTER TABLE %I.%I DROP CONSTRAINT %I', n.nspname, t.relname, c.conname) END AS drop
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')
WHERE n.nspname = current_schema() AND t.relname = ANY(:tables)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint f
                  WHERE f.contype = 'f' AND f.confrelid = i.indrelid AND f.conindid = i.indexrelid)
ORDER BY t.relname, ic.relname
"""


async def _postgres_deferrable(conn: AsyncConnection, tables: Sequence[str]) -> list[_Deferrable]:
    rows = (await conn.execute(text(_PG_DEFERRABLE), {"tables": list(tables)})).all()
    return [_Deferrable(name, ddl, drop) for name, ddl, drop in rows]


async def _sqlite_deferrable(conn: AsyncConnection, tables: Sequence[str]) -> list[_Deferrable]:
    # Only indexes made by CREATE INDEX have a statement in sqlite_master; a key or UNIQUE declared
    # in CREATE TABLE (sqlite_autoindex_*) cannot be dropped. A unique index that is the parent key
    # of a foreign key stays: SQLite refuses writes to the child table without it.
    referenced: set[tuple[str, frozenset[str]]] = set()
    for (table,) in (await conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")).all():
        keys: dict[int, tuple[str, list[str]]] = {}
        for fk in (await conn.exec_driver_sql(f"PRAGMA foreign_key_list(\"{table}\")")).mappings():
            if fk["to"] is not None:
                keys.setdefault(fk["id"], (fk["table"], []))[1].append(fk["to"])
        referenced.update((parent, frozenset(cols)) for parent, cols in keys.values())
    out = []
    for table in tables:
        for name, sql in (await conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = :t "
                "ORDER BY name"), {"t": table})).all():
            if sql.upper().startswith("CREATE UNIQUE"):
                info = await conn.exec_driver_sql(f"PRAGMA index_info(\"{name}\")")
                if (table, frozenset(str(r["name"]) for r in info.mappings())) in referenced:
                    continue
            out.append(_Deferrable(name, sql, f'DROP INDEX "{name}"'))
    return out


async def _has_deferred_table(conn: AsyncConnection) -> bool:
    if conn.dialect.name == "postgresql":
        found = await conn.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": DEFERRED_TABLE})
    else:
        found = await conn.scalar(text("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :name"),
                                  {"name": DEFERRED_TABLE})
    return bool(found)


async def _index_exists(conn: AsyncConnection, name: str) -> bool:
    if conn.dialect.name == "postgresql":
        found = await conn.scalar(text(
            "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :name AND c.relkind = 'i' AND n.nspname = current_schema()"), {"name": name})
    else:
        found = await conn.scalar(text("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = :name"),
                                  {"name": name})
    return bool(found)


async def defer_indexes(engine: AsyncEngine, tables: Iterable[str]) -> list[str]:
    """Drop the indexes of ``tables`` that a bulk load need not keep up, saving how to build them.

    The definitions go into :data:`DEFERRED_TABLE` in the transaction that drops the indexes: a
    load that never reaches :func:`restore_indexes` leaves them there for the next one. Returns
    the names dropped.
    """
    names = list(tables)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {DEFERRED_TABLE} "
                                   "(name VARCHAR(128) NOT NULL PRIMARY KEY, ddl TEXT NOT NULL)")
        if conn.dialect.name == "postgresql":
            found = await _postgres_deferrable(conn, names)
        else:
            found = await _sqlite_deferrable(conn, names)
        # Rows first: on SQLite the driver opens the transaction at the first write, and the
        # DROP INDEX statements after it must be inside.
        for d in found:
            await conn.execute(text(f"INSERT INTO {DEFERRED_TABLE} (name, ddl) VALUES (:name, :ddl)"),
                               {"name": d.name, "ddl": d.ddl})
        for d in found:
            await conn.exec_driver_sql(d.drop)
    return [d.name for d in found]


def _reason(exc: DBAPIError) -> str:
    """The database's message on one line, with asyncpg's detail (which key is duplicated)."""
    reason = " ".join(str(exc.orig).split())
    detail = getattr(exc.orig.__cause__, "detail", None) if exc.orig is not None else None
    return f"{reason} ({detail})" if detail else reason


# A seed holds this PostgreSQL advisory lock (session level) from before it defers indexes until
# it has built them again: a process starting meanwhile must not build them under it, and one
# that finds them missing with the lock free knows the seed that dropped them is dead.
SEED_LOCK = 0x5350_5352_5345_4544  # "SPSRSEED"


@asynccontextmanager
async def seed_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the seed lock for the block (waiting for another seed to finish); no-op on SQLite."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SEED_LOCK})
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SEED_LOCK})
            await conn.commit()


async def restore_indexes(engine: AsyncEngine, *, unless_seeding: bool = False) -> list[str]:
    """Build every index and constraint :data:`DEFERRED_TABLE` names; the names built.

    Each is built in its own transaction with the row that names it deleted, so an interrupted
    restore resumes where it stopped; one that exists already is only struck off. Raises
    :class:`IndexRestoreError` naming those that could not be built (their rows stay), after
    building all the others. With ``unless_seeding`` (a process starting up), nothing is built
    while a seed holds :data:`SEED_LOCK`: that seed builds them when its load is done.
    """
    async with engine.connect() as conn:
        if not await _has_deferred_table(conn):
            return []
    if not unless_seeding or engine.dialect.name != "postgresql":
        return await _restore(engine)
    async with engine.connect() as lock:  # held while building, so no seed starts under us
        if not await lock.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": SEED_LOCK}):
            await lock.commit()
            log.warning("a seed is loading with its indexes deferred: it builds them when it ends")
            return []
        await lock.commit()
        try:
            return await _restore(engine)
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SEED_LOCK})
            await lock.commit()


async def _restore(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        if not await _has_deferred_table(conn):
            return []
        pending = (await conn.execute(text(f"SELECT name, ddl FROM {DEFERRED_TABLE} ORDER BY name"))).all()
    built: list[str] = []
    failures: dict[str, str] = {}
    for name, ddl in pending:
        try:
            async with engine.begin() as conn:
                # The delete first: on SQLite it opens the transaction the build then runs in.
                await conn.execute(text(f"DELETE FROM {DEFERRED_TABLE} WHERE name = :name"), {"name": name})
                if await _index_exists(conn, name):
                    continue
                if conn.dialect.name == "postgresql":
                    await conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
                started = time.perf_counter()
                await conn.exec_driver_sql(ddl)
            built.append(name)
            log.debug("built %s in %.2f s", name, time.perf_counter() - started)
        except DBAPIError as exc:
            failures[name] = _reason(exc)
            log.error("could not build %s again: %s", name, failures[name])
    if failures:
        raise IndexRestoreError(failures)
    async with engine.begin() as conn:
        if not await conn.scalar(text(f"SELECT COUNT(*) FROM {DEFERRED_TABLE}")):
            await conn.exec_driver_sql(f"DROP TABLE {DEFERRED_TABLE}")
    return built
