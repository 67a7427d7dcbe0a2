"""The web widget: its script, its public configuration, and opening a visitor's conversation.

`<script src="{api}/widget.js" data-key="hd_pk_…">` on a page of an allowed origin gives a chat
bubble. The script asks `GET /v1/widget/config` for the company's colour and greeting, opens a
conversation with `POST /v1/widget/conversations` (which returns the visitor token it must send
as `X-Visitor-Token` from then on) and keeps both in localStorage so a reload resumes it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import CallerDep, SessionDep
from api.routes.conversations import conversation_out
from api.schemas import ConversationOut
from api.widget_guard import admit_visitor, visitor_secret
from helpdeck.errors import Forbidden, InvalidInput
from helpdeck.logs import company_id_var
from helpdeck.services import conversations as service
from helpdeck.services.tenancy import authenticate
from helpdeck.services.visitors import issue_token

router = APIRouter(tags=["widget"])
SCRIPT = Path(__file__).resolve().parent.parent / "static" / "widget.js"
DEFAULT_COLOR = "#2563eb"
LANGUAGES = ("en", "de", "fr", "it", "zh")


class WidgetConfig(BaseModel):
    company_name: str
    theme_color: str
    greeting: dict[str, str] = Field(description="The greeting by language (en, de, fr, it, zh); may be partial")
    position: str = "right"


class WidgetConversationCreate(BaseModel):
    metadata: dict[str, Any] = Field(default_factory=dict)


class WidgetConversation(BaseModel):
    conversation: ConversationOut
    visitor_token: str


@router.get("/widget.js", include_in_schema=False)
async def widget_script() -> Response:
    body = SCRIPT.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    headers = {"Cache-Control": "public, max-age=300", "ETag": etag, "Access-Control-Allow-Origin": "*"}
    return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)


def _greeting(value: object) -> dict[str, str]:
    if isinstance(value, str) and value.strip():
        return {"en": value[:500]}
    if isinstance(value, dict):
        return {k: str(v)[:500] for k, v in value.items() if k in LANGUAGES and isinstance(v, str) and v.strip()}
    return {}


def _color(value: object) -> str:
    if isinstance(value, str) and len(value) in (4, 7) and value.startswith("#"):
        if all(c in "0123456789abcdefABCDEF" for c in value[1:]):
            return value
    return DEFAULT_COLOR


@router.get("/v1/widget/config", response_model=WidgetConfig)
async def widget_config(
    request: Request, session: SessionDep, key: Annotated[str, Query(min_length=6, max_length=200)]
) -> WidgetConfig:
    """Public: the colour and greeting for a publishable key, from the company's `settings.widget`."""
    if not key.startswith("hd_pk_"):
        raise Forbidden("the widget needs a publishable key (hd_pk_…)", code="publishable_key_required")
    caller = await authenticate(session, key, request.headers.get("origin"))
    company_id_var.set(str(caller.company_id))
    await admit_visitor(request, caller.company)
    settings = caller.company.settings.get("widget") if isinstance(caller.company.settings, dict) else None
    settings = settings if isinstance(settings, dict) else {}
    return WidgetConfig(
        company_name=caller.company.name,
        theme_color=_color(settings.get("theme_color")),
        greeting=_greeting(settings.get("greeting")),
        position="left" if settings.get("position") == "left" else "right",
    )


@router.post("/v1/widget/conversations", response_model=WidgetConversation, status_code=201)
async def open_widget_conversation(
    request: Request, caller: CallerDep, session: SessionDep, body: WidgetConversationCreate | None = None
) -> WidgetConversation:
    """A new conversation for one visitor, with the token that alone reads and writes it."""
    if caller.key_kind != "publishable":
        raise Forbidden("this route is for the widget's publishable key (hd_pk_…)", code="publishable_key_required")
    meta = dict((body or WidgetConversationCreate()).metadata)
    meta["origin"] = request.headers.get("origin", "")
    if len(json.dumps(meta, default=str)) > 4000:
        raise InvalidInput("metadata is larger than 4000 bytes", code="metadata_too_large")
    visitor = f"visitor-{secrets.token_hex(8)}"
    row = await service.create_conversation(session, caller.company_id, visitor, "widget", meta)
    token = issue_token(visitor_secret(request), row.id)
    return WidgetConversation(conversation=conversation_out(row), visitor_token=token)
