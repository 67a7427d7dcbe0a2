"""Activities around an answer, before and after the models: the response cache, the model
route under the daily budget, and the follow-up suggestions a reply carries.

Cheap (Redis, one small query, an embedding usually cached by retrieval), so the turn runs them
as local activities. Inputs and results are ids and short text.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from temporalio import activity

from helpdeck.answers.cache import ResponseCache, cache_refusal, has_personal_content
from helpdeck.answers.routing import BudgetLedger, RouteInput, question_words, route_model
from helpdeck.answers.suggestions import suggest_followups
from helpdeck.db import Database
from helpdeck.knowledge import Retriever
from helpdeck.retrieval import normalise_query
from helpdeck.services.documents import kb_version
from helpdeck.settings import Settings
from helpdeck.tables import Company

COMMON_QUESTIONS_TTL_S = 600
COMMON_QUESTIONS_DAYS = 30
# A question counts as common when this many conversations asked it: one person's own words
# (and whatever they typed about themselves) never become another customer's suggestion.
COMMON_QUESTION_MIN_CONVERSATIONS = 2


@dataclass
class PrepareAnswerInput:
    company_id: str
    question: str  # the customer's words
    query: str  # what was retrieved with: the rewrite of a follow-up, else the question
    intent: str | None
    language: str
    # Top retrieval score; None when nothing was retrieved (or retrieval did not run).
    retrieval_confidence: float | None


@dataclass
class AnswerPlan:
    tier: str  # small | large | composer
    model: str | None
    route_reason: str
    spent_today_usd: float
    kb_version: int
    # Why the shared cache may not serve or keep this answer; "" when it may.
    cache_refusal: str
    cache: str = ""  # "exact" or "semantic" on a hit
    cached_text: str = ""
    cached_citations: list[dict] = field(default_factory=list)


@dataclass
class CachedAnswerInput:
    company_id: str
    kb_version: int
    language: str
    question: str


@dataclass
class CachedAnswer:
    cache: str = ""  # "" on a miss
    text: str = ""
    citations: list[dict] = field(default_factory=list)


@dataclass
class CompleteAnswerInput:
    company_id: str
    question: str
    language: str
    # The chunks the reply rests on (its citations), else the ones retrieved.
    chunk_ids: list[str] = field(default_factory=list)
    # Set to keep the answer in the response cache (a grounded answer of a cacheable turn).
    cache_kb_version: int | None = None
    answer_text: str = ""
    answer_citations: list[dict] = field(default_factory=list)


@dataclass
class CompletedAnswer:
    suggestions: list[str] = field(default_factory=list)
    cached: bool = False


class AnswerActivities:
    def __init__(  # type: ignore[no-untyped-def]
        self, db: Database, redis, settings: Settings, knowledge: Retriever, embedder=None
    ) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings
        self.knowledge = knowledge
        self.cache = ResponseCache(redis, embedder, threshold=settings.answer_cache_similarity)
        self.ledger = BudgetLedger(redis)

    @activity.defn
    async def prepare_answer(self, params: PrepareAnswerInput) -> AnswerPlan:
        """A cached answer when one fits, else the model route for this turn."""
        company_id = uuid.UUID(params.company_id)
        async with self.db.session() as session:
            company = await session.get(Company, company_id)
            version = await kb_version(session, company_id)
        settings = dict(company.settings) if company is not None else {}
        refusal = cache_refusal(params.question, params.query, params.intent, settings)
        if refusal is None and version == 0:
            refusal = "no knowledge base"  # nothing to ground (or cache) an answer on
        if refusal is None:
            hit = await self.cache.get(
                params.company_id, str(version), params.language, params.question,
                vector=await self._vector(params.company_id, params.question),
            )
            if hit is not None:
                return AnswerPlan("cache", None, f"cached answer ({hit.similarity:.3f})", 0.0, version, "",
                                  hit.kind, hit.text, hit.citations)
        spent = await self.ledger.spent(params.company_id, datetime.now(UTC).date())
        budget = settings.get("daily_budget_usd")
        route = route_model(
            RouteInput(
                params.intent or "question",
                question_words(params.question),
                params.retrieval_confidence,
                spent,
                float(budget) if budget is not None else None,
            ),
            settings,
            (self.settings.chat_model, self.settings.large_chat_model),
        )
        return AnswerPlan(route.tier, route.model, route.reason, spent, version, refusal or "")

    @activity.defn
    async def cached_answer(self, params: CachedAnswerInput) -> CachedAnswer:
        """The fallback step after every hosted model failed: a cached answer, with a looser
        similarity than a normal hit (an answer to a near question beats no answer)."""
        hit = await self.cache.get(
            params.company_id, str(params.kb_version), params.language, params.question,
            vector=await self._vector(params.company_id, params.question),
            threshold=self.settings.answer_cache_fallback_similarity,
            count=False,
        )
        return CachedAnswer(hit.kind, hit.text, hit.citations) if hit else CachedAnswer()

    @activity.defn
    async def complete_answer(self, params: CompleteAnswerInput) -> CompletedAnswer:
        """Keep a grounded answer in the cache (when asked) and suggest up to three follow-ups."""
        cached = False
        if params.cache_kb_version is not None and params.answer_text:
            cached = await self.cache.put(
                params.company_id, str(params.cache_kb_version), params.language, params.question,
                params.answer_text, params.answer_citations,
                vector=await self._vector(params.company_id, params.question),
            )
        passages = await self.knowledge.passages(params.company_id, params.chunk_ids[:3])
        common = await self._common_questions(params.company_id)
        suggestions = suggest_followups(params.question, passages, common, params.language or "en")
        return CompletedAnswer(suggestions, cached)

    async def _vector(self, company_id: str, question: str) -> Any:
        """The question's embedding, from the cache retrieval filled when it searched with it."""
        query_vector = getattr(self.knowledge, "query_vector", None)
        normalised = normalise_query(question)
        if query_vector is None or not normalised:
            return None
        return await query_vector(company_id, normalised)

    async def _common_questions(self, company_id: str) -> list[str]:
        """The company's own list (settings.suggested_questions), then what its customers ask most."""
        key = f"answers:{company_id}:common"
        cached = await self.redis.get(key)
        if cached is not None:
            return list(json.loads(cached))
        since = datetime.now(UTC) - timedelta(days=COMMON_QUESTIONS_DAYS)
        async with self.db.session() as session:
            company = await session.get(Company, uuid.UUID(company_id))
            rows = await session.execute(
                text(
                    """SELECT min(question) AS question FROM turn_facts
                    WHERE company_id = :c AND created_at >= :since AND answered AND intent = 'question'
                      AND degraded = '' AND question <> ''
                    GROUP BY lower(question)
                    HAVING count(DISTINCT conversation_id) >= :n
                    ORDER BY count(*) DESC LIMIT 50"""
                ),
                {"c": uuid.UUID(company_id), "since": since, "n": COMMON_QUESTION_MIN_CONVERSATIONS},
            )
            asked = [str(r[0]) for r in rows if not has_personal_content(str(r[0]))]
        curated = [str(q) for q in ((company.settings or {}).get("suggested_questions") or [])] if company else []
        common = list(dict.fromkeys(curated + asked))
        await self.redis.set(key, json.dumps(common, ensure_ascii=False), ex=COMMON_QUESTIONS_TTL_S)
        return common

    def all(self) -> list:
        return [self.prepare_answer, self.cached_answer, self.complete_answer]
