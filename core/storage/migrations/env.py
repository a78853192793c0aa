"""Alembic environment: runs migrations on the connection ``core.storage.migrate`` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from core.storage.schema import Base

config = context.config
target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `spsr db upgrade`, which supplies the connection")
run(connection)
