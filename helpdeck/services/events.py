"""Recording domain events. Callers pass the session of the change the event describes, so the
event is committed with it or not at all."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.tables import Event

# The event kinds Helpdeck emits; webhooks let companies subscribe to any of them.
EVENT_KINDS = (
    "message.created",
    "conversation.escalated",
    "escalation.claimed",
    "escalation.released",
    "escalation.sla_breached",
    "escalation.agent_message",
    "conversation.resolved",
    "document.ready",
    "document.failed",
    "feedback.received",
    # Helpdeck disabled one of the company's webhooks (410 Gone, or failing for about three
    # days); delivered to the company's other endpoints subscribed to it.
    "webhook.disabled",
)


def add_event(
    session: AsyncSession,
    company_id: uuid.UUID,
    kind: str,
    payload: dict[str, Any],
    conversation_id: uuid.UUID | None = None,
) -> Event:
    """Stage an event in the caller's transaction (it is written when the caller commits)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    event = Event(company_id=company_id, kind=kind, conversation_id=conversation_id, payload=payload)
    session.add(event)
    return event
