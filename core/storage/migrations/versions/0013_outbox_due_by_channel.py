"""outbox: the due index leads with the channel and ends with the id

The senders claim their own channel's due messages, replies first, oldest first, in id order:
``channel = ? AND state = 'pending' AND next_attempt_at <= now ORDER BY priority,
next_attempt_at, id``. The index began with ``state``, so a Telegram sender with nothing to send
read every pending SMS of a month's notices (380,000 at 2 million households) on each look, and
an assessment's notices, queued with one timestamp, were sorted by id on each claim. Leading
with the channel and ending with the id, a claim reads the rows it takes and no more.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["channel", "state", "priority", "next_attempt_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["state", "priority", "next_attempt_at"], unique=False)
