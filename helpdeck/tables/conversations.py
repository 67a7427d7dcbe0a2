"""Conversations, their messages, and the turns that produced them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from helpdeck.tables._columns import json_column, json_list_column, new_id, timestamp_column, utcnow


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_company_created", "company_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    user_id: str = Field(max_length=255, index=True)
    channel: str = Field(default="api", max_length=32)
    status: str = Field(default="active", max_length=32)  # active | escalated | closed
    meta: dict = Field(default_factory=dict, sa_column=json_column())
    # Rolling summary of every message with seq <= summary_upto_seq.
    summary: str = Field(default="")
    summary_upto_seq: int = Field(default=0)
    # Highest message seq handed out; a row lock on this row orders the conversation's turns.
    last_seq: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        # One user message and one reply per turn, whatever retries happen.
        UniqueConstraint("turn_id", "role", name="uq_messages_turn_role"),
        Index("ix_messages_company_created", "company_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    turn_id: str | None = Field(default=None, max_length=200)
    seq: int  # arrival order in the conversation
    # The seq of the user message that opened this message's turn: prompts group each question
    # with its answer even when two questions arrived before the first answer.
    turn_seq: int
    role: str = Field(max_length=20)  # user | assistant | agent | system
    content: str
    citations: list = Field(default_factory=list, sa_column=json_list_column())
    # Usage and provenance: model, provider, tokens, latency, cost, degraded reason.
    meta: dict = Field(default_factory=dict, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class Turn(SQLModel, table=True):
    """One user message and the bot's answer to it: the unit a ChatTurnWorkflow runs."""

    __tablename__ = "turns"
    __table_args__ = (Index("ix_turns_conversation_seq", "conversation_id", "seq"),)

    id: str = Field(primary_key=True, max_length=200)  # also the workflow id
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    seq: int  # the user message's seq: turns of a conversation run in this order
    status: str = Field(default="running", max_length=20)  # running | completed
    user_message_id: uuid.UUID
    reply_message_id: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    completed_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
