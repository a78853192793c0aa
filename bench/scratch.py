"""What the benchmarks share: scratch databases, and the bulk write each figure is measured against.

The baseline is the fastest way to put rows into a table: ``COPY`` on PostgreSQL, ``executemany``
on SQLite (it has no COPY), in one transaction, into ``bench_scratch`` (the caller creates it in
the shape of what it measures).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
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


async def bulk_write(engine: AsyncEngine, rows: Sequence[tuple[Any, ...]]) -> float:
    """Seconds to write ``rows`` into ``bench_scratch`` in one transaction; the table is dropped after."""
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
