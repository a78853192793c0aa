"""payroll line ids: computed from the month and the enrolment, the unique (month, enrolment) dropped

A line's id is now ``YYYYMM`` then its enrolment id on ten digits (``core.payments.line_id``),
written by the ``INSERT … SELECT`` that freezes the month. The primary key therefore keeps one
line per enrolment per month, and the unique (cycle_month, enrolment_id) index, which cost a
national payroll as much again as writing its rows, goes; so does the sequence on PostgreSQL
(a line without a computed id is a mistake). A month's lines are one range of the key, which
is how they are read, exported and deleted.

Lines written before keep their ids: those of approved or reconciled cycles are in the bank's
files and results, and all of them are below the smallest computed id
(``core.payments.FIRST_LINE_ID``). A partial index on the month holds them, and only them, so
their months are still found by index; new lines never enter it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UNIQUE = "uq_payroll_lines_cycle_enrolment"
BEFORE = "ix_payroll_lines_before_0006"
FIRST_LINE_ID = 1_010_000_000_001  # core.payments.FIRST_LINE_ID when this was written
SEQUENCE = "payroll_lines_id_seq"


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS _alembic_tmp_payroll_lines")
    with op.batch_alter_table("payroll_lines", schema=None) as batch_op:
        batch_op.drop_constraint(UNIQUE, type_="unique")
    if dialect == "postgresql":
        op.execute("ALTER TABLE payroll_lines ALTER COLUMN id DROP DEFAULT")
        op.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")
    # Outside the batch: SQLite's table copy would lose the partial index's WHERE.
    where = sa.text(f"id < {FIRST_LINE_ID}")
    op.create_index(BEFORE, "payroll_lines", ["cycle_month"], unique=False,
                    postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    op.drop_index(BEFORE, table_name="payroll_lines")
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE {SEQUENCE} OWNED BY payroll_lines.id")
        op.execute(f"SELECT setval('{SEQUENCE}', COALESCE((SELECT MAX(id) FROM payroll_lines), 0) + 1, false)")
        op.execute(f"ALTER TABLE payroll_lines ALTER COLUMN id SET DEFAULT nextval('{SEQUENCE}')")
    with op.batch_alter_table("payroll_lines", schema=None) as batch_op:
        batch_op.create_unique_constraint(UNIQUE, ["cycle_month", "enrolment_id"])
