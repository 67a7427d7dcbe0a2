"""The search-index seam: hybrid (BM25 + vector) retrieval over one company's chunks.

Two production backends implement it: the embedded one (`embedded.py`: tantivy + usearch
under the data directory) and OpenSearch for the scale-out shape. The shape maps one to one
onto an OpenSearch index with `company_id` as a keyword field used both as a filter and as
the routing key:

- `upsert` → bulk `index` with `_id = chunk_id`, `routing = company_id`;
- `replace_document` / `delete_document` → `delete_by_query` on (`company_id`, `document_id`)
  then bulk index (OpenSearch is not transactional: that backend hides the swap behind a
  document-version field, the embedded one commits both halves at once);
- `delete_company` → `delete_by_query` on `company_id`;
- `search` → a `hybrid` query of a `match` on `text` and a `knn` on `embedding`, both under
  the same `bool.filter` (`company_id` term plus `filters` as `term`/`terms`). The default
  fusion (`fusion.py`) needs each candidate's cosine and BM25 divided by the query's Σ idf
  (from the term statistics OpenSearch returns with `explain` or `_termvectors`); where
  that is not wanted, OpenSearch's own `normalization-processor` (min_max, arithmetic_mean,
  weights 0.8 dense / 0.2 BM25) is the measured runner-up (`eval/README.md`);
- `get_chunks` → `ids` query under the `company_id` filter.

PostgreSQL is the source of truth: any index can be dropped and rebuilt from it with
`rebuild`. Every method takes `company_id` and never touches another company's data.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

# Filters a search may apply, each to a value or a list of values (any of them matches).
FILTER_FIELDS = frozenset({"document_id", "source", "language", "section"})

Filters = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class IndexedChunk:
    """A chunk as the index receives it: text, its embedding and what a citation needs."""

    chunk_id: str
    document_id: str
    text: str
    embedding: Sequence[float] | np.ndarray
    source: str = ""  # file name or URL the user recognises
    page: int | None = None
    section: str | None = None
    language: str | None = None
    # Small extra metadata kept with the chunk and returned with it (JSON-serialisable).
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the index gives it back (no embedding)."""

    chunk_id: str
    document_id: str
    text: str
    source: str = ""
    page: int | None = None
    section: str | None = None
    language: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchHit(StoredChunk):
    """A search result: the chunk, its fused score and the score of each signal.

    `dense_score` is the cosine similarity of query and chunk vectors (-1..1); `bm25_score` is
    the raw BM25 score (0 when no query term matches) and `bm25_match` that score divided by
    the best score any chunk could get for this query (0..1: how much of the query the
    chunk contains, weighted by rarity). `score` fuses the two on an absolute scale,
    comparable across queries (what answer thresholds read); `ranking_score` is what results
    are ordered by: the same as `score` unless the search had a language-calibrated
    `ranking` (`query_shift.py`).
    """

    score: float = 0.0
    ranking_score: float = 0.0
    dense_score: float = 0.0
    bm25_score: float = 0.0
    bm25_match: float = 0.0


def check_filters(filters: Filters | None) -> dict[str, list[str]]:
    """Validate filters into {field: [values]}; unknown fields are an error, not ignored."""
    if not filters:
        return {}
    unknown = set(filters) - FILTER_FIELDS
    if unknown:
        raise ValueError(f"unknown filter field(s): {', '.join(sorted(unknown))}")
    checked: dict[str, list[str]] = {}
    for name, value in filters.items():
        values = [value] if isinstance(value, str) else list(value)
        if not values or not all(isinstance(v, str) for v in values):
            raise ValueError(f"filter {name!r} needs a string or a non-empty list of strings")
        checked[name] = values
    return checked


@dataclass(frozen=True)
class Ranking:
    """How to order a search's results instead of by `score`: the dense signal taken from a
    calibrated query vector, plus `bm25_weight` × `bm25_match` (`query_shift.py`)."""

    vector: Sequence[float] | np.ndarray
    bm25_weight: float = 0.05


class SearchIndex(Protocol):
    """Hybrid retrieval scoped by company. Implementations are safe for concurrent use."""

    async def upsert(self, company_id: str, chunks: Sequence[IndexedChunk]) -> None:
        """Insert chunks, replacing any with the same chunk_id (idempotent)."""
        ...

    async def replace_document(self, company_id: str, document_id: str, chunks: Sequence[IndexedChunk]) -> None:
        """Make `chunks` the document's only chunks; a search sees all old or all new."""
        ...

    async def delete_document(self, company_id: str, document_id: str) -> int:
        """Remove every chunk of a document; returns how many were removed."""
        ...

    async def delete_company(self, company_id: str) -> None:
        """Remove everything the company has in the index."""
        ...

    async def search(
        self,
        company_id: str,
        query_text: str,
        query_vector: Sequence[float] | np.ndarray | None,
        top_k: int = 10,
        filters: Filters | None = None,
        ranking: Ranking | None = None,
    ) -> list[SearchHit]:
        """Best `top_k` chunks of this company for the query, best first.

        Either signal may be missing: an empty `query_text` searches by vector alone, a
        `None` vector by BM25 alone. `ranking`, when given with a query vector, chooses the
        dense candidates and the order (`query_shift.py`; on OpenSearch: the `knn` clause
        takes its vector, and a `script_score` on the raw vector gives `dense_score`).
        """
        ...

    async def get_chunks(self, company_id: str, chunk_ids: Sequence[str]) -> list[StoredChunk]:
        """The company's chunks with these ids, in the order asked (unknown ids skipped)."""
        ...

    async def count(self, company_id: str) -> int:
        """Number of chunks the company has in the index."""
        ...

    async def rebuild(self, company_id: str, chunks: Iterable[IndexedChunk] | AsyncIterable[IndexedChunk]) -> int:
        """Replace the company's whole index with `chunks` (from the source of truth).

        Searches keep answering from the old index until the new one is complete.
        Returns the number of chunks indexed.
        """
        ...

    async def close(self) -> None: ...
