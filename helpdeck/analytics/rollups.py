"""Rebuilding the daily roll-up tables from the facts, for a window of days (UTC).

Each refresh deletes and re-inserts the window's rows in one transaction, so it is idempotent
and a reader never sees half a day. The schedule refreshes the last two days every few minutes;
`POST /v1/analytics/refresh` rebuilds any window on demand.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import date

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

# A conversation's outcome is judged once it has been quiet this long.
QUIET_AFTER = "30 minutes"
LATENCY_BUCKETS_MS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000, 2**31 - 1)
ROLLUP_TABLES = (
    "analytics_daily",
    "analytics_usage_daily",
    "analytics_latency_daily",
    "analytics_escalation_daily",
    "analytics_gap_daily",
)
SCOPE = "(CAST(:company AS uuid) IS NULL OR {alias}.company_id = CAST(:company AS uuid))"
IN_WINDOW = "{col} >= CAST(:lo AS date) AND {col} < CAST(:hi AS date) + 1"

DAILY = f"""
WITH esc AS (
  SELECT e.conversation_id, bool_or(e.status = 'resolved') AS resolved
  FROM {{escalations}} e WHERE {SCOPE.format(alias="e")} GROUP BY 1
), last_fact AS (
  SELECT DISTINCT ON (f.conversation_id) f.conversation_id, f.answered
  FROM turn_facts f WHERE {SCOPE.format(alias="f")} AND f.created_at >= CAST(:lo AS date)
  ORDER BY f.conversation_id, f.created_at DESC
), later AS (
  -- The same customer's next conversation: a resolution followed by one within 7 days did not last.
  SELECT c.id, lead(c.created_at) OVER (PARTITION BY c.company_id, c.user_id ORDER BY c.created_at) AS next_at
  FROM conversations c WHERE {SCOPE.format(alias="c")} AND c.created_at >= CAST(:lo AS date)
), conv AS (
  SELECT c.company_id, (c.created_at AT TIME ZONE 'UTC')::date AS day, c.channel, c.id,
         c.updated_at < now() - interval '{QUIET_AFTER}' AS quiet,
         COALESCE(later.next_at > c.updated_at AND later.next_at <= c.updated_at + interval '7 days', false)
           AS came_back,
         esc.conversation_id IS NOT NULL AS escalated, COALESCE(esc.resolved, false) AS esc_resolved,
         last_fact.answered AS last_answered
  FROM conversations c
  LEFT JOIN esc ON esc.conversation_id = c.id
  LEFT JOIN last_fact ON last_fact.conversation_id = c.id
  LEFT JOIN later ON later.id = c.id
  WHERE {SCOPE.format(alias="c")} AND {IN_WINDOW.format(col="c.created_at")}
), outcome AS (
  SELECT conv.*,
    (escalated AND esc_resolved) AS resolved_human,
    (NOT escalated AND quiet AND COALESCE(last_answered, false)) AS resolved_bot
  FROM conv
), conv_day AS (
  SELECT company_id, day, channel, count(*) AS conversations,
    count(*) FILTER (WHERE escalated) AS escalations,
    count(*) FILTER (WHERE resolved_bot) AS resolved_bot,
    count(*) FILTER (WHERE resolved_human) AS resolved_human,
    count(*) FILTER (WHERE quiet AND NOT resolved_bot AND NOT resolved_human) AS abandoned,
    count(*) FILTER (WHERE (resolved_bot OR resolved_human) AND came_back) AS reopened
  FROM outcome GROUP BY 1, 2, 3
), msg_day AS (
  SELECT m.company_id, (m.created_at AT TIME ZONE 'UTC')::date AS day, c.channel,
    count(*) AS messages, count(DISTINCT c.user_id) FILTER (WHERE m.role = 'user') AS active_users
  FROM messages m JOIN conversations c ON c.id = m.conversation_id
  WHERE {SCOPE.format(alias="m")} AND {IN_WINDOW.format(col="m.created_at")}
  GROUP BY 1, 2, 3
), fact_day AS (
  SELECT company_id, (created_at AT TIME ZONE 'UTC')::date AS day, channel, count(*) AS turns,
    count(*) FILTER (WHERE answered) AS answered, sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens, sum(cost_usd) AS cost_usd,
    count(*) FILTER (WHERE cache_hit) AS cache_hits
  FROM turn_facts f WHERE {SCOPE.format(alias="f")} AND {IN_WINDOW.format(col="f.created_at")}
  GROUP BY 1, 2, 3
), fb_day AS (
  SELECT fb.company_id, (fb.created_at AT TIME ZONE 'UTC')::date AS day, c.channel,
    count(*) FILTER (WHERE fb.rating = 'up') AS thumbs_up,
    count(*) FILTER (WHERE fb.rating = 'down') AS thumbs_down
  FROM message_feedback fb JOIN conversations c ON c.id = fb.conversation_id
  WHERE {SCOPE.format(alias="fb")} AND {IN_WINDOW.format(col="fb.created_at")}
  GROUP BY 1, 2, 3
), csat_day AS (
  SELECT s.company_id, (s.created_at AT TIME ZONE 'UTC')::date AS day, c.channel,
    sum(s.score) AS csat_sum, count(*) AS csat_count
  FROM conversation_csat s JOIN conversations c ON c.id = s.conversation_id
  WHERE {SCOPE.format(alias="s")} AND {IN_WINDOW.format(col="s.created_at")}
  GROUP BY 1, 2, 3
), keys AS (
  SELECT company_id, day, channel FROM conv_day UNION SELECT company_id, day, channel FROM msg_day
  UNION SELECT company_id, day, channel FROM fact_day UNION SELECT company_id, day, channel FROM fb_day
  UNION SELECT company_id, day, channel FROM csat_day
)
INSERT INTO analytics_daily (company_id, day, channel, conversations, messages, turns,
  active_users, answered, escalations, resolved_bot, resolved_human, abandoned, reopened,
  thumbs_up, thumbs_down, csat_sum, csat_count, prompt_tokens, completion_tokens, cost_usd,
  cache_hits)
SELECT k.company_id, k.day, k.channel, COALESCE(cd.conversations, 0), COALESCE(md.messages, 0),
  COALESCE(fd.turns, 0), COALESCE(md.active_users, 0), COALESCE(fd.answered, 0),
  COALESCE(cd.escalations, 0), COALESCE(cd.resolved_bot, 0), COALESCE(cd.resolved_human, 0),
  COALESCE(cd.abandoned, 0), COALESCE(cd.reopened, 0), COALESCE(fb.thumbs_up, 0),
  COALESCE(fb.thumbs_down, 0), COALESCE(cs.csat_sum, 0), COALESCE(cs.csat_count, 0),
  COALESCE(fd.prompt_tokens, 0), COALESCE(fd.completion_tokens, 0), COALESCE(fd.cost_usd, 0),
  COALESCE(fd.cache_hits, 0)
FROM keys k
LEFT JOIN conv_day cd USING (company_id, day, channel)
LEFT JOIN msg_day md USING (company_id, day, channel)
LEFT JOIN fact_day fd USING (company_id, day, channel)
LEFT JOIN fb_day fb USING (company_id, day, channel)
LEFT JOIN csat_day cs USING (company_id, day, channel)
"""

USAGE = f"""
INSERT INTO analytics_usage_daily (company_id, day, channel, model, intent, turns, prompt_tokens,
  completion_tokens, cost_usd, cache_hits)
SELECT company_id, (created_at AT TIME ZONE 'UTC')::date, channel, model, intent, count(*),
  sum(prompt_tokens), sum(completion_tokens), sum(cost_usd), count(*) FILTER (WHERE cache_hit)
FROM turn_facts f WHERE {SCOPE.format(alias="f")} AND {IN_WINDOW.format(col="f.created_at")}
GROUP BY 1, 2, 3, 4, 5
"""

LATENCY = f"""
INSERT INTO analytics_latency_daily (company_id, day, channel, step, bucket_ms, count)
SELECT company_id, day, channel, step,
  (SELECT min(b) FROM unnest(CAST(:buckets AS int[])) b WHERE b >= ms) AS bucket, count(*)
FROM (
  SELECT f.company_id, (f.created_at AT TIME ZONE 'UTC')::date AS day, f.channel, s.step, s.ms
  FROM turn_facts f
  CROSS JOIN LATERAL (VALUES ('total', f.total_ms), ('retrieve', f.retrieve_ms),
    ('rerank', f.rerank_ms), ('generate', f.generate_ms)) AS s(step, ms)
  WHERE s.ms IS NOT NULL AND {SCOPE.format(alias="f")} AND {IN_WINDOW.format(col="f.created_at")}
) steps
GROUP BY 1, 2, 3, 4, 5
"""

ESCALATIONS = f"""
INSERT INTO analytics_escalation_daily (company_id, day, channel, reason, escalations, claimed,
  wait_s_sum, sla_breaches)
SELECT e.company_id, (e.created_at AT TIME ZONE 'UTC')::date, c.channel, e.category, count(*),
  count(e.claimed_at), COALESCE(sum(extract(epoch FROM e.claimed_at - e.created_at)), 0),
  count(*) FILTER (WHERE e.sla_breaches > 0)
FROM escalations e JOIN conversations c ON c.id = e.conversation_id
WHERE {SCOPE.format(alias="e")} AND {IN_WINDOW.format(col="e.created_at")}
GROUP BY 1, 2, 3, 4
"""

GAPS = f"""
SELECT company_id, (created_at AT TIME ZONE 'UTC')::date AS day, channel, question
FROM turn_facts f
WHERE NOT answered AND degraded = '' AND question <> ''
  AND {SCOPE.format(alias="f")} AND {IN_WINDOW.format(col="f.created_at")}
"""

STOP_WORDS = frozenset(
    """a an and are as at be but by can could did do does for from get got has have how i if in
    is it its me my no not of on or our please should so that the their them there this to was
    we what when where which who why will with would you your yes hi hello thanks thank""".split()
)
WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


def keywords(question: str) -> list[str]:
    return [w for w in (m.group().lower() for m in WORD.finditer(question)) if w not in STOP_WORDS]


def cluster_topics(questions: list[str]) -> list[str]:
    """A topic per question: its keyword that the most questions share (ties: alphabetical)."""
    tokenised = [set(keywords(q)) for q in questions]
    frequency = Counter(w for words in tokenised for w in words)
    return [min(words, key=lambda w: (-frequency[w], w)) if words else "(no keywords)" for words in tokenised]


async def _has_table(session: AsyncSession, name: str) -> bool:
    found = await session.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})
    return bool(found.scalar())


async def refresh_rollups(
    session: AsyncSession, company_id: uuid.UUID | None, first_day: date, last_day: date
) -> dict[str, int]:
    """Rebuild the roll-ups of [first_day, last_day] for one company (or all); returns row counts."""
    params = {"company": str(company_id) if company_id else None, "lo": first_day, "hi": last_day}
    for table in ROLLUP_TABLES:
        await session.execute(
            text(f"DELETE FROM {table} r WHERE {SCOPE.format(alias='r')} AND r.day >= :lo AND r.day <= :hi"),
            params,
        )
    has_escalations = await _has_table(session, "escalations")
    escalation_source = (
        "escalations"
        if has_escalations
        else ("(SELECT NULL::uuid AS company_id, NULL::uuid AS conversation_id, '' AS status WHERE false)")
    )
    counts = {}
    statements = {
        "analytics_daily": DAILY.replace("{escalations}", escalation_source),
        "analytics_usage_daily": USAGE,
        "analytics_latency_daily": LATENCY,
    }
    if has_escalations:
        statements["analytics_escalation_daily"] = ESCALATIONS
    for table, sql in statements.items():
        extra = {"buckets": list(LATENCY_BUCKETS_MS)} if table == "analytics_latency_daily" else {}
        result = await session.execute(text(sql), {**params, **extra})
        counts[table] = result.rowcount  # type: ignore[attr-defined]
    counts["analytics_gap_daily"] = await _refresh_gaps(session, params)
    await session.commit()
    return counts


async def _refresh_gaps(session: AsyncSession, params: dict) -> int:
    rows = (await session.execute(text(GAPS), params)).all()
    by_company: dict[uuid.UUID, list] = {}
    for row in rows:
        by_company.setdefault(row.company_id, []).append(row)
    grouped: dict[tuple, list] = {}
    for company_rows in by_company.values():
        topics = cluster_topics([r.question for r in company_rows])
        for row, topic in zip(company_rows, topics, strict=True):
            grouped.setdefault((row.company_id, row.day, row.channel, topic[:64]), []).append(row.question)
    values = [
        {"company_id": k[0], "day": k[1], "channel": k[2], "topic": k[3], "count": len(qs), "example": qs[0][:500]}
        for k, qs in grouped.items()
    ]
    if values:
        await session.execute(
            text(
                "INSERT INTO analytics_gap_daily (company_id, day, channel, topic, count, example) "
                "VALUES (:company_id, :day, :channel, :topic, :count, :example)"
            ),
            values,
        )
    return len(values)
