"""The SMS tests' fixtures: the demo households, and a second process's handles on the database."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from core.clock import FixedClock
from core.storage.engine import create_engine, session_factory
from core.storage.uow import Core
from tests.ussd.conftest import demo  # noqa: F401  (the same demo households)


@pytest.fixture
async def second_core(core: Core, clock: FixedClock) -> AsyncIterator[Core]:
    """Another process's handles on the same database: its own engine and connections."""
    engine = create_engine(core.engine.url.render_as_string(hide_password=False))
    yield Core(engine=engine, sessions=session_factory(engine), clock=clock, book=core.book, rng=random.Random(2))
    await engine.dispose()
