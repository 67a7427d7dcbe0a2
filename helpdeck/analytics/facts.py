"""Writing a turn's analytics facts in the transaction that records its reply.

The workflow puts what it measured into the reply's `meta` (model, tokens, cost, step
latencies, retrieval confidence, and intent, language or cache hits when those steps exist);
this module turns it into one `turn_facts` row, exactly once per turn.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.observability.activity_metrics import turn_outcome
from helpdeck.tables import Conversation, Message, Turn, TurnFact


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


async def stage_turn_fact(
    session: AsyncSession,
    conversation: Conversation,
    turn: Turn,
    content: str | None,
    citations: list[dict],
    meta: dict,
) -> TurnFact:
    """Add the turn's fact row to the caller's transaction (call once, when the turn closes)."""
    question = await session.get(Message, turn.user_message_id)
    now = datetime.now(UTC)
    outcome = turn_outcome(content, citations, meta)
    confidence = meta.get("retrieval_confidence")
    fact = TurnFact(
        turn_id=turn.id,
        company_id=turn.company_id,
        conversation_id=turn.conversation_id,
        reply_message_id=turn.reply_message_id,
        channel=conversation.channel,
        created_at=now,
        total_ms=int((now - turn.created_at).total_seconds() * 1000),
        retrieve_ms=_int(meta.get("retrieve_ms")),
        rerank_ms=_int(meta.get("rerank_ms")),
        generate_ms=_int(meta.get("latency_ms")),
        model=str(meta.get("model") or "")[:100],
        provider=str(meta.get("provider") or "")[:50],
        prompt_tokens=_int(meta.get("prompt_tokens")) or 0,
        completion_tokens=_int(meta.get("completion_tokens")) or 0,
        cost_usd=float(meta.get("cost_usd") or 0.0),
        cache_hit=bool(meta.get("cache_hit")),
        intent=str(meta.get("intent") or "")[:32],
        language=str(meta.get("language") or "")[:16],
        retrieval_confidence=float(confidence) if isinstance(confidence, int | float) else None,
        answered=outcome == "answered",
        degraded=str(meta.get("degraded") or ("human" if content is None else ""))[:20],
        escalation_reason=str(meta.get("escalation_reason") or "")[:64],
        question=(question.content if question else "")[:500],
    )
    await session.merge(fact)
    return fact
