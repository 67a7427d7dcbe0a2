"""The embedded search backend: tantivy (BM25) + usearch (vectors), one pair per company.

Layout under `root` (normally `<data_dir>/search`):

    companies/<company>/            one directory per company (`c-<id>` or `h-<sha256>`)
        text/                       tantivy index: terms, metadata, and each chunk's vector
        manifest.json               {"format", "dim", "generation"}
        vectors.usearch             usearch index of the chunk vectors (a cache, see below)
        vectors.json                {"generation", "count"} of that file
    rebuild-*/, trash-*/            transient, during `rebuild` and `delete_company`

Every chunk lives in tantivy, with its vector stored beside its text: tantivy commits are
atomic and durable, so it is this backend's own source of truth. The usearch file is an
acceleration structure saved every `save_interval` seconds and on `close`; when it is
missing or older than the tantivy index (its generation differs: a crash between the two),
it is rebuilt from tantivy on open. PostgreSQL stays the system's source of truth, from
which `rebuild` recreates a company's directory entirely.

Separate directories make tenant isolation physical: a search opens one company's files
and nothing else, and BM25 statistics are per company (no document frequencies of other
tenants leak into scores). Vectors are searched exactly (brute force) up to
`exact_threshold` per company and through the HNSW graph above it.

Concurrency (one process owns the root; tantivy's lock file refuses a second writer):
searches run in parallel threads; writes to one company are serialised, and become visible
all at once: a per-company reader-writer lock swaps the tantivy snapshot and the vector
changes together, so a search sees a document's old chunks or its new ones, never a mix.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import tantivy

from helpdeck.stores.search.analysis import analyze
from helpdeck.stores.search.fusion import DEFAULT_FUSION, Fusion, fused_scores
from helpdeck.stores.search.native import load_system_libstdcxx
from helpdeck.stores.search.protocol import (
    Filters,
    IndexedChunk,
    Ranking,
    SearchHit,
    StoredChunk,
    check_filters,
)

load_system_libstdcxx()  # before usearch: see native.py (a segfault otherwise)
from usearch.index import Index as VectorIndex  # noqa: E402

FORMAT = 1
_WRITER_HEAP = 32_000_000
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _unit(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    return array / max(float(np.linalg.norm(array)), 1e-12)


def company_dirname(company_id: str) -> str:
    """Directory name of a company: readable when the id is a safe name, hashed otherwise."""
    if _SAFE_ID.fullmatch(company_id):
        return f"c-{company_id}"
    return "h-" + hashlib.sha256(company_id.encode("utf-8")).hexdigest()[:40]


def vector_key(chunk_id: str) -> int:
    """The usearch key of a chunk: 63 bits of sha256(chunk_id)."""
    digest = hashlib.sha256(chunk_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("chunk_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("document_id", stored=True, tokenizer_name="raw")
    builder.add_unsigned_field("vec_key", stored=True, indexed=True, fast=True)
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
    for name in ("source", "language", "section"):
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic")
    builder.add_bytes_field("payload", stored=True)  # JSON: text and citation metadata
    builder.add_bytes_field("vector", stored=True)  # float32 little-endian
    return builder.build()


SCHEMA = _schema()
_Q = tantivy.Query
_MUST, _SHOULD = tantivy.Occur.Must, tantivy.Occur.Should


class _RWLock:
    """Many readers or one writer; a waiting writer blocks new readers (no starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def _write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".tmp-{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _document(chunk: IndexedChunk, vector: np.ndarray) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_text("chunk_id", chunk.chunk_id)
    doc.add_text("document_id", chunk.document_id)
    doc.add_unsigned("vec_key", vector_key(chunk.chunk_id))
    doc.add_text("body", " ".join(analyze(chunk.text)))
    for name in ("source", "language", "section"):
        value = getattr(chunk, name)
        if value:
            doc.add_text(name, value)
    payload = {
        "text": chunk.text,
        "source": chunk.source,
        "page": chunk.page,
        "section": chunk.section,
        "language": chunk.language,
        "extra": dict(chunk.extra),
    }
    doc.add_bytes("payload", json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    doc.add_bytes("vector", vector.astype("<f4").tobytes())
    return doc


def _stored(doc: tantivy.Document) -> StoredChunk:
    payload = json.loads(bytes(doc["payload"][0]).decode("utf-8"))
    return StoredChunk(
        chunk_id=doc["chunk_id"][0],
        document_id=doc["document_id"][0],
        text=payload["text"],
        source=payload.get("source") or "",
        page=payload.get("page"),
        section=payload.get("section"),
        language=payload.get("language"),
        extra=payload.get("extra") or {},
    )


class _CompanyIndex:
    """One company's tantivy index and vector index, and the locks that keep them in step."""

    def __init__(self, path: Path, *, exact_threshold: int, dtype: str) -> None:
        self.path = path
        self.exact_threshold = exact_threshold
        self.dtype = dtype
        (path / "text").mkdir(parents=True, exist_ok=True)
        self.text = tantivy.Index(SCHEMA, path=str(path / "text"))
        self.text.config_reader(reload_policy="manual")
        manifest = _read_json(path / "manifest.json") or {}
        self.dim: int | None = manifest.get("dim")
        self.generation: int = int(manifest.get("generation", 0))
        self.rw = _RWLock()
        self.write_mutex = threading.Lock()
        self.dirty = False
        self.saved_at = time.monotonic()
        self.text.reload()
        self.searcher = self.text.searcher()
        self.vectors = self._load_vectors()

    # --- vectors -------------------------------------------------------------------------

    def _new_vectors(self, dim: int) -> VectorIndex:
        return VectorIndex(ndim=dim, metric="cos", dtype=self.dtype)

    def _load_vectors(self) -> VectorIndex | None:
        if self.dim is None:
            return None
        stamp = _read_json(self.path / "vectors.json") or {}
        file = self.path / "vectors.usearch"
        if stamp.get("generation") == self.generation and file.exists():
            vectors = VectorIndex.restore(str(file), view=False)
            if vectors is not None and len(vectors) == self.searcher.num_docs:
                return vectors
        # Missing or stale (crash between a commit and a save): rebuild from tantivy.
        vectors = self._new_vectors(self.dim)
        keys, matrix = self._all_stored_vectors()
        if len(keys):
            vectors.add(keys, matrix)
        self.dirty = True
        return vectors

    def _all_stored_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        searcher = self.searcher
        total = searcher.num_docs
        if not total or self.dim is None:
            return np.zeros(0, np.uint64), np.zeros((0, self.dim or 1), np.float32)
        hits = searcher.search(_Q.all_query(), limit=total, count=False).hits
        keys = np.zeros(len(hits), dtype=np.uint64)
        matrix = np.zeros((len(hits), self.dim), dtype=np.float32)
        for row, (_, address) in enumerate(hits):
            doc = searcher.doc(address)
            keys[row] = doc["vec_key"][0]
            matrix[row] = np.frombuffer(bytes(doc["vector"][0]), dtype="<f4")
        return keys, matrix

    def save_vectors(self) -> None:
        with self.write_mutex:
            if not self.dirty or self.vectors is None:
                return
            with self.rw.read():
                tmp = self.path / f"vectors.usearch.tmp-{uuid.uuid4().hex}"
                self.vectors.save(str(tmp))
                generation, count = self.generation, len(self.vectors)
            os.replace(tmp, self.path / "vectors.usearch")
            _write_json(self.path / "vectors.json", {"generation": generation, "count": count})
            self.dirty = False
            self.saved_at = time.monotonic()

    # --- writes ----------------------------------------------------------------------------

    def _keys_matching(self, searcher: tantivy.Searcher, query: tantivy.Query) -> list[int]:
        total = searcher.num_docs
        if not total:
            return []
        addresses = [a for _, a in searcher.search(query, limit=total, count=False).hits]
        return [int(k) for k in searcher.fast_field_values("vec_key", addresses) if k is not None]

    def apply(self, delete_document_ids: Sequence[str], chunks: Sequence[IndexedChunk]) -> int:
        """Delete documents and upsert chunks in one commit; returns chunks deleted."""
        vectors_in = [np.asarray(c.embedding, dtype=np.float32).reshape(-1) for c in chunks]
        with self.write_mutex:
            if vectors_in:
                dim = vectors_in[0].shape[0]
                if any(v.shape[0] != dim for v in vectors_in) or (self.dim is not None and dim != self.dim):
                    raise ValueError(
                        f"embedding dimension mismatch: index has {self.dim}, got {dim}"
                        " (changing the embedder needs a rebuild)"
                    )
                if self.dim is None:
                    self.dim = dim
            searcher = self.searcher
            old_keys: set[int] = set()
            for document_id in delete_document_ids:
                term = _Q.term_query(SCHEMA, "document_id", document_id)
                old_keys.update(self._keys_matching(searcher, term))
            deleted = len(old_keys)
            if chunks:
                ids = _Q.term_set_query(SCHEMA, "chunk_id", [c.chunk_id for c in chunks])
                old_keys.update(self._keys_matching(searcher, ids))
            if not old_keys and not chunks:
                return 0
            # Bump the generation before committing: a crash after the commit then leaves
            # the saved vectors visibly stale, and they are rebuilt on the next open.
            self.generation += 1
            _write_json(
                self.path / "manifest.json",
                {"format": FORMAT, "dim": self.dim, "generation": self.generation},
            )
            writer = self.text.writer(heap_size=_WRITER_HEAP, num_threads=1)
            for document_id in delete_document_ids:
                writer.delete_documents_by_term("document_id", document_id)
            for chunk in chunks:
                writer.delete_documents_by_term("chunk_id", chunk.chunk_id)
            unique: dict[str, tuple[IndexedChunk, np.ndarray]] = {}
            for chunk, vector in zip(chunks, vectors_in, strict=True):
                unique[chunk.chunk_id] = (chunk, vector)  # last one wins within a batch
            for chunk, vector in unique.values():
                writer.add_document(_document(chunk, vector))
            writer.commit()
            writer.wait_merging_threads()
            self.text.reload()
            new_searcher = self.text.searcher()
            new_keys = np.array([vector_key(cid) for cid in unique], dtype=np.uint64)
            with self.rw.write():
                if self.vectors is None and self.dim is not None:
                    self.vectors = self._new_vectors(self.dim)
                if self.vectors is not None:
                    present = [k for k in old_keys if self.vectors.contains(k)]
                    if present:
                        self.vectors.remove(np.array(present, dtype=np.uint64))
                    if len(new_keys):
                        self.vectors.add(new_keys, np.stack([v for _, v in unique.values()]))
                self.searcher = new_searcher
            self.dirty = True
            return deleted

    # --- reads -----------------------------------------------------------------------------

    def search(
        self,
        query_text: str,
        query_vector: np.ndarray | None,
        top_k: int,
        filters: dict[str, list[str]],
        depth: int,
        fusion: Fusion,
        ranking: Ranking | None = None,
    ) -> list[SearchHit]:
        with self.rw.read():
            searcher, vectors = self.searcher, self.vectors
            total = searcher.num_docs
            if not total or top_k <= 0:
                return []
            depth = max(depth, top_k)
            musts = [
                (_MUST, _Q.const_score_query(_Q.term_set_query(SCHEMA, name, values), 0.0))
                for name, values in filters.items()
            ]
            terms = sorted(set(analyze(query_text)))
            should = [(_SHOULD, _Q.term_query(SCHEMA, "body", t)) for t in terms]
            candidates: set[int] = set()
            # BM25 candidates.
            if should:
                hits = searcher.search(_Q.boolean_query(should + musts), depth, count=False).hits
                addresses = [a for _, a in hits]
                values = searcher.fast_field_values("vec_key", addresses)
                candidates.update(int(k) for k in values if k is not None)
            # Dense candidates.
            unit: np.ndarray | None = None
            rank_unit: np.ndarray | None = None
            if query_vector is not None and vectors is not None and len(vectors):
                unit = _unit(query_vector)
                rank_unit = unit if ranking is None else _unit(ranking.vector)
                candidates.update(self._dense_candidates(searcher, vectors, rank_unit, depth, musts))
            if not candidates:
                return []
            # Score every candidate by both signals (and re-apply the filters).
            scope = _Q.const_score_query(_Q.term_set_query(SCHEMA, "vec_key", list(candidates)), 0.0)
            query = _Q.boolean_query([(_MUST, scope), *musts, *should])
            hits = searcher.search(query, len(candidates), count=False).hits
            if not hits:
                return []
            addresses = [a for _, a in hits]
            keys = np.array(searcher.fast_field_values("vec_key", addresses), dtype=np.uint64)
            bm25 = np.array([score for score, _ in hits], dtype=np.float64)
            if unit is not None and vectors is not None:
                found: Any = vectors.get(keys)
                matrix = np.stack([np.zeros_like(unit) if v is None else np.asarray(v, np.float32) for v in found])
                dense = matrix @ unit
                rank_dense = dense if rank_unit is unit else matrix @ rank_unit
            else:
                dense = rank_dense = np.zeros(len(keys))
            best_possible = self._bm25_ceiling(searcher, terms)
            match = np.clip(bm25 / best_possible, 0.0, 1.0) if best_possible > 0 else bm25 * 0
            scores = fused_scores(dense.tolist(), bm25.tolist(), match.tolist(), fusion)
            if ranking is None or rank_dense is dense:
                order_by = scores
            else:  # calibrated ranking; `score` stays the absolute one (see query_shift.py)
                fusion_used = Fusion("dense+match", weight=ranking.bm25_weight)
                order_by = fused_scores(rank_dense.tolist(), bm25.tolist(), match.tolist(), fusion_used)
            order = sorted(range(len(hits)), key=lambda i: (-order_by[i], -dense[i], int(keys[i])))
            results = []
            for i in order[:top_k]:
                stored = _stored(searcher.doc(addresses[i]))
                results.append(
                    SearchHit(
                        **stored.__dict__,
                        score=float(scores[i]),
                        ranking_score=float(order_by[i]),
                        dense_score=float(dense[i]),
                        bm25_score=float(bm25[i]),
                        bm25_match=float(match[i]),
                    )
                )
            return results

    def _dense_candidates(
        self,
        searcher: tantivy.Searcher,
        vectors: VectorIndex,
        unit: np.ndarray,
        depth: int,
        musts: list[tuple[Any, tantivy.Query]],
    ) -> list[int]:
        size = len(vectors)
        if musts:
            allowed = self._keys_matching(searcher, _Q.boolean_query(musts))
            if not allowed:
                return []
            if len(allowed) <= self.exact_threshold:
                # Brute force over the filtered subset: exact and cheap at this size.
                keys = np.array(allowed, dtype=np.uint64)
                stored: Any = vectors.get(keys)
                rows = list(stored)
                keep = [i for i, v in enumerate(rows) if v is not None]
                matrix = np.stack([np.asarray(rows[i], np.float32) for i in keep])
                sims = matrix @ unit
                top = np.argsort(-sims)[:depth]
                return [int(keys[keep[i]]) for i in top]
            # Large filtered set: oversample the graph; the scoring query drops the rest.
            depth = min(size, depth * 8)
        exact = size <= self.exact_threshold
        if not exact:
            vectors.expansion_search = max(64, 2 * depth)  # type: ignore[misc]  # has a setter
        matches = vectors.search(unit, min(depth, size), exact=exact)
        return [int(k) for k in matches.keys]

    @staticmethod
    def _bm25_ceiling(searcher: tantivy.Searcher, terms: Sequence[str]) -> float:
        """BM25 of a chunk holding each query term once at average length: Σ idf."""
        total = searcher.num_docs
        ceiling = 0.0
        for term in terms:
            df = searcher.doc_freq("body", term)
            ceiling += math.log(1 + (total - df + 0.5) / (df + 0.5))
        return ceiling

    def get(self, chunk_ids: Sequence[str]) -> list[StoredChunk]:
        with self.rw.read():
            searcher = self.searcher
            if not chunk_ids or not searcher.num_docs:
                return []
            query = _Q.term_set_query(SCHEMA, "chunk_id", list(chunk_ids))
            hits = searcher.search(query, len(chunk_ids), count=False).hits
            found = {c.chunk_id: c for c in (_stored(searcher.doc(a)) for _, a in hits)}
        return [found[cid] for cid in chunk_ids if cid in found]

    def count(self) -> int:
        with self.rw.read():
            return int(self.searcher.num_docs)


class EmbeddedSearchIndex:
    """`SearchIndex` on local files: see the module docstring for layout and guarantees."""

    def __init__(
        self,
        root: Path | str,
        *,
        exact_threshold: int = 20_000,
        candidate_depth: int = 50,
        fusion: Fusion = DEFAULT_FUSION,
        save_interval: float = 30.0,
        dtype: str = "f32",
    ) -> None:
        self.root = Path(root)
        (self.root / "companies").mkdir(parents=True, exist_ok=True)
        self.exact_threshold = exact_threshold
        self.candidate_depth = candidate_depth
        self.fusion = fusion
        self.save_interval = save_interval
        self.dtype = dtype
        self._companies: dict[str, _CompanyIndex] = {}
        self._registry = threading.Lock()

    def _dir(self, company_id: str) -> Path:
        if not company_id:
            raise ValueError("company_id is required")
        return self.root / "companies" / company_dirname(company_id)

    def _open(self, path: Path) -> _CompanyIndex:
        return _CompanyIndex(path, exact_threshold=self.exact_threshold, dtype=self.dtype)

    def _company(self, company_id: str, create: bool) -> _CompanyIndex | None:
        path = self._dir(company_id)
        with self._registry:
            index = self._companies.get(company_id)
            if index is None and (create or path.exists()):
                index = self._companies[company_id] = self._open(path)
            return index

    def _write(self, company_id: str, delete_ids: Sequence[str], chunks: Sequence[IndexedChunk]) -> int:
        index = self._company(company_id, create=bool(chunks))
        if index is None:
            return 0
        deleted = index.apply(delete_ids, chunks)
        if time.monotonic() - index.saved_at > self.save_interval:
            index.save_vectors()
        return deleted

    async def upsert(self, company_id: str, chunks: Sequence[IndexedChunk]) -> None:
        if chunks:
            await asyncio.to_thread(self._write, company_id, [], list(chunks))

    async def replace_document(self, company_id: str, document_id: str, chunks: Sequence[IndexedChunk]) -> None:
        if any(c.document_id != document_id for c in chunks):
            raise ValueError("every chunk must belong to the document being replaced")
        await asyncio.to_thread(self._write, company_id, [document_id], list(chunks))

    async def delete_document(self, company_id: str, document_id: str) -> int:
        return await asyncio.to_thread(self._write, company_id, [document_id], [])

    async def delete_company(self, company_id: str) -> None:
        await asyncio.to_thread(self._delete_company, company_id)

    def _delete_company(self, company_id: str) -> None:
        path = self._dir(company_id)
        with self._registry:
            index = self._companies.pop(company_id, None)
            if index is not None:
                index.write_mutex.acquire()  # let a write in progress finish first
            try:
                if path.exists():
                    trash = self.root / f"trash-{uuid.uuid4().hex}"
                    os.replace(path, trash)
                    shutil.rmtree(trash, ignore_errors=True)
            finally:
                if index is not None:
                    index.write_mutex.release()

    async def search(
        self,
        company_id: str,
        query_text: str,
        query_vector: Sequence[float] | np.ndarray | None,
        top_k: int = 10,
        filters: Filters | None = None,
        ranking: Ranking | None = None,
    ) -> list[SearchHit]:
        checked = check_filters(filters)
        vector = None if query_vector is None else np.asarray(query_vector, dtype=np.float32)
        if vector is None:
            ranking = None
        return await asyncio.to_thread(self._search, company_id, query_text, vector, top_k, checked, ranking)

    def _search(
        self,
        company_id: str,
        query_text: str,
        vector: np.ndarray | None,
        top_k: int,
        filters: dict[str, list[str]],
        ranking: Ranking | None = None,
    ) -> list[SearchHit]:
        index = self._company(company_id, create=False)
        if index is None:
            return []
        return index.search(query_text, vector, top_k, filters, self.candidate_depth, self.fusion, ranking)

    async def get_chunks(self, company_id: str, chunk_ids: Sequence[str]) -> list[StoredChunk]:
        index = await asyncio.to_thread(self._company, company_id, False)
        if index is None:
            return []
        return await asyncio.to_thread(index.get, list(chunk_ids))

    async def count(self, company_id: str) -> int:
        index = await asyncio.to_thread(self._company, company_id, False)
        return 0 if index is None else await asyncio.to_thread(index.count)

    async def rebuild(self, company_id: str, chunks: Iterable[IndexedChunk] | AsyncIterable[IndexedChunk]) -> int:
        staging = self.root / f"rebuild-{uuid.uuid4().hex}"
        fresh = await asyncio.to_thread(self._open, staging)
        total = 0
        batch: list[IndexedChunk] = []
        try:
            async for chunk in _aiter(chunks):
                batch.append(chunk)
                if len(batch) >= 1000:
                    await asyncio.to_thread(fresh.apply, [], batch)
                    total, batch = total + len(batch), []
            if batch:
                await asyncio.to_thread(fresh.apply, [], batch)
                total += len(batch)
            await asyncio.to_thread(fresh.save_vectors)
            await asyncio.to_thread(self._swap_in, company_id, staging)
        finally:
            del fresh
            if staging.exists():
                await asyncio.to_thread(shutil.rmtree, staging, True)
        return total

    def _swap_in(self, company_id: str, staging: Path) -> None:
        path = self._dir(company_id)
        with self._registry:
            old = self._companies.pop(company_id, None)
            if old is not None:
                old.write_mutex.acquire()
            try:
                trash = self.root / f"trash-{uuid.uuid4().hex}"
                if path.exists():
                    os.replace(path, trash)
                os.replace(staging, path)
                self._companies[company_id] = self._open(path)
            finally:
                if old is not None:
                    old.write_mutex.release()
        shutil.rmtree(trash, ignore_errors=True)

    async def flush(self) -> None:
        """Save every changed vector index now (also done periodically and on close)."""
        with self._registry:
            indexes = list(self._companies.values())
        for index in indexes:
            await asyncio.to_thread(index.save_vectors)

    async def close(self) -> None:
        await self.flush()
        with self._registry:
            self._companies.clear()


async def _aiter(
    items: Iterable[IndexedChunk] | AsyncIterable[IndexedChunk],
) -> AsyncIterable[IndexedChunk]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
