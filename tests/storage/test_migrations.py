"""Alembic builds exactly the models' schema, on both databases, from one linear history."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from core.storage.migrate import head_revision, is_current
from core.storage.schema import Base
from core.storage.uow import Core

pytestmark = pytest.mark.postgres


def test_one_head() -> None:
    assert head_revision()


async def test_migrations_match_the_models(core: Core) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)

    async with core.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []
    assert await is_current(core.engine)
