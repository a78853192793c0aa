"""broadcasts: operators' notices to a region, district or mahalla

A broadcast holds its text in each language once; its outbox rows (one per reachable household)
carry only its id (``outbox.broadcast_id``), which the senders word from here and which counts and
withdraws them by the index ``ix_outbox_broadcast``.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("area_kind", sa.String(length=10), nullable=False),
        sa.Column("area_code", sa.String(length=10), nullable=False),
        sa.Column("text_uz", sa.Text(), nullable=False),
        sa.Column("text_kaa", sa.Text(), nullable=False),
        sa.Column("text_ru", sa.Text(), nullable=False),
        sa.Column("channels", sa.String(length=20), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("queued_telegram", sa.Integer(), nullable=False),
        sa.Column("queued_sms", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_by", sa.String(length=80), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    op.add_column("outbox", sa.Column("broadcast_id", sa.BigInteger(), nullable=True))
    op.create_index("ix_outbox_broadcast", "outbox", ["broadcast_id", "state", "channel"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_broadcast", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("broadcast_id")
    op.drop_table("broadcasts")
