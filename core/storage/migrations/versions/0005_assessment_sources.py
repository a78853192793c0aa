"""assessment sources: facts name their exchange record, decisions lose their checked foreign keys

A bulk decision used to copy the agency, record id, as-of date and arrival of every value it
rested on into its own JSON: about a kilobyte a household, built from some 15 million facts at
national scale, and most of an assessment's time and write volume. It now keeps the ids of the
``exchange_records`` rows instead, which each fact names in ``record_id``; the household index
of facts carries that id so a range of households reads them from the index alone. Decisions
lose their checked foreign keys (households and applications are never deleted), as payroll
lines did in 0002. Their household index carries the id, and the application index leaves out
the millions of assessment decisions that have none: with it, the planner walked every such NULL
to find the decisions one range had just written, and assessment slowed as the table grew. On
PostgreSQL a decision's reasons and inputs become ``json`` (kept as written, only checked):
they are written once and read whole, never searched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DECISION_KEYS = (
    ("fk_decisions_application_id_applications", "applications", ["application_id"], ["id"]),
    ("fk_decisions_household_id_households", "households", ["household_id"], ["id"]),
)


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS _alembic_tmp_decisions")
        op.execute("DROP TABLE IF EXISTS _alembic_tmp_facts")
    with op.batch_alter_table("facts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_id", sa.BigInteger(), nullable=True))
        batch_op.drop_index("ix_facts_household_id")
    op.execute(
        "UPDATE facts SET record_id = (SELECT r.id FROM exchange_records r"
        " WHERE r.agency = facts.agency AND r.agency_record_id = facts.agency_record_id)"
    )
    with op.batch_alter_table("facts", schema=None) as batch_op:
        batch_op.create_index("ix_facts_household_record", ["household_id", "record_id"], unique=False)
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        for name, _, _, _ in DECISION_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
        batch_op.drop_index("ix_decisions_household_id")
        batch_op.drop_index("ix_decisions_application_id")
    if op.get_context().dialect.name == "postgresql":
        for column in ("reasons", "inputs"):
            op.alter_column("decisions", column, type_=sa.JSON(), postgresql_using=f"{column}::json")
    # Outside the batch: SQLite's table copy would lose the partial index's WHERE.
    op.create_index("ix_decisions_household_id", "decisions", ["household_id", "id"], unique=False)
    op.create_index("ix_decisions_application_id", "decisions", ["application_id"], unique=False,
                    postgresql_where=sa.text("application_id IS NOT NULL"),
                    sqlite_where=sa.text("application_id IS NOT NULL"))


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        for column in ("reasons", "inputs"):
            op.alter_column("decisions", column, type_=JSONB(), postgresql_using=f"{column}::jsonb")
    op.drop_index("ix_decisions_application_id", table_name="decisions")
    op.drop_index("ix_decisions_household_id", table_name="decisions")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        for name, table, local, remote in DECISION_KEYS:
            batch_op.create_foreign_key(name, table, local, remote)
        batch_op.create_index("ix_decisions_household_id", ["household_id"], unique=False)
        batch_op.create_index("ix_decisions_application_id", ["application_id"], unique=False)
    with op.batch_alter_table("facts", schema=None) as batch_op:
        batch_op.drop_index("ix_facts_household_record")
        batch_op.create_index("ix_facts_household_id", ["household_id"], unique=False)
        batch_op.drop_column("record_id")
