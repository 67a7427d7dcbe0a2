"""Bot replies and status changes on a conversation's live feed (`conversation:{id}:live`).

Agent and system messages are published by helpdeck.services.queue_feed; this adds the bot's
replies and the conversation's status changes, in the same shapes, so an open widget or console
sees everything that happens in the conversation. Best effort: PostgreSQL keeps the truth.
"""

from __future__ import annotations

import logging
import uuid

import redis.asyncio as aioredis

from helpdeck.db import Database
from helpdeck.services import queue_feed
from helpdeck.tables import Message

log = logging.getLogger("helpdeck.live")
STATUS_BY_CHANGE = {"opened": "escalated", "claimed": "escalated", "released": "escalated"}


async def publish_bot_reply(redis: aioredis.Redis, db: Database, message_id: str) -> None:
    try:
        async with db.session() as session:
            message = await session.get(Message, uuid.UUID(message_id))
        if message is None:
            return
        view = queue_feed.message_view(message)
        view["citations"] = message.citations
        view["suggestions"] = list((message.meta or {}).get("suggestions") or [])[:3]
        body = {"type": "message", "escalation_id": None, "message": view}
        await queue_feed._publish(redis, queue_feed.conversation_channel(str(message.conversation_id)), body)
    except Exception as error:  # never fail the turn for a live feed
        log.warning("could not publish a reply to the live feed: %s", error)


async def publish_status(redis: aioredis.Redis, escalation: dict, change: str) -> None:
    """`{"type": "status", "change", "status", "escalation"}` on the conversation's feed."""
    if change == "resolved":
        status = "active" if escalation.get("handed_back_to_bot") else "closed"
    elif change in STATUS_BY_CHANGE:
        status = STATUS_BY_CHANGE[change]
    else:
        return
    body = {"type": "status", "change": change, "status": status, "escalation_status": escalation.get("status"),
            "escalation_id": escalation.get("id")}
    await queue_feed._publish(redis, queue_feed.conversation_channel(escalation["conversation_id"]), body)
