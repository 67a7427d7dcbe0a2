"""Request and response bodies of the human agent queue and of company users."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from api.schemas import MessageOut, Strict

Category = Literal[
    "customer_request", "complaint", "missing_knowledge", "low_confidence", "action_failed", "tenant_rule"
]
Role = Literal["owner", "admin", "agent", "analyst"]


class UserCreate(Strict):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=255)
    role: Role
    password: str = Field(min_length=10, max_length=256)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        local, at, domain = value.strip().partition("@")
        if not at or not local or "." not in domain or " " in value.strip() or domain.startswith("."):
            raise ValueError("not an email address")
        return value.strip().lower()


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    role: str
    created_at: datetime
    last_login_at: datetime | None


class UserList(BaseModel):
    items: list[UserOut]


class LoginRequest(Strict):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class SessionOut(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer …' on the agent routes. Shown once.")
    expires_at: datetime
    user: UserOut
    company_id: uuid.UUID


class MeOut(BaseModel):
    user: UserOut
    company_id: uuid.UUID
    company_name: str
    session_expires_at: datetime


class EscalateRequest(Strict):
    reason: str = Field("", max_length=1000)
    category: Category = "customer_request"
    priority: int | None = Field(None, ge=1, le=4, description="1 most urgent .. 4; default by category")


class SlaOut(BaseModel):
    state: Literal["on_track", "after_hours", "breached", "met"]
    due_at: datetime | None
    breaches: int
    first_response_at: datetime | None


class EscalationOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    status: Literal["waiting", "claimed", "resolved"]
    category: str
    reason: str
    priority: int
    opened_by: str
    waiting_since: datetime
    wait_seconds: int
    sla: SlaOut
    claimed_by: uuid.UUID | None
    claimed_at: datetime | None
    resolved_at: datetime | None
    resolution: str
    handed_back_to_bot: bool
    created_at: datetime
    updated_at: datetime


class EscalationDetail(EscalationOut):
    assist: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Prepared on claim: summary, recent_messages, retrieved_passages, reason, "
            "draft_reply, draft_source"
        ),
    )


class EscalationList(BaseModel):
    items: list[EscalationOut]


class AgentMessageCreate(Strict):
    content: str = Field(min_length=1)

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must not be blank")
        return value


class AgentMessageOut(BaseModel):
    escalation_id: uuid.UUID
    message: MessageOut


class ResolveRequest(Strict):
    resolution: str = Field("", max_length=2000)
    hand_back_to_bot: bool = False
