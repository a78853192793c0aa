"""lean bulk tables: households lose assessed_at, payroll lines lose their checked foreign keys

Assessment now knows a household is due from its decisions (none since its data last changed),
so a national assessment no longer rewrites two million household rows. Payroll lines are
derived in one INSERT … SELECT from enrolments, in the transaction that creates their cycle; a
checked foreign key cost a row lock and an index probe per line.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PAYROLL_KEYS = (
    ("fk_payroll_lines_cycle_month_payment_cycles", "payment_cycles", ["cycle_month"], ["month"]),
    ("fk_payroll_lines_enrolment_id_enrolments", "enrolments", ["enrolment_id"], ["id"]),
    ("fk_payroll_lines_household_id_households", "households", ["household_id"], ["id"]),
)


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        # Left behind by an attempt that failed half-way (before foreign keys were switched off).
        op.execute("DROP TABLE IF EXISTS _alembic_tmp_payroll_lines")
        op.execute("DROP TABLE IF EXISTS _alembic_tmp_households")
    with op.batch_alter_table("payroll_lines", schema=None) as batch_op:
        for name, _, _, _ in PAYROLL_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_column("assessed_at")


def downgrade() -> None:
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("payroll_lines", schema=None) as batch_op:
        for name, table, local, remote in PAYROLL_KEYS:
            batch_op.create_foreign_key(name, table, local, remote)
