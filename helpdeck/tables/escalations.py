"""Escalations: a conversation handed to the human agent queue.

The EscalationWorkflow owns the truth; this row mirrors its state (written by its activities)
so the queue can be listed, filtered and ordered with SQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from helpdeck.tables._columns import json_column, new_id, timestamp_column, utcnow


class Escalation(SQLModel, table=True):
    __tablename__ = "escalations"
    __table_args__ = (
        Index("ix_escalations_company_status_priority", "company_id", "status", "priority", "waiting_since"),
        # At most one open escalation per conversation: a second request attaches to it.
        Index(
            "uq_escalations_open_conversation",
            "conversation_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    status: str = Field(default="waiting", max_length=20)  # waiting | claimed | resolved
    # customer_request | complaint | missing_knowledge | low_confidence | action_failed | tenant_rule
    category: str = Field(max_length=32)
    reason: str = Field(default="", max_length=1000)
    priority: int = Field(default=3)  # 1 (most urgent) .. 4
    opened_by: str = Field(default="api", max_length=64)  # api | turn | user:<id>
    # When the customer started waiting for a person (reset when an agent releases it).
    waiting_since: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    # on_track | after_hours | breached | met
    sla_state: str = Field(default="on_track", max_length=20)
    sla_due_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    sla_breaches: int = Field(default=0)
    claimed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    claimed_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    first_response_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    resolution: str = Field(default="", max_length=2000)
    handed_back_to_bot: bool = Field(default=False)
    # Agent assist prepared on claim: summary, recent messages, retrieved passages, draft reply.
    assist: dict = Field(default_factory=dict, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
