"""Searching the caller's knowledge (the same retrieval the turn uses), and rebuilding its index."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import RuntimeDep, ServerCallerDep
from api.knowledge_schemas import ReindexAccepted, SearchRequest, SearchResponse, SearchResult
from helpdeck.errors import InvalidInput
from helpdeck.services.ingestion_runner import start_reindex
from helpdeck.stores.search.protocol import check_filters

router = APIRouter(tags=["knowledge"])


@router.post("/v1/search", response_model=SearchResponse)
async def search(body: SearchRequest, caller: ServerCallerDep, runtime: RuntimeDep) -> SearchResponse:
    """Hybrid (BM25 + vector) search over the caller's company's chunks only, best first."""
    try:
        check_filters(body.filters)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_filter", field="filters") from None
    hits = await runtime.knowledge.search(str(caller.company_id), body.query, body.top_k, body.filters)  # type: ignore[attr-defined]
    return SearchResponse(
        results=[
            SearchResult(
                chunk_id=h.chunk_id,
                document_id=h.document_id,
                text=h.text,
                score=round(float(h.score), 6),
                source=h.source,
                page=h.page,
                section=h.section,
            )
            for h in hits
        ]
    )


@router.post("/v1/knowledge/reindex", status_code=status.HTTP_202_ACCEPTED, response_model=ReindexAccepted)
async def reindex(caller: ServerCallerDep, runtime: RuntimeDep) -> ReindexAccepted:
    """Rebuild the company's search index from PostgreSQL (ReindexWorkflow); ingestion waits meanwhile."""
    workflow_id = await start_reindex(runtime.temporal, runtime.settings.task_queue, caller.company_id)
    return ReindexAccepted(workflow_id=workflow_id)
