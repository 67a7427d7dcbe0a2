"""The company's bot behind the OpenAI chat-completions protocol, so the official SDKs (and
anything built on them) work unchanged with `base_url = <helpdeck>/openai/v1`.

The last user message is the turn; earlier messages become a new conversation's history, or
`metadata.conversation_id` continues a Helpdeck conversation. Citations, the conversation and
the turn come back in extra fields the SDKs keep (`citations`, `conversation_id`, `turn_id`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CallerDep, RuntimeDep, SessionDep
from api.routes.conversations import message_out
from api.sse import relay_turn
from helpdeck.channels import openai_compat as compat
from helpdeck.errors import InvalidInput
from helpdeck.runtime import Runtime
from helpdeck.services import conversations as conversations_service
from helpdeck.services.turn_runner import embed_question_ahead, start_turn, turn_id_for
from helpdeck.tables import Message

router = APIRouter(prefix="/openai/v1", tags=["openai-compatible"])


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionIn(BaseModel):
    """OpenAI's request body; sampling parameters are accepted and left to the company's routing."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    metadata: dict[str, str] | None = Field(None, description="`conversation_id` continues a conversation")
    user: str | None = Field(None, min_length=1, max_length=255, description="The end user (rate limits)")
    n: int | None = Field(None, ge=1, le=1)


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[dict[str, Any]] = Field(default_factory=list, description="Passages the answer rests on")
    conversation_id: uuid.UUID
    turn_id: str
    handed_to_human: bool = Field(False, description="True when a person owns the conversation: no bot reply")


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


# Each server-sent event as Schemathesis and clients parse it: `data` carries one JSON chunk.
SSE_EVENT = {"type": "object", "properties": {"data": {"type": "string"}, "event": {"type": "string"}}}
SSE_RESPONSE = {200: {"content": {"text/event-stream": {"schema": SSE_EVENT}}, "description": "Completion chunks"}}


@router.get("/models", response_model=ModelList)
async def list_models(caller: CallerDep) -> ModelList:
    """The company's bot, as the one model this endpoint serves."""
    created = int(caller.company.created_at.timestamp())
    return ModelList(data=[ModelOut(id=compat.BOT_MODEL_ID, created=created, owned_by=caller.company.name)])


@router.post("/chat/completions", response_model=ChatCompletionOut, responses=SSE_RESPONSE)
async def chat_completions(
    body: ChatCompletionIn,
    caller: CallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):  # type: ignore[no-untyped-def]
    """One turn of the company's bot, as a chat completion (or its chunks with `stream: true`)."""
    settings = runtime.settings
    last = body.messages[-1]
    question = compat.message_text(last.content)
    if last.role != "user" or not question.strip():
        raise InvalidInput(
            "the last message must be a user message with text", field="messages", code="last_message_not_user"
        )
    if len(question) > settings.max_message_chars:
        raise InvalidInput(
            f"the last message is longer than {settings.max_message_chars} characters", code="message_too_long"
        )
    conversation_ref = (body.metadata or {}).get("conversation_id")
    if conversation_ref is not None:
        try:
            conversation_uuid = uuid.UUID(conversation_ref)
        except ValueError:
            raise InvalidInput("metadata.conversation_id is not a conversation id", field="metadata") from None
        conversation = await conversations_service.get_conversation(session, caller.company_id, conversation_uuid)
        user_id = conversation.user_id
    else:
        user_id = body.user or "openai"
    limit = settings.daily_message_limit(caller.company.tier, caller.company.settings)
    await runtime.rate_limiter.take(str(caller.company_id), user_id, limit)
    if conversation_ref is None:
        history = [(m.role, compat.message_text(m.content)) for m in body.messages[:-1]]
        conversation = await compat.new_conversation_with_history(
            session, caller.company_id, user_id, history, settings.max_message_chars
        )
    await session.commit()
    turn_id = turn_id_for(caller.company_id, conversation.id, idempotency_key if conversation_ref else None)
    embed_question_ahead(runtime, caller.company_id, question)
    handle = await start_turn(
        runtime.temporal, settings.task_queue, caller.company_id, conversation.id, turn_id, question, "openai",
        eager=runtime.worker_in_process,
    )  # fmt: skip
    if body.stream:
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        frames = _chunks(
            runtime, caller.company_id, conversation.id, turn_id, body.model, handle.result(), include_usage
        )
        return StreamingResponse(
            frames, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Turn-Id": turn_id}
        )
    result = await handle.result()
    reply = await _load_reply(runtime, caller.company_id, result.reply_message_id)
    return ChatCompletionOut(
        id=compat.completion_id(turn_id),
        created=compat.now_ts(),
        model=body.model,
        choices=[Choice(message=AssistantMessage(content=reply["content"] if reply else None))],
        usage=Usage(**compat.usage_of(reply)),
        citations=reply["citations"] if reply else [],
        conversation_id=conversation.id,
        turn_id=turn_id,
        handed_to_human=reply is None,
    )


async def _load_reply(runtime: Runtime, company_id: uuid.UUID, message_id: str | None) -> dict | None:
    if not message_id:
        return None
    async with runtime.db.session() as session:
        row = await session.get(Message, uuid.UUID(message_id))
    if row is None or row.company_id != company_id:
        return None
    return message_out(row).model_dump(mode="json")


async def _chunks(  # type: ignore[no-untyped-def]
    runtime: Runtime,
    company_id: uuid.UUID,
    conversation_id: uuid.UUID,
    turn_id: str,
    model: str,
    result,
    include_usage: bool,
) -> AsyncIterator[str]:
    """OpenAI chunks from the turn's Redis stream. Text already sent cannot be taken back, so after
    a retry (`reset`) deltas pause and the stored reply supplies whatever is still missing."""
    cid, created = compat.completion_id(turn_id), compat.now_ts()
    waiter = asyncio.ensure_future(result)

    async def load_message(message_id: str | None) -> dict | None:
        if message_id is None:
            found = await waiter if waiter.done() else None
            message_id = found.reply_message_id if found else None
        return await _load_reply(runtime, company_id, message_id)

    sent, paused, final = "", False, None
    try:
        yield compat.chunk(cid, model, created, {"role": "assistant", "content": ""})
        async for frame in relay_turn(runtime.redis, turn_id, load_message, waiter.done):
            parsed = compat.parse_frame(frame)
            if parsed is None:
                yield ": keep-alive\n\n"
                continue
            event, data = parsed
            if event == "reset":
                paused = True
            elif event == "delta" and not paused and data.get("text"):
                sent += data["text"]
                yield compat.chunk(cid, model, created, {"content": data["text"]})
            elif event == "message":
                final = data if data.get("content") is not None else None
        text = (final or {}).get("content") or ""
        extra: dict[str, Any] = {}
        if text.startswith(sent):
            if text[len(sent) :]:
                yield compat.chunk(cid, model, created, {"content": text[len(sent) :]})
        else:
            extra["replacement_content"] = text  # the streamed text diverged from the stored reply
        yield compat.chunk(
            cid, model, created, {}, "stop", citations=(final or {}).get("citations", []),
            conversation_id=str(conversation_id), turn_id=turn_id, handed_to_human=final is None, **extra,
        )  # fmt: skip
        if include_usage:
            usage = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": compat.usage_of(final),
            }
            yield "data: " + json.dumps(usage) + "\n\n"
        yield "data: [DONE]\n\n"
    finally:
        if not waiter.done():
            waiter.cancel()
