"""assessment reads: covering indexes for a range's members and incomes; enrolments lose their checked keys

Measured at 200,000 households on PostgreSQL (one range of 20,000, warm):

- A range's members were read through the household index and then from the table (90,000
  rows, 88 ms of the decisions statement); the index now carries every column they are counted
  by, and the table is not visited (17-25 ms). SQLite reads the same index alone.
- Incomes were read from the table for every month held and three were kept (150 ms); the
  household and month index now carries the amount (45-65 ms).
- The enrolments due to end get a partial index: an assessment reinstates those of families
  eligible again by probing them, not all of the range's new decisions (65 ms, finding none).
- Enrolments lose their checked foreign keys. A full assessment enrols a few hundred thousand
  families set-based; on PostgreSQL each checked key cost a trigger call that locks the parent
  row ``FOR KEY SHARE``, a page write: 310 ms of a range's 400 ms enrolments insert, 3.1 s of
  the assessment's 17 s of statements. Households and decisions are never deleted and every
  enrolment is written from a decision of its household, as decisions (0005) and payroll lines
  (0002) already are without checked keys.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ENROLMENT_KEYS = (
    ("fk_enrolments_decision_id_decisions", "decisions", ["decision_id"], ["id"]),
    ("fk_enrolments_household_id_households", "households", ["household_id"], ["id"]),
)
ENDING = "state = 'active' AND ended_on IS NOT NULL"


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS _alembic_tmp_enrolments")  # left by an attempt that failed half-way
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        for name, _, _, _ in ENROLMENT_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
    # Outside the batch: SQLite's table copy would lose a partial index's WHERE (as 0005 notes).
    op.create_index("ix_enrolments_ending", "enrolments", ["household_id"], unique=False,
                    postgresql_where=sa.text(ENDING), sqlite_where=sa.text(ENDING))
    op.create_index("ix_persons_household_figures", "persons",
                    ["household_id", "birth_date", "sex", "disability", "service_body"], unique=False)
    op.drop_index("ix_persons_household_id", table_name="persons")
    op.create_index("ix_incomes_household_month_amount", "incomes", ["household_id", "month", "amount"], unique=False)
    op.drop_index("ix_incomes_household_month", table_name="incomes")


def downgrade() -> None:
    op.create_index("ix_incomes_household_month", "incomes", ["household_id", "month"], unique=False)
    op.drop_index("ix_incomes_household_month_amount", table_name="incomes")
    op.create_index("ix_persons_household_id", "persons", ["household_id"], unique=False)
    op.drop_index("ix_persons_household_figures", table_name="persons")
    op.drop_index("ix_enrolments_ending", table_name="enrolments")
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS _alembic_tmp_enrolments")
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        for name, table, local, remote in ENROLMENT_KEYS:
            batch_op.create_foreign_key(name, table, local, remote)
