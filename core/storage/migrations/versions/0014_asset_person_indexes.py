"""vehicles, properties, bank_balances: indexed by person

An agency value is applied to its person's rows (a vehicle by plate, a property by cadastre number,
the balance), and lapsing values are retired the same way; with only the household indexed, each
such write read the whole table. Retiring a slice of lapsed values finds its persons' rows by these.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("vehicles", "properties", "bank_balances")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_person_id", table, ["person_id"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_person_id", table_name=table)
