"""Retrieval in the turn and across tenants: citations point at retrieved chunks, and a canary in
one company's knowledge never reaches another company, through search, turns or caches."""

from __future__ import annotations

import uuid

from tests.conftest import Api, Tenant, new_conversation
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
