"""Shared fixtures: a migrated database per test on SQLite, and on PostgreSQL when enabled.

Storage tests take the ``core`` fixture and run once per backend. PostgreSQL runs when
``SPSR_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it); each test session gets its own fresh
database on that server, so parallel runs never see each other's rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.clock import FixedClock
from core.config import normalise_database_url
from core.rates import RateBook
from core.storage.engine import create_engine, session_factory
from core.storage.migrate import upgrade
from core.storage.uow import Core

PG_ENV = "SPSR_TEST_POSTGRES_URL"
PG_SKIP = (
    f"PostgreSQL storage tests are off: set {PG_ENV}=postgresql://postgres@127.0.0.1:5432/test "
    "(or run .ci/run) to run them"
)
TODAY = dt.date(2026, 12, 10)


def _backends() -> list[object]:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: migrating once keeps the suite fast."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await engine.dispose()

    asyncio.run(build())
    return path


def create_postgres_database(base: str, label: str = "test") -> str:
    """A fresh, migrated database on the server of ``base``; its URL. Drop it with drop_postgres_database."""
    base = normalise_database_url(base)
    name = f"spsr_{label}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"

    async def migrate() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return url


def drop_postgres_database(base: str, url: str) -> None:
    """Drop the database of ``url``, connected through ``base`` (a database that stays)."""
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(normalise_database_url(base), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: str, sql: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(sql)
    await engine.dispose()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server for this test session, dropped at the end."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    url = create_postgres_database(base)
    yield url
    drop_postgres_database(base, url)


async def _truncate_postgres(url: str) -> None:
    """Empty every table. DELETE in dependency order costs milliseconds on a test's few rows,
    where TRUNCATE pays a fixed price per table; sequences keep counting, which no test reads."""
    from core.storage.schema import Base

    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.exec_driver_sql(f'DELETE FROM "{table.name}"')
    await engine.dispose()


@pytest.fixture(autouse=True)
def english_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """``spsr`` answers in the language of LANG (spsr.language): the tests read its English, so a
    developer's Russian or Uzbek locale must not change what they see. A test that wants another
    language sets SPSR_LANGUAGE itself."""
    monkeypatch.setenv("SPSR_LANGUAGE", "en")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TODAY)


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL: a copied SQLite file, or a truncated PostgreSQL database."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "spsr.db"
        shutil.copyfile(template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("postgres_server_url")
    asyncio.run(_truncate_postgres(url))
    return url


@pytest.fixture
async def core(database_url: str, clock: FixedClock) -> AsyncIterator[Core]:
    engine = create_engine(database_url)
    yield Core(
        engine=engine,
        sessions=session_factory(engine),
        clock=clock,
        book=RateBook.load(),
        rng=random.Random(1140),
    )
    await engine.dispose()
