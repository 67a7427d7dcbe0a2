"""The retriever with Cohere rerank configured: a local server speaking `/v2/rerank` decides the order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpdeck.providers.rerank import CohereReranker
from helpdeck.retrieval import IndexRetriever
from tests.conftest import Api, Tenant
from tests.knowledge.test_ranking import CohereRerankStandIn
from tests.knowledge_api.support import ingest


@pytest.fixture
def cohere() -> Iterator[CohereRerankStandIn]:
    server = CohereRerankStandIn()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.mark.timeout(600)
async def test_rerank_orders_the_retrieved_passages_and_a_failing_reranker_keeps_the_retrieval_order(
    api: Api, tenant: Tenant, cohere: CohereRerankStandIn
) -> None:
    texts = {
        "refunds": "Refunds for a Quillo order reach your card within five working days.",
        "parcels": "Quillo parcels to Portugal take three days; tracking arrives by email.",
        "warranty": "Every Quillo kettle has a two-year warranty. Zephyr models add a third year.",
    }
    for title, text in texts.items():
        assert (await ingest(tenant, text=text, title=title))["status"] == "ready"
    runtime = api.runtime
    plain = IndexRetriever(runtime.search_index, runtime.embedder, runtime.redis, runtime.db)
    reranked = IndexRetriever(
        runtime.search_index,
        runtime.embedder,
        runtime.redis,
        runtime.db,
        CohereReranker("rerank-v3.5", api_key="k", base_url=cohere.url, timeout=5),
    )
    cohere.favour = "Zephyr"

    before = await plain.search(tenant.id, "how long does a Quillo refund take", top_k=3)
    after = await reranked.search(tenant.id, "how long does a Quillo refund take", top_k=3)

    assert "Refunds" in before[0].text
    assert "Zephyr" in after[0].text and after[0].ranking_score == 1.0
    assert {h.chunk_id for h in after} == {h.chunk_id for h in before}
    assert {h.chunk_id: h.score for h in after} == pytest.approx({h.chunk_id: h.score for h in before})
    sent = cohere.requests[-1]
    assert sent["query"] == "how long does a Quillo refund take" and len(sent["documents"]) == 3

    cohere.fail = True
    degraded = await reranked.search(tenant.id, "when do Quillo parcels reach Portugal", top_k=3)
    baseline = await plain.search(tenant.id, "when do Quillo parcels reach Portugal", top_k=3)
    assert [h.chunk_id for h in degraded] == [h.chunk_id for h in baseline]
    assert "Portugal" in degraded[0].text
