"""Documents of the company's knowledge base: upload (file, text, FAQ or URL), list, inspect, delete.

An upload is checked at once (size, type, emptiness: a 4xx and nothing written), stored, and
handed to a durable IngestDocumentWorkflow; `GET /v1/documents/{id}` shows its progress.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.deps import RuntimeDep, ServerCallerDep, SessionDep
from api.knowledge_schemas import DocumentAccepted, DocumentCreate, DocumentError, DocumentOut, DocumentPage, Progress
from helpdeck.errors import HelpdeckError, InvalidInput
from helpdeck.runtime import Runtime
from helpdeck.services import documents as service
from helpdeck.services.ingestion_runner import start_ingestion, stop_ingestion
from helpdeck.tables import Document
from helpdeck.web_fetch import check_public_url

router = APIRouter(prefix="/v1/documents", tags=["knowledge"])

UPLOAD_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}, "title": {"type": "string"}},
                    "required": ["file"],
                }
            },
            "application/json": {
                "schema": DocumentCreate.model_json_schema(ref_template="#/components/schemas/{model}")
            },
        },
        "required": True,
    }
}


class DocumentRejected(HelpdeckError):
    """A document we refuse before storing anything (the parser's stable codes)."""

    title = "Document rejected"

    def __init__(self, detail: str, code: str, status_code: int) -> None:
        super().__init__(detail, code=code)
        self.status = status_code


def document_out(row: Document) -> DocumentOut:
    error = DocumentError(code=row.error_code, message=row.error_message or "") if row.error_code else None
    return DocumentOut(
        id=row.id,
        title=row.title,
        source=row.source,
        url=row.url,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        status=row.status,  # type: ignore[arg-type]
        progress=Progress(chunks_done=row.chunks_done, chunks_total=row.chunks_total),
        error=error,
        version=row.version,
        source_id=row.source_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def check_upload(data: bytes, filename: str, content_type: str | None, limit: int) -> None:
    """Refuse at once what ingestion would surely refuse: too large, empty, unknown type."""
    from ingestion.parse import UnsupportedTypeError, detect_kind

    if len(data) > limit:
        raise DocumentRejected(f"{filename or 'the file'} is {len(data)} bytes; the limit is {limit}", "too_large", 413)
    if not data.strip():
        raise DocumentRejected(f"{filename or 'the file'} is empty", "empty_document", 422)
    try:
        detect_kind(filename, content_type, data)
    except UnsupportedTypeError as exc:
        raise DocumentRejected(exc.message, exc.code, 415) from None


async def _json_body(request: Request) -> DocumentCreate:
    raw = await request.body()
    try:
        return DocumentCreate.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        errors = exc.errors()
        if any(e["type"] == "json_invalid" for e in errors):
            raise HelpdeckError("the body is not valid JSON", code="invalid_json") from None
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


async def _upload(request: Request, runtime: Runtime) -> tuple[bytes | None, dict]:
    """The document's bytes and how to register them, from a multipart or a JSON body."""
    limit = runtime.settings.max_upload_bytes
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput('send the document as a multipart field named "file"', field="file")
        data = await upload.read()
        filename = upload.filename or "upload"
        check_upload(data, filename, upload.content_type, limit)
        title = form.get("title")
        return data, {
            "source": filename,
            "title": title if isinstance(title, str) and title else filename,
            "content_type": upload.content_type or "",
        }
    if content_type not in ("application/json", ""):
        raise DocumentRejected("send multipart/form-data with a file, or JSON", "unsupported_media_type", 415)
    body = await _json_body(request)
    if body.url is not None:
        url = await check_public_url(body.url, runtime.settings.allow_private_urls)
        return None, {"source": url, "title": body.title or url, "content_type": "", "url": url}
    if body.faq is not None:
        data = json.dumps({"faq": [item.model_dump() for item in body.faq]}, ensure_ascii=False).encode()
        # Untitled texts and FAQs are separate documents; a title names one, so re-posting replaces it.
        check_upload(data, body.title, "application/json", limit)
        return data, {"source": body.title, "title": body.title or "FAQ", "content_type": "application/json"}
    data = (body.text or "").encode()
    check_upload(data, body.title, "text/plain", limit)
    return data, {"source": body.title, "title": body.title or "Text", "content_type": "text/plain"}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentAccepted,
    openapi_extra=UPLOAD_BODY,
    responses={200: {"model": DocumentAccepted, "description": "Identical content is already there"}},
)
async def create_document(request: Request, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep):  # type: ignore[no-untyped-def]
    """Add a file (multipart `file`), text, an FAQ or a web page; ingestion runs in the background."""
    data, fields = await _upload(request, runtime)
    registered = await service.register_document(session, runtime.blobs, caller.company_id, data, **fields)
    document = registered.document
    if not registered.ingest:
        accepted = DocumentAccepted(id=document.id, status=document.status, duplicate=True)
        return JSONResponse(accepted.model_dump(mode="json"), status_code=200)
    await start_ingestion(runtime.temporal, runtime.settings.task_queue, document, runtime.db)
    return DocumentAccepted(id=document.id, status="queued")


@router.get("", response_model=DocumentPage)
async def list_documents(
    caller: ServerCallerDep,
    session: SessionDep,
    status: str | None = None,
    source_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> DocumentPage:
    rows, next_cursor = await service.list_documents(
        session, caller.company_id, status=status, source_id=source_id, limit=limit, cursor=cursor
    )
    return DocumentPage(company_id=caller.company_id, items=[document_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/{document_id}", response_model=DocumentOut)
async def get_document(document_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep) -> DocumentOut:
    return document_out(await service.get_document(session, caller.company_id, document_id))


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(
    document_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Remove the document and its chunks from the index, PostgreSQL and the blob store."""
    document = await service.get_document(session, caller.company_id, document_id)
    await session.commit()
    await stop_ingestion(runtime.temporal, document)
    await service.lock_company_knowledge(session, caller.company_id)
    await runtime.search_index.delete_document(str(caller.company_id), str(document_id))
    await service.delete_document_rows(session, caller.company_id, document_id)
    await session.commit()
    await runtime.blobs.delete_prefix(f"documents/{caller.company_id}/{document_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
