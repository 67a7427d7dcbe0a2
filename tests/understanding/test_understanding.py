"""Language, intent, sentiment and escalation on real messages; the LLM intent path talks to
the FakeOpenAI stand-in for a hosted model (the only stand-in here)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from helpdeck.escalation_policy import CATEGORIES
from helpdeck.providers.openai_chat import OpenAIChatModel
from helpdeck.understanding.escalation_rules import (
    REASONS,
    ConversationStats,
    EscalationSignals,
    decide_escalation,
)
from helpdeck.understanding.intents import INTENTS, LLMIntentClassifier, default_model, parse_llm_intent
from helpdeck.understanding.language import reply_language
from helpdeck.understanding.sentiment import sentiment_score
from tests.support.fake_openai import FakeOpenAI

EVAL = Path(__file__).resolve().parents[2] / "eval" / "intents"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Wie kann ich meine Bestellung stornieren?", "de"),
        ("Comment puis-je annuler ma commande ?", "fr"),
        ("Come posso annullare il mio ordine?", "it"),
        ("我怎么取消订单？", "zh"),
        ("How can I cancel my order?", "en"),
        ("merci", "fr"),
        ("grazie mille", "it"),
    ],
)
def test_reply_language_follows_the_customer(text: str, language: str) -> None:
    assert reply_language(text).language == language


def test_short_ambiguous_message_keeps_the_conversation_language() -> None:
    assert reply_language("ok", previous_language="it").language == "it"
    assert reply_language("ok", default_language="de").language == "de"


def test_detection_is_restricted_to_the_company_languages() -> None:
    assert reply_language("Hola, ¿cómo cancelo mi pedido?", ["en", "de"]).language in ("en", "de")


def test_shipped_intent_model_recognises_every_intent_in_every_language() -> None:
    rows = list(csv.DictReader((EVAL / "test.tsv").open(encoding="utf-8"), delimiter="\t"))
    model = default_model()
    correct = sum(model.classify(r["text"]).intent == r["intent"] for r in rows)
    assert correct / len(rows) >= 0.9
    for intent in INTENTS:
        guess = model.classify(next(r["text"] for r in rows if r["intent"] == intent))
        assert 0 < guess.confidence <= 1 and set(guess.scores) == set(INTENTS)


def test_angry_complaint_reads_strongly_negative_and_a_question_neutral() -> None:
    assert sentiment_score("I am so angry, this is the worst service ever!!") <= -0.6
    assert sentiment_score("How do I export my invoices?") == 0.0


def test_escalation_reasons_are_categories_the_human_queue_knows() -> None:
    assert set(REASONS) <= set(CATEGORIES)


@pytest.mark.parametrize(
    ("signals", "settings", "reason"),
    [
        (EscalationSignals("handoff_request", 0.9), {}, "customer_request"),
        (EscalationSignals("complaint", 0.9, sentiment=-0.8), {}, "complaint"),
        (EscalationSignals("complaint", 0.9, sentiment=-0.3), {}, None),
        (EscalationSignals("question", 0.9, stats=ConversationStats(3, 2)), {}, "missing_knowledge"),
        (EscalationSignals("question", 0.9, retrieval_confidence=0.5),
         {"escalation": {"min_retrieval_confidence": 0.7}}, "low_confidence"),
        (EscalationSignals("transaction", 0.9), {"escalation": {"intents": ["transaction"]}}, "tenant_rule"),
        (EscalationSignals("question", 0.9, message="I will call my lawyer"), {"escalation": {"keywords": ["lawyer"]}},
         "tenant_rule"),
        (EscalationSignals("handoff_request", 0.9), {"escalation": {"enabled": False}}, None),
        (EscalationSignals("question", 0.9, retrieval_confidence=0.9), {}, None),
    ],
)
def test_escalation_decision_records_its_reason(signals: EscalationSignals, settings: dict, reason: str | None) -> None:
    decision = decide_escalation(signals, settings)
    assert decision.escalate is (reason is not None)
    assert decision.reason == reason


def test_llm_reply_that_is_not_the_json_asked_for_is_rejected() -> None:
    assert parse_llm_intent('{"intent": "complaint", "confidence": 0.7}').intent == "complaint"
    assert parse_llm_intent("Sure! I think it's a complaint.") is None
    assert parse_llm_intent('{"intent": "delete_all_data"}') is None


async def test_llm_intent_classifier_uses_the_configured_model() -> None:
    with FakeOpenAI(reply_text='{"intent": "transaction", "confidence": 0.93}') as fake:
        model = OpenAIChatModel(api_key="sk-test", base_url=fake.base_url, model="gpt-4o-mini", timeout_s=5)
        guess = await LLMIntentClassifier(model, "gpt-4o-mini").classify("Where is order 4411?")
        assert (guess.intent, guess.source, guess.confidence) == ("transaction", "llm", 0.93)
        assert "<message>Where is order 4411?</message>" in fake.requests[0]["messages"][-1]["content"]


async def test_llm_intent_classifier_falls_back_offline_when_the_model_fails() -> None:
    with FakeOpenAI(mode="fail") as fake:
        model = OpenAIChatModel(api_key="sk-test", base_url=fake.base_url, model="gpt-4o-mini", timeout_s=5)
        guess = await LLMIntentClassifier(model).classify("I want to talk to a human")
        assert (guess.intent, guess.source) == ("handoff_request", "offline")
