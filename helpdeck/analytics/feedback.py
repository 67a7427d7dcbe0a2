"""Customer feedback: a thumbs up or down on a reply, and a 1-5 CSAT score per conversation.

Both are upserts (the customer's latest opinion counts) and both emit `feedback.received` in
the same transaction, so webhooks and the dashboard see the same facts.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.errors import InvalidInput, NotFound
from helpdeck.services.conversations import get_conversation
from helpdeck.services.events import add_event
from helpdeck.services.visitors import token_matches
from helpdeck.tables import ConversationCsat, Message, MessageFeedback


async def rate_message(
    session: AsyncSession,
    company_id: uuid.UUID,
    message_id: uuid.UUID,
    rating: str,
    comment: str,
    visitor: tuple[str, str | None] | None = None,
) -> MessageFeedback:
    """`visitor` is (secret, visitor token) for a widget caller: only their own conversation's replies."""
    message = await session.get(Message, message_id)
    if message is None or message.company_id != company_id:
        raise NotFound("no such message")
    if visitor is not None and not token_matches(visitor[0], message.conversation_id, visitor[1]):
        raise NotFound("no such message")
    if message.role != "assistant":
        raise InvalidInput("only the bot's replies can be rated", code="not_a_reply")
    values = dict(
        message_id=message_id,
        company_id=company_id,
        conversation_id=message.conversation_id,
        rating=rating,
        comment=comment,
        created_at=datetime.now(UTC),
    )
    await session.exec(  # type: ignore[call-overload]
        insert(MessageFeedback)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["message_id"],
            set_={"rating": rating, "comment": comment, "created_at": values["created_at"]},
        )
    )
    add_event(
        session,
        company_id,
        "feedback.received",
        {
            "kind": "rating",
            "message_id": str(message_id),
            "conversation_id": str(message.conversation_id),
            "rating": rating,
            "comment": comment,
        },
        conversation_id=message.conversation_id,
    )
    await session.commit()
    return MessageFeedback(**values)


async def rate_conversation(
    session: AsyncSession, company_id: uuid.UUID, conversation_id: uuid.UUID, score: int, comment: str
) -> ConversationCsat:
    await get_conversation(session, company_id, conversation_id)
    values = dict(
        conversation_id=conversation_id,
        company_id=company_id,
        score=score,
        comment=comment,
        created_at=datetime.now(UTC),
    )
    await session.exec(  # type: ignore[call-overload]
        insert(ConversationCsat)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["conversation_id"],
            set_={"score": score, "comment": comment, "created_at": values["created_at"]},
        )
    )
    add_event(
        session,
        company_id,
        "feedback.received",
        {"kind": "csat", "conversation_id": str(conversation_id), "score": score, "comment": comment},
        conversation_id=conversation_id,
    )
    await session.commit()
    return ConversationCsat(**values)
