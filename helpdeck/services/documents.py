"""Documents as the API and the ingestion activities see them: always scoped to one company.

Identity: identical bytes already in the company's knowledge are a no-op (content hash); new
bytes under a known source (file name or URL) replace that document, keeping its id and
bumping its `version`; anything else is a new document.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.errors import NotFound
from helpdeck.services.conversations import decode_cursor, encode_cursor
from helpdeck.stores.blobs import BlobStore
from helpdeck.tables import Document, KnowledgeChunk
from helpdeck.tables._columns import utcnow


@dataclass(frozen=True)
class Registered:
    document: Document
    # False when identical content was already there (nothing to ingest).
    ingest: bool


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_key(company_id: uuid.UUID, document_id: uuid.UUID, digest: str) -> str:
    return f"documents/{company_id}/{document_id}/{digest}"


async def lock_company_knowledge(session: AsyncSession, company_id: uuid.UUID, wait: bool = True) -> bool:
    """Take the company's knowledge lock for this transaction (index writes, deletes, rebuilds)."""
    fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    result = await session.execute(text(f"SELECT {fn}(hashtextextended(:k, 0))"), {"k": f"kb:{company_id}"})
    return wait or bool(result.scalar())


async def bump_kb_version(session: AsyncSession, company_id: uuid.UUID) -> int:
    """The company's knowledge changed: every cached retrieval of the old version is now stale."""
    result = await session.execute(
        text(
            "INSERT INTO knowledge_bases (company_id, version, updated_at) VALUES (:c, 1, now()) "
            "ON CONFLICT (company_id) DO UPDATE SET version = knowledge_bases.version + 1, updated_at = now() "
            "RETURNING version"
        ),
        {"c": company_id},
    )
    return int(result.scalar_one())


async def kb_version(session: AsyncSession, company_id: uuid.UUID) -> int:
    result = await session.execute(text("SELECT version FROM knowledge_bases WHERE company_id = :c"), {"c": company_id})
    return int(result.scalar() or 0)


async def register_document(
    session: AsyncSession,
    blobs: BlobStore,
    company_id: uuid.UUID,
    data: bytes | None,
    *,
    source: str,
    title: str,
    content_type: str,
    url: str | None = None,
    source_id: uuid.UUID | None = None,
) -> Registered:
    """Record a document (and its bytes) to ingest; commits. `data` None: a URL fetched later."""
    digest = content_hash(data) if data is not None else ""
    # Two identical uploads at once must not make two documents.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"doc:{company_id}:{digest or source}"}
    )
    if digest:
        same = await session.exec(
            select(Document).where(
                Document.company_id == company_id, Document.content_hash == digest, Document.status != "failed"
            )
        )
        existing = same.first()
        if existing is not None:
            await session.commit()
            return Registered(existing, ingest=False)
    document = None
    if source:
        found = await session.exec(
            select(Document)
            .where(Document.company_id == company_id, Document.source == source)
            .order_by(col(Document.created_at).desc())
        )
        document = found.first()
    if document is None:
        document = Document(company_id=company_id, source=source, version=1)
    else:
        document.version += 1
    document.title = (title or source)[:500]
    document.url = url
    document.source_id = source_id or document.source_id
    document.content_type = content_type[:200]
    document.content_hash = digest
    document.size_bytes = len(data) if data is not None else 0
    document.status, document.error_code, document.error_message = "queued", None, None
    document.chunks_done = document.chunks_total = 0
    document.stats = {}
    document.updated_at = utcnow()
    document.blob_key = None
    if data is not None:
        document.blob_key = blob_key(company_id, document.id, digest)
        await blobs.put(document.blob_key, data)
    session.add(document)
    await session.commit()
    return Registered(document, ingest=True)


async def get_document(session: AsyncSession, company_id: uuid.UUID, document_id: uuid.UUID) -> Document:
    document = await session.get(Document, document_id)
    if document is None or document.company_id != company_id:
        raise NotFound("no such document")
    return document


async def list_documents(
    session: AsyncSession,
    company_id: uuid.UUID,
    *,
    status: str | None = None,
    source_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Document], str | None]:
    """Newest first, keyset-paginated on (created_at, id)."""
    query = select(Document).where(Document.company_id == company_id)
    if status is not None:
        query = query.where(Document.status == status)
    if source_id is not None:
        query = query.where(Document.source_id == source_id)
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(
            (col(Document.created_at) < created_at)
            | ((col(Document.created_at) == created_at) & (col(Document.id) < row_id))
        )
    query = query.order_by(col(Document.created_at).desc(), col(Document.id).desc())
    rows = list(await session.exec(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    return rows, next_cursor


async def mark_failed(
    session: AsyncSession, company_id: uuid.UUID, document_id: uuid.UUID, version: int, code: str, message: str
) -> None:
    document = await session.get(Document, document_id, with_for_update=True)
    if document is not None and document.company_id == company_id and document.version == version:
        document.status, document.error_code, document.error_message = "failed", code, message[:2000]
        document.updated_at = utcnow()
        session.add(document)
    await session.commit()


async def delete_document_rows(session: AsyncSession, company_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """Delete the document and its chunks, and bump the version (the caller holds the lock)."""
    await session.exec(  # type: ignore[call-overload]
        delete(KnowledgeChunk).where(
            col(KnowledgeChunk.company_id) == company_id, col(KnowledgeChunk.document_id) == document_id
        )
    )
    await session.exec(  # type: ignore[call-overload]
        delete(Document).where(col(Document.company_id) == company_id, col(Document.id) == document_id)
    )
    await bump_kb_version(session, company_id)
