"""The dashboard's reads: each page's figures from the roll-up tables, scoped to one company
(or, for the platform admin, to all of them), a date range and optionally a channel."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class Window:
    company_id: uuid.UUID | None  # None: every company (platform admin only)
    first_day: date
    last_day: date
    channel: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {
            "company": str(self.company_id) if self.company_id else None,
            "lo": self.first_day,
            "hi": self.last_day,
            "channel": self.channel,
        }


WHERE = (
    "(CAST(:company AS uuid) IS NULL OR r.company_id = CAST(:company AS uuid)) "
    "AND r.day >= :lo AND r.day <= :hi "
    "AND (CAST(:channel AS text) IS NULL OR r.channel = CAST(:channel AS text))"
)


async def _rows(session: AsyncSession, sql: str, window: Window, **extra: Any) -> list[dict]:
    result = await session.execute(text(sql), {**window.params, **extra})
    return [_plain(dict(row._mapping)) for row in result]


def _plain(row: dict) -> dict:
    return {
        k: (v.isoformat() if isinstance(v, date) else float(v) if hasattr(v, "is_nan") else v) for k, v in row.items()
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


async def overview(session: AsyncSession, window: Window) -> dict:
    by_day = await _rows(
        session,
        f"""SELECT r.day, sum(conversations) AS conversations, sum(messages) AS messages,
          sum(turns) AS turns, sum(answered) AS answered, sum(escalations) AS escalations,
          sum(resolved_bot) AS resolved_bot, sum(resolved_human) AS resolved_human,
          sum(abandoned) AS abandoned, sum(reopened) AS reopened, sum(csat_sum) AS csat_sum,
          sum(csat_count) AS csat_count, sum(cost_usd) AS cost_usd, sum(active_users) AS active_users
        FROM analytics_daily r WHERE {WHERE} GROUP BY r.day ORDER BY r.day""",
        window,
    )
    total = {k: sum(d[k] for d in by_day) for k in (by_day[0] if by_day else {}) if k != "day"}
    g = total.get
    resolved = (g("resolved_bot") or 0) + (g("resolved_human") or 0)
    active = await session.execute(
        text(
            """SELECT count(DISTINCT c.user_id) FROM conversations c
            WHERE (CAST(:company AS uuid) IS NULL OR c.company_id = CAST(:company AS uuid))
              AND c.created_at < CAST(:hi AS date) + 1 AND c.updated_at >= CAST(:lo AS date)
              AND (CAST(:channel AS text) IS NULL OR c.channel = CAST(:channel AS text))"""
        ),
        window.params,
    )
    summary = {
        "conversations": g("conversations") or 0,
        "messages": g("messages") or 0,
        "active_users": int(active.scalar() or 0),
        "automated_resolution_rate": _ratio(g("resolved_bot") or 0, g("conversations") or 0),
        "durable_resolution_rate": _ratio(resolved - (g("reopened") or 0), resolved),
        "escalation_rate": _ratio(g("escalations") or 0, g("conversations") or 0),
        "csat": _ratio(g("csat_sum") or 0, g("csat_count") or 0),
        "cost_usd": round(float(g("cost_usd") or 0), 6),
        "cost_per_conversation_usd": _ratio(float(g("cost_usd") or 0), g("conversations") or 0),
    }
    trend = [
        {
            "day": d["day"],
            "conversations": d["conversations"],
            "messages": d["messages"],
            "active_users": d["active_users"],
            "escalation_rate": _ratio(d["escalations"], d["conversations"]),
            "automated_resolution_rate": _ratio(d["resolved_bot"], d["conversations"]),
            "cost_usd": round(float(d["cost_usd"]), 6),
        }
        for d in by_day
    ]
    return {"summary": summary, "tables": {"by_day": trend}}


async def escalations(session: AsyncSession, window: Window) -> dict:
    by_reason = await _rows(
        session,
        f"""SELECT reason, sum(escalations) AS escalations, sum(claimed) AS claimed,
          round(CAST(sum(wait_s_sum) / NULLIF(sum(claimed), 0) AS numeric), 1) AS avg_wait_s,
          sum(sla_breaches) AS sla_breaches
        FROM analytics_escalation_daily r WHERE {WHERE} GROUP BY reason ORDER BY 2 DESC""",
        window,
    )
    by_day = await _rows(
        session,
        f"""SELECT r.day, sum(escalations) AS escalations, sum(sla_breaches) AS sla_breaches,
          round(CAST(sum(wait_s_sum) / NULLIF(sum(claimed), 0) AS numeric), 1) AS avg_wait_s
        FROM analytics_escalation_daily r WHERE {WHERE} GROUP BY r.day ORDER BY r.day""",
        window,
    )
    total = sum(r["escalations"] for r in by_reason)
    breaches = sum(r["sla_breaches"] for r in by_reason)
    claimed = sum(r["claimed"] for r in by_reason)
    waits = [r["avg_wait_s"] * r["claimed"] for r in by_reason if r["avg_wait_s"] is not None]
    summary = {
        "escalations": total,
        "sla_breaches": breaches,
        "avg_wait_s": round(sum(waits) / claimed, 1) if claimed else None,
    }
    return {"summary": summary, "tables": {"by_reason": by_reason, "by_day": by_day}}


async def knowledge_gaps(session: AsyncSession, window: Window, limit: int = 50) -> dict:
    topics = await _rows(
        session,
        f"""SELECT topic, sum(count) AS questions, min(example) AS example
        FROM analytics_gap_daily r WHERE {WHERE} GROUP BY topic ORDER BY 2 DESC, 1 LIMIT :limit""",
        window,
        limit=limit,
    )
    total = await session.execute(
        text(f"SELECT COALESCE(sum(count), 0) FROM analytics_gap_daily r WHERE {WHERE}"), window.params
    )
    return {"summary": {"unanswered_questions": int(total.scalar() or 0)}, "tables": {"topics": topics}}


async def quality(session: AsyncSession, window: Window, limit: int = 50) -> dict:
    totals = await _rows(
        session,
        f"""SELECT COALESCE(sum(thumbs_up), 0) AS thumbs_up, COALESCE(sum(thumbs_down), 0) AS thumbs_down,
          COALESCE(sum(turns), 0) AS turns, COALESCE(sum(answered), 0) AS answered
        FROM analytics_daily r WHERE {WHERE}""",
        window,
    )
    t = totals[0]
    # The latest thumbs-down with the question and the answer: a short indexed read, not a scan.
    down = await _rows(
        session,
        """SELECT fb.created_at::text AS rated_at, CAST(fb.conversation_id AS text) AS conversation_id,
          CAST(fb.message_id AS text) AS message_id, q.content AS question, a.content AS answer,
          fb.comment
        FROM message_feedback fb
        JOIN messages a ON a.id = fb.message_id
        JOIN conversations c ON c.id = fb.conversation_id
        LEFT JOIN messages q ON q.conversation_id = a.conversation_id AND q.seq = a.turn_seq
        WHERE (CAST(:company AS uuid) IS NULL OR fb.company_id = CAST(:company AS uuid))
          AND fb.rating = 'down' AND fb.created_at >= CAST(:lo AS date)
          AND fb.created_at < CAST(:hi AS date) + 1
          AND (CAST(:channel AS text) IS NULL OR c.channel = CAST(:channel AS text))
        ORDER BY fb.created_at DESC LIMIT :limit""",
        window,
        limit=limit,
    )
    # Clicks on cited sources per document: an indexed read of the click facts in the range.
    clicks = await _rows(
        session,
        """SELECT CAST(cc.document_id AS text) AS document_id,
          COALESCE(NULLIF(max(d.title), ''), NULLIF(max(cc.source), ''), '(unknown source)') AS document,
          max(cc.source) AS source,
          count(*) AS clicks, count(DISTINCT cc.conversation_id) AS conversations,
          max(cc.created_at)::text AS last_clicked_at
        FROM citation_clicks cc
        LEFT JOIN documents d ON d.id = cc.document_id AND d.company_id = cc.company_id
        WHERE (CAST(:company AS uuid) IS NULL OR cc.company_id = CAST(:company AS uuid))
          AND cc.created_at >= CAST(:lo AS date) AND cc.created_at < CAST(:hi AS date) + 1
          AND (CAST(:channel AS text) IS NULL OR cc.channel = CAST(:channel AS text))
        GROUP BY cc.document_id ORDER BY clicks DESC, document LIMIT :limit""",
        window,
        limit=limit,
    )
    summary = {
        "thumbs_up": t["thumbs_up"],
        "thumbs_down": t["thumbs_down"],
        "satisfaction": _ratio(t["thumbs_up"], t["thumbs_up"] + t["thumbs_down"]),
        "answer_rate": _ratio(t["answered"], t["turns"]),
        "citation_clicks": sum(int(r["clicks"]) for r in clicks),
    }
    return {"summary": summary, "tables": {"thumbs_down": down, "citation_clicks": clicks}}


async def cost(session: AsyncSession, window: Window, monthly_budget_usd: float | None) -> dict:
    by_model = await _rows(
        session,
        f"""SELECT model, sum(turns) AS turns, sum(prompt_tokens) AS prompt_tokens,
          sum(completion_tokens) AS completion_tokens, round(CAST(sum(cost_usd) AS numeric), 6) AS cost_usd,
          sum(cache_hits) AS cache_hits
        FROM analytics_usage_daily r WHERE {WHERE} GROUP BY model ORDER BY 5 DESC""",
        window,
    )
    by_intent = await _rows(
        session,
        f"""SELECT CASE WHEN intent = '' THEN '(unclassified)' ELSE intent END AS intent,
          sum(turns) AS turns, sum(prompt_tokens + completion_tokens) AS tokens,
          round(CAST(sum(cost_usd) AS numeric), 6) AS cost_usd
        FROM analytics_usage_daily r WHERE {WHERE} GROUP BY 1 ORDER BY 4 DESC""",
        window,
    )
    by_day = await _rows(
        session,
        f"""SELECT r.day, round(CAST(sum(cost_usd) AS numeric), 6) AS cost_usd,
          sum(prompt_tokens + completion_tokens) AS tokens
        FROM analytics_usage_daily r WHERE {WHERE} GROUP BY r.day ORDER BY r.day""",
        window,
    )
    spend = sum(float(r["cost_usd"]) for r in by_model)
    turns = sum(r["turns"] for r in by_model)
    hits = sum(r["cache_hits"] for r in by_model)
    paid = turns - hits
    # A cache hit saves what an average paid turn costs.
    savings = spend / paid * hits if paid else 0.0
    days = (window.last_day - window.first_day).days + 1
    summary = {
        "cost_usd": round(spend, 6),
        "tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in by_model),
        "cache_hits": hits,
        "cache_savings_usd": round(savings, 6),
        "monthly_budget_usd": monthly_budget_usd,
        "budget_burn": _ratio(spend / days * 30, monthly_budget_usd or 0),
    }
    return {"summary": summary, "tables": {"by_model": by_model, "by_intent": by_intent, "by_day": by_day}}


def percentile_from_buckets(buckets: list[tuple[int, int]], q: float) -> int | None:
    """The upper bound of the bucket where the cumulative count reaches q of the total."""
    total = sum(c for _, c in buckets)
    if not total:
        return None
    running = 0
    for bound, count in sorted(buckets):
        running += count
        if running >= q * total:
            return bound
    return sorted(buckets)[-1][0]


async def latency(session: AsyncSession, window: Window) -> dict:
    rows = await _rows(
        session,
        f"""SELECT step, bucket_ms, sum(count) AS count FROM analytics_latency_daily r
        WHERE {WHERE} GROUP BY step, bucket_ms""",
        window,
    )
    daily = await _rows(
        session,
        f"""SELECT r.day, bucket_ms, sum(count) AS count FROM analytics_latency_daily r
        WHERE {WHERE} AND r.step = 'total' GROUP BY r.day, bucket_ms""",
        window,
    )
    steps: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        steps.setdefault(row["step"], []).append((row["bucket_ms"], int(row["count"])))
    order = ["total", "retrieve", "rerank", "generate"]
    by_step = [
        {
            "step": step,
            "turns": sum(c for _, c in steps[step]),
            "p50_ms": percentile_from_buckets(steps[step], 0.50),
            "p95_ms": percentile_from_buckets(steps[step], 0.95),
            "p99_ms": percentile_from_buckets(steps[step], 0.99),
        }
        for step in sorted(steps, key=lambda s: order.index(s) if s in order else 99)
    ]
    per_day: dict[str, list[tuple[int, int]]] = {}
    for row in daily:
        per_day.setdefault(row["day"], []).append((row["bucket_ms"], int(row["count"])))
    by_day = [
        {"day": d, "p50_ms": percentile_from_buckets(b, 0.5), "p95_ms": percentile_from_buckets(b, 0.95)}
        for d, b in sorted(per_day.items())
    ]
    total = next((s for s in by_step if s["step"] == "total"), None)
    summary = {k: total[k] if total else None for k in ("p50_ms", "p95_ms", "p99_ms")}
    return {"summary": summary, "tables": {"by_step": by_step, "by_day": by_day}}
