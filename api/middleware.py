"""ASGI middleware: request ids and logging, body size limits, UTF-8 checks on JSON bodies.

Written as plain ASGI (not BaseHTTPMiddleware) so streaming responses pass through untouched.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpdeck.logs import company_id_var, request_id_var

log = logging.getLogger("helpdeck.requests")


async def _send_problem(send: Send, status: int, code: str, title: str, detail: str) -> None:
    body = json.dumps(
        {
            "type": f"https://helpdeck.dev/problems/{code}",
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _unstorable_text(text: str) -> str | None:
    """Why a JSON body holds text PostgreSQL cannot store, or None.

    JSON escapes can smuggle NUL characters and lone UTF-16 surrogates (`\\u0000`, `\\ud800`)
    into valid UTF-8 bodies; caught here, they would otherwise fail deep inside a workflow.
    """
    if "\\u0000" not in text and "\\ud" not in text.lower() and "\x00" not in text:
        return None  # the fast path: no escape that could decode to either
    try:
        decoded = json.loads(text)
    except ValueError:
        return None  # malformed JSON is reported by the route as invalid_json
    pending = [decoded]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return "text must not contain NUL characters"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "text must not contain unpaired UTF-16 surrogates"
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return None


class BodyLimitMiddleware:
    """413 for bodies over the limit (declared or streamed); 400 for JSON that is not UTF-8.

    The whole body is read before the app sees it, so a refused request never writes anything.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Routes with their own limit (document uploads), by exact path.
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        limit = self.path_limits.get(scope["path"].rstrip("/") or "/", self.max_body_bytes)
        too_large = f"the body is larger than the limit of {limit} bytes"
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_problem(send, 413, "body_too_large", "Body too large", too_large)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_problem(send, 413, "body_too_large", "Body too large", too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = content_type in (b"application/json", b"") or content_type.endswith(b"+json")
        if body and is_json:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                await _send_problem(
                    send, 400, "invalid_utf8", "Invalid UTF-8", f"the body is not valid UTF-8 (byte {exc.start})"
                )
                return
            problem = _unstorable_text(text)
            if problem:
                await _send_problem(send, 422, "invalid_text", "Invalid text", problem)
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RequestContextMiddleware:
    """Gives every request an id (or keeps the caller's X-Request-ID) and logs its outcome."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if incoming and len(incoming) <= 64 else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        company_token = company_id_var.set(None)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id_var.reset(token)
            company_id_var.reset(company_token)
