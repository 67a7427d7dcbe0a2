"""Customer feedback from the widget and the API: thumbs on a reply, CSAT on a conversation,
clicks on the sources a reply cited.

Publishable (widget) keys may call all three, for their visitor's own conversation only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.deps import CallerDep, SessionDep
from api.schemas import Strict
from api.widget_guard import visitor_scope
from helpdeck.analytics import feedback as service
from helpdeck.analytics.citations import record_citation_click

router = APIRouter(tags=["feedback"])


class FeedbackCreate(Strict):
    rating: Literal["up", "down"]
    comment: str = Field("", max_length=2000)


class FeedbackOut(BaseModel):
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    rating: str
    comment: str
    created_at: datetime


class CitationClickCreate(Strict):
    chunk_id: str = Field(min_length=1, max_length=200, description="A `chunk_id` among the reply's citations")


class CitationClickOut(BaseModel):
    id: uuid.UUID
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    chunk_id: str
    document_id: uuid.UUID | None
    source: str
    created_at: datetime


class CsatCreate(Strict):
    score: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)


class CsatOut(BaseModel):
    conversation_id: uuid.UUID
    score: int
    comment: str
    created_at: datetime


@router.post("/v1/messages/{message_id}/feedback", response_model=FeedbackOut)
async def rate_message(
    request: Request, message_id: uuid.UUID, body: FeedbackCreate, caller: CallerDep, session: SessionDep
) -> FeedbackOut:
    """Thumbs up or down on one of the bot's replies; rating again replaces the earlier rating."""
    visitor = visitor_scope(request, caller.key_kind)
    row = await service.rate_message(session, caller.company_id, message_id, body.rating, body.comment, visitor)
    return FeedbackOut.model_validate(row, from_attributes=True)


@router.post("/v1/conversations/{conversation_id}/csat", response_model=CsatOut)
async def rate_conversation(
    conversation_id: uuid.UUID, body: CsatCreate, caller: CallerDep, session: SessionDep
) -> CsatOut:
    """The customer's satisfaction with the whole conversation, 1 (poor) to 5 (great)."""
    row = await service.rate_conversation(session, caller.company_id, conversation_id, body.score, body.comment)
    return CsatOut.model_validate(row, from_attributes=True)


@router.post("/v1/messages/{message_id}/citation-clicks", response_model=CitationClickOut, status_code=201)
async def record_citation_click_route(
    request: Request, message_id: uuid.UUID, body: CitationClickCreate, caller: CallerDep, session: SessionDep
) -> CitationClickOut:
    """The customer opened a source this reply cited (the widget reports it); counted on the quality page."""
    visitor = visitor_scope(request, caller.key_kind)
    row = await record_citation_click(session, caller.company_id, message_id, body.chunk_id, visitor)
    return CitationClickOut.model_validate(row, from_attributes=True)
