"""webhook deliveries: partial indexes for the relay's stall sweep and the backlog gauge

Revision ID: 0011_webhook_delivery_indexes
Revises: 0010_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_webhook_delivery_indexes"
down_revision = "0010_webhooks"
branch_labels = None
depends_on = None

# As in helpdeck/tables/webhooks.py (a migration keeps its own copy: the model may move on).
STALL_SWEEP_PREDICATE = "status = 'pending' AND runs = 0 AND attempts = 0 AND workflow_started IS true"


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_stall_sweep",
        "webhook_deliveries",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text(STALL_SWEEP_PREDICATE),
    )
    op.create_index(
        "ix_webhook_deliveries_pending",
        "webhook_deliveries",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_pending", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_stall_sweep", table_name="webhook_deliveries")
