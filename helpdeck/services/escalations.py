"""The database side of the human agent queue, always scoped to one company.

Opening an escalation moves the conversation to `escalated` in the same transaction as the
escalation row and its event. Every later change is written by the EscalationWorkflow's
activities through the `record_*` functions here, each idempotent because activities retry.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import case
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.errors import NotFound
from helpdeck.services.events import add_event
from helpdeck.tables import Conversation, Escalation, Message

STATUSES = ("waiting", "claimed", "resolved")


def _now() -> datetime:
    return datetime.now(UTC)


async def _lock_conversation(session: AsyncSession, company_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
    conversation = (
        await session.exec(
            select(Conversation)
            .where(Conversation.id == conversation_id, Conversation.company_id == company_id)
            .with_for_update()
        )
    ).first()
    if conversation is None:
        raise NotFound("no such conversation")
    return conversation


async def _lock_escalation(session: AsyncSession, company_id: uuid.UUID, escalation_id: uuid.UUID) -> Escalation:
    row = (
        await session.exec(
            select(Escalation)
            .where(Escalation.id == escalation_id, Escalation.company_id == company_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound("no such escalation")
    return row


def escalation_payload(row: Escalation) -> dict:
    """The small event payload (webhooks, Slack): ids and state, never message text."""
    return {
        "escalation_id": str(row.id),
        "conversation_id": str(row.conversation_id),
        "status": row.status,
        "category": row.category,
        "priority": row.priority,
        "claimed_by": str(row.claimed_by) if row.claimed_by else None,
        "sla_state": row.sla_state,
    }


async def open_escalation(
    session: AsyncSession,
    company_id: uuid.UUID,
    conversation_id: uuid.UUID,
    category: str,
    reason: str,
    priority: int,
    opened_by: str,
) -> tuple[Escalation, bool]:
    """The conversation's open escalation, creating it if there is none (True when created)."""
    conversation = await _lock_conversation(session, company_id, conversation_id)
    existing = (
        await session.exec(
            select(Escalation).where(Escalation.conversation_id == conversation_id, Escalation.status != "resolved")
        )
    ).first()
    if existing is not None:
        await session.commit()
        return existing, False
    row = Escalation(
        company_id=company_id,
        conversation_id=conversation_id,
        category=category,
        reason=reason,
        priority=priority,
        opened_by=opened_by,
    )
    session.add(row)
    conversation.status = "escalated"
    conversation.updated_at = _now()
    session.add(conversation)
    add_event(
        session,
        company_id,
        "conversation.escalated",
        {**escalation_payload(row), "reason": reason, "opened_by": opened_by},
        conversation_id=conversation_id,
    )
    await session.commit()
    return row, True


async def get_escalation(session: AsyncSession, company_id: uuid.UUID, escalation_id: uuid.UUID) -> Escalation:
    row = await session.get(Escalation, escalation_id)
    # A foreign id and an unknown id look the same from outside: both 404.
    if row is None or row.company_id != company_id:
        raise NotFound("no such escalation")
    return row


async def list_escalations(
    session: AsyncSession, company_id: uuid.UUID, status: str | None, limit: int
) -> list[Escalation]:
    """Open ones first, then by priority (1 first) and by how long the customer has waited."""
    query = select(Escalation).where(Escalation.company_id == company_id)
    if status is not None:
        query = query.where(Escalation.status == status)
    if status == "resolved":
        query = query.order_by(col(Escalation.resolved_at).desc())
    else:
        open_first = case((col(Escalation.status) == "resolved", 1), else_=0)
        query = query.order_by(open_first, col(Escalation.priority), col(Escalation.waiting_since), col(Escalation.id))
    return list(await session.exec(query.limit(limit)))


async def record_sla_plan(
    session: AsyncSession, company_id: uuid.UUID, escalation_id: uuid.UUID, sla_state: str, due_at: datetime | None
) -> Escalation:
    row = await _lock_escalation(session, company_id, escalation_id)
    if row.status != "resolved" and row.sla_state != "breached":
        row.sla_state, row.sla_due_at, row.updated_at = sla_state, due_at, _now()
        session.add(row)
    await session.commit()
    return row


async def record_claim(
    session: AsyncSession, company_id: uuid.UUID, escalation_id: uuid.UUID, user_id: uuid.UUID, at: datetime
) -> Escalation:
    row = await _lock_escalation(session, company_id, escalation_id)
    if row.status == "waiting":
        row.status, row.claimed_by, row.claimed_at, row.updated_at = "claimed", user_id, at, _now()
        session.add(row)
        add_event(session, company_id, "escalation.claimed", escalation_payload(row), row.conversation_id)
    await session.commit()
    return row


async def store_assist(session: AsyncSession, company_id: uuid.UUID, escalation_id: uuid.UUID, assist: dict) -> None:
    row = await _lock_escalation(session, company_id, escalation_id)
    row.assist = assist
    session.add(row)
    await session.commit()


async def record_release(
    session: AsyncSession,
    company_id: uuid.UUID,
    escalation_id: uuid.UUID,
    user_id: uuid.UUID | None,
    at: datetime,
    due_at: datetime | None,
) -> Escalation:
    row = await _lock_escalation(session, company_id, escalation_id)
    if row.status == "claimed":
        released_by = row.claimed_by
        row.status, row.claimed_by, row.claimed_at = "waiting", None, None
        row.waiting_since, row.sla_due_at, row.updated_at = at, due_at, _now()
        if row.sla_state == "met":
            row.sla_state = "on_track"
        session.add(row)
        payload = {**escalation_payload(row), "released_by": str(user_id or released_by)}
        add_event(session, company_id, "escalation.released", payload, row.conversation_id)
    await session.commit()
    return row


async def record_sla_breach(
    session: AsyncSession,
    company_id: uuid.UUID,
    escalation_id: uuid.UUID,
    breach_number: int,
    priority: int,
    due_at: datetime | None,
) -> Escalation:
    """Count the breach once (by its number), raise the priority, and re-notify with an event."""
    row = await _lock_escalation(session, company_id, escalation_id)
    if row.status != "resolved" and row.sla_breaches < breach_number:
        row.sla_breaches, row.priority, row.sla_state = breach_number, priority, "breached"
        row.sla_due_at, row.updated_at = due_at, _now()
        session.add(row)
        payload = {**escalation_payload(row), "breaches": breach_number}
        add_event(session, company_id, "escalation.sla_breached", payload, row.conversation_id)
    await session.commit()
    return row


async def record_resolution(
    session: AsyncSession,
    company_id: uuid.UUID,
    escalation_id: uuid.UUID,
    user_id: uuid.UUID | None,
    resolution: str,
    hand_back_to_bot: bool,
    at: datetime,
) -> Escalation:
    """Close the escalation; the conversation goes back to the bot only when asked, else closes."""
    row = await _lock_escalation(session, company_id, escalation_id)
    if row.status != "resolved":
        conversation = await _lock_conversation(session, company_id, row.conversation_id)
        row.status, row.resolved_at, row.resolution = "resolved", at, resolution
        row.handed_back_to_bot, row.updated_at = hand_back_to_bot, _now()
        conversation.status = "active" if hand_back_to_bot else "closed"
        conversation.updated_at = _now()
        session.add(row)
        session.add(conversation)
        payload = {
            **escalation_payload(row),
            "resolved_by": str(user_id) if user_id else None,
            "hand_back_to_bot": hand_back_to_bot,
            "conversation_status": conversation.status,
        }
        add_event(session, company_id, "conversation.resolved", payload, row.conversation_id)
    await session.commit()
    return row


async def append_message(
    session: AsyncSession,
    company_id: uuid.UUID,
    escalation_id: uuid.UUID,
    message_id: uuid.UUID,
    role: str,
    content: str,
    meta: dict,
    at: datetime,
) -> tuple[Message, Escalation]:
    """An agent's or the system's message, in the conversation's seq order, written once.

    It takes the same conversation row lock as the turns, so it never shares a seq with a
    user message or a bot reply; an agent message is its own turn (turn_seq = seq).
    """
    row = await _lock_escalation(session, company_id, escalation_id)
    existing = await session.get(Message, message_id)
    if existing is not None:
        await session.commit()
        return existing, row
    conversation = await _lock_conversation(session, company_id, row.conversation_id)
    seq = conversation.last_seq + 1
    message = Message(
        id=message_id,
        company_id=company_id,
        conversation_id=row.conversation_id,
        seq=seq,
        turn_seq=seq,
        role=role,
        content=content,
        meta=meta,
    )
    session.add(message)
    conversation.last_seq, conversation.updated_at = seq, _now()
    session.add(conversation)
    message_payload = {
        "message_id": str(message.id),
        "conversation_id": str(row.conversation_id),
        "role": role,
        "seq": seq,
        "content": content,
        "citations": [],
        "created_at": message.created_at.isoformat(),
    }
    add_event(session, company_id, "message.created", message_payload, row.conversation_id)
    if role == "agent":
        if row.first_response_at is None:
            row.first_response_at = at
            if row.sla_state != "breached":
                row.sla_state = "met"
            row.updated_at = _now()
            session.add(row)
        add_event(
            session,
            company_id,
            "escalation.agent_message",
            {**message_payload, "escalation_id": str(row.id), "agent_id": meta.get("agent_id")},
            row.conversation_id,
        )
    await session.commit()
    return message, row


async def conversation_snapshot(
    session: AsyncSession, company_id: uuid.UUID, conversation_id: uuid.UUID, last: int
) -> tuple[str, list[Message]]:
    """The rolling summary and the last messages (oldest first), for the agent's assist."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.company_id != company_id:
        raise NotFound("no such conversation")
    rows = await session.exec(
        select(Message)
        .where(Message.company_id == company_id, Message.conversation_id == conversation_id)
        .order_by(col(Message.seq).desc())
        .limit(last)
    )
    return conversation.summary, list(rows)[::-1]
