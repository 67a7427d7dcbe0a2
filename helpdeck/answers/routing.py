"""Which model answers: a small one for chitchat and simple questions, a large one for complex
ones; and a per-company daily budget that, once spent, routes to the small model and then to the
extractive composer (never to an error). Costs come from the gateway's price table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from helpdeck.providers.gateway import DEFAULT_PRICES, price_of

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


def models_for(
    company_settings: dict[str, Any], defaults: tuple[str, str] = (DEFAULT_SMALL_MODEL, DEFAULT_LARGE_MODEL)
) -> tuple[str, str]:
    """(small, large): the company's `routing` settings, else its primary model, else the platform's."""
    routing = company_settings.get("routing") or {}
    primary = (company_settings.get("chat_models") or {}).get("primary")
    small = str(routing.get("small_model") or primary or defaults[0])
    return small, str(routing.get("large_model") or defaults[1] or small)


def question_words(text: str) -> int:
    """Words, counting two CJK characters as one (Chinese has no spaces)."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff")
    return len(text.split()) + cjk // 2


def route_model(
    params: RouteInput, company_settings: dict[str, Any] | None = None, defaults: tuple[str, str] | None = None
) -> Route:
    """Budget first (spent: composer; nearly spent: small), then intent, length and retrieval.
    `retrieval_confidence` None means nothing was retrieved: a larger model has nothing to read."""
    small, large = models_for(company_settings or {}, *([defaults] if defaults else []))
    budget = params.daily_budget_usd
    if budget is not None and params.spent_today_usd >= budget:
        return Route("composer", None, "daily budget spent")
    why_large = []
    if params.intent in ("complaint", "transaction"):
        why_large.append(f"intent {params.intent}")
    if params.intent == "question" and params.question_words > COMPLEX_WORDS:
        why_large.append(f"{params.question_words} words")
    if (
        params.intent == "question"
        and params.retrieval_confidence is not None
        and params.retrieval_confidence < LOW_RETRIEVAL
    ):
        why_large.append(f"weak retrieval {params.retrieval_confidence:.2f}")
    if budget is not None and params.spent_today_usd >= budget * (1 - SMALL_MODEL_SHARE):
        return Route("small", small, "budget nearly spent")
    if params.intent == "chitchat":
        return Route("small", small, "chitchat")
    if why_large:
        return Route("large", large, "complex: " + ", ".join(why_large))
    return Route("small", small, "simple question")


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int, prices: dict | None = None) -> float:
    price_in, price_out = price_of(model, prices or DEFAULT_PRICES)
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
