"""What the benchmarks share: scratch databases, and the bulk write each figure is measured against.

The baseline is the fastest way to put rows into a table: ``COPY`` on PostgreSQL, ``executemany``
on SQLite (it has no COPY), in one transaction, into ``bench_scratch``, created in the shape of
what the caller measures. A benchmark runs in a scratch database of its own (:func:`scratch_database`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

SCRATCH_TABLE = "bench_scratch"


async def admin(url: str, sql: str) -> None:
    """Run ``sql`` (CREATE or DROP DATABASE) on the server at ``url``, outside a transaction."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def scratch_database(database: str, *, keep: bool = False) -> Iterator[str]:
    """The URL of a new scratch database on the server of ``database`` (postgresql://…), dropped at
    the end unless ``keep``; for a file, that file emptied (SQLite)."""
    if not database.startswith("postgres"):
        Path(database).unlink(missing_ok=True)
        yield "sqlite+aiosqlite:///" + str(Path(database).resolve())
        return
    name = f"spsr_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(database, f'CREATE DATABASE "{name}"'))
    try:
        yield database.rsplit("/", 1)[0] + f"/{name}"
    finally:
        if not keep:
            asyncio.run(admin(database, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def bulk_write(engine: AsyncEngine, ddl: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> float:
    """Seconds to write ``rows`` into ``bench_scratch`` (made by the statements ``ddl``) in one
    transaction; the table is dropped after."""
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}"))
        for statement in ddl:
            await conn.execute(text(statement))
    t = time.perf_counter()
    async with engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        if engine.dialect.name == "postgresql":
            await raw.copy_records_to_table(SCRATCH_TABLE, records=rows)
        else:
            cur = await raw.cursor()
            marks = ",".join("?" * len(rows[0])) if rows else ""
            await cur.executemany(f"INSERT INTO {SCRATCH_TABLE} VALUES ({marks})",
                                  [tuple(str(v) if isinstance(v, dt.date | dt.datetime) else v for v in r)
                                   for r in rows])
    took = time.perf_counter() - t
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE {SCRATCH_TABLE}"))
    return took
