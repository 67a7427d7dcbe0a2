"""Fusion: BM25 breaks near-ties in favour of exact matches, never overturns a clear lead."""

from __future__ import annotations

from helpdeck.stores.search.fusion import DEFAULT_FUSION, Fusion, fuse
from helpdeck.stores.search.protocol import SearchHit


def _hit(chunk_id: str, dense: float, bm25: float = 0.0, match: float = 0.0) -> SearchHit:
    return SearchHit(chunk_id, "doc", chunk_id, dense_score=dense, bm25_score=bm25, bm25_match=match)


def test_exact_match_wins_a_near_tie_of_dense_scores() -> None:
    hits = [_hit("paraphrase", 0.842), _hit("has-the-error-code", 0.835, bm25=9.0, match=0.9)]

    assert [h.chunk_id for h in fuse(hits)] == ["has-the-error-code", "paraphrase"]


def test_a_stray_shared_word_cannot_overturn_a_clear_dense_lead() -> None:
    hits = [_hit("answer", 0.88), _hit("shares-one-word", 0.83, bm25=4.0, match=0.3)]

    assert [h.chunk_id for h in fuse(hits)] == ["answer", "shares-one-word"]


def test_every_method_ranks_and_scores_consistently() -> None:
    hits = [_hit("a", 0.80, 1.0, 0.1), _hit("b", 0.82, 0.0, 0.0), _hit("c", 0.79, 5.0, 1.0)]

    for method in ("dense", "bm25", "rrf", "minmax", "dense+match"):
        ranked = fuse(hits, Fusion(method=method))  # type: ignore[arg-type]
        assert sorted(h.chunk_id for h in ranked) == ["a", "b", "c"]
        assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
    assert fuse(hits, Fusion("dense"))[0].chunk_id == "b"
    assert fuse(hits, Fusion("bm25"))[0].chunk_id == "c"
    assert DEFAULT_FUSION.method == "dense+match"
    assert fuse([]) == []
