"""A worker killed in the middle of embedding: the ingestion resumes from its last heartbeat
checkpoint on another worker, and no chunk is stored or indexed twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlmodel import col, select

from helpdeck.services.documents import register_document
from helpdeck.services.ingestion_runner import ingest_workflow_id
from helpdeck.tables import Document, KnowledgeChunk
from tests.conftest import Api, Tenant
from workflows.ingestion import IngestDocumentWorkflow, IngestInput

ROOT = Path(__file__).resolve().parents[2]


def _long_guide(sections: int = 40) -> bytes:
    """Sections of ~250 tokens each: one chunk per section, slow enough to embed to be caught."""
    parts = []
    for n in range(sections):
        sentences = " ".join(
            f"Step {n}.{k} of the maintenance guide explains how to inspect valve {n * 10 + k} carefully "
            f"and record the pressure reading in the logbook before continuing."
            for k in range(8)
        )
        parts.append(f"# Section {n}\n\n{sentences}\n")
    return "\n".join(parts).encode()


def _spawn_worker(api: Api, task_queue: str, search_dir: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": api.settings.temporal_address,
        "DATABASE_URL": api.settings.database_url,
        "REDIS_URL": api.settings.redis_url,
        "HELPDECK_TASK_QUEUE": task_queue,
        # Same blob store as the API (the uploaded bytes), its own search index directory:
        # the embedded index is owned by one process.
        "HELPDECK_DATA_DIR": str(api.settings.data_path),
        "HELPDECK_SEARCH_DIR": str(search_dir),
        "HELPDECK_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env)


async def _document(api: Api, document_id: uuid.UUID) -> Document:
    async with api.runtime.db.session() as session:
        row = await session.get(Document, document_id)
        assert row is not None
        return row


@pytest.mark.timeout(600)
async def test_worker_killed_mid_embedding_resumes_from_its_checkpoint(
    api: Api, tenant: Tenant, tmp_path: Path
) -> None:
    task_queue = f"ingest-kill-{uuid.uuid4().hex[:8]}"
    async with api.runtime.db.session() as session:
        registered = await register_document(
            session,
            api.runtime.blobs,
            uuid.UUID(tenant.id),
            _long_guide(),
            source="maintenance.md",
            title="Maintenance guide",
            content_type="text/markdown",
        )
    document = registered.document
    first = _spawn_worker(api, task_queue, tmp_path / "search")
    second = None
    try:
        handle = await api.runtime.temporal.start_workflow(
            IngestDocumentWorkflow.run,
            IngestInput(tenant.id, str(document.id), document.version),
            id=ingest_workflow_id(document.id, document.version),
            task_queue=task_queue,
        )
        for _ in range(2400):  # until the first batches are committed, but not all
            row = await _document(api, document.id)
            if row.status == "embedding" and row.chunks_done >= 8:
                break
            await asyncio.sleep(0.05)
        killed_at = row.chunks_done
        assert 8 <= killed_at < row.chunks_total, (killed_at, row.chunks_total)
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = _spawn_worker(api, task_queue, tmp_path / "search")
        result = await asyncio.wait_for(handle.result(), timeout=400)
        progress = await handle.query("progress")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    row = await _document(api, document.id)
    assert result.status == "ready" and row.status == "ready"
    assert progress == {"status": "ready", "chunks_done": row.chunks_total, "chunks_total": row.chunks_total}
    # Resumed after the checkpoint it had heartbeated, on a second attempt.
    resumed = row.stats["resumed"]
    assert resumed["attempt"] == 2
    # It started after the batches committed before the kill (at most one more slipped in).
    assert killed_at <= resumed["chunks_already_embedded"] <= killed_at + 8
    assert resumed["heartbeat_checkpoint"] <= resumed["chunks_already_embedded"]
    async with api.runtime.db.session() as session:
        chunks = list(await session.exec(select(KnowledgeChunk).where(col(KnowledgeChunk.document_id) == document.id)))
    assert len(chunks) == row.chunks_total == len({c.id for c in chunks}) == len({c.idx for c in chunks})
    assert all(c.embedding is not None for c in chunks)
    from helpdeck.stores.search.embedded import EmbeddedSearchIndex

    index = EmbeddedSearchIndex(tmp_path / "search")
    try:
        assert await index.count(tenant.id) == row.chunks_total
    finally:
        await index.close()
