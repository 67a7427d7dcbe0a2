"""The OpenAI chat-completions protocol over Helpdeck turns: the request's earlier messages as
a new conversation's history, and the turn's reply as completions or completion chunks."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.tables import Conversation, Message

BOT_MODEL_ID = "helpdeck"
HISTORY_ROLES = {"user": "user", "assistant": "assistant"}


def message_text(content: str | list[dict[str, Any]] | None) -> str:
    """Plain text of an OpenAI message content: a string, or the text parts of a list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(part.get("text", "")) for part in content if part.get("type") == "text")


async def new_conversation_with_history(
    session: AsyncSession, company_id: uuid.UUID, user_id: str, history: list[tuple[str, str]], max_chars: int
) -> Conversation:
    """A conversation whose messages are the caller's earlier turns, written in one transaction.

    System and tool messages are not kept: the company's own instructions govern its bot.
    """
    conversation = Conversation(company_id=company_id, user_id=user_id, channel="openai", meta={"source": "openai"})
    session.add(conversation)
    await session.flush()
    seq = 0
    for role, text in history:
        if role not in HISTORY_ROLES or not text.strip():
            continue
        seq += 1
        session.add(
            Message(
                company_id=company_id, conversation_id=conversation.id, seq=seq, turn_seq=seq,
                role=HISTORY_ROLES[role], content=text[:max_chars], meta={"source": "openai_history"},
            )
        )  # fmt: skip
    conversation.last_seq = seq
    session.add(conversation)
    await session.commit()
    return conversation


def completion_id(turn_id: str) -> str:
    return "chatcmpl-" + uuid.uuid5(uuid.NAMESPACE_URL, turn_id).hex


def usage_of(message: dict | None) -> dict[str, int]:
    meta = (message or {}).get("metadata") or {}
    prompt = int(meta.get("prompt_tokens") or 0)
    completion = int(meta.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def now_ts() -> int:
    return int(datetime.now(UTC).timestamp())


def chunk(cid: str, model: str, created: int, delta: dict, finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra,
    }  # fmt: skip
    return "data: " + json.dumps(body, ensure_ascii=False) + "\n\n"


def parse_frame(frame: str) -> tuple[str, dict] | None:
    """A Helpdeck SSE frame (from api.sse.relay_turn) as (event, data); None for comments."""
    event, data = "", ""
    for line in frame.splitlines():
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
    if not event:
        return None
    try:
        return event, json.loads(data) if data else {}
    except ValueError:
        return None
