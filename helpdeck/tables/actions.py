"""HTTP actions: a company's own APIs the bot may call for a `transaction` (order status, ...).

The request headers (API keys, bearer tokens) are encrypted with the platform's secret key and
never returned in full; `header_hints` keeps what the API shows instead (names, masked values).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from helpdeck.tables._columns import json_column, new_id, timestamp_column, utcnow


class Action(SQLModel, table=True):
    __tablename__ = "actions"
    __table_args__ = (UniqueConstraint("company_id", "name", name="uq_actions_company_name"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=64)  # a slug, unique per company
    description: str = Field(default="", max_length=1000)
    # May hold {placeholders} in its path or query, filled from the parameters (URL-encoded).
    url: str = Field(max_length=2048)
    method: str = Field(default="GET", max_length=8)
    # A JSON Schema object: what the bot must extract from the customer's message.
    parameters: dict = Field(default_factory=dict, sa_column=json_column())
    sealed_headers: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    header_hints: dict = Field(default_factory=dict, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
