"""Channel integrations: a company's Slack and Discord apps, the platform threads mapped to
conversations, and one reply delivery per turn that came from a platform."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from helpdeck.tables._columns import json_column, new_id, timestamp_column, utcnow


class ChannelConfig(SQLModel, table=True):
    """One platform app per company; secrets only as a Fernet token, never in clear."""

    __tablename__ = "channel_configs"
    __table_args__ = (UniqueConstraint("company_id", "platform", name="uq_channel_configs_company_platform"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    platform: str = Field(max_length=16)  # slack | discord
    # What may be shown: api_base_url, application_id, public_key.
    settings: dict = Field(default_factory=dict, sa_column=json_column())
    secrets_sealed: str  # Fernet token of {"signing_secret"|..., "bot_token"}
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class ChannelThread(SQLModel, table=True):
    """A platform thread (Slack channel + thread_ts, Discord channel + user) is one conversation."""

    __tablename__ = "channel_threads"
    __table_args__ = (
        UniqueConstraint("company_id", "platform", "thread_key", name="uq_channel_threads_company_platform_key"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    platform: str = Field(max_length=16)
    thread_key: str = Field(max_length=255)
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class ChannelDelivery(SQLModel, table=True):
    """The reply owed to a platform for one inbound event: where to post it and whether it was.

    Unique per platform event id, so a retried or replayed event never makes a second turn.
    """

    __tablename__ = "channel_deliveries"
    __table_args__ = (
        UniqueConstraint("company_id", "platform", "external_id", name="uq_channel_deliveries_company_event"),
    )

    turn_id: str = Field(primary_key=True, max_length=200)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=255)  # Slack event_id, Discord interaction or message id
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    # Where the reply goes: {"channel", "thread_ts"} or {"application_id", "token_sealed"}, ...
    target: dict = Field(default_factory=dict, sa_column=json_column())
    status: str = Field(default="pending", max_length=20)  # pending | posted | skipped | failed
    posted_ref: str | None = Field(default=None, max_length=255)  # Slack ts, Discord message id
    error: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    posted_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
