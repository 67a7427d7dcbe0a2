"""Knowledge tables: documents, their chunks (PostgreSQL is the source of truth for every search
index), crawl sources, and a per-company knowledge-base version that caches key on.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from helpdeck.tables._columns import json_column, new_id, timestamp_column, utcnow

# queued → parsing → embedding → indexing → ready, or failed (with error_code and error_message).
DOCUMENT_STATUSES = ("queued", "parsing", "embedding", "indexing", "ready", "failed")


class KnowledgeBase(SQLModel, table=True):
    """One row per company: `version` grows on every change, so cached retrievals go stale."""

    __tablename__ = "knowledge_bases"

    company_id: uuid.UUID = Field(primary_key=True, foreign_key="companies.id", ondelete="CASCADE")
    version: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class KnowledgeSource(SQLModel, table=True):
    """A web site (start URL or sitemap) crawled into documents by CrawlSourceWorkflow."""

    __tablename__ = "knowledge_sources"
    __table_args__ = (Index("ix_knowledge_sources_company_created", "company_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)  # url | sitemap
    url: str = Field(sa_column=Column(Text, nullable=False))
    max_pages: int = 50
    status: str = Field(default="crawling", max_length=16)  # crawling | done | failed
    pages_found: int = 0
    pages_done: int = 0
    pages_failed: int = 0
    error_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class Document(SQLModel, table=True):
    """An uploaded file, text, FAQ or web page, and where its ingestion stands."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_company_created", "company_id", "created_at"),
        Index("ix_documents_company_hash", "company_id", "content_hash"),
        Index("ix_documents_company_source", "company_id", "source"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    source_id: uuid.UUID | None = Field(default=None, foreign_key="knowledge_sources.id", ondelete="SET NULL")
    title: str = Field(default="", max_length=500)
    # What a citation shows: the file name or the page URL.
    source: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    content_type: str = Field(default="", max_length=200)
    content_hash: str = Field(default="", max_length=64)
    size_bytes: int = 0
    blob_key: str | None = Field(default=None, max_length=300)
    status: str = Field(default="queued", max_length=16)
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    chunks_done: int = 0
    chunks_total: int = 0
    # Grows on every new content; an ingestion carries the version it was started for and
    # stops quietly when a newer one has superseded it.
    version: int = 1
    embedder: str = Field(default="", max_length=200)
    # Step timings and resume facts of the last ingestion: parse_ms, embed_ms, index_ms, resumed_from.
    stats: dict = Field(default_factory=dict, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class KnowledgeChunk(SQLModel, table=True):
    """A chunk of a document with its embedding (float32 little-endian), so an index can be
    rebuilt without embedding anything again."""

    __tablename__ = "knowledge_chunks"
    __table_args__ = (
        UniqueConstraint("document_id", "idx", name="uq_knowledge_chunks_document_idx"),
        Index("ix_knowledge_chunks_company", "company_id"),
    )

    id: uuid.UUID = Field(primary_key=True)  # deterministic: uuid5(document, index, content hash)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    document_id: uuid.UUID = Field(foreign_key="documents.id", ondelete="CASCADE")
    idx: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    section: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    page: int | None = None
    page_end: int | None = None
    token_count: int = 0
    content_hash: str = Field(max_length=64)
    embedding: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    embedder: str = Field(default="", max_length=200)
