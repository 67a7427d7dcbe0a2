"""/metrics and /ready on the real stack: what an operator's Prometheus and load balancer see."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import Api, Tenant, new_conversation


async def test_metrics_carry_requests_turn_usage_backlogs_and_temporal_sdk_metrics(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    reply = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "metrics?"})
    assert reply.status_code == 200
    async with httpx.AsyncClient(base_url=api.url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    # Route templates, never raw ids, as labels.
    assert 'route="/v1/conversations/{conversation_id}/messages"' in text
    assert conversation not in text
    assert "helpdeck_http_request_duration_seconds_bucket" in text
    assert 'helpdeck_llm_calls_total{outcome="success",slot="primary"}' in text
    assert 'helpdeck_llm_tokens_total{kind="completion",model="gpt-4o-mini"}' in text
    assert "helpdeck_llm_cost_usd_total" in text
    assert "helpdeck_turns_total{outcome=" in text
    assert 'helpdeck_backlog{queue="running_turns"}' in text
    assert 'helpdeck_backlog{queue="task_queue"}' in text
    # The Temporal SDK's own metrics, proxied from its Prometheus runtime.
    assert "temporal_worker_task_slots_available" in text
    assert "temporal_activity_schedule_to_start_latency_bucket" in text


async def test_ready_reports_every_dependency_of_a_turn_with_its_latency(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        response = await client.get("/ready")
        health = await client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["components"]) == {"database", "redis", "temporal", "search_index", "model_provider"}
    for component in body["components"].values():
        assert component["ok"] is True
        assert component["latency_ms"] >= 0
    assert "primary at http://127.0.0.1" in body["components"]["model_provider"]["detail"]
    assert health.status_code == 200  # liveness is still there, unchanged


async def test_turns_carry_a_status_search_attribute_for_the_temporal_ui(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    turn = (await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "find"})).json()
    query = f'HelpdeckConversationId = "{conversation}" AND HelpdeckStatus = "answered"'
    found: list[str] = []
    for _ in range(50):  # visibility is eventually consistent
        found = [w.id async for w in api.runtime.temporal.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [turn["turn_id"]]
