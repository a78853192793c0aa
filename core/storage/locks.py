"""Named locks across processes, for jobs of which only one may run at a time (an assessment pass),
and for transactions of which only one may run at a time (an exchange batch).

PostgreSQL: a session advisory lock, held on a connection of its own for the block and released by
the server when that connection ends (a killed process holds nothing). SQLite: an exclusive
``flock`` on a file beside the database, released by the kernel when the process ends; an
in-memory database lives in one process, so a lock of that process is enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

# Assessment passes and decision runs both enrol families, each after checking that the family has
# no enrolment yet: one of them at a time, or both would find none and both enrol it.
ENROLMENT = "enrolment"
# Exchange batches change agency data one at a time (held exclusively); an assessment range reads
# it under a shared hold, so that it never decides a family on data a batch is about to replace.
INGEST = "exchange.ingest"

POLL_SECONDS = 0.2
_IN_PROCESS: dict[str, asyncio.Lock] = {}


class Busy(Exception):
    """Another process holds the lock and the caller chose not to wait."""


def _key(name: str) -> int:
    """A stable 64-bit advisory lock key for ``name`` (crc32 under a fixed prefix, never a seed's)."""
    return (0x5350_5352 << 32) | zlib.crc32(name.encode())


def _lock_path(engine: AsyncEngine, name: str) -> Path | None:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}.{name}.lock")


@contextlib.asynccontextmanager
async def exclusive(engine: AsyncEngine, name: str, *, wait: bool = True,
                    on_wait: Callable[[], None] | None = None) -> AsyncIterator[None]:
    """Hold the lock ``name`` for the block. Busy already: wait for it (calling ``on_wait`` once),
    or with ``wait=False`` raise :class:`Busy`."""
    if engine.dialect.name == "postgresql":
        async with _advisory(engine, _key(name), wait, on_wait):
            yield
        return
    path = _lock_path(engine, name)
    if path is None:
        async with _in_process(name, wait, on_wait):
            yield
        return
    async with _flock(path, wait, on_wait):
        yield


@contextlib.asynccontextmanager
async def _advisory(engine: AsyncEngine, key: int, wait: bool,
                    on_wait: Callable[[], None] | None) -> AsyncIterator[None]:
    # A connection of its own, outside the pool: held for the whole job, it would leave the job's
    # own work one connection short (and a pool of one with none).
    own = create_async_engine(engine.url, poolclass=NullPool)
    try:
        async with own.connect() as conn:
            async with _hold(conn, key, wait, on_wait):
                yield
    finally:
        await own.dispose()


@contextlib.asynccontextmanager
async def _hold(conn: AsyncConnection, key: int, wait: bool,
                on_wait: Callable[[], None] | None) -> AsyncIterator[None]:
    got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
    if not got:
        if not wait:
            await conn.rollback()
            raise Busy
        if on_wait is not None:
            on_wait()
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
    await conn.commit()  # the lock is the session's: no transaction stays open while it is held
    try:
        yield
    finally:
        await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        await conn.commit()


@contextlib.asynccontextmanager
async def _flock(path: Path, wait: bool, on_wait: Callable[[], None] | None) -> AsyncIterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        told = False
        while True:  # polled, never a blocking flock: that would stop the event loop
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    raise Busy from None
                if not told and on_wait is not None:
                    on_wait()
                told = True
                await asyncio.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.asynccontextmanager
async def _in_process(name: str, wait: bool, on_wait: Callable[[], None] | None) -> AsyncIterator[None]:
    lock = _IN_PROCESS.setdefault(name, asyncio.Lock())
    if lock.locked():
        if not wait:
            raise Busy
        if on_wait is not None:
            on_wait()
    async with lock:
        yield


async def transaction_lock(session: AsyncSession, name: str, *, shared: bool = False) -> None:
    """Hold the lock ``name`` until the session's transaction ends, waiting for it if need be;
    ``shared`` holds go together, never beside an exclusive one.

    PostgreSQL: a transaction advisory lock, gone at commit or rollback (or when the connection
    drops). SQLite needs none: a unit of work opened with ``write=True`` already holds the
    database's one write lock.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await session.execute(text(f"SELECT {function}(:key)"), {"key": _key(name)})
