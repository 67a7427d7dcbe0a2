"""The human agent queue: escalate a conversation, list and read escalations, and act on one
(claim, reply, release, resolve). Every action is an update of the escalation's workflow, whose
state decides whether it is allowed; the routes authorise the caller and read the mirror row."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse

from api.agent_deps import Actor, EscalatorDep, QueueAgentDep, QueueReaderDep, ResolverDep
from api.deps import RuntimeDep, SessionDep
from api.escalation_schemas import (
    AgentMessageCreate,
    AgentMessageOut,
    EscalateRequest,
    EscalationDetail,
    EscalationList,
    EscalationOut,
)
from api.escalation_schemas import ResolveRequest as ResolveBody
from api.routes.conversations import message_out
from api.schemas import MessageList
from api.sse import KEEPALIVE_S, SSE_EVENT_SCHEMA, format_event
from helpdeck.errors import InvalidInput
from helpdeck.escalation_policy import DEFAULT_PRIORITY
from helpdeck.runtime import Runtime
from helpdeck.services import conversations, escalations
from helpdeck.services.escalation_runner import open_and_start, update_escalation
from helpdeck.services.queue_feed import escalation_view, feed_stream, queue_channel
from helpdeck.tables import Escalation, Message
from workflows.escalation import (
    AgentMessageRequest,
    ClaimRequest,
    EscalationWorkflow,
    ReleaseRequest,
    ResolveRequest,
)

router = APIRouter(tags=["escalations"])
SSE_RESPONSE = {
    200: {
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
        "description": "Queue changes as server-sent events",
    }
}


def escalation_out(row: Escalation) -> EscalationOut:
    return EscalationOut.model_validate(escalation_view(row))


def escalation_detail(row: Escalation) -> EscalationDetail:
    return EscalationDetail.model_validate({**escalation_view(row), "assist": row.assist})


@router.post(
    "/v1/conversations/{conversation_id}/escalate",
    response_model=EscalationOut,
    status_code=201,
    responses={200: {"model": EscalationOut, "description": "The conversation's open escalation (already escalated)"}},
)
async def escalate(
    conversation_id: uuid.UUID,
    actor: EscalatorDep,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    body: EscalateRequest | None = None,
) -> EscalationOut:
    """Hand the conversation to the human queue; from now on the bot never answers in it."""
    body = body or EscalateRequest()
    priority = body.priority or DEFAULT_PRIORITY[body.category]
    row, created = await open_and_start(
        session,
        runtime.redis,
        runtime.temporal,
        runtime.settings.task_queue,
        actor.company_id,
        conversation_id,
        body.category,
        body.reason,
        priority,
        actor.label,
        eager=runtime.worker_in_process,
    )
    if not created:
        response.status_code = 200
    return escalation_out(row)


@router.get("/v1/escalations", response_model=EscalationList)
async def list_escalations(
    actor: QueueReaderDep,
    session: SessionDep,
    status: Literal["waiting", "claimed", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EscalationList:
    """The queue: by priority (1 first), then by how long the customer has waited."""
    rows = await escalations.list_escalations(session, actor.company_id, status, limit)
    return EscalationList(items=[escalation_out(r) for r in rows])


@router.get("/v1/escalations/events", responses=SSE_RESPONSE)
async def queue_events(
    actor: QueueReaderDep,
    session: SessionDep,
    runtime: RuntimeDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Live queue changes of the caller's company; reconnect with Last-Event-ID to miss nothing."""
    if last_event_id is not None and not _is_stream_id(last_event_id):
        raise InvalidInput("Last-Event-ID must be an event id from this stream", field="Last-Event-ID")
    await session.commit()
    stream = feed_stream(queue_channel(str(actor.company_id)))
    return StreamingResponse(
        _relay(runtime, stream, last_event_id or "$"),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _is_stream_id(value: str) -> bool:
    ms, _, seq = value.partition("-")
    return ms.isdigit() and seq.isdigit() and len(value) < 48


async def _relay(runtime: Runtime, stream: str, last_id: str):  # type: ignore[no-untyped-def]
    yield ": queue events\n\n"
    while True:
        found = await runtime.redis.xread({stream: last_id}, block=int(KEEPALIVE_S * 1000), count=100)
        if not found:
            yield ": keepalive\n\n"
            await asyncio.sleep(0)
            continue
        for _, entries in found:
            for entry_id, fields in entries:
                last_id = entry_id
                yield format_event("escalation", json.loads(fields["data"]), entry_id)


@router.get("/v1/escalations/{escalation_id}", response_model=EscalationDetail)
async def get_escalation(escalation_id: uuid.UUID, actor: QueueReaderDep, session: SessionDep) -> EscalationDetail:
    return escalation_detail(await escalations.get_escalation(session, actor.company_id, escalation_id))


@router.get("/v1/escalations/{escalation_id}/messages", response_model=MessageList)
async def list_escalation_messages(escalation_id: uuid.UUID, actor: QueueReaderDep, session: SessionDep) -> MessageList:
    """The whole conversation, for the agent console (readable by analysts too)."""
    row = await escalations.get_escalation(session, actor.company_id, escalation_id)
    rows = await conversations.list_messages(session, actor.company_id, row.conversation_id)
    return MessageList(items=[message_out(m) for m in rows])


async def _act(session: SessionDep, runtime: Runtime, actor: Actor, escalation_id: uuid.UUID, update, arg):  # type: ignore[no-untyped-def]
    row = await escalations.get_escalation(session, actor.company_id, escalation_id)
    await session.commit()  # hand the connection back while the workflow works
    result = await update_escalation(runtime.temporal, runtime.settings.task_queue, row, update, arg)
    await session.refresh(row)
    return row, result


@router.post("/v1/escalations/{escalation_id}/claim", response_model=EscalationDetail)
async def claim(
    escalation_id: uuid.UUID, actor: QueueAgentDep, session: SessionDep, runtime: RuntimeDep
) -> EscalationDetail:
    """Take the escalation; exactly one agent wins, the others get 409 already_claimed.
    The answer carries the agent assist: summary, retrieved passages, reason, a draft reply."""
    assert actor.user is not None
    row, _ = await _act(
        session,
        runtime,
        actor,
        escalation_id,
        EscalationWorkflow.claim,
        ClaimRequest(str(actor.user.id), actor.user.name),
    )
    return escalation_detail(row)


@router.post("/v1/escalations/{escalation_id}/messages", response_model=AgentMessageOut, status_code=201)
async def send_message(
    escalation_id: uuid.UUID, body: AgentMessageCreate, actor: QueueAgentDep, session: SessionDep, runtime: RuntimeDep
) -> AgentMessageOut:
    """The claiming agent's reply: recorded in the conversation and pushed to the customer live."""
    assert actor.user is not None
    if len(body.content) > runtime.settings.max_message_chars:
        raise InvalidInput(
            f"content is longer than {runtime.settings.max_message_chars} characters", code="message_too_long"
        )
    request = AgentMessageRequest(str(actor.user.id), body.content, actor.user.name)
    _, message_id = await _act(session, runtime, actor, escalation_id, EscalationWorkflow.send_message, request)
    message = await session.get(Message, uuid.UUID(message_id))
    assert message is not None
    return AgentMessageOut(escalation_id=escalation_id, message=message_out(message))


@router.post("/v1/escalations/{escalation_id}/release", response_model=EscalationOut)
async def release(
    escalation_id: uuid.UUID, actor: QueueAgentDep, session: SessionDep, runtime: RuntimeDep
) -> EscalationOut:
    """Put it back in the queue (the claiming agent, or an owner or admin)."""
    row, _ = await _act(
        session,
        runtime,
        actor,
        escalation_id,
        EscalationWorkflow.release,
        ReleaseRequest(actor.user_id, actor.is_manager),
    )
    return escalation_out(row)


@router.post("/v1/escalations/{escalation_id}/resolve", response_model=EscalationOut)
async def resolve(
    escalation_id: uuid.UUID,
    actor: ResolverDep,
    session: SessionDep,
    runtime: RuntimeDep,
    body: ResolveBody | None = None,
) -> EscalationOut:
    """Close it: the conversation goes back to the bot with hand_back_to_bot, else it closes."""
    body = body or ResolveBody()
    request = ResolveRequest(actor.user_id, actor.is_manager, body.resolution, body.hand_back_to_bot)
    row, _ = await _act(session, runtime, actor, escalation_id, EscalationWorkflow.resolve, request)
    return escalation_out(row)
