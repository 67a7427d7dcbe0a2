"""Server-sent events for one turn, relayed from its Redis stream.

Event ids are Redis stream ids, so a client that reconnects with Last-Event-ID resumes exactly
after the last event it saw. Deltas carry their generation (model slot and attempt): when a
retry or a fallback starts a new generation, a `reset` event tells the client to drop the
partial text, so no text is ever shown twice. The stored message ends the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis

from helpdeck.stores.redis import turn_stream_key

KEEPALIVE_S = 15.0

# How an SSE event looks in OpenAPI (each event as an object), shared by every streaming route.
SSE_EVENT_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "event": {"type": "string"}, "data": {"type": "string"}},
}


def format_event(event: str, data: dict, event_id: str | None = None) -> str:
    lines = []
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, default=str, ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


async def relay_turn(
    redis: aioredis.Redis,
    turn_id: str,
    load_message: Callable[[str | None], Awaitable[dict | None]],
    turn_finished: Callable[[], bool],
    last_event_id: str | None = None,
    first_events: list[str] | None = None,
) -> AsyncIterator[str]:
    """Yield SSE frames until the turn's `done` event (or until the finished turn's stream is
    drained, should Redis have lost its events: the database still has the reply).

    `load_message(id)` returns a stored message as JSON; `load_message(None)`, the turn's reply.
    """
    key = turn_stream_key(turn_id)
    for frame in first_events or []:
        yield frame
    cursor = last_event_id or "0-0"
    generation: str | None = None
    if last_event_id:
        previous = await redis.xrange(key, min=last_event_id, max=last_event_id)
        if previous:
            generation = previous[0][1].get("gen")
    idle = 0.0
    while True:
        batches = await redis.xread({key: cursor}, block=1000, count=100)
        if not batches:
            idle += 1.0
            if turn_finished():
                # The workflow ended but no `done` came: Redis lost the stream (a restart).
                message = await load_message(None)
                yield format_event("message", message or {}, None)
                yield format_event("done", {"turn_id": turn_id})
                return
            if idle >= KEEPALIVE_S:
                idle = 0.0
                yield ": keep-alive\n\n"
            continue
        idle = 0.0
        for entry_id, fields in batches[0][1]:
            cursor = entry_id
            kind = fields.get("type")
            if kind == "delta":
                if fields.get("gen") != generation:
                    if generation is not None:
                        yield format_event("reset", {"reason": "retrying"}, entry_id)
                    generation = fields.get("gen")
                yield format_event(
                    "delta", {"text": fields.get("text", ""), "offset": int(fields.get("offset", 0))}, entry_id
                )
            elif kind == "message":
                message = await load_message(fields.get("message_id", "")) if fields.get("message_id") else None
                yield format_event("message", message or {"content": None, "handed_to_human": True}, entry_id)
            elif kind == "done":
                yield format_event("done", {"turn_id": turn_id}, entry_id)
                return
