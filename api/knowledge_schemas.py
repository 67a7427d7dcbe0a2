"""Request and response bodies of the knowledge routes: documents, sources, search."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas import Strict


class FaqItem(Strict):
    question: str = Field(min_length=1, max_length=2000)
    answer: str = Field(min_length=1, max_length=20000)


class DocumentCreate(Strict):
    """Exactly one of `text`, `url` or `faq` (a file goes up as multipart `file` instead)."""

    text: str | None = Field(None, min_length=1)
    title: str = Field("", max_length=500)
    url: str | None = Field(None, max_length=2000)
    faq: list[FaqItem] | None = Field(None, min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _one_kind(self) -> DocumentCreate:
        given = [name for name in ("text", "url", "faq") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError('send exactly one of "text", "url" or "faq" (or a multipart "file")')
        return self


class DocumentAccepted(BaseModel):
    id: uuid.UUID
    status: str
    # True when identical content was already in the knowledge base: nothing new to ingest.
    duplicate: bool = False


class Progress(BaseModel):
    chunks_done: int
    chunks_total: int


class DocumentError(BaseModel):
    code: str
    message: str


class DocumentOut(BaseModel):
    id: uuid.UUID
    title: str
    source: str
    url: str | None
    content_type: str
    size_bytes: int
    status: Literal["queued", "parsing", "embedding", "indexing", "ready", "failed"]
    progress: Progress
    error: DocumentError | None = None
    version: int
    source_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class DocumentPage(BaseModel):
    company_id: uuid.UUID  # the caller's company (lets a client check it holds the key it meant)
    items: list[DocumentOut]
    next_cursor: str | None


class SourceCreate(Strict):
    url: str | None = Field(None, max_length=2000)
    sitemap: str | None = Field(None, max_length=2000)
    max_pages: int | None = Field(None, ge=1, le=5000)

    @model_validator(mode="after")
    def _one_kind(self) -> SourceCreate:
        if (self.url is None) == (self.sitemap is None):
            raise ValueError('send exactly one of "url" or "sitemap"')
        return self


class SourceOut(BaseModel):
    id: uuid.UUID
    kind: str
    url: str
    max_pages: int
    status: str
    pages_found: int
    pages_done: int
    pages_failed: int
    error: str | None
    created_at: datetime


class SearchRequest(Strict):
    query: str = Field(min_length=1, max_length=2000)
    top_k: int = Field(5, ge=1, le=50)
    filters: dict[str, str | list[str]] | None = None


class SearchResult(BaseModel):
    chunk_id: str
    document_id: str
    text: str
    score: float
    source: str
    page: int | None = None
    section: str | None = None


class SearchResponse(BaseModel):
    results: list[SearchResult]


class ReindexAccepted(BaseModel):
    workflow_id: str
