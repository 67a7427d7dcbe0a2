"""With a trace exporter configured, one turn is one trace: the API request's span is the parent
of the workflow's and its activities' spans (Temporal's tracing interceptor), and each HTTP
request is exactly one server span (FastAPI's native telemetry and our middleware must not
both open one)."""

from __future__ import annotations

import asyncio

import httpx
import uvicorn
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from helpdeck.analytics.schedule import ensure_rollup_schedule
from helpdeck.embedded import free_port
from tests.conftest import Api, Tenant, new_conversation

CALLER_TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CALLER_TRACEPARENT = f"00-{CALLER_TRACE_ID:032x}-00f067aa0ba902b7-01"


async def test_one_turn_is_one_trace_from_the_request_to_the_activities(api: Api, tenant: Tenant) -> None:
    from api.app import create_app

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # as `opentelemetry-instrument` or an operator would
    settings = api.settings.model_copy(
        update={"port": free_port(), "task_queue": "helpdeck-traced", "otel_exporter": "console"}
    )
    app = create_app(settings, run_worker=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_config=None))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to await
            await asyncio.sleep(0.02)
        conversation = await new_conversation(tenant)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.port}", headers={"Authorization": f"Bearer {tenant.key}"}, timeout=60
        ) as client:
            reply = await client.post(
                f"/v1/conversations/{conversation}/messages",
                json={"content": "How do I reset my password?"},
                headers={"traceparent": CALLER_TRACEPARENT},  # a caller that traces too
            )
        assert reply.status_code == 200, reply.text
    finally:
        server.should_exit = True
        await task
        # The schedule follows the task queue of whoever last ensured it: give it back.
        await ensure_rollup_schedule(api.runtime.temporal, api.settings)
    provider.force_flush()
    spans = exporter.get_finished_spans()
    started = next(s for s in spans if s.name == "StartWorkflow:ChatTurnWorkflow")
    by_id = {s.context.span_id: s for s in spans}
    request = by_id[started.parent.span_id]
    while request.kind is not SpanKind.SERVER:  # FastAPI's operation spans sit in between
        request = by_id[request.parent.span_id]
    assert request.name == "POST /v1/conversations/{conversation_id}/messages"
    assert request.context.trace_id == CALLER_TRACE_ID  # the caller's trace continues
    # Two requests (create the conversation, send the message): two HTTP server spans, not four.
    http_server_spans = sorted(
        s.name for s in spans if s.kind is SpanKind.SERVER and s.name.split(" ")[0] in {"GET", "POST"}
    )
    assert http_server_spans == ["POST /v1/conversations", "POST /v1/conversations/{conversation_id}/messages"]
    in_trace = {s.name for s in spans if s.context.trace_id == request.context.trace_id}
    assert {"RunWorkflow:ChatTurnWorkflow", "RunActivity:retrieve_passages", "RunActivity:generate_reply"} <= in_trace
    assert "RunActivity:record_reply" in in_trace
    # Nothing ran twice in this turn, so no server span (request, workflow, activity) repeats.
    turn = [s for s in spans if s.context.trace_id == request.context.trace_id]
    server_in_trace = [s.name for s in turn if s.kind is SpanKind.SERVER]
    assert len(server_in_trace) == len(set(server_in_trace)), server_in_trace
