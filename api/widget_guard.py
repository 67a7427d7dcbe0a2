"""The widget's side of the API: visitor checks, rate limits and CORS for publishable keys.

`admit_visitor` runs after a publishable key passed its Origin check (helpdeck.services.tenancy):
it marks the request's origin as allowed for CORS, counts the request against the visitor's and
the company's per-minute buckets (Settings, or lower figures in the company's `settings.widget`),
and on a route with a conversation id requires that conversation's visitor token
(`X-Visitor-Token`). `WidgetCorsMiddleware` answers preflights for the widget
routes (only for origins some live publishable key allows) and adds CORS headers to responses
whose origin a key admitted; everything else gets no CORS headers, so browsers refuse it.
"""

from __future__ import annotations

import time

from fastapi import Request
from sqlmodel import col, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpdeck.services.visitors import check_visitor, take_widget_allowance, widget_limits
from helpdeck.tables import ApiKey, Company

VISITOR_HEADER = "X-Visitor-Token"
WIDGET_PATHS = ("/v1/conversations", "/v1/widget/", "/v1/messages/")
ALLOW_HEADERS = "Authorization, Content-Type, X-Visitor-Token, Last-Event-ID, Idempotency-Key, Accept"
EXPOSE_HEADERS = "X-Visitor-Token, X-Turn-Id, Retry-After"
ORIGIN_CACHE_S = 30.0


def visitor_secret(request: Request) -> str:
    settings = request.app.state.runtime.settings
    return settings.secret_key or settings.admin_token or "helpdeck-visitor"


def visitor_scope(request: Request, key_kind: str) -> tuple[str, str | None] | None:
    """For a publishable caller, (secret, visitor token) that limits it to its own conversation."""
    if key_kind != "publishable":
        return None
    return visitor_secret(request), request.headers.get(VISITOR_HEADER)


async def admit_visitor(request: Request, company: Company) -> None:
    """For a request authenticated with a publishable key (its Origin already checked)."""
    origin = request.headers.get("origin")
    if origin:
        request.state.cors_origin = origin
    token = request.headers.get(VISITOR_HEADER)
    conversation_id = request.path_params.get("conversation_id")
    # A visitor is their token once they have one; before that (config, opening), their address.
    visitor = token or (request.client.host if request.client else None)
    runtime = request.app.state.runtime
    per_visitor, per_company = widget_limits(
        company.settings,
        runtime.settings.widget_visitor_requests_per_minute,
        runtime.settings.widget_company_requests_per_minute,
    )
    await take_widget_allowance(
        runtime.redis, str(company.id), visitor, visitor_limit=per_visitor, company_limit=per_company
    )
    if conversation_id is not None:
        check_visitor(visitor_secret(request), str(conversation_id), token)


def _is_widget_path(path: str) -> bool:
    return path.startswith(WIDGET_PATHS)


class WidgetCorsMiddleware:
    """CORS for the widget routes, limited to origins that a publishable key allows."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._origins: set[str] = set()
        self._loaded_at = 0.0

    async def _known_origins(self, scope: Scope) -> set[str]:
        if time.monotonic() - self._loaded_at > ORIGIN_CACHE_S:
            runtime = scope["app"].state.runtime
            async with runtime.db.session() as session:
                rows = await session.exec(
                    select(ApiKey.allowed_origins).where(ApiKey.kind == "publishable", col(ApiKey.revoked_at).is_(None))
                )
                self._origins = {o.rstrip("/") for origins in rows for o in (origins or [])}
            self._loaded_at = time.monotonic()
        return self._origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_widget_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if scope["method"] == "OPTIONS" and origin and b"access-control-request-method" in headers:
            allowed = origin.rstrip("/") in await self._known_origins(scope)
            if not allowed:
                self._loaded_at = 0.0  # a key made a moment ago: look again next time
                allowed = origin.rstrip("/") in await self._known_origins(scope)
            response_headers = [(b"vary", b"Origin"), (b"content-length", b"0")]
            if allowed:
                response_headers += [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                    (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                    (b"access-control-max-age", b"600"),
                ]
            await send({"type": "http.response.start", "status": 204 if allowed else 403, "headers": response_headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                admitted = (scope.get("state") or {}).get("cors_origin")
                if admitted and admitted == origin:
                    extra = [
                        (b"access-control-allow-origin", origin.encode("latin-1")),
                        (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
                        (b"vary", b"Origin"),
                    ]
                    message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_cors)
