"""Bulk analytics data for one company, made inside PostgreSQL with generate_series: N messages
in N/2 turns over `days` days, with facts, feedback and CSAT. Used by the dashboard benchmark
and by the dashboard's tests (small N) so screenshots show a believable month."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

TURNS_PER_CONVERSATION = 5

SQL = [
    # Conversations spread over the window, across channels and users.
    """INSERT INTO conversations (id, company_id, user_id, channel, status, meta, summary,
         summary_upto_seq, last_seq, created_at, updated_at)
       SELECT md5(:tag || 'c' || g)::uuid, :company, 'user-' || (g % GREATEST(:conversations / 3, 1)),
         (ARRAY['widget','api','slack','discord'])[1 + g % 4], 'active', '{}', '', 0,
         2 * :per, now() - (:days * interval '1 day') * (g::float / :conversations) - interval '1 hour',
         now() - (:days * interval '1 day') * (g::float / :conversations)
       FROM generate_series(1, :conversations) g""",
    # Two messages per turn: the question and the answer.
    """INSERT INTO messages (id, company_id, conversation_id, turn_id, seq, turn_seq, role, content,
         citations, meta, created_at)
       SELECT md5(:tag || 'm' || c || '-' || s)::uuid, :company, md5(:tag || 'c' || c)::uuid,
         :tag || '-' || c || '-' || ((s + 1) / 2), s, s - 1 + s % 2,
         CASE WHEN s % 2 = 1 THEN 'user' ELSE 'assistant' END,
         CASE WHEN s % 2 = 1 THEN (ARRAY['How do I reset my password?','Where is my invoice?',
           'Can I change my delivery address?','How do I cancel my subscription?',
           'Do you ship to Norway?','What is the warranty on the blender?'])[1 + (c + s) % 6]
           ELSE 'Here is what our help centre says.' END,
         '[]', '{}',
         now() - (:days * interval '1 day') * (c::float / :conversations) - interval '1 hour'
           + s * interval '10 seconds'
       FROM generate_series(1, :conversations) c, generate_series(1, 2 * :per) s""",
    """INSERT INTO turn_facts (turn_id, company_id, conversation_id, reply_message_id, channel,
         created_at, total_ms, retrieve_ms, rerank_ms, generate_ms, model, provider, prompt_tokens,
         completion_tokens, cost_usd, cache_hit, intent, language, retrieval_confidence, answered,
         degraded, escalation_reason, question)
       SELECT :tag || '-' || c || '-' || t, :company, md5(:tag || 'c' || c)::uuid,
         md5(:tag || 'm' || c || '-' || 2 * t)::uuid, (ARRAY['widget','api','slack','discord'])[1 + c % 4],
         now() - (:days * interval '1 day') * (c::float / :conversations) - interval '1 hour'
           + t * interval '20 seconds',
         400 + (c * 7919 + t * 104729) % 2600, 20 + (c + t) % 90, 30 + (c * t) % 120, 300 + (c * 31 + t) % 2000,
         (ARRAY['gpt-4o-mini','gpt-4o-mini','gpt-4o-mini','gpt-4.1'])[1 + (c + t) % 4], 'openai',
         600 + (c + t) % 900, 80 + (c * t) % 300, 0.0003 + ((c + t) % 10) * 0.0001, (c + t) % 9 = 0,
         (ARRAY['question','question','transaction','complaint','chitchat'])[1 + (c + t) % 5],
         (ARRAY['en','en','en','de','fr'])[1 + c % 5], ((c * t) % 100) / 100.0, (c * 3 + t) % 7 <> 0,
         '', '', (ARRAY['How do I reset my password?','Where is my invoice?',
           'Can I change my delivery address?','How do I cancel my subscription?',
           'Do you ship to Norway?','What is the warranty on the blender?'])[1 + (c + 2 * t - 1) % 6]
       FROM generate_series(1, :conversations) c, generate_series(1, :per) t""",
    """INSERT INTO message_feedback (message_id, company_id, conversation_id, rating, comment, created_at)
       SELECT md5(:tag || 'm' || c || '-' || 2)::uuid, :company, md5(:tag || 'c' || c)::uuid,
         CASE WHEN c % 5 = 0 THEN 'down' ELSE 'up' END, CASE WHEN c % 5 = 0 THEN 'did not help' ELSE '' END,
         now() - (:days * interval '1 day') * (c::float / :conversations)
       FROM generate_series(1, :conversations, 3) c""",
    """INSERT INTO conversation_csat (conversation_id, company_id, score, comment, created_at)
       SELECT md5(:tag || 'c' || c)::uuid, :company, 1 + (c * 7) % 5, '',
         now() - (:days * interval '1 day') * (c::float / :conversations)
       FROM generate_series(1, :conversations, 4) c""",
]


async def seed_company(engine: AsyncEngine, company_id: uuid.UUID, messages: int, days: int = 30) -> dict[str, int]:
    """Insert `messages` messages (and their turns' facts) for an existing company."""
    conversations = max(messages // (2 * TURNS_PER_CONVERSATION), 1)
    params = {
        "company": str(company_id),
        "tag": uuid.uuid4().hex[:8],
        "conversations": conversations,
        "per": TURNS_PER_CONVERSATION,
        "days": days,
    }
    async with engine.begin() as conn:
        for sql in SQL:
            await conn.execute(text(sql), params)
    return {"conversations": conversations, "messages": conversations * 2 * TURNS_PER_CONVERSATION}
