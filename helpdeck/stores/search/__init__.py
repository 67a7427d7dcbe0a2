"""Search index backends behind the `SearchIndex` protocol (embedded now, OpenSearch later)."""

from helpdeck.stores.search.protocol import (
    FILTER_FIELDS,
    Filters,
    IndexedChunk,
    Ranking,
    SearchHit,
    SearchIndex,
    StoredChunk,
)

__all__ = ["FILTER_FIELDS", "Filters", "IndexedChunk", "Ranking", "SearchHit", "SearchIndex", "StoredChunk"]
