"""Webhooks: a company's endpoints, the outbox of events waiting to become deliveries, one
delivery per event and endpoint, and every attempt made to deliver it.

`webhook_outbox` is filled by a trigger on `events` (migration 0010) in the transaction that
writes the event, so an event can never be committed without its place in the outbox.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from helpdeck.tables._columns import json_column, json_list_column, new_id, timestamp_column, utcnow


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", index=True, ondelete="CASCADE")
    url: str = Field(max_length=2048)
    description: str = Field(default="", max_length=500)
    # Subscribed event kinds (helpdeck.services.events.EVENT_KINDS).
    events: list = Field(default_factory=list, sa_column=json_list_column())
    # The signing secrets, encrypted with the platform's secret key (a JSON list of
    # {"secret", "expires_at"}); never returned by the API after creation or rotation.
    sealed_secrets: str = Field(sa_column=Column(Text, nullable=False))
    # Disabled by the company (PATCH), by a 410 answer, or after persistent failure.
    disabled_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    disabled_reason: str = Field(default="", max_length=64)  # manual | gone | failing
    last_success_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class WebhookOutbox(SQLModel, table=True):
    """Events of companies with an enabled endpoint, not yet turned into deliveries."""

    __tablename__ = "webhook_outbox"

    event_id: uuid.UUID = Field(primary_key=True, foreign_key="events.id", ondelete="CASCADE")
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    created_at: datetime = Field(sa_column=timestamp_column(index=True))


STALL_SWEEP_PREDICATE = "status = 'pending' AND runs = 0 AND attempts = 0 AND workflow_started IS true"


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint. Its webhook-id is the event's, so retries and replays of it
    (and the same event at another endpoint) carry the same id and receivers can deduplicate."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        # The order of a conversation's deliveries at one endpoint: the event's time, then id.
        Index("ix_webhook_deliveries_order", "endpoint_id", "conversation_id", "event_created_at", "event_id"),
        Index("ix_webhook_deliveries_listing", "endpoint_id", "created_at"),
        Index("ix_webhook_deliveries_unstarted", "created_at", postgresql_where=text("NOT workflow_started")),
        # The relay's stall sweep (webhook_dispatch.stalled_heads): first deliveries never tried,
        # handed to their line. Its predicate is the sweep's, written as the sweep writes it.
        Index("ix_webhook_deliveries_stall_sweep", "updated_at", postgresql_where=text(STALL_SWEEP_PREDICATE)),
        # The backlog gauge counts these at every scrape (webhook_dispatch.undelivered_count).
        Index("ix_webhook_deliveries_pending", "created_at", postgresql_where=text("status = 'pending'")),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", index=True, ondelete="CASCADE")
    endpoint_id: uuid.UUID = Field(foreign_key="webhook_endpoints.id", ondelete="CASCADE")
    # No foreign key: a delivery's history outlives the event (retention), and a test ping has
    # no row in `events` (its payload is kept here instead).
    event_id: uuid.UUID
    event_kind: str = Field(max_length=64)
    conversation_id: uuid.UUID | None = Field(default=None)
    event_created_at: datetime = Field(sa_column=timestamp_column())
    payload: dict | None = Field(default=None, sa_column=json_column(nullable=True))
    status: str = Field(default="pending", max_length=16)  # pending | delivered | failed
    attempts: int = 0
    # 0 for the first run; each replay is run 1, 2, ... (its own workflow, same webhook-id).
    runs: int = 0
    workflow_started: bool = False
    last_status_code: int | None = None
    last_error: str = Field(default="", max_length=500)
    next_attempt_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    # Held while a request is in flight, so a re-executed attempt never sends a second copy.
    lease_until: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class WebhookAttempt(SQLModel, table=True):
    """One HTTP request made (or refused before it left) for a delivery."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        UniqueConstraint("delivery_id", "run", "number", name="uq_webhook_attempts_run_number"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", index=True, ondelete="CASCADE")
    delivery_id: uuid.UUID = Field(foreign_key="webhook_deliveries.id", ondelete="CASCADE")
    run: int = 0
    number: int = 0  # 0 for the first try of a run, then 1, 2, ... for its retries
    attempted_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    status_code: int | None = None
    latency_ms: float = 0.0
    error: str = Field(default="", max_length=500)
