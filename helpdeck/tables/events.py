"""Domain events: what happened to a company's conversations, recorded in PostgreSQL.

Webhooks deliver them, the dashboard aggregates them, the agent console watches them. They are
facts, written in the same transaction as the change they describe, never edited afterwards.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from helpdeck.tables._columns import json_column, new_id, timestamp_column, utcnow


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_company_created", "company_id", "created_at"),
        Index("ix_events_company_kind_created", "company_id", "kind", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    # Dotted names, as webhooks publish them: message.created, conversation.escalated, ...
    kind: str = Field(max_length=64)
    conversation_id: uuid.UUID | None = Field(default=None, index=True)
    payload: dict = Field(default_factory=dict, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
