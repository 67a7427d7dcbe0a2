"""`GET /v1/conversations/{id}/live`: what people and the queue add to a conversation, live.

Fed from Redis pub/sub: each API node keeps ONE pattern subscription (`conversation:*:live`) and
wakes the clients of the conversation that changed; each client then reads the conversation's
capped stream (`conversation:{id}:live:log`, written in the same transaction as the PUBLISH) from
its own cursor, so stream ids are the SSE event ids and reconnecting with Last-Event-ID misses
nothing, whichever node served the earlier connection. A client also re-reads the stream every
few seconds, so a pub/sub message lost during a Redis reconnect only delays delivery.

Readable by the conversation's own visitor (publishable key + X-Visitor-Token) or a secret key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections import defaultdict
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from api.deps import CallerDep, RuntimeDep, SessionDep
from api.sse import KEEPALIVE_S, SSE_EVENT_SCHEMA, format_event
from helpdeck.errors import InvalidInput
from helpdeck.services import conversations as service
from helpdeck.services.queue_feed import conversation_channel, feed_stream

router = APIRouter(tags=["conversations"])
log = logging.getLogger("helpdeck.live")
STREAM_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
PATTERN = "conversation:*:live"
RESCAN_S = 5.0
# Redis calls of live clients at once per node: the shared pool is finite (redis-py raises
# rather than waits when it is exhausted), and a wake-up reaches every client together.
REDIS_CALLS_AT_ONCE = 24
SSE_RESPONSE = {
    200: {
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
        "description": "Live messages and status changes as server-sent events (ready, message, status)",
    }
}


class LiveHub:
    """One pub/sub pattern subscription per API node; wakes local waiters by channel."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.gate = asyncio.Semaphore(REDIS_CALLS_AT_ONCE)

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.ready = asyncio.Event()
            self.task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(PATTERN)
            self.ready.set()
            while True:
                message = await pubsub.get_message(timeout=RESCAN_S)
                if message is None:
                    continue
                for event in list(self.waiters.get(message["channel"], ())):
                    event.set()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a Redis restart: the next request starts a new listener
            log.warning("live pub/sub listener stopped: %s", error)
        finally:
            self.ready.set()
            for events in self.waiters.values():
                for event in events:
                    event.set()
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def watch(self, channel: str) -> asyncio.Event:
        event = asyncio.Event()
        self.waiters[channel].add(event)
        return event

    def unwatch(self, channel: str, event: asyncio.Event) -> None:
        events = self.waiters.get(channel)
        if events is not None:
            events.discard(event)
            if not events:
                self.waiters.pop(channel, None)


def live_hub(request: Request) -> LiveHub:
    hub = getattr(request.app.state, "live_hub", None)
    runtime = request.app.state.runtime
    if hub is None or hub.redis is not runtime.redis:
        hub = LiveHub(runtime.redis)
        request.app.state.live_hub = hub
    hub.ensure_running()
    return hub


@router.get("/v1/conversations/{conversation_id}/live", responses=SSE_RESPONSE)
async def conversation_live(
    conversation_id: uuid.UUID,
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Agent and system messages, bot replies and status changes of one conversation."""
    if last_event_id is not None and not STREAM_ID.match(last_event_id):
        raise InvalidInput("Last-Event-ID is not an id this API sent", code="invalid_last_event_id")
    conversation = await service.get_conversation(session, caller.company_id, conversation_id)
    status = conversation.status
    await session.commit()  # hand the connection back: the stream may stay open for hours
    channel = conversation_channel(str(conversation_id))
    stream = feed_stream(channel)
    hub = live_hub(request)
    event = hub.watch(channel)
    await asyncio.wait_for(hub.ready.wait(), timeout=5)
    cursor = last_event_id
    if cursor is None:
        async with hub.gate:
            newest = await runtime.redis.xrevrange(stream, count=1)
        cursor = newest[0][0] if newest else "0-0"

    async def frames():  # type: ignore[no-untyped-def]
        nonlocal cursor
        try:
            if last_event_id is None:
                yield format_event("ready", {"conversation_id": str(conversation_id), "status": status}, cursor)
            else:
                yield ": resumed\n\n"
            idle = 0.0
            while True:
                event.clear()
                async with hub.gate:
                    entries = await runtime.redis.xrange(stream, min=f"({cursor}", count=200)
                for entry_id, fields in entries:
                    cursor = entry_id
                    body = json.loads(fields["data"])
                    yield format_event(body.get("type", "message"), body, entry_id)
                if entries:
                    idle = 0.0
                    continue
                try:
                    await asyncio.wait_for(event.wait(), timeout=RESCAN_S)
                except TimeoutError:
                    idle += RESCAN_S
                    if idle >= KEEPALIVE_S:
                        idle = 0.0
                        yield ": keep-alive\n\n"
                hub.ensure_running()
        finally:
            hub.unwatch(channel, event)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)
