"""enrolments keep what their amount is made of, so the payroll prices each month at its rates

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("children", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("infant", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("share_percent", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_column("share_percent")
        batch_op.drop_column("infant")
        batch_op.drop_column("children")
