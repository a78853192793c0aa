"""payroll lines: no index on the household; a family's lines are found by key

A family's payroll lines are read through its enrolments: the id of a line is its month and its
enrolment (migration 0006), so the lines of a household are a few probes of the primary key
(``core.services.payments.household_lines``). The (household_id, cycle_month) index, kept up for
every line a national payroll writes, cost it about 40 % of its time, and goes. Lines numbered
by the sequence before 0006 have no such id: a partial index on the household holds those, and
only those, so new lines never enter it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DROPPED = "ix_payroll_lines_household_cycle"
BEFORE = "ix_payroll_lines_household_before_0006"
FIRST_LINE_ID = 1_010_000_000_001  # core.payments.FIRST_LINE_ID when this was written


def upgrade() -> None:
    op.drop_index(DROPPED, table_name="payroll_lines")
    where = sa.text(f"id < {FIRST_LINE_ID}")
    op.create_index(BEFORE, "payroll_lines", ["household_id", "cycle_month"], unique=False,
                    postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    op.drop_index(BEFORE, table_name="payroll_lines")
    op.create_index(DROPPED, "payroll_lines", ["household_id", "cycle_month"], unique=False)
