"""Starting knowledge workflows from the API: one ingestion per document version, one crawl per
source, one rebuild per company at a time."""

from __future__ import annotations

import contextlib
import uuid

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from helpdeck.services import documents as docs
from helpdeck.tables import Document
from workflows.ingestion import (
    CrawlInput,
    CrawlSourceWorkflow,
    IngestDocumentWorkflow,
    IngestInput,
    ReindexInput,
    ReindexWorkflow,
    knowledge_search_attributes,
)


def ingest_workflow_id(document_id: uuid.UUID | str, version: int) -> str:
    return f"ingest-{document_id}-v{version}"


async def start_ingestion(client: Client, task_queue: str, document: Document, db=None) -> None:  # type: ignore[no-untyped-def]
    """Start the document's ingestion; if Temporal refuses, the document fails instead of waiting forever."""
    try:
        await client.start_workflow(
            IngestDocumentWorkflow.run,
            IngestInput(str(document.company_id), str(document.id), document.version),
            id=ingest_workflow_id(document.id, document.version),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=knowledge_search_attributes(str(document.company_id), "ingestion"),
            static_summary=f"ingest {document.source or document.title}"[:200],
        )
    except RPCError:
        if db is not None:
            async with db.session() as session:
                await docs.mark_failed(
                    session,
                    document.company_id,
                    document.id,
                    document.version,
                    "ingestion_unavailable",
                    "The ingestion service is unavailable; upload the document again in a minute.",
                )
        raise


async def stop_ingestion(client: Client, document: Document) -> None:
    """Stop a running ingestion of the document, if any (before it is deleted)."""
    with contextlib.suppress(RPCError):
        await client.get_workflow_handle(ingest_workflow_id(document.id, document.version)).terminate("deleted")


async def start_crawl(client: Client, task_queue: str, company_id: uuid.UUID, source_id: uuid.UUID, window: int) -> str:
    workflow_id = f"crawl-{source_id}"
    await client.start_workflow(
        CrawlSourceWorkflow.run,
        CrawlInput(str(company_id), str(source_id), window),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=knowledge_search_attributes(str(company_id), "crawl"),
    )
    return workflow_id


async def start_reindex(client: Client, task_queue: str, company_id: uuid.UUID) -> str:
    """One rebuild per company at a time: a second request joins the running one."""
    workflow_id = f"reindex-{company_id}"
    await client.start_workflow(
        ReindexWorkflow.run,
        ReindexInput(str(company_id)),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=knowledge_search_attributes(str(company_id), "reindex"),
    )
    return workflow_id
