"""The reranking seam: one protocol; Cohere rerank when configured.

A reranker reads the query and each candidate passage together (a cross-encoder), which a
vector comparison cannot, so it reorders the retrieval's best candidates. Offline, none ships
its weights inside a PyPI wheel (DESIGN §6); what measurably helped offline is the
language-calibrated dense ranking in the search index itself (`query_shift.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class RerankError(Exception):
    """A provider failed to rerank; the caller keeps the retrieval order."""


@dataclass(frozen=True)
class Reranked:
    index: int  # position of the passage in the list given
    relevance: float  # the provider's score, higher is better (Cohere: 0..1)


class Reranker(Protocol):
    name: str

    async def rerank(self, query: str, passages: Sequence[str], top_n: int) -> list[Reranked]:
        """The best `top_n` passages for the query, best first."""
        ...


class CohereReranker:
    """Cohere's rerank (v2 API, `POST /v2/rerank`), or any server speaking it."""

    def __init__(
        self,
        model: str = "rerank-v3.5",
        *,
        api_key: str = "",
        base_url: str | None = None,
        timeout: float = 10.0,
        max_tokens_per_doc: int = 1024,
        client: Any = None,
    ) -> None:
        self.model = model
        self.name = f"cohere/{model}"
        self.max_tokens_per_doc = max_tokens_per_doc
        if client is None:
            import cohere

            client = cohere.AsyncClientV2(api_key=api_key or "not-needed", base_url=base_url or None, timeout=timeout)
        self._client = client

    async def rerank(self, query: str, passages: Sequence[str], top_n: int) -> list[Reranked]:
        if not passages or top_n <= 0:
            return []
        try:
            response = await self._client.rerank(
                model=self.model,
                query=query,
                documents=list(passages),
                top_n=min(top_n, len(passages)),
                max_tokens_per_doc=self.max_tokens_per_doc,
            )
        except Exception as exc:  # the SDK raises its own ApiError tree and httpx errors
            raise RerankError(f"cohere rerank failed: {exc}") from exc
        results = [Reranked(int(r.index), float(r.relevance_score)) for r in response.results]
        if any(not 0 <= r.index < len(passages) for r in results):
            raise RerankError("cohere rerank returned an index outside the passages sent")
        return sorted(results, key=lambda r: -r.relevance)[:top_n]
