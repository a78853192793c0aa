"""assessment runs: each pass of ``spsr assess`` is recorded, with when it began and finished

A pass without ``--all`` looked for due households (no decision since their data changed) by
probing the decisions of every household in the registry, range by range: at 2,000,000
households 100 ranges, each with its nine statements, even when a hundredth of the families had
changed, and every ten minutes in ``serve`` when none had. A finished pass decided every
household changed before it began, so the next one looks only at households changed since then
(less a margin for writes still in flight), through the index on ``data_changed_at``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "assessment_runs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("everything", sa.Boolean(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False)
          for name in ("assessed", "eligible", "enrolled", "ending", "reinstated", "notices", "errors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_runs")),
    )


def downgrade() -> None:
    op.drop_table("assessment_runs")
