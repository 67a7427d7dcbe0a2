"""With a trace exporter configured, one turn is one trace: the API request's span is the parent
of the workflow's and its activities' spans (Temporal's tracing interceptor)."""

from __future__ import annotations

import asyncio

import httpx
import uvicorn
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from helpdeck.analytics.schedule import ensure_rollup_schedule
from helpdeck.embedded import free_port
from tests.conftest import Api, Tenant, new_conversation


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
            reply = await client.post(f"/v1/conversations/{conversation}/messages", json={"content": "How do I reset my password?"})
        assert reply.status_code == 200, reply.text
    finally:
        server.should_exit = True
        await task
        # The schedule follows the task queue of whoever last ensured it: give it back.
        await ensure_rollup_schedule(api.runtime.temporal, api.settings)
    provider.force_flush()
    spans = exporter.get_finished_spans()
    started = next(s for s in spans if s.name == "StartWorkflow:ChatTurnWorkflow")
    request = next(s for s in spans if s.context.span_id == started.parent.span_id)
    assert request.name == "POST /v1/conversations/{conversation_id}/messages"
    in_trace = {s.name for s in spans if s.context.trace_id == request.context.trace_id}
    assert {"RunWorkflow:ChatTurnWorkflow", "RunActivity:retrieve_passages", "RunActivity:generate_reply"} <= in_trace
    assert "RunActivity:record_reply" in in_trace
