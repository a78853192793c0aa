"""Schema changes go through Alembic; these run it programmatically on an async engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {heads}; merge them")
    return heads[0]


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (creating every table on a new database)."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            await conn.run_sync(run)
        return
    if revision == "head" and await is_current(engine):
        # Nothing to migrate: every command opens the database through here, and the foreign key
        # check below reads every table (0.85 s at 200,000 households, each time).
        return
    # SQLite alters a table by copying it and dropping the old one; with foreign keys enforced,
    # dropping a table that other rows point to fails. They are switched off for the migration
    # (outside any transaction, or SQLite ignores it), checked afterwards, and switched back on.
    async with engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            await conn.run_sync(run)
            await conn.commit()
            broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
            if broken:
                raise RuntimeError(f"the migration left {len(broken)} rows pointing nowhere, e.g. {broken[0]}")
        finally:
            await conn.rollback()
            await conn.exec_driver_sql("PRAGMA foreign_keys=ON")


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def is_current(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()


async def autogenerate(engine: AsyncEngine, message: str, rev_id: str | None = None) -> Any:
    """Write a new revision from the difference between the models and the database."""

    def run(connection: Connection) -> Any:
        return command.revision(alembic_config(connection), message=message, autogenerate=True, rev_id=rev_id)

    async with engine.begin() as conn:
        return await conn.run_sync(run)
