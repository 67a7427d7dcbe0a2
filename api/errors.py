"""The one place errors become RFC 9457 problem details, each with a stable `code`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from helpdeck.errors import HelpdeckError, RateLimited

log = logging.getLogger(__name__)

PROBLEM_TYPE = "https://helpdeck.dev/problems/"
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def problem(status: int, code: str, title: str, detail: str, instance: str = "", **extra: object) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {}
    if status == 429 and "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="helpdeck"'
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


def _validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    kinds = {e.get("type") for e in errors}
    if "json_invalid" in kinds:
        ctx = next((e.get("ctx", {}) for e in errors if e.get("type") == "json_invalid"), {})
        return problem(
            400,
            "invalid_json",
            "Malformed JSON",
            f"the body is not valid JSON: {ctx.get('error', '')}".strip(),
            request.url.path,
        )
    fields = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
            "message": e.get("msg", ""),
            "type": e.get("type"),
        }
        for e in errors
    ]
    if kinds == {"extra_forbidden"}:
        names = ", ".join(f["field"] for f in fields)
        return problem(
            422, "unknown_field", "Unknown field", f"unknown field(s): {names}", request.url.path, errors=fields
        )
    detail = "; ".join(f"{f['field'] or 'body'}: {f['message']}" for f in fields)
    return problem(422, "validation_error", "Invalid input", detail, request.url.path, errors=fields)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HelpdeckError)
    async def _domain(request: Request, exc: HelpdeckError) -> JSONResponse:
        extra = dict(exc.extra)
        if isinstance(exc, RateLimited):
            extra["retry_after"] = exc.retry_after_s
        return problem(exc.status, exc.code, exc.title, exc.detail, request.url.path, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return problem(exc.status_code, code, detail, detail, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            500,
            "internal_error",
            "Internal error",
            "an unexpected error occurred; it has been logged",
            request.url.path,
        )
