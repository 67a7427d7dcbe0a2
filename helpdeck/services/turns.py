"""The database side of one chat turn. Every function is idempotent: activities retry.

Turns of one conversation are ordered by a row lock on the conversation: recording a user
message and completing a turn both take it, so each sees a consistent picture of which earlier
turn is still running (to wait for it) and which later turn is waiting (to wake it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.analytics.facts import stage_turn_fact
from helpdeck.errors import NotFound
from helpdeck.services.events import add_event
from helpdeck.tables import Company, Conversation, Message, Turn


@dataclass(frozen=True)
class RecordedUserMessage:
    message_id: str
    seq: int
    previous_turn_id: str | None  # an earlier turn of this conversation still running
    conversation_status: str
    company_tier: str


@dataclass(frozen=True)
class RecordedReply:
    message_id: str | None
    next_turn_id: str | None  # a later turn waiting for this one
    needs_summary: bool


@dataclass(frozen=True)
class TurnContext:
    company_name: str
    company_settings: dict
    conversation_status: str
    summary: str
    history: list[tuple[str, str]]  # (role, content), oldest first
    question: str


async def _lock_conversation(
    session: AsyncSession, company_id: uuid.UUID, conversation_id: uuid.UUID
) -> Conversation:
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


async def _running_turn(
    session: AsyncSession, conversation_id: uuid.UUID, seq: int, *, before: bool
) -> str | None:
    query = select(Turn.id).where(Turn.conversation_id == conversation_id, Turn.status == "running")
    if before:
        query = query.where(Turn.seq < seq).order_by(col(Turn.seq).desc())
    else:
        query = query.where(Turn.seq > seq).order_by(col(Turn.seq))
    return (await session.exec(query.limit(1))).first()


async def record_user_message(
    session: AsyncSession,
    company_id: uuid.UUID,
    conversation_id: uuid.UUID,
    turn_id: str,
    content: str,
    meta: dict,
) -> RecordedUserMessage:
    conversation = await _lock_conversation(session, company_id, conversation_id)
    company = await session.get(Company, company_id)
    assert company is not None
    turn = await session.get(Turn, turn_id)
    if turn is None:
        seq = conversation.last_seq + 1
        message = Message(
            company_id=company_id,
            conversation_id=conversation_id,
            turn_id=turn_id,
            seq=seq,
            turn_seq=seq,
            role="user",
            content=content,
            meta=meta,
        )
        session.add(message)
        await session.flush()
        turn = Turn(
            id=turn_id,
            company_id=company_id,
            conversation_id=conversation_id,
            seq=seq,
            user_message_id=message.id,
        )
        session.add(turn)
        conversation.last_seq = seq
        conversation.updated_at = datetime.now(UTC)
        session.add(conversation)
        _message_created(session, message)
    previous = await _running_turn(session, conversation_id, turn.seq, before=True)
    result = RecordedUserMessage(
        message_id=str(turn.user_message_id),
        seq=turn.seq,
        previous_turn_id=previous,
        conversation_status=conversation.status,
        company_tier=company.tier,
    )
    await session.commit()
    return result


async def is_turn_completed(session: AsyncSession, turn_id: str) -> bool:
    turn = await session.get(Turn, turn_id)
    return turn is None or turn.status == "completed"


async def load_context(
    session: AsyncSession,
    company_id: uuid.UUID,
    conversation_id: uuid.UUID,
    turn_id: str,
    history_messages: int,
) -> TurnContext:
    """The summary, the last N messages before this turn (questions next to their answers)."""
    turn = await session.get(Turn, turn_id)
    conversation = await session.get(Conversation, conversation_id)
    company = await session.get(Company, company_id)
    if turn is None or conversation is None or company is None or turn.company_id != company_id:
        raise NotFound("no such turn")
    question = await session.get(Message, turn.user_message_id)
    assert question is not None
    rows = await session.exec(
        select(Message.role, Message.content)
        .where(
            Message.conversation_id == conversation_id,
            Message.turn_seq < turn.seq,
            Message.seq > conversation.summary_upto_seq,
        )
        .order_by(col(Message.turn_seq).desc(), col(Message.seq).desc())
        .limit(history_messages)
    )
    history = [(role, content) for role, content in rows][::-1]
    return TurnContext(
        company_name=company.name,
        company_settings=dict(company.settings),
        conversation_status=conversation.status,
        summary=conversation.summary,
        history=history,
        question=question.content,
    )


async def record_reply(
    session: AsyncSession,
    company_id: uuid.UUID,
    conversation_id: uuid.UUID,
    turn_id: str,
    content: str | None,
    citations: list[dict],
    meta: dict,
    history_messages: int,
    summary_every: int,
    handoff: bool = False,
) -> RecordedReply:
    """Store the answer (if any) and close the turn; returns the next waiting turn to wake.

    Under the conversation lock, an escalated conversation gets no bot answer, even from a turn
    that was already generating when a person took over (only the turn's own handover notice).
    """
    conversation = await _lock_conversation(session, company_id, conversation_id)
    turn = await session.get(Turn, turn_id)
    if turn is None:
        raise NotFound("no such turn")
    if conversation.status == "escalated" and not handoff:
        content = None
    if turn.reply_message_id is None and content is not None:
        seq = conversation.last_seq + 1
        reply = Message(
            company_id=company_id,
            conversation_id=conversation_id,
            turn_id=turn_id,
            seq=seq,
            turn_seq=turn.seq,
            role="assistant",
            content=content,
            citations=citations,
            meta=meta,
        )
        session.add(reply)
        await session.flush()
        turn.reply_message_id = reply.id
        conversation.last_seq = seq
        conversation.updated_at = datetime.now(UTC)
        session.add(conversation)
        _message_created(session, reply)
    if turn.status != "completed":
        turn.status = "completed"
        turn.completed_at = datetime.now(UTC)
        await stage_turn_fact(session, conversation, turn, content, citations, meta)
    session.add(turn)
    next_turn = await _running_turn(session, conversation_id, turn.seq, before=False)
    unsummarised = conversation.last_seq - conversation.summary_upto_seq
    result = RecordedReply(
        message_id=str(turn.reply_message_id) if turn.reply_message_id else None,
        next_turn_id=next_turn,
        needs_summary=unsummarised >= history_messages + summary_every,
    )
    await session.commit()
    return result


async def messages_to_summarise(
    session: AsyncSession, company_id: uuid.UUID, conversation_id: uuid.UUID, keep_last: int
) -> tuple[str, list[tuple[str, str]], int]:
    """The current summary, the older messages that should fold into it, and their last seq."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.company_id != company_id:
        raise NotFound("no such conversation")
    cutoff = conversation.last_seq - keep_last
    if cutoff <= conversation.summary_upto_seq:
        return conversation.summary, [], conversation.summary_upto_seq
    rows = await session.exec(
        select(Message.role, Message.content, Message.seq)
        .where(
            Message.conversation_id == conversation_id,
            Message.seq > conversation.summary_upto_seq,
            Message.seq <= cutoff,
        )
        .order_by(col(Message.seq))
    )
    items = list(rows)
    return conversation.summary, [(r, c) for r, c, _ in items], cutoff


async def store_summary(
    session: AsyncSession,
    company_id: uuid.UUID,
    conversation_id: uuid.UUID,
    summary: str,
    upto_seq: int,
) -> None:
    conversation = await _lock_conversation(session, company_id, conversation_id)
    # Never move backwards: a slow, retried summariser must not undo a newer summary.
    if upto_seq > conversation.summary_upto_seq:
        conversation.summary = summary
        conversation.summary_upto_seq = upto_seq
        session.add(conversation)
    await session.commit()


def _message_created(session: AsyncSession, message: Message) -> None:
    add_event(
        session,
        message.company_id,
        "message.created",
        {
            "message_id": str(message.id),
            "conversation_id": str(message.conversation_id),
            "role": message.role,
            "seq": message.seq,
            "content": message.content,
            "citations": message.citations,
            "created_at": message.created_at.isoformat(),
        },
        conversation_id=message.conversation_id,
    )


async def count_messages(session: AsyncSession, conversation_id: uuid.UUID) -> int:
    result = await session.exec(
        select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
    )
    return int(result.one())
