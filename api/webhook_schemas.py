"""Request and response bodies of the webhook routes. Secrets appear only in `WebhookCreated`
and `SecretRotated`, the two answers that show one (once)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from api.schemas import Strict
from helpdeck.services.events import EVENT_KINDS


def _event_kinds(kinds: list[str]) -> list[str]:
    unknown = [k for k in kinds if k not in EVENT_KINDS]
    if unknown:
        raise ValueError(f"unknown event kind(s) {unknown}; known: {list(EVENT_KINDS)}")
    return list(dict.fromkeys(kinds))


class WebhookCreate(Strict):
    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(min_length=1, max_length=len(EVENT_KINDS) * 2)
    description: str = Field("", max_length=500)

    _kinds = field_validator("events")(_event_kinds)


class WebhookUpdate(Strict):
    url: str | None = Field(None, min_length=1, max_length=2048)
    events: list[str] | None = Field(None, min_length=1, max_length=len(EVENT_KINDS) * 2)
    description: str | None = Field(None, max_length=500)
    disabled: bool | None = None

    @field_validator("events")
    @classmethod
    def _kinds(cls, kinds: list[str] | None) -> list[str] | None:
        return None if kinds is None else _event_kinds(kinds)


class SecretRotate(Strict):
    overlap_seconds: int = Field(86400, ge=0, le=7 * 86400, description="How long the old secret keeps signing too")


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str
    disabled: bool
    disabled_reason: str = Field(description="'' | manual | gone (the endpoint answered 410) | failing")
    disabled_at: datetime | None
    last_success_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret (whsec_…). Shown once, never again.")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class SecretRotated(BaseModel):
    id: uuid.UUID
    secret: str = Field(description="The new signing secret. Shown once, never again.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the old secret signs too (both signatures in webhook-signature)."
    )


class AttemptOut(BaseModel):
    run: int = Field(description="0 for the first delivery, n for the n-th replay")
    number: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str


class DeliveryOut(BaseModel):
    id: uuid.UUID
    webhook_id: str = Field(description="The webhook-id header: the same for every attempt and replay")
    event_id: uuid.UUID
    event_type: str
    conversation_id: uuid.UUID | None
    status: str = Field(description="pending | delivered | failed")
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class DeliveryQueued(BaseModel):
    delivery_id: uuid.UUID
    webhook_id: str
    run: int
