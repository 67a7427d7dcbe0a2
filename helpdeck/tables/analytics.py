"""Analytics facts and roll-ups: what each turn and conversation did, kept apart from Temporal.

Facts are written once per turn (and per feedback); the daily roll-up tables are rebuilt from
them by a schedule, so dashboards read a few hundred rows instead of every message.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from helpdeck.tables._columns import timestamp_column, utcnow


class TurnFact(SQLModel, table=True):
    """One answered (or deliberately unanswered) turn: latency by step, usage, quality signals."""

    __tablename__ = "turn_facts"
    __table_args__ = (Index("ix_turn_facts_company_created", "company_id", "created_at"),)

    turn_id: str = Field(primary_key=True, max_length=200)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    reply_message_id: uuid.UUID | None = None
    channel: str = Field(default="api", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    # Milliseconds: the whole turn (question recorded → reply recorded) and each step.
    total_ms: int | None = None
    retrieve_ms: int | None = None
    rerank_ms: int | None = None
    generate_ms: int | None = None
    model: str = Field(default="", max_length=100)
    provider: str = Field(default="", max_length=50)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cache_hit: bool = False
    intent: str = Field(default="", max_length=32)
    language: str = Field(default="", max_length=16)
    retrieval_confidence: float | None = None
    # False when the bot had nothing to ground an answer on: a knowledge gap.
    answered: bool = True
    degraded: str = Field(default="", max_length=20)
    escalation_reason: str = Field(default="", max_length=64)
    # The question, shortened: knowledge-gap clustering reads it.
    question: str = Field(default="", max_length=500)


class MessageFeedback(SQLModel, table=True):
    """A customer's thumbs up or down on one reply; the latest rating wins."""

    __tablename__ = "message_feedback"
    __table_args__ = (Index("ix_message_feedback_company_created", "company_id", "created_at"),)

    message_id: uuid.UUID = Field(foreign_key="messages.id", primary_key=True, ondelete="CASCADE")
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    rating: str = Field(max_length=8)  # up | down
    comment: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class ConversationCsat(SQLModel, table=True):
    """A customer's 1-5 satisfaction score for a whole conversation; the latest score wins."""

    __tablename__ = "conversation_csat"
    __table_args__ = (Index("ix_conversation_csat_company_created", "company_id", "created_at"),)

    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", primary_key=True, ondelete="CASCADE")
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    score: int
    comment: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class CitationClick(SQLModel, table=True):
    """A customer opened a source the bot cited: one row per click, with the cited document."""

    __tablename__ = "citation_clicks"
    __table_args__ = (Index("ix_citation_clicks_company_created", "company_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    message_id: uuid.UUID = Field(foreign_key="messages.id", ondelete="CASCADE")
    chunk_id: str = Field(max_length=200)
    # No foreign key: a click stays counted (under its source label) after the document is deleted.
    document_id: uuid.UUID | None = None
    source: str = Field(default="", max_length=2000)
    channel: str = Field(default="api", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class DailyRollup(SQLModel, table=True):
    """Per company, day and channel: the overview's counters."""

    __tablename__ = "analytics_daily"

    company_id: uuid.UUID = Field(foreign_key="companies.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=32)
    conversations: int = 0
    messages: int = 0
    turns: int = 0
    active_users: int = 0
    answered: int = 0
    escalations: int = 0
    resolved_bot: int = 0
    resolved_human: int = 0
    abandoned: int = 0
    reopened: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    csat_sum: int = 0
    csat_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cache_hits: int = 0


class UsageRollup(SQLModel, table=True):
    """Per company, day, channel, model and intent: tokens, spend and cache hits."""

    __tablename__ = "analytics_usage_daily"

    company_id: uuid.UUID = Field(foreign_key="companies.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=32)
    model: str = Field(primary_key=True, max_length=100)
    intent: str = Field(primary_key=True, max_length=32)
    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cache_hits: int = 0


class LatencyRollup(SQLModel, table=True):
    """Per company, day, channel and step: a latency histogram, so percentiles add up over days."""

    __tablename__ = "analytics_latency_daily"

    company_id: uuid.UUID = Field(foreign_key="companies.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=32)
    step: str = Field(primary_key=True, max_length=16)  # total | retrieve | rerank | generate
    bucket_ms: int = Field(primary_key=True)  # upper bound of the bucket
    count: int = 0


class EscalationRollup(SQLModel, table=True):
    """Per company, day, channel and reason: escalations, their waits and SLA breaches."""

    __tablename__ = "analytics_escalation_daily"

    company_id: uuid.UUID = Field(foreign_key="companies.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=32)
    reason: str = Field(primary_key=True, max_length=64)
    escalations: int = 0
    claimed: int = 0
    wait_s_sum: float = 0.0
    sla_breaches: int = 0


class GapRollup(SQLModel, table=True):
    """Per company, day, channel and topic: questions the bot could not answer."""

    __tablename__ = "analytics_gap_daily"

    company_id: uuid.UUID = Field(foreign_key="companies.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=32)
    topic: str = Field(primary_key=True, max_length=64)
    count: int = 0
    example: str = Field(default="", max_length=500)
