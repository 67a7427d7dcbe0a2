"""Which model answers: a small one for chitchat and simple questions, a large one for complex
ones; and a per-company daily budget that, once spent, routes to the small model and then to the
extractive composer (never to an error). Costs come from the gateway's price table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from helpdeck.providers.gateway import DEFAULT_PRICES

DEFAULT_SMALL_MODEL = "gpt-4o-mini"
DEFAULT_LARGE_MODEL = "gpt-4o"
COMPLEX_WORDS = 25  # questions longer than this go to the large model
LOW_RETRIEVAL = 0.80  # weak retrieval: a larger model reads ambiguous passages better
SMALL_MODEL_SHARE = 0.2  # once spent, keep this share of the budget for the small model


@dataclass(frozen=True)
class RouteInput:
    intent: str
    question_words: int
    retrieval_confidence: float | None
    spent_today_usd: float = 0.0
    daily_budget_usd: float | None = None  # None: no budget


@dataclass(frozen=True)
class Route:
    tier: str  # "small", "large" or "composer"
    model: str | None  # None for the composer
    reason: str


def models_for(company_settings: dict[str, Any]) -> tuple[str, str]:
    routing = company_settings.get("routing") or {}
    return str(routing.get("small_model", DEFAULT_SMALL_MODEL)), str(routing.get("large_model", DEFAULT_LARGE_MODEL))


def route_model(params: RouteInput, company_settings: dict[str, Any] | None = None) -> Route:
    small, large = models_for(company_settings or {})
    budget = params.daily_budget_usd
    if budget is not None and params.spent_today_usd >= budget:
        return Route("composer", None, "daily budget spent")
    wants_large = (
        params.intent in ("complaint", "transaction")
        or (params.intent == "question" and params.question_words > COMPLEX_WORDS)
        or (
            params.intent == "question"
            and params.retrieval_confidence is not None
            and params.retrieval_confidence < LOW_RETRIEVAL
        )
    )
    if budget is not None and params.spent_today_usd >= budget * (1 - SMALL_MODEL_SHARE):
        return Route("small", small, "budget nearly spent")
    if params.intent == "chitchat":
        return Route("small", small, "chitchat")
    if wants_large:
        return Route("large", large, f"complex: {params.intent}, {params.question_words} words")
    return Route("small", small, "simple question")


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int, prices: dict | None = None) -> float:
    price_in, price_out = (prices or DEFAULT_PRICES).get(model, (0.0, 0.0))
    return round(prompt_tokens / 1000 * price_in + completion_tokens / 1000 * price_out, 8)


def budget_key(company_id: str, day: date) -> str:
    return f"company:{company_id}:spend:{day.isoformat()}"


class BudgetLedger:
    """Per-company daily spend in Redis (micro-dollars, INCRBY), kept two days."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def spent(self, company_id: str, day: date) -> float:
        value = await self.redis.get(budget_key(company_id, day))
        return int(value or 0) / 1_000_000

    async def add(self, company_id: str, day: date, usd: float) -> float:
        key = budget_key(company_id, day)
        total = await self.redis.incrby(key, int(round(usd * 1_000_000)))
        await self.redis.expire(key, 2 * 86400)
        return int(total) / 1_000_000
