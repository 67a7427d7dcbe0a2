"""Retrieval in the turn and across tenants: citations point at retrieved chunks, and a canary in
one company's knowledge never reaches another company, through search, turns or caches."""

from __future__ import annotations

import asyncio
import uuid

from helpdeck.providers.embeddings import EmbeddingError
from tests.conftest import Api, Tenant, make_tenant, new_conversation
from tests.knowledge_api.support import ingest, search


async def test_a_turn_about_an_ingested_faq_answers_with_citations(api: Api, tenant: Tenant) -> None:
    faq = await ingest(
        tenant,
        faq=[
            {
                "question": "How do I cancel my subscription?",
                "answer": "Open Settings, then Billing, then Cancel plan.",
            },
            {"question": "Which countries do you ship to?", "answer": "We ship to every country in the EU."},
        ],
        title="Support FAQ",
    )
    question = "How can I cancel my subscription?"
    retrieved = await search(tenant, question)
    conversation = await new_conversation(tenant)
    turn = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": question})
    assert turn.status_code == 200, turn.text
    citations = turn.json()["message"]["citations"]
    assert citations, turn.json()
    assert {c["document_id"] for c in citations} == {faq["id"]}
    assert {c["chunk_id"] for c in citations} <= {r["chunk_id"] for r in retrieved}
    assert citations[0]["source"] == "Support FAQ"
    messages = (await tenant.client.get(f"/v1/conversations/{conversation}/messages")).json()["items"]
    assert messages[-1]["citations"] == citations


async def test_with_no_model_the_composer_answers_an_faq_question_quoting_only_its_answer(
    api: Api, admin
) -> None:  # type: ignore[no-untyped-def]
    """The out-of-the-box configuration (no model key): the offline composer answers from the
    knowledge base. It judges support by the retrieval scores the turn carries to it, so a
    passage re-read by id must not lose its score (it did once, and every answer abstained)."""
    offline = await make_tenant(api, admin, settings={"offline_only": True})
    try:
        faq = await ingest(
            offline,
            faq=[
                {"question": "How do I reset my password?", "answer": "Open Settings, Security, Reset password."},
                {"question": "What payment methods do you accept?", "answer": "We accept Visa, Mastercard and PayPal."},
                {"question": "How do I cancel my subscription?", "answer": "Open Billing, Cancel subscription."},
            ],
            title="Account FAQ",
        )
        conversation = await new_conversation(offline)
        turn = await offline.client.post(
            f"/v1/conversations/{conversation}/messages", json={"content": "What payment methods do you accept?"}
        )
        assert turn.status_code == 200, turn.text
        message = turn.json()["message"]
        assert message["metadata"]["provider"] == "offline" and not message["metadata"]["abstained"], message
        assert "Visa, Mastercard and PayPal" in message["content"]
        # One FAQ entry is one answer: the other entries of the same document are not quoted.
        assert "Reset password" not in message["content"] and "Cancel subscription" not in message["content"]
        assert [c["document_id"] for c in message["citations"]] == [faq["id"]]
        assert message["citations"][0]["section"] == "What payment methods do you accept?"
    finally:
        await offline.client.aclose()


async def test_a_canary_never_crosses_companies_in_search_turns_or_caches(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    canaries = {
        t.id: f"Canary {uuid.uuid4().hex[:10]}: the vault code of this company is {n}472."
        for n, t in enumerate((tenant, other_tenant))
    }
    for t in (tenant, other_tenant):
        await ingest(t, text=canaries[t.id], title="Vault")
    for me, them in ((tenant, other_tenant), (other_tenant, tenant)):
        # Ask twice (the second answer comes from the cache) with the other company's exact words.
        for _ in range(2):
            results = await search(me, canaries[them.id], top_k=20)
            assert results and all(canaries[them.id] not in r["text"] for r in results)
            assert all(canaries[me.id] in r["text"] for r in results)
        conversation = await new_conversation(me)
        turn = await me.client.post(f"/v1/conversations/{conversation}/messages", json={"content": canaries[them.id]})
        assert canaries[them.id].split(":")[0] not in str(turn.json()["message"]["citations"])
    # Every cached value holding a canary sits under its own company's key prefix.
    redis = api.runtime.redis
    checked = 0
    async for key in redis.scan_iter(match="hd:kb:*", count=1000):
        value = await redis.get(key)
        if value is None:
            continue
        for company, canary in canaries.items():
            if canary in value:
                checked += 1
                assert key.startswith(f"hd:kb:{company}:"), key
    assert checked >= 2


class _CountingEmbedder:
    """The real embedder, with each query's callers written down: whether the call was made by
    an activity (the turn's retrieval step) or outside one (the API's prefetch)."""

    def __init__(self, real, fail_first: bool = False) -> None:  # type: ignore[no-untyped-def]
        self.real = real
        self.name, self.dim = real.name, real.dim
        self.fail_first = fail_first
        self.queries: list[tuple[str, bool]] = []

    async def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        return await self.real.embed_passages(texts)

    async def embed_query(self, text: str):  # type: ignore[no-untyped-def]
        from temporalio import activity

        self.queries.append((text, activity.in_activity()))
        if self.fail_first and len(self.queries) == 1:
            raise EmbeddingError("stand-in failure of the first query embedding")
        return await self.real.embed_query(text)


async def _turn_with_counting_embedder(api: Api, tenant: Tenant, question: str, counting: _CountingEmbedder) -> dict:
    retriever = api.runtime.knowledge
    real = retriever.embedder
    retriever.embedder = counting
    try:
        conversation = await new_conversation(tenant)
        turn = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": question})
    finally:
        retriever.embedder = real
    assert turn.status_code == 200, turn.text
    return turn.json()["message"]


async def test_the_question_is_embedded_once_while_the_turn_starts(api: Api, tenant: Tenant) -> None:
    """With the worker in the API's process, the API starts embedding the question as it starts
    the turn's workflow; the retrieval step awaits that same computation instead of making a
    second one (the overlap took ~20 ms off a turn: bench/README.md)."""
    await ingest(tenant, faq=[{"question": "How long does a refund take?", "answer": "Refunds take 5 days."}])
    question = f"How long does a refund take? (order {uuid.uuid4().hex[:8]})"
    counting = _CountingEmbedder(api.runtime.knowledge.embedder)
    message = await _turn_with_counting_embedder(api, tenant, question, counting)
    assert message["citations"], message
    assert [in_activity for _, in_activity in counting.queries] == [False], counting.queries


async def test_a_failed_prefetch_is_retried_by_the_retrieval_step(api: Api, tenant: Tenant) -> None:
    """The prefetch's failure is not swallowed into a wrong answer nor logged as a lost task: the
    retrieval step sees it, its retry embeds again, and the turn answers with citations."""
    await ingest(tenant, faq=[{"question": "Do you ship to Norway?", "answer": "Yes, we ship to Norway."}])
    question = f"Do you ship to Norway? (order {uuid.uuid4().hex[:8]})"
    counting = _CountingEmbedder(api.runtime.knowledge.embedder, fail_first=True)
    message = await _turn_with_counting_embedder(api, tenant, question, counting)
    assert message["citations"], message
    assert [in_activity for _, in_activity in counting.queries] == [False, True], counting.queries


async def test_questions_are_embedded_ahead_only_while_a_core_is_free(api: Api, tenant: Tenant) -> None:
    """Under load the overlap gains nothing: past PREFETCH_MAX_IN_FLIGHT embeddings under way, a
    prefetch starts nothing and the turn's retrieval step embeds its question itself."""
    from helpdeck.retrieval import PREFETCH_MAX_IN_FLIGHT

    retriever = api.runtime.knowledge
    release = asyncio.Event()

    class _Held(_CountingEmbedder):
        async def embed_query(self, text: str):  # type: ignore[no-untyped-def]
            self.queries.append((text, False))
            await release.wait()
            return await self.real.embed_query(text)

    held = _Held(retriever.embedder)
    real, retriever.embedder = retriever.embedder, held
    try:
        for n in range(PREFETCH_MAX_IN_FLIGHT + 3):
            retriever.prefetch_query_vector(tenant.id, f"held question {uuid.uuid4().hex} {n}")
        await asyncio.sleep(0.2)
        assert len(held.queries) == PREFETCH_MAX_IN_FLIGHT
    finally:
        release.set()
        retriever.embedder = real
    for _ in range(100):
        if not retriever._embedding:
            break
        await asyncio.sleep(0.05)
    assert not retriever._embedding  # finished ones are forgotten
