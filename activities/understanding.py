"""Activities that understand a message and shape its answer: language, intent, sentiment,
follow-up rewriting, escalation and output validation (route and cache: activities/answers.py).

Inputs and results carry ids and short values only; context is read from PostgreSQL here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlmodel import col, select
from temporalio import activity

from helpdeck.answers.rewrite import rewrite_offline, rewrite_with_model
from helpdeck.answers.safety import OutputPolicy, validate_output
from helpdeck.db import Database
from helpdeck.providers.gateway import ModelGateway
from helpdeck.services import turns
from helpdeck.tables import Company, Message
from helpdeck.understanding.escalation_rules import ConversationStats, EscalationSignals, decide_escalation
from helpdeck.understanding.intents import LLMIntentClassifier, default_model
from helpdeck.understanding.language import reply_language
from helpdeck.understanding.sentiment import sentiment_score


@dataclass
class UnderstandInput:
    company_id: str
    conversation_id: str
    turn_id: str


@dataclass
class Understanding:
    language: str
    language_confidence: float
    intent: str
    intent_confidence: float
    intent_source: str
    sentiment: float
    standalone_query: str  # what to retrieve with (the follow-up rewritten, else the message)
    unanswered_in_a_row: int
    user_messages: int
    escalate: bool
    escalation_reason: str | None = None
    escalation_detail: str = ""


@dataclass
class EscalationCheckInput:
    company_id: str
    intent: str
    intent_confidence: float
    sentiment: float
    unanswered_in_a_row: int
    user_messages: int
    retrieval_confidence: float | None


@dataclass
class EscalationResult:
    escalate: bool
    reason: str | None = None
    detail: str = ""


@dataclass
class ValidateReplyInput:
    company_id: str
    text: str
    canary: str = ""
    cited_sources: list[str] = field(default_factory=list)


@dataclass
class ValidatedReply:
    text: str
    blocked: bool
    violations: list[str] = field(default_factory=list)


class UnderstandingActivities:
    def __init__(self, db: Database, redis, gateway: ModelGateway, embedder=None) -> None:  # type: ignore[no-untyped-def]
        self.db = db
        self.redis = redis
        self.gateway = gateway

    def _llm(self, company_settings: dict) -> tuple[object, str] | None:
        """The configured primary model, unless the company keeps everything offline."""
        if company_settings.get("offline_only") or "primary" not in self.gateway.models:
            return None
        return self.gateway.models["primary"], self.gateway.default_models["primary"]

    @activity.defn
    async def understand_message(self, params: UnderstandInput) -> Understanding:
        company_id, conversation_id = uuid.UUID(params.company_id), uuid.UUID(params.conversation_id)
        async with self.db.session() as session:
            context = await turns.load_context(session, company_id, conversation_id, params.turn_id, 10)
            rows = await session.exec(
                select(Message.role, Message.meta)
                .where(Message.conversation_id == conversation_id, Message.company_id == company_id)
                .order_by(col(Message.seq).desc())
                .limit(20)
            )
            recent = list(rows)
        settings = context.company_settings
        previous_user = next((c for r, c in reversed(context.history) if r == "user"), "")
        languages = settings.get("languages") or None
        previous = reply_language(previous_user, languages).language if previous_user else None
        language = reply_language(context.question, languages, previous, settings.get("default_language"))
        llm = self._llm(settings)
        if llm is not None and settings.get("intent_classifier", "offline") == "llm":
            intent = await LLMIntentClassifier(llm[0], llm[1]).classify(context.question)  # type: ignore[arg-type]
        else:
            intent = default_model().classify(context.question)
        if llm is not None and settings.get("rewrite_with_model"):
            query = await rewrite_with_model(llm[0], context.question, context.history, llm[1])  # type: ignore[arg-type]
        else:
            query = rewrite_offline(context.question, context.history)
        stats = conversation_stats(recent)
        sentiment = sentiment_score(context.question)
        decision = decide_escalation(
            EscalationSignals(intent.intent, intent.confidence, sentiment, stats, None, context.question), settings
        )
        return Understanding(
            language.language, language.confidence, intent.intent, intent.confidence, intent.source, sentiment,
            query, stats.unanswered_in_a_row, stats.user_messages, decision.escalate, decision.reason, decision.detail,
        )

    @activity.defn
    async def check_escalation(self, params: EscalationCheckInput) -> EscalationResult:
        settings = await self._company_settings(params.company_id)
        stats = ConversationStats(params.user_messages, params.unanswered_in_a_row)
        signals = EscalationSignals(
            params.intent, params.intent_confidence, params.sentiment, stats, params.retrieval_confidence
        )
        decision = decide_escalation(signals, settings)
        return EscalationResult(decision.escalate, decision.reason, decision.detail)

    @activity.defn
    async def validate_reply(self, params: ValidateReplyInput) -> ValidatedReply:
        settings = await self._company_settings(params.company_id)
        policy = OutputPolicy(
            canary=params.canary,
            foreign_canaries=await self._foreign_canaries(params.company_id),
            allowed_domains=tuple(settings.get("allowed_domains") or ()),
            cited_sources=tuple(params.cited_sources),
            max_chars=int(settings.get("max_reply_chars", 4000)),
        )
        check = validate_output(params.text, policy)
        return ValidatedReply(check.text, check.blocked, check.violations)

    async def _company_settings(self, company_id: str) -> dict:
        async with self.db.session() as session:
            company = await session.get(Company, uuid.UUID(company_id))
        return dict(company.settings) if company is not None else {}

    async def _foreign_canaries(self, company_id: str) -> tuple[str, ...]:
        """Other companies' `data_canary` markers: seeing one in a reply means data crossed tenants."""
        async with self.db.session() as session:
            rows = await session.exec(select(Company.id, Company.settings).where(Company.id != uuid.UUID(company_id)))
            return tuple(str(s.get("data_canary")) for _, s in rows if s and s.get("data_canary"))


def conversation_stats(recent: list[tuple[str, dict]]) -> ConversationStats:
    """From the newest messages first: user messages seen, and the bot's abstentions in a row."""
    unanswered, streak_open = 0, True
    for role, meta in recent:
        if role == "assistant" and streak_open:
            if (meta or {}).get("abstained"):
                unanswered += 1
            else:
                streak_open = False
    return ConversationStats(sum(1 for role, _ in recent if role == "user"), unanswered)
