"""Whether a turn goes to a person, and why: a pure function so it is testable on its own and
cheap enough to run inside a local activity.

Reasons, checked in this order, named as the human queue's categories
(`helpdeck/escalation_policy.py`): `customer_request` (explicit request), `tenant_rule`,
`complaint` (with strong negative sentiment), `missing_knowledge` (repeated unanswered
questions), `low_confidence` (retrieval below the company's minimum). Company settings may tune the thresholds:
`escalation: {"enabled": bool, "negative_sentiment": -0.6, "unanswered_in_a_row": 2,
"min_retrieval_confidence": 0.0, "keywords": [...], "intents": [...]}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REASONS = ("customer_request", "tenant_rule", "complaint", "missing_knowledge", "low_confidence")
DEFAULT_NEGATIVE_SENTIMENT = -0.6
DEFAULT_UNANSWERED_IN_A_ROW = 2
# Off by default: a weak search result first gets an honest "I don't know" with an offer.
DEFAULT_MIN_RETRIEVAL_CONFIDENCE = 0.0


@dataclass(frozen=True)
class ConversationStats:
    """What the turn knows about the conversation so far."""

    user_messages: int = 0
    unanswered_in_a_row: int = 0  # the bot's latest replies that abstained, most recent first


@dataclass(frozen=True)
class EscalationSignals:
    intent: str
    intent_confidence: float = 1.0
    sentiment: float = 0.0  # -1 … 0
    stats: ConversationStats = field(default_factory=ConversationStats)
    retrieval_confidence: float | None = None  # None: retrieval not run (chitchat, handoff)
    message: str = ""


@dataclass(frozen=True)
class EscalationDecision:
    escalate: bool
    reason: str | None = None
    detail: str = ""


def decide_escalation(signals: EscalationSignals, company_settings: dict[str, Any] | None = None) -> EscalationDecision:
    """Escalate or not, with the first reason that applies."""
    rules: dict[str, Any] = dict((company_settings or {}).get("escalation") or {})
    if rules.get("enabled") is False:
        return EscalationDecision(False, None, "escalation disabled by company settings")
    if signals.intent == "handoff_request" and signals.intent_confidence >= 0.5:
        return EscalationDecision(True, "customer_request", "the customer asked for a person")
    tenant = _tenant_rule(signals, rules)
    if tenant:
        return EscalationDecision(True, "tenant_rule", tenant)
    threshold = float(rules.get("negative_sentiment", DEFAULT_NEGATIVE_SENTIMENT))
    if signals.intent == "complaint" and signals.sentiment <= threshold:
        return EscalationDecision(True, "complaint", f"complaint with sentiment {signals.sentiment:.2f}")
    limit = int(rules.get("unanswered_in_a_row", DEFAULT_UNANSWERED_IN_A_ROW))
    if signals.intent == "question" and limit > 0 and signals.stats.unanswered_in_a_row >= limit:
        return EscalationDecision(
            True, "missing_knowledge", f"{signals.stats.unanswered_in_a_row} unanswered questions in a row"
        )
    minimum = float(rules.get("min_retrieval_confidence", DEFAULT_MIN_RETRIEVAL_CONFIDENCE))
    confidence = signals.retrieval_confidence
    if signals.intent == "question" and confidence is not None and confidence < minimum:
        return EscalationDecision(True, "low_confidence", f"best passage score {confidence:.2f} < {minimum}")
    return EscalationDecision(False)


def _tenant_rule(signals: EscalationSignals, rules: dict[str, Any]) -> str:
    """The company's own triggers: intents it always hands over, words that must reach a person."""
    if signals.intent in set(rules.get("intents") or []):
        return f"intent {signals.intent} is always handled by a person"
    folded = signals.message.casefold()
    for keyword in rules.get("keywords") or []:
        if str(keyword).casefold() and str(keyword).casefold() in folded:
            return f"message mentions {keyword!r}"
    max_turns = rules.get("max_bot_turns")
    if max_turns and signals.stats.user_messages > int(max_turns):
        return f"more than {max_turns} messages with the bot"
    return ""
