"""Conversations and messages as the API sees them: always scoped to one company."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.errors import InvalidInput, NotFound
from helpdeck.tables import Conversation, Message, Turn


async def create_conversation(
    session: AsyncSession, company_id: uuid.UUID, user_id: str, channel: str, meta: dict
) -> Conversation:
    conversation = Conversation(company_id=company_id, user_id=user_id, channel=channel, meta=meta)
    session.add(conversation)
    await session.commit()
    return conversation


async def get_conversation(session: AsyncSession, company_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    # A foreign id and an unknown id look the same from outside: both 404.
    if conversation is None or conversation.company_id != company_id:
        raise NotFound("no such conversation")
    return conversation


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("malformed cursor", field="cursor") from exc


async def list_conversations(
    session: AsyncSession,
    company_id: uuid.UUID,
    *,
    user_id: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Conversation], str | None]:
    """Newest first, keyset-paginated on (created_at, id) so pages stay stable under inserts."""
    query = select(Conversation).where(Conversation.company_id == company_id)
    if user_id is not None:
        query = query.where(Conversation.user_id == user_id)
    if status is not None:
        query = query.where(Conversation.status == status)
    if channel is not None:
        query = query.where(Conversation.channel == channel)
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(
            (col(Conversation.created_at) < created_at)
            | ((col(Conversation.created_at) == created_at) & (col(Conversation.id) < row_id))
        )
    query = query.order_by(col(Conversation.created_at).desc(), col(Conversation.id).desc())
    rows = list(await session.exec(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    return rows, next_cursor


async def list_messages(session: AsyncSession, company_id: uuid.UUID, conversation_id: uuid.UUID) -> list[Message]:
    await get_conversation(session, company_id, conversation_id)
    rows = await session.exec(
        select(Message)
        .where(Message.company_id == company_id, Message.conversation_id == conversation_id)
        .order_by(col(Message.seq))
    )
    return list(rows)


async def find_turn(
    session: AsyncSession, company_id: uuid.UUID, turn_id: str
) -> tuple[Turn, Message, Message | None] | None:
    """A turn with its user message and reply, if the turn has been recorded."""
    turn = await session.get(Turn, turn_id)
    if turn is None or turn.company_id != company_id:
        return None
    user_message = await session.get(Message, turn.user_message_id)
    reply = await session.get(Message, turn.reply_message_id) if turn.reply_message_id else None
    assert user_message is not None
    return turn, user_message, reply
