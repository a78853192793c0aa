"""persons: the day a person died, from the civil registry

A death the civil registry reported (``fhdyo.death``) was kept and applied to nothing: the dead
went on being counted as members of their family, dividing its income and adding to its child
benefit. ``died_on`` takes the date, and the index an assessment reads its members from carries
it, so that a range of households is still read from the index alone.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

FIGURES = ["household_id", "birth_date", "sex", "disability", "service_body"]


def upgrade() -> None:
    op.add_column("persons", sa.Column("died_on", sa.Date(), nullable=True))
    op.drop_index("ix_persons_household_figures", table_name="persons")
    op.create_index("ix_persons_household_figures", "persons", [*FIGURES, "died_on"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_persons_household_figures", table_name="persons")
    op.create_index("ix_persons_household_figures", "persons", FIGURES, unique=False)
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_column("died_on")
