"""ASGI middleware counting requests and timing them by route template (never by raw path,
so ids do not explode the label space). With tracing on, each request is also a server span
(ours, unless the framework already opened one: see tracing.request_span)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpdeck.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS
from helpdeck.observability.tracing import request_span


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with request_span(scope) as span:
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                route = _route_template(scope)
                if span is not None:
                    span.update_name(f"{scope['method']} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                if route != "/metrics":
                    HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
                    HTTP_LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
