"""OpenTelemetry traces across API → workflow → activities, on only when an exporter is set.

One server span per HTTP request: the framework's when it opens one (FastAPI's native
telemetry, or `opentelemetry-instrument`), otherwise the HTTP middleware's. Temporal's
TracingInterceptor (on the client, so on the worker built from it too) carries that context
into the workflow and its activities, so one turn is one trace. A tracer provider installed by
someone else (say `opentelemetry-instrument`) is used as it is.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from starlette.types import Scope

from helpdeck.settings import Settings

log = logging.getLogger(__name__)
_tracer: trace.Tracer | None = None


def _provider_installed() -> bool:
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def configure_tracing(settings: Settings) -> bool:
    """Install the exporter the settings name (once per process); True when tracing is on."""
    global _tracer
    if _tracer is not None:
        return True
    if not _provider_installed():
        if not settings.otel_exporter:
            return False
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        if settings.otel_exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter: Any = OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_ENDPOINT and friends
        else:
            exporter = ConsoleSpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "helpdeck"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        log.info("tracing on, exporting with %s", settings.otel_exporter)
    _tracer = trace.get_tracer("helpdeck")
    return True


def client_interceptors(settings: Settings) -> list:
    """Temporal client interceptors: the tracing one when tracing is on."""
    if not configure_tracing(settings):
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def _server_span_open() -> bool:
    """True when something outside our middleware already opened this request's server span:
    FastAPI's native OpenTelemetry telemetry (recent FastAPI, on whenever a tracer provider is
    installed) or `opentelemetry-instrument`'s ASGI instrumentation."""
    current = trace.get_current_span()
    return current.is_recording() and getattr(current, "kind", None) is trace.SpanKind.SERVER


@contextlib.contextmanager
def request_span(scope: Scope) -> Iterator[trace.Span | None]:
    """A server span for one HTTP request, continuing the caller's `traceparent` if it sent one;
    None (no second server span) when tracing is off or the framework already opened one."""
    if _tracer is None or _server_span_open():
        yield None
        return
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    parent = propagate.extract(headers)
    token = otel_context.attach(parent)
    try:
        with _tracer.start_as_current_span(f"{scope['method']} {scope['path']}", kind=trace.SpanKind.SERVER) as span:
            yield span
    finally:
        otel_context.detach(token)
