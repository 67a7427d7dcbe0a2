"""Activities of document ingestion: parse and chunk, embed in batches, index, fail, crawl, rebuild.

Text and vectors go through PostgreSQL and the blob store; only ids and counts come back to
the workflow. Every activity is safe to run twice: chunk ids are deterministic, chunks that
already carry a vector of the current embedder are not embedded again, and the index swap
(`replace_document`) is idempotent.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import text
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from helpdeck.db import Database
from helpdeck.providers.embeddings import Embedder
from helpdeck.services import documents as docs
from helpdeck.settings import Settings
from helpdeck.stores.blobs import BlobStore
from helpdeck.stores.search import IndexedChunk, SearchIndex
from helpdeck.tables import Document, KnowledgeChunk, KnowledgeSource
from helpdeck.tables._columns import utcnow

HEARTBEAT_EVERY_S = 2.0
# The codes a user can act on; anything else fails as `ingestion_error`.
USER_ERROR_CODES = (
    "unsupported_type",
    "encrypted_pdf",
    "empty_document",
    "too_large",
    "corrupt_file",
    "fetch_failed",
    "url_forbidden",
    "url_invalid",
    "off_origin",
    "robots_disallowed",
    "invalid_sitemap",
    "blob_missing",
)


@dataclass
class DocumentRef:
    company_id: str
    document_id: str
    version: int


@dataclass
class Chunked:
    chunks_total: int
    chunks_done: int  # chunks that already had a vector (unchanged content)
    superseded: bool = False


@dataclass
class Embedded:
    chunks_done: int
    superseded: bool = False


@dataclass
class Indexed:
    chunks_total: int
    superseded: bool = False


@dataclass
class FailDocument:
    company_id: str
    document_id: str
    version: int
    code: str
    message: str


@dataclass
class SourceRef:
    company_id: str
    source_id: str


@dataclass
class DiscoveredPages:
    documents: list[DocumentRef] = field(default_factory=list)
    unchanged: int = 0
    failed: int = 0


@dataclass
class CrawlTally:
    company_id: str
    source_id: str
    found: int
    done: int
    failed: int
    error: str | None = None


def _rejected(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=code, non_retryable=True)


class IngestionActivities:
    def __init__(  # type: ignore[no-untyped-def]
        self, db: Database, settings: Settings, blobs: BlobStore, embedder: Embedder, index: SearchIndex, temporal
    ) -> None:
        self.db = db
        self.settings = settings
        self.blobs = blobs
        self.embedder = embedder
        self.index = index
        self.temporal = temporal

    async def _current(self, session, ref: DocumentRef, status: str | None = None) -> Document | None:  # type: ignore[no-untyped-def]
        """The document if this ingestion is still the latest one for it; optionally set its status."""
        document = await session.get(Document, uuid.UUID(ref.document_id), with_for_update=status is not None)
        if document is None or str(document.company_id) != ref.company_id or document.version != ref.version:
            return None
        if status is not None and document.status != status:
            document.status, document.updated_at = status, utcnow()
            session.add(document)
        return document

    @activity.defn
    async def parse_and_chunk(self, ref: DocumentRef) -> Chunked:
        """Fetch (for a URL), parse and chunk the document; store the chunks in PostgreSQL."""
        from ingestion.chunk import chunk_elements
        from ingestion.parse import ParseError, parse_document

        async with self.db.session() as session:
            document = await self._current(session, ref, "parsing")
            await session.commit()
            if document is None:
                return Chunked(0, 0, superseded=True)
            data = await self._document_bytes(session, document)
        started = time.perf_counter()
        try:
            elements = await asyncio.to_thread(
                parse_document,
                data,
                document.source or document.title,
                document.content_type or None,
                max_bytes=self.settings.max_upload_bytes,
            )
        except ParseError as exc:
            raise _rejected(exc.code, exc.message) from None
        parsed = time.perf_counter()
        chunks = chunk_elements(ref.document_id, elements)
        chunk_ms = round((time.perf_counter() - parsed) * 1000, 1)
        if not chunks:
            raise _rejected("empty_document", f"No text could be extracted from {document.source or 'the document'}.")
        async with self.db.session() as session:
            document = await self._current(session, ref, "embedding")
            if document is None:
                return Chunked(0, 0, superseded=True)
            keep = [uuid.UUID(c.chunk_id) for c in chunks]
            await session.execute(
                text(
                    "DELETE FROM knowledge_chunks WHERE document_id = :d AND company_id = :c AND NOT (id = ANY(:keep))"
                ),
                {"d": document.id, "c": document.company_id, "keep": keep},
            )
            existing = set(
                await session.exec(select(KnowledgeChunk.id).where(col(KnowledgeChunk.document_id) == document.id))
            )
            for chunk in chunks:
                if uuid.UUID(chunk.chunk_id) not in existing:
                    session.add(
                        KnowledgeChunk(
                            id=uuid.UUID(chunk.chunk_id),
                            company_id=document.company_id,
                            document_id=document.id,
                            idx=chunk.index,
                            text=chunk.text,
                            section=chunk.section,
                            page=chunk.page,
                            page_end=chunk.page_end,
                            token_count=chunk.token_count,
                            content_hash=chunk.content_hash,
                        )
                    )
            await session.flush()
            done = await self._embedded_count(session, document.id)
            document.chunks_total, document.chunks_done = len(chunks), done
            document.embedder = self.embedder.name
            document.stats = {
                **document.stats,
                "parse_ms": round((parsed - started) * 1000, 1),
                "chunk_ms": chunk_ms,
                "elements": len(elements),
            }
            session.add(document)
            await session.commit()
        return Chunked(len(chunks), done)

    async def _document_bytes(self, session, document: Document) -> bytes:  # type: ignore[no-untyped-def]
        if document.blob_key:
            try:
                return await self.blobs.get(document.blob_key)
            except FileNotFoundError:
                raise _rejected("blob_missing", "The uploaded file is gone; upload it again.") from None
        if not document.url:
            raise _rejected("blob_missing", "The document has no content; upload it again.")
        from helpdeck.web_fetch import FetchError, PageFetcher

        fetcher = PageFetcher(self.settings.allow_private_urls, self.settings.max_upload_bytes)
        try:
            page = await fetcher.fetch(document.url)
        except FetchError as exc:
            # A site that is down now may be up on the next attempt.
            retry = exc.code == "fetch_failed" and activity.info().attempt < 3
            raise ApplicationError(exc.message, type=exc.code, non_retryable=not retry) from None
        finally:
            await fetcher.aclose()
        digest = docs.content_hash(page.body)
        document.blob_key = docs.blob_key(document.company_id, document.id, digest)
        await self.blobs.put(document.blob_key, page.body)
        document.content_hash, document.size_bytes = digest, len(page.body)
        document.content_type = page.content_type.split(";")[0].strip()[:200]
        session.add(document)
        await session.commit()
        return page.body

    @staticmethod
    async def _embedded_count(session, document_id: uuid.UUID) -> int:  # type: ignore[no-untyped-def]
        result = await session.execute(
            text("SELECT count(*) FROM knowledge_chunks WHERE document_id = :d AND embedding IS NOT NULL"),
            {"d": document_id},
        )
        return int(result.scalar_one())

    @activity.defn
    async def embed_chunks(self, ref: DocumentRef) -> Embedded:
        """Embed the chunks that have no vector yet, batch by batch; each batch is committed,
        then heartbeated (details: chunks done), so a retry resumes after the last one."""
        from ingestion.embed import DEFAULT_BATCH_SIZE, embed_texts

        info = activity.info()
        checkpoint = int(info.heartbeat_details[0]) if info.heartbeat_details else 0
        async with self.db.session() as session:
            document = await self._current(session, ref, "embedding")
            if document is None:
                await session.commit()
                return Embedded(0, superseded=True)
            rows = list(
                await session.exec(
                    select(KnowledgeChunk.id, KnowledgeChunk.text)
                    .where(col(KnowledgeChunk.document_id) == document.id)
                    .where(
                        col(KnowledgeChunk.embedding).is_(None) | (col(KnowledgeChunk.embedder) != self.embedder.name)
                    )
                    .order_by(col(KnowledgeChunk.idx))
                )
            )
            already = document.chunks_total - len(rows)
            if info.attempt > 1:
                # The heartbeat checkpoint (throttled by the SDK, so it may lag) and what the
                # database says was committed: the retry embeds only what comes after.
                document.stats = {
                    **document.stats,
                    "resumed": {
                        "attempt": info.attempt,
                        "heartbeat_checkpoint": checkpoint,
                        "chunks_already_embedded": already,
                    },
                }
                session.add(document)
            await session.commit()
        done = already
        heartbeat = asyncio.create_task(self._heartbeat(lambda: done))
        workflow = self.temporal.get_workflow_handle(info.workflow_id)
        started = time.perf_counter()

        async def store(count: int, vectors: np.ndarray) -> None:
            nonlocal done
            batch = rows[count - len(vectors) : count]
            async with self.db.session() as session:
                for (chunk_id, _), vector in zip(batch, vectors, strict=True):
                    await session.execute(
                        text("UPDATE knowledge_chunks SET embedding = :e, embedder = :n WHERE id = :i"),
                        {"e": vector.astype("<f4").tobytes(), "n": self.embedder.name, "i": chunk_id},
                    )
                done = already + count
                await session.execute(
                    text("UPDATE documents SET chunks_done = :n, updated_at = now() WHERE id = :d AND version = :v"),
                    {"n": done, "d": uuid.UUID(ref.document_id), "v": ref.version},
                )
                await session.commit()
            activity.heartbeat(done)
            try:  # the progress query follows the database row; a missed signal only delays it
                await workflow.signal("chunks_embedded", done)
            except Exception:  # noqa: BLE001
                activity.logger.warning("could not signal progress to %s", info.workflow_id)

        try:
            await embed_texts(self.embedder, [t for _, t in rows], batch_size=DEFAULT_BATCH_SIZE, on_batch=store)
        except ApplicationError:
            raise
        except Exception as exc:
            raise ApplicationError(f"embedding failed: {exc}", type="embedding_failed") from exc
        finally:
            heartbeat.cancel()
        async with self.db.session() as session:
            await session.execute(
                text(
                    "UPDATE documents SET stats = stats || jsonb_build_object('embed_ms', CAST(:ms AS float)) "
                    "WHERE id = :d AND version = :v"
                ),
                {
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "d": uuid.UUID(ref.document_id),
                    "v": ref.version,
                },
            )
            await session.commit()
        return Embedded(done)

    @staticmethod
    async def _heartbeat(done) -> None:  # type: ignore[no-untyped-def]
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            activity.heartbeat(done())

    @activity.defn
    async def index_document(self, ref: DocumentRef) -> Indexed:
        """Swap the document's chunks in the search index at once, then mark it ready."""
        started = time.perf_counter()
        async with self.db.session() as session:
            if not await docs.lock_company_knowledge(session, uuid.UUID(ref.company_id), wait=False):
                raise ApplicationError("the knowledge base is being rebuilt; indexing waits", type="kb_locked")
            document = await self._current(session, ref, "indexing")
            if document is None:
                await session.commit()
                return Indexed(0, superseded=True)
            rows = list(
                await session.exec(
                    select(KnowledgeChunk)
                    .where(col(KnowledgeChunk.document_id) == document.id)
                    .order_by(col(KnowledgeChunk.idx))
                )
            )
            if any(r.embedding is None for r in rows):
                raise ApplicationError("some chunks have no vector yet", type="not_embedded")
            await self.index.replace_document(
                ref.company_id, ref.document_id, [indexed_chunk(document, r) for r in rows]
            )
            document.status, document.chunks_done, document.chunks_total = "ready", len(rows), len(rows)
            document.stats = {**document.stats, "index_ms": round((time.perf_counter() - started) * 1000, 1)}
            document.updated_at = utcnow()
            session.add(document)
            await docs.bump_kb_version(session, document.company_id)
            await session.commit()
        return Indexed(len(rows))

    @activity.defn
    async def fail_document(self, params: FailDocument) -> None:
        async with self.db.session() as session:
            await docs.mark_failed(
                session,
                uuid.UUID(params.company_id),
                uuid.UUID(params.document_id),
                params.version,
                params.code,
                params.message,
            )

    @activity.defn
    async def rebuild_company_index(self, company_id: str) -> int:
        """Rebuild the company's search index from PostgreSQL, holding its knowledge lock so
        no ingestion indexes in between (they retry until the rebuild is done)."""
        company = uuid.UUID(company_id)
        async with self.db.session() as session:
            await docs.lock_company_knowledge(session, company)
            query = (
                select(KnowledgeChunk, Document)
                .join(Document, col(Document.id) == col(KnowledgeChunk.document_id))
                .where(col(KnowledgeChunk.company_id) == company, col(Document.status) == "ready")
                .where(col(KnowledgeChunk.embedding).is_not(None))
                .order_by(col(KnowledgeChunk.document_id), col(KnowledgeChunk.idx))
            )

            async def chunks():  # type: ignore[no-untyped-def]
                result = await session.stream(query.execution_options(yield_per=1000))
                async for chunk, document in result:
                    activity.heartbeat()
                    yield indexed_chunk(document, chunk)

            total = await self.index.rebuild(company_id, chunks())
            await docs.bump_kb_version(session, company)
            await session.commit()
        return total

    @activity.defn
    async def discover_pages(self, ref: SourceRef) -> DiscoveredPages:
        """Crawl the source's pages into documents (bytes in the blob store); returns the ones to ingest."""
        from helpdeck.crawl import crawl_pages, page_links
        from helpdeck.web_fetch import FetchError, PageFetcher

        async with self.db.session() as session:
            source = await session.get(KnowledgeSource, uuid.UUID(ref.source_id))
        if source is None or str(source.company_id) != ref.company_id:
            return DiscoveredPages()
        found = DiscoveredPages()
        fetcher = PageFetcher(self.settings.allow_private_urls, self.settings.max_upload_bytes)
        try:
            pages = crawl_pages(fetcher, source.url, sitemap=source.kind == "sitemap", max_pages=source.max_pages)
            async for page in pages:
                activity.heartbeat(len(found.documents))
                if isinstance(page, FetchError):
                    found.failed += 1
                    continue
                title, _ = page_links(page)
                async with self.db.session() as session:
                    registered = await docs.register_document(
                        session,
                        self.blobs,
                        source.company_id,
                        page.body,
                        source=page.url,
                        title=title or page.url,
                        content_type=page.content_type.split(";")[0].strip(),
                        url=page.url,
                        source_id=source.id,
                    )
                document = registered.document
                if registered.ingest:
                    found.documents.append(DocumentRef(ref.company_id, str(document.id), document.version))
                else:
                    found.unchanged += 1
        except FetchError as exc:
            raise _rejected(exc.code, exc.message) from None
        finally:
            await fetcher.aclose()
        return found

    @activity.defn
    async def record_crawl(self, tally: CrawlTally) -> None:
        async with self.db.session() as session:
            source = await session.get(KnowledgeSource, uuid.UUID(tally.source_id), with_for_update=True)
            if source is None or str(source.company_id) != tally.company_id:
                return
            source.pages_found, source.pages_done, source.pages_failed = tally.found, tally.done, tally.failed
            source.status = (
                "failed" if tally.error else ("done" if tally.done + tally.failed >= tally.found else "crawling")
            )
            source.error_message = tally.error
            source.updated_at = utcnow()
            session.add(source)
            await session.commit()

    def all(self) -> list:
        return [
            self.parse_and_chunk,
            self.embed_chunks,
            self.index_document,
            self.fail_document,
            self.rebuild_company_index,
            self.discover_pages,
            self.record_crawl,
        ]


def indexed_chunk(document: Document, row: KnowledgeChunk) -> IndexedChunk:
    assert row.embedding is not None
    return IndexedChunk(
        chunk_id=str(row.id),
        document_id=str(row.document_id),
        text=row.text,
        embedding=np.frombuffer(row.embedding, dtype="<f4"),
        source=document.source or document.title,
        page=row.page,
        section=row.section,
        extra={"title": document.title},
    )
