"""The one wiring point: engines, sessions, clock and rate tables are built here and passed in."""

from __future__ import annotations

import gc
import logging
import random

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import configure_mappers

from core.clock import Clock, clock_from_env
from core.config import Settings
from core.rates import RateBook
from core.seed.bulk import restore_indexes
from core.storage.engine import create_engine, session_factory
from core.storage.migrate import upgrade
from core.storage.uow import Core

log = logging.getLogger(__name__)


async def build_core(
    settings: Settings,
    *,
    clock: Clock | None = None,
    book: RateBook | None = None,
    rng: random.Random | None = None,
    migrate: bool = True,
) -> Core:
    """Open the database (migrating it to the current schema) and return the core's handles."""
    configure_mappers()  # once, here: not inside a command's first query (~13 ms); a no-op after
    engine = create_engine(settings.database_url)
    if migrate:
        built = await migrate_database(engine)
        if built:
            log.warning("built %d indexes and constraints a seed had left unbuilt: %s", len(built), ", ".join(built))
    return Core(
        engine=engine,
        sessions=session_factory(engine),
        clock=clock or clock_from_env(),
        book=book or RateBook.load(),
        rng=rng or random.SystemRandom(),
    )


async def migrate_database(engine: AsyncEngine) -> list[str]:
    """Bring the database to the current schema; the indexes and constraints built on the way.

    What a killed seed left unbuilt comes first, from the definitions of the revision it was
    dropped under, unless that seed is still loading (it builds them itself)."""
    built = await restore_indexes(engine, unless_seeding=True)
    await upgrade(engine)
    return built


def freeze_startup() -> None:
    """What start-up built (modules, mappers: ~90,000 objects) lives as long as the process;
    frozen, the collector stops walking it (a command's first full collection took ~50 ms of its
    first operation). Called once by a process's entry point, never per core: tests build many
    cores in one process, and freezing each time would keep all their garbage for good."""
    configure_mappers()
    gc.freeze()
