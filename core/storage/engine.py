"""Building the async engine for SQLite (embedded default) or PostgreSQL (production)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def is_sqlite(engine_or_url: AsyncEngine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return make_url(url).get_backend_name() == "sqlite"


# SQLite waits this long for another connection's write lock before answering "database is locked".
# Long enough for a payroll or seed batch to commit, short enough that a stuck request still ends.
SQLITE_BUSY_TIMEOUT_MS = 10_000

# PostgreSQL pool per process. The web server runs every request's unit of work on one connection
# and keeps it no longer than the transaction; 20 covers its concurrency with the outbox sender and
# jobs beside it, 20 more absorb bursts. Four processes stay inside the server's default of 100
# connections. A request that cannot get a connection within POOL_TIMEOUT fails instead of queueing.
PG_POOL_SIZE = 20
PG_MAX_OVERFLOW = 20
POOL_TIMEOUT = 10
# SQLite: each aiosqlite connection is a thread; WAL lets readers run beside the one writer, and
# more threads than that only contend for the GIL.
SQLITE_POOL_SIZE = 8
SQLITE_MAX_OVERFLOW = 8


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web server read while a bulk job writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def create_engine(url: str, *, echo: bool = False, pool_size: int | None = None,
                  max_overflow: int | None = None) -> AsyncEngine:
    """An engine with the settings each backend needs; the caller owns and disposes it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        pool: dict[str, Any] = {}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            pool = {"pool_size": SQLITE_POOL_SIZE if pool_size is None else pool_size,
                    "max_overflow": SQLITE_MAX_OVERFLOW if max_overflow is None else max_overflow,
                    "pool_timeout": POOL_TIMEOUT}
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                     **pool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url, echo=echo,
        pool_size=PG_POOL_SIZE if pool_size is None else pool_size,
        max_overflow=PG_MAX_OVERFLOW if max_overflow is None else max_overflow,
        pool_timeout=POOL_TIMEOUT,
        # The most recently used connection first: under light load a few stay warm (their
        # prepared statements cached) and the rest are recycled.
        pool_use_lifo=True, pool_recycle=1800)
    # SQLAlchemy's pool_pre_ping costs BEGIN, a ping and ROLLBACK on every checkout: three round
    # trips on top of a read's own. A connection back within IDLE_PING_SECONDS was just working;
    # an older one is pinged, and a dead one replaced before the request sees it.
    event.listen(engine.sync_engine.pool, "checkin", _note_checkin)
    event.listen(engine.sync_engine.pool, "checkout", _ping_if_idle)
    return engine


IDLE_PING_SECONDS = 5.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    since = record.info.get("checked_in_at")
    if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:  # any driver error: the pool retries with a fresh connection
        raise DisconnectionError(str(exc)) from exc


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
