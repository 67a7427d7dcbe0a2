"""Citation clicks: a customer opened a source the bot cited, recorded as an analytics fact.

The quality page counts them per document: a source nobody opens is either convincing or
ignored, one opened often is worth reading again. A widget visitor may report clicks only on
replies in their own conversation; anything else is answered as if the message did not exist.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.errors import NotFound
from helpdeck.services.visitors import token_matches
from helpdeck.tables import CitationClick, Conversation, Message


def _document_id(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def record_citation_click(
    session: AsyncSession,
    company_id: uuid.UUID,
    message_id: uuid.UUID,
    chunk_id: str,
    visitor: tuple[str, str | None] | None = None,
) -> CitationClick:
    """Record one click on `chunk_id`, cited by the bot's reply `message_id`.

    `visitor` is (secret, visitor token) for a widget caller: the message must then belong to
    the conversation that token was issued for.
    """
    message = await session.get(Message, message_id)
    if message is None or message.company_id != company_id:
        raise NotFound("no such message")
    if visitor is not None and not token_matches(visitor[0], message.conversation_id, visitor[1]):
        raise NotFound("no such message")
    cited = next((c for c in message.citations or [] if str(c.get("chunk_id")) == chunk_id), None)
    if cited is None:
        raise NotFound("this reply does not cite that passage", code="citation_not_found")
    conversation = await session.get(Conversation, message.conversation_id)
    click = CitationClick(
        company_id=company_id,
        conversation_id=message.conversation_id,
        message_id=message_id,
        chunk_id=chunk_id[:200],
        document_id=_document_id(cited.get("document_id")),
        source=str(cited.get("source") or "")[:2000],
        channel=conversation.channel if conversation else "api",
        created_at=datetime.now(UTC),
    )
    session.add(click)
    await session.commit()
    await session.refresh(click)
    return click
