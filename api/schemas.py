"""Request and response bodies. Requests forbid unknown fields so typos fail loudly."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompanyCreate(Strict):
    name: str = Field(min_length=1, max_length=255)
    tier: Literal["free", "pro", "enterprise"] = "free"
    settings: dict[str, Any] = Field(default_factory=dict)


class CompanyCreated(BaseModel):
    id: uuid.UUID
    name: str
    tier: str
    api_key: str = Field(description="The company's first secret key. Shown once, never again.")


class CompanyOut(BaseModel):
    id: uuid.UUID
    name: str
    tier: str
    created_at: datetime


class KeyCreate(Strict):
    kind: Literal["secret", "publishable"]
    name: str = Field("", max_length=255)
    allowed_origins: list[str] = Field(default_factory=list, max_length=50)
    expires_at: datetime | None = None

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            scheme, _, rest = origin.partition("://")
            if scheme not in ("http", "https") or not rest or "/" in rest.rstrip("/"):
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com")
        return [o.rstrip("/") for o in origins]

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a time zone, e.g. 2030-01-01T00:00:00Z")
        return value


class KeyRotate(Strict):
    grace_seconds: int = Field(86400, ge=0, le=30 * 86400)


class KeyOut(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    prefix: str
    allowed_origins: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself. Shown once, never again.")


class KeyList(BaseModel):
    items: list[KeyOut]


class ConversationCreate(Strict):
    user_id: str = Field(min_length=1, max_length=255)
    channel: Literal["api", "widget", "slack", "discord", "openai"] = "api"
    metadata: dict[str, Any] = Field(default_factory=dict)


class ConversationOut(BaseModel):
    id: uuid.UUID
    user_id: str
    channel: str
    status: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class MessageCreate(Strict):
    content: str = Field(min_length=1)
    stream: bool = False

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must not be blank")
        return value


class Citation(BaseModel):
    chunk_id: str
    document_id: str
    source: str = ""
    page: int | None = None
    section: str | None = None


class MessageOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    role: str
    content: str
    citations: list[Citation] = Field(default_factory=list)
    suggestions: list[str] = Field(
        default_factory=list, max_length=3, description="Up to three likely follow-up questions (bot replies)."
    )
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class MessageList(BaseModel):
    items: list[MessageOut]


class TurnOut(BaseModel):
    turn_id: str
    user_message: MessageOut
    message: MessageOut | None = Field(description="The bot's reply; null when a human agent owns the conversation.")


class ComponentHealth(BaseModel):
    ok: bool
    latency_ms: float
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    components: dict[str, ComponentHealth]
