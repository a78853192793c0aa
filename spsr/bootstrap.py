"""The one wiring point: engines, sessions, clock and rate tables are built here and passed in."""

from __future__ import annotations

import random

from core.clock import Clock, clock_from_env
from core.config import Settings
from core.rates import RateBook
from core.storage.engine import create_engine, session_factory
from core.storage.migrate import upgrade
from core.storage.uow import Core


async def build_core(
    settings: Settings,
    *,
    clock: Clock | None = None,
    book: RateBook | None = None,
    rng: random.Random | None = None,
    migrate: bool = True,
) -> Core:
    """Open the database (migrating it to the current schema) and return the core's handles."""
    engine = create_engine(settings.database_url)
    if migrate:
        await upgrade(engine)
    return Core(
        engine=engine,
        sessions=session_factory(engine),
        clock=clock or clock_from_env(),
        book=book or RateBook.load(),
        rng=rng or random.SystemRandom(),
    )
