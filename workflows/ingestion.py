"""Knowledge workflows: ingest one document, crawl a site into documents, rebuild an index.

IngestDocumentWorkflow: parse and chunk → embed in batches (heartbeats; a retry resumes after
the last committed batch) → index (an atomic swap of the document's chunks) → ready. Any step
that gives up ends the document in `failed` with a reason the user can act on. Only ids and
counts cross this history: text and vectors live in PostgreSQL and the blob store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.ingestion import (
        USER_ERROR_CODES,
        CrawlTally,
        DocumentRef,
        FailDocument,
        IngestionActivities,
        SourceRef,
    )
    from workflows.chat_turn import COMPANY_ATTR, KIND_ATTR

DB_STEP = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
)


def knowledge_search_attributes(company_id: str, kind: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(COMPANY_ATTR, company_id), SearchAttributePair(KIND_ATTR, kind)])


@dataclass
class IngestInput:
    company_id: str
    document_id: str
    version: int


@dataclass
class IngestResult:
    status: str  # ready | failed | superseded
    chunks_total: int = 0
    error_code: str | None = None


def _failure_reason(error: BaseException) -> tuple[str, str]:
    """The stable code and message a user sees for a step that gave up."""
    cause = error.cause if isinstance(error, ActivityError) and error.cause is not None else error
    if isinstance(cause, ApplicationError) and cause.type in USER_ERROR_CODES:
        return cause.type, cause.message
    if isinstance(cause, ApplicationError) and cause.type == "embedding_failed":
        return "embedding_failed", "The embedding model failed repeatedly; upload the document again later."
    return "ingestion_error", "Ingestion failed after several attempts; upload the document again, or contact support."


@workflow.defn
class IngestDocumentWorkflow:
    def __init__(self) -> None:
        self._progress: dict = {"status": "queued", "chunks_done": 0, "chunks_total": 0}

    @workflow.query
    def progress(self) -> dict:
        return self._progress

    @workflow.signal
    def chunks_embedded(self, done: int) -> None:
        self._progress["chunks_done"] = max(self._progress["chunks_done"], done)

    @workflow.run
    async def run(self, params: IngestInput) -> IngestResult:
        ref = DocumentRef(params.company_id, params.document_id, params.version)
        try:
            self._progress["status"] = "parsing"
            chunked = await workflow.execute_activity_method(
                IngestionActivities.parse_and_chunk,
                ref,
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1)),
            )
            if chunked.superseded:
                return IngestResult("superseded")
            self._progress.update(
                status="embedding", chunks_total=chunked.chunks_total, chunks_done=chunked.chunks_done
            )
            embedded = await workflow.execute_activity_method(
                IngestionActivities.embed_chunks,
                ref,
                start_to_close_timeout=timedelta(hours=2),
                heartbeat_timeout=timedelta(seconds=20),
                retry_policy=RetryPolicy(
                    maximum_attempts=5, initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
                ),
            )
            if embedded.superseded:
                return IngestResult("superseded")
            self._progress.update(status="indexing", chunks_done=embedded.chunks_done)
            indexed = await workflow.execute_activity_method(
                IngestionActivities.index_document,
                ref,
                start_to_close_timeout=timedelta(minutes=10),
                # While the company's index is being rebuilt, indexing waits (kb_locked) and retries.
                retry_policy=RetryPolicy(
                    maximum_attempts=40, initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
                ),
            )
            if indexed.superseded:
                return IngestResult("superseded")
        except ActivityError as err:
            code, message = _failure_reason(err)
            self._progress.update(status="failed", error={"code": code, "message": message})
            await workflow.execute_activity_method(
                IngestionActivities.fail_document,
                FailDocument(params.company_id, params.document_id, params.version, code, message),
                **DB_STEP,
            )
            return IngestResult("failed", self._progress["chunks_total"], code)
        self._progress.update(status="ready", chunks_done=indexed.chunks_total, chunks_total=indexed.chunks_total)
        return IngestResult("ready", indexed.chunks_total)


@dataclass
class CrawlInput:
    company_id: str
    source_id: str
    window: int = 4


@dataclass
class CrawlResult:
    found: int = 0
    done: int = 0
    failed: int = 0
    unchanged: int = 0
    error: str | None = None
    failed_documents: list[str] = field(default_factory=list)


@workflow.defn
class CrawlSourceWorkflow:
    """Fetch a site's pages into documents, then ingest them as child workflows, `window` at a time."""

    def __init__(self) -> None:
        self._result = CrawlResult()

    @workflow.query
    def progress(self) -> CrawlResult:
        return self._result

    @workflow.run
    async def run(self, params: CrawlInput) -> CrawlResult:
        result = self._result
        try:
            found = await workflow.execute_activity_method(
                IngestionActivities.discover_pages,
                SourceRef(params.company_id, params.source_id),
                start_to_close_timeout=timedelta(hours=1),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=2)),
            )
        except ActivityError as err:
            result.error = _failure_reason(err)[1]
            await self._record(params)
            return result
        result.found = len(found.documents) + found.unchanged + found.failed
        result.unchanged, result.failed = found.unchanged, found.failed
        result.done = found.unchanged
        pending = list(reversed(found.documents))
        running: set = set()
        while pending or running:
            while pending and len(running) < max(1, params.window):
                ref = pending.pop()
                running.add(asyncio.ensure_future(self._ingest(ref)))
            finished, running = await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                document_id, ok = task.result()
                if ok:
                    result.done += 1
                else:
                    result.failed += 1
                    result.failed_documents.append(document_id)
        await self._record(params)
        return result

    async def _ingest(self, ref: DocumentRef) -> tuple[str, bool]:
        try:
            outcome = await workflow.execute_child_workflow(
                IngestDocumentWorkflow.run,
                IngestInput(ref.company_id, ref.document_id, ref.version),
                id=f"ingest-{ref.document_id}-v{ref.version}",
                search_attributes=knowledge_search_attributes(ref.company_id, "ingestion"),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )
        except ChildWorkflowError:
            return ref.document_id, False
        return ref.document_id, outcome.status != "failed"

    async def _record(self, params: CrawlInput) -> None:
        r = self._result
        await workflow.execute_activity_method(
            IngestionActivities.record_crawl,
            CrawlTally(params.company_id, params.source_id, r.found, r.done, r.failed, r.error),
            **DB_STEP,
        )


@dataclass
class ReindexInput:
    company_id: str


@workflow.defn
class ReindexWorkflow:
    """Rebuild a company's search index from PostgreSQL (no re-embedding); ingestion's index
    step waits for it (the company's knowledge lock)."""

    @workflow.run
    async def run(self, params: ReindexInput) -> int:
        return await workflow.execute_activity_method(
            IngestionActivities.rebuild_company_index,
            params.company_id,
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=2)),
        )
