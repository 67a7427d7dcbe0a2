"""Fusion of the BM25 and dense signals into one ranking (shared by every backend).

The backend hands over the union of both signals' candidates, each scored by both signals
(`dense_score`: cosine; `bm25_match`: BM25 divided by the best BM25 any chunk could reach
for this query, so 1.0 means "contains every query term, often"). Ranking is then a pure
function, measured by `eval/retrieval.py`.

Why not reciprocal-rank fusion: rank fusion gives BM25's top hit as much say as the dense
top hit even when BM25 matched one common word, which is what happens to almost every
cross-lingual query (a German question against English passages shares only product names
and commands). On the evaluation set it lost to dense alone in every language pair. Scores,
unlike ranks, say how sure each signal is.

The default, `dense+match`: score = dense + 0.03 × bm25_match. e5 cosines of a query's
candidates sit in a narrow band (typically 0.78-0.88), so 0.03 is a tie-breaker among
near-equal dense candidates that prefers the one holding the query's rare terms, never a
veto of a clearly better dense match. Chosen on the dev half of `eval/data`
(`python eval/retrieval.py --split dev --tune`), it is the only setting of those tried that
never fell below dense alone in any language pair on either half; heavier weights (and
min-max fusion above 0.2, and RRF) lose on English questions against the German knowledge
base, where BM25 latches onto untranslated English paragraphs. Figures in `eval/README.md`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from helpdeck.stores.search.protocol import SearchHit

FusionMethod = Literal["dense", "bm25", "rrf", "minmax", "dense+match"]


@dataclass(frozen=True)
class Fusion:
    method: FusionMethod = "dense+match"
    # dense+match: weight of bm25_match; minmax: weight of BM25 (dense gets 1 - weight).
    weight: float = 0.03
    rrf_k: int = 60


DEFAULT_FUSION = Fusion()


def _minmax(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    if high - low <= 1e-12:
        return [1.0 if high > 0 else 0.0 for _ in values]
    return [(v - low) / (high - low) for v in values]


def _ranks(values: Sequence[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0] * len(values)
    for rank, i in enumerate(order, start=1):
        ranks[i] = rank
    return ranks


def fused_scores(
    dense: Sequence[float],
    bm25: Sequence[float],
    bm25_match: Sequence[float],
    fusion: Fusion = DEFAULT_FUSION,
) -> list[float]:
    """The fused score of each candidate, given each signal's score, in the order given."""
    if not dense:
        return []
    if fusion.method == "dense":
        return list(dense)
    if fusion.method == "bm25":
        # Ties (no term matched) fall back to the dense order.
        return [b + 1e-6 * d for b, d in zip(bm25, dense, strict=True)]
    if fusion.method == "dense+match":
        return [d + fusion.weight * m for d, m in zip(dense, bm25_match, strict=True)]
    if fusion.method == "minmax":
        nd, nb = _minmax(dense), _minmax(bm25)
        w = fusion.weight
        return [(1 - w) * d + w * b for d, b in zip(nd, nb, strict=True)]
    if fusion.method == "rrf":
        rd, rb = _ranks(dense), _ranks(bm25)
        return [
            1 / (fusion.rrf_k + a) + (1 / (fusion.rrf_k + b) if bm > 0 else 0.0)
            for a, b, bm in zip(rd, rb, bm25, strict=True)
        ]
    raise ValueError(f"unknown fusion method {fusion.method!r}")


def fuse(hits: Sequence[SearchHit], fusion: Fusion = DEFAULT_FUSION) -> list[SearchHit]:
    """Hits re-scored by `fusion`, best first (ties broken by dense score, then chunk id)."""
    scores = fused_scores(
        [h.dense_score for h in hits],
        [h.bm25_score for h in hits],
        [h.bm25_match for h in hits],
        fusion,
    )
    rescored = [dataclasses.replace(h, score=float(s)) for h, s in zip(hits, scores, strict=True)]
    rescored.sort(key=lambda h: (-h.score, -h.dense_score, h.chunk_id))
    return rescored
