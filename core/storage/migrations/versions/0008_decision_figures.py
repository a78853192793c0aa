"""decision figures: a bulk decision's figures become columns, its JSON inputs empty

A full assessment writes a decision for every household: two million rows a pass. Each carried
its figures and the ids of its exchange records as JSON text in ``inputs`` (about 420 bytes),
more than half of the row, and the write-ahead log wrote all of it again. The figures are now
small integer columns and the record ids one text column; ``inputs`` keeps ``{}`` for a bulk
decision and the whole ``core.eligibility.Decision`` for an application's, as before. Decisions
written before keep their JSON and are read as they were (core/services/decisions.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = (
    ("members", sa.SmallInteger()),
    ("able_members", sa.SmallInteger()),
    ("children", sa.SmallInteger()),
    ("residential_properties", sa.SmallInteger()),
    ("non_residential_properties", sa.SmallInteger()),
    ("roadworthy_vehicles", sa.SmallInteger()),
    ("newest_roadworthy_year", sa.SmallInteger()),
    ("youngest_child_birth_date", sa.Date()),
    ("income_total", sa.BigInteger()),
    ("bank_balance_total", sa.BigInteger()),
    ("amount_total", sa.BigInteger()),
    ("sources", sa.Text()),
)


def upgrade() -> None:
    # Nullable and without defaults: on both engines a column added so is written into the
    # catalogue only, however many decisions there are.
    for name, type_ in COLUMNS:
        op.add_column("decisions", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later): a batch copy of the table would lose the partial
    # index's WHERE, as 0005 notes.
    for name, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE decisions DROP COLUMN {name}")
