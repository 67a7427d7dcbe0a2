"""Conversations, their messages, and the turn: one posted message runs one durable workflow."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import StreamingResponse

from api.deps import CallerDep, RuntimeDep, ServerCallerDep, SessionDep
from api.schemas import (
    ConversationCreate,
    ConversationOut,
    ConversationPage,
    MessageCreate,
    MessageList,
    MessageOut,
    TurnOut,
)
from api.sse import SSE_EVENT_SCHEMA, format_event, relay_turn
from helpdeck.errors import InvalidInput, NotFound
from helpdeck.runtime import Runtime
from helpdeck.services import conversations as service
from helpdeck.services.turn_runner import completed_turn, embed_question_ahead, start_turn, turn_id_for
from helpdeck.tables import Conversation, Message

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

SSE_RESPONSE = {
    200: {
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
        "description": "The reply, or its stream of server-sent events (turn, delta, reset, message, done)",
    }
}
STREAM_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")


def _checked_last_event_id(value: str | None) -> str | None:
    """Event ids are Redis stream ids; anything else cannot be resumed from."""
    if value is not None and not STREAM_ID.match(value):
        raise InvalidInput("Last-Event-ID is not an id this API sent", code="invalid_last_event_id")
    return value


def conversation_out(row: Conversation) -> ConversationOut:
    return ConversationOut(
        id=row.id,
        user_id=row.user_id,
        channel=row.channel,
        status=row.status,
        metadata=row.meta,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def message_out(row: Message) -> MessageOut:
    return MessageOut(
        id=row.id,
        conversation_id=row.conversation_id,
        seq=row.seq,
        role=row.role,
        content=row.content,
        citations=row.citations,
        suggestions=list((row.meta or {}).get("suggestions") or [])[:3],
        metadata=row.meta,
        created_at=row.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConversationOut)
async def create_conversation(body: ConversationCreate, caller: CallerDep, session: SessionDep) -> ConversationOut:
    row = await service.create_conversation(session, caller.company_id, body.user_id, body.channel, body.metadata)
    return conversation_out(row)


@router.get("", response_model=ConversationPage)
async def list_conversations(
    caller: ServerCallerDep,
    session: SessionDep,
    user_id: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ConversationPage:
    rows, next_cursor = await service.list_conversations(
        session, caller.company_id, user_id=user_id, status=status, channel=channel, limit=limit, cursor=cursor
    )
    return ConversationPage(items=[conversation_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: uuid.UUID, caller: CallerDep, session: SessionDep) -> ConversationOut:
    return conversation_out(await service.get_conversation(session, caller.company_id, conversation_id))


@router.get("/{conversation_id}/messages", response_model=MessageList)
async def list_messages(conversation_id: uuid.UUID, caller: CallerDep, session: SessionDep) -> MessageList:
    rows = await service.list_messages(session, caller.company_id, conversation_id)
    return MessageList(items=[message_out(r) for r in rows])


def _wants_stream(body: MessageCreate, accept: str | None) -> bool:
    return body.stream or "text/event-stream" in (accept or "")


@router.post("/{conversation_id}/messages", response_model=TurnOut, responses=SSE_RESPONSE)
async def post_message(
    conversation_id: uuid.UUID,
    body: MessageCreate,
    caller: CallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    accept: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
):  # type: ignore[no-untyped-def]
    """Send the end user's message; the reply comes back as JSON, or streamed as SSE."""
    settings = runtime.settings
    last_event_id = _checked_last_event_id(last_event_id)
    if len(body.content) > settings.max_message_chars:
        raise InvalidInput(f"content is longer than {settings.max_message_chars} characters", code="message_too_long")
    conversation = await service.get_conversation(session, caller.company_id, conversation_id)
    turn_id = turn_id_for(caller.company_id, conversation_id, idempotency_key)
    # Without an Idempotency-Key the turn id is fresh and random: nothing to look up.
    finished = await completed_turn(session, caller.company_id, turn_id, body.content) if idempotency_key else None
    known = finished is not None or (
        idempotency_key is not None and await service.find_turn(session, caller.company_id, turn_id) is not None
    )
    if not known:
        # Only a new message counts against the limits; a retry of a known turn is free.
        await runtime.rate_limiter.take(
            str(caller.company_id),
            conversation.user_id,
            settings.daily_message_limit(caller.company.tier, caller.company.settings),
        )
    await session.commit()  # hand the connection back before waiting on the model
    stream = _wants_stream(body, accept)
    if finished is not None and not stream:
        user_message, reply = finished
        return TurnOut(
            turn_id=turn_id, user_message=message_out(user_message), message=message_out(reply) if reply else None
        )
    embed_question_ahead(runtime, caller.company_id, body.content)
    handle = await start_turn(
        runtime.temporal,
        settings.task_queue,
        caller.company_id,
        conversation_id,
        turn_id,
        body.content,
        conversation.channel,
        eager=runtime.worker_in_process,
    )
    if stream:
        return _turn_stream(runtime, caller.company_id, turn_id, handle.result(), last_event_id)
    result = await handle.result()
    async with runtime.db.session() as fresh:
        user_message = await fresh.get(Message, uuid.UUID(result.user_message_id))
        reply = await fresh.get(Message, uuid.UUID(result.reply_message_id)) if result.reply_message_id else None
    assert user_message is not None
    return TurnOut(
        turn_id=turn_id, user_message=message_out(user_message), message=message_out(reply) if reply else None
    )


@router.get("/{conversation_id}/turns/{turn_id}/events", responses=SSE_RESPONSE)
async def turn_events(
    conversation_id: uuid.UUID,
    turn_id: str,
    caller: CallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Reconnect to a turn's event stream; with Last-Event-ID nothing is missed."""
    last_event_id = _checked_last_event_id(last_event_id)
    await service.get_conversation(session, caller.company_id, conversation_id)
    if not turn_id.startswith(f"turn-{conversation_id}-"):
        raise NotFound("no such turn")
    await session.commit()
    handle = runtime.temporal.get_workflow_handle(turn_id)
    return _turn_stream(runtime, caller.company_id, turn_id, handle.result(), last_event_id)


def _turn_stream(
    runtime: Runtime, company_id: uuid.UUID, turn_id: str, result, last_event_id: str | None
) -> StreamingResponse:  # type: ignore[no-untyped-def]
    async def load_message(message_id: str | None) -> dict | None:
        async with runtime.db.session() as session:
            if message_id is None:
                found = await service.find_turn(session, company_id, turn_id)
                row = found[2] if found else None
            else:
                row = await session.get(Message, uuid.UUID(message_id))
            if row is None or row.company_id != company_id:
                return None
            return message_out(row).model_dump(mode="json")

    async def frames():  # type: ignore[no-untyped-def]
        waiter = asyncio.ensure_future(result)
        try:
            first = [] if last_event_id else [format_event("turn", {"turn_id": turn_id})]
            async for frame in relay_turn(runtime.redis, turn_id, load_message, waiter.done, last_event_id, first):
                yield frame
        finally:
            if not waiter.done():
                waiter.cancel()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Turn-Id": turn_id}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)
