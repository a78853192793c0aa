"""expiry runs: a finished retirement of lapsed values, by day and catalogue validities

Every ``spsr assess`` (and the server's periodic pass) retires lapsed agency values first, and
finding none walked every fact of the registry: 0.8 s at 200,000 households, about ten times that
at 2,000,000, every ten minutes. Values lapse only when the day changes (a value lapsed on arrival
is never a fact), so once a run has finished on a day, under the same validities, the rest of that
day's runs have nothing to look for.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "expiry_runs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("validities", sa.String(length=64), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expiry_runs")),
    )
    op.create_index("ix_expiry_runs_day", "expiry_runs", ["day", "validities"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_expiry_runs_day", table_name="expiry_runs")
    op.drop_table("expiry_runs")
