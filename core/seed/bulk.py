"""Bulk writing of generated rows: COPY on PostgreSQL, executemany on SQLite, one transaction a chunk.

Rows come as tuples in the column order of :data:`core.seed.generator.COLUMNS`, with their ids
already assigned. On PostgreSQL they go through asyncpg's binary ``copy_records_to_table`` on
the driver connection underneath SQLAlchemy's, inside SQLAlchemy's transaction; on SQLite through
one ``executemany`` per table of the compiled Core ``INSERT``, with each value passed through the
column type's own bind processor so that dates, stamps, booleans and JSON are stored exactly as
the ORM would store them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.storage.schema import Base

Row = tuple[Any, ...]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class BulkWriter:
    """Write chunks of rows, table by table in the given order, each chunk in one transaction."""

    def __init__(self, engine: AsyncEngine, columns: Mapping[str, Sequence[str]]) -> None:
        self.engine = engine
        self.columns = {t: tuple(c) for t, c in columns.items()}
        self.postgres = engine.dialect.name == "postgresql"
        self.tables: dict[str, Table] = {t: Base.metadata.tables[t] for t in columns}
        self._conn: AsyncConnection | None = None
        self._sql: dict[str, str] = {}
        self._converters: dict[str, list[Callable[[Any], Any] | None]] = {}
        dialect = engine.dialect
        for name, cols in self.columns.items():
            table = self.tables[name]
            convs: list[Callable[[Any], Any] | None] = []
            for c in cols:
                column = table.c[c]
                if self.postgres:
                    affinity = column.type._type_affinity
                    is_json = affinity is not None and affinity.__name__ in ("JSON", "JSONB")
                    convs.append(_json if is_json else None)
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
