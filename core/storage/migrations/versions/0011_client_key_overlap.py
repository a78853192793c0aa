"""api client keys: a rotation may keep the replaced key working for a while

Rotating a key stopped the old one at once, so an agency whose systems were sending with it had
an outage until every one of them had the new key. The replaced key is now kept, hashed, with
the moment it stops (``spsr clients rotate NAME --keep-old HOURS``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_key_prefix", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("previous_key_hash", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("previous_key_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(op.f("uq_api_clients_previous_key_prefix"), ["previous_key_prefix"])


def downgrade() -> None:
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_api_clients_previous_key_prefix"), type_="unique")
        batch_op.drop_column("previous_key_until")
        batch_op.drop_column("previous_key_hash")
        batch_op.drop_column("previous_key_prefix")
