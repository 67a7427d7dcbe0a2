"""Live queue changes and agent messages, published to Redis for consoles and widgets.

Each change is PUBLISHed on a pub/sub channel (for any number of API nodes and integrations)
and also appended to a capped Redis stream beside it, so a server-sent-events client that
reconnects with Last-Event-ID gets what it missed. Redis may lose these; PostgreSQL keeps the
truth (the escalations, messages and events tables). Shapes are documented in docs/escalations.md.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import redis.asyncio as aioredis

from helpdeck.tables import Escalation, Message

FEED_MAXLEN = 1000
FEED_TTL_S = 24 * 3600


def queue_channel(company_id: str) -> str:
    return f"company:{company_id}:queue"


def conversation_channel(conversation_id: str) -> str:
    return f"conversation:{conversation_id}:live"


def feed_stream(channel: str) -> str:
    """The replayable log beside a pub/sub channel (stream ids are the SSE event ids)."""
    return f"{channel}:log"


def escalation_view(row: Escalation, now: datetime | None = None) -> dict:
    """An escalation as the queue shows it: state, wait time, SLA state (JSON-ready)."""
    now = now or datetime.now(UTC)
    end = row.resolved_at if row.status == "resolved" and row.resolved_at else now
    sla_state = row.sla_state
    if row.status != "resolved" and row.first_response_at is None and row.sla_due_at and row.sla_due_at <= now:
        sla_state = "breached"  # the workflow's timer will record it in a moment
    return {
        "id": str(row.id),
        "conversation_id": str(row.conversation_id),
        "status": row.status,
        "category": row.category,
        "reason": row.reason,
        "priority": row.priority,
        "opened_by": row.opened_by,
        "waiting_since": row.waiting_since.isoformat(),
        "wait_seconds": max(0, int((end - row.waiting_since).total_seconds())),
        "sla": {
            "state": sla_state,
            "due_at": row.sla_due_at.isoformat() if row.sla_due_at else None,
            "breaches": row.sla_breaches,
            "first_response_at": row.first_response_at.isoformat() if row.first_response_at else None,
        },
        "claimed_by": str(row.claimed_by) if row.claimed_by else None,
        "claimed_at": row.claimed_at.isoformat() if row.claimed_at else None,
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "resolution": row.resolution,
        "handed_back_to_bot": row.handed_back_to_bot,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def message_view(message: Message) -> dict:
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "seq": message.seq,
        "role": message.role,
        "content": message.content,
        "metadata": message.meta,
        "created_at": message.created_at.isoformat(),
    }


async def _publish(redis: aioredis.Redis, channel: str, body: dict) -> None:
    data = json.dumps(body, default=str, ensure_ascii=False)
    stream = feed_stream(channel)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(stream, {"data": data}, maxlen=FEED_MAXLEN, approximate=True)
        pipe.expire(stream, FEED_TTL_S)
        pipe.publish(channel, data)
        await pipe.execute()


async def publish_queue_change(redis: aioredis.Redis, change: str, row: Escalation) -> None:
    """`change` is what happened: opened, claimed, released, sla_breached, after_hours, responded, resolved."""
    body = {"type": "escalation", "change": change, "escalation": escalation_view(row)}
    await _publish(redis, queue_channel(str(row.company_id)), body)
    from helpdeck.services.live_feed import publish_status  # the conversation's own live feed

    await publish_status(redis, body["escalation"], change)


async def publish_message(redis: aioredis.Redis, message: Message, escalation_id: str) -> None:
    body = {"type": "message", "escalation_id": escalation_id, "message": message_view(message)}
    await _publish(redis, conversation_channel(str(message.conversation_id)), body)
