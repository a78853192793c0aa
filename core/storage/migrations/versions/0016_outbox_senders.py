"""outbox senders: the processes sending a channel, so they share its rate

The configured rate of a channel (``SPSR_SMS_PER_SECOND``, ``SPSR_TELEGRAM_PER_SECOND``) was each
process's: two ``spsr serve`` processes sent at twice the account's rate, and the aggregator or
Telegram throttled them. Each sender now keeps a row here with a heartbeat count; it counts the
live rows of its channel every few seconds and takes its share of the rate.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_senders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beats", sa.BigInteger(), nullable=False),
        sa.Column("live", sa.Integer(), nullable=False),
        sa.Column("per_second", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_senders")),
    )
    op.create_index("ix_outbox_senders_channel", "outbox_senders", ["channel"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_senders_channel", table_name="outbox_senders")
    op.drop_table("outbox_senders")
