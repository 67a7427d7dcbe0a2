"""Web sources: crawl a site (start URL or sitemap) into documents, one child ingestion per page."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from api.deps import RuntimeDep, ServerCallerDep, SessionDep
from api.knowledge_schemas import SourceCreate, SourceOut
from helpdeck.errors import NotFound
from helpdeck.services.ingestion_runner import start_crawl
from helpdeck.tables import KnowledgeSource
from helpdeck.web_fetch import check_public_url

router = APIRouter(prefix="/v1/sources", tags=["knowledge"])


def source_out(row: KnowledgeSource) -> SourceOut:
    return SourceOut(
        id=row.id,
        kind=row.kind,
        url=row.url,
        max_pages=row.max_pages,
        status=row.status,
        pages_found=row.pages_found,
        pages_done=row.pages_done,
        pages_failed=row.pages_failed,
        error=row.error_message,
        created_at=row.created_at,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=SourceOut)
async def create_source(
    body: SourceCreate, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep
) -> SourceOut:
    """Crawl a site: same origin only, robots.txt respected, at most `max_pages` pages."""
    settings = runtime.settings
    kind, raw = ("sitemap", body.sitemap) if body.sitemap is not None else ("url", body.url)
    url = await check_public_url(raw or "", settings.allow_private_urls, field=kind)
    max_pages = min(body.max_pages or settings.crawl_max_pages, settings.crawl_max_pages)
    source = KnowledgeSource(company_id=caller.company_id, kind=kind, url=url, max_pages=max_pages)
    session.add(source)
    await session.commit()
    try:
        await start_crawl(runtime.temporal, settings.task_queue, caller.company_id, source.id, settings.crawl_window)
    except Exception:
        # No workflow will ever update this row: never leave it `crawling`.
        source.status = "failed"
        source.error_message = (
            "The crawl could not be started (the workflow service did not answer); add the source again."
        )
        session.add(source)
        await session.commit()
        raise
    return source_out(source)


@router.get("/{source_id}", response_model=SourceOut)
async def get_source(source_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep) -> SourceOut:
    source = await session.get(KnowledgeSource, source_id)
    if source is None or source.company_id != caller.company_id:
        raise NotFound("no such source")
    return source_out(source)
