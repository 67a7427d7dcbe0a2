"""/metrics and /ready on the real stack: what an operator's Prometheus and load balancer see."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func
from sqlmodel import select

from helpdeck.tables import WebhookDelivery
from tests.conftest import Api, Tenant, new_conversation
from tests.webhooks.support import eventually


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
    assert 'helpdeck_backlog{queue="open_escalations"}' in text
    assert 'helpdeck_backlog{queue="task_queue"}' in text
    assert 'helpdeck_backlog{queue="webhook_deliveries"}' in text
    # The Temporal SDK's own metrics, proxied from its Prometheus runtime.
    assert "temporal_worker_task_slots_available" in text
    assert "temporal_activity_schedule_to_start_latency_bucket" in text


async def test_webhook_backlog_counts_every_delivery_not_yet_delivered_or_given_up(api: Api, tenant: Tenant) -> None:
    hook = await tenant.client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/backlog", "events": ["document.ready"]}
    )
    assert hook.status_code == 201, hook.text
    endpoint_id, conversation_id = uuid.UUID(hook.json()["id"]), uuid.uuid4()
    now = datetime.now(UTC)

    def delivery(n: int, status: str, attempts: int) -> WebhookDelivery:
        return WebhookDelivery(
            company_id=uuid.UUID(tenant.id), endpoint_id=endpoint_id, event_id=uuid.uuid4(),
            event_kind="document.ready",
            conversation_id=conversation_id, event_created_at=now + timedelta(seconds=n), payload={},
            status=status, attempts=attempts, workflow_started=True,
            next_attempt_at=now + timedelta(hours=1) if status == "pending" and attempts else None,
        )  # fmt: skip

    # One line: its head waits for a retry, two deliveries wait behind it with no workflow of
    # their own (the relay starts each when the one before finishes); two are finished.
    rows = [delivery(0, "delivered", 1), delivery(1, "failed", 9), delivery(2, "pending", 2),
            delivery(3, "pending", 0), delivery(4, "pending", 0)]  # fmt: skip
    async with api.runtime.db.session() as session:
        session.add_all(rows)
        await session.commit()

    async def backlog_matches() -> bool:
        async with httpx.AsyncClient(base_url=api.url) as client:
            text = (await client.get("/metrics")).text
        found = re.search(r'^helpdeck_backlog\{queue="webhook_deliveries"\} (\S+)$', text, re.M)
        assert found is not None, "no webhook_deliveries backlog in /metrics"
        scraped = float(found.group(1))
        async with api.runtime.db.session() as session:  # other tests' deliveries may move meanwhile
            others = (
                await session.exec(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(WebhookDelivery.status == "pending", WebhookDelivery.endpoint_id != endpoint_id)
                )
            ).one()
        return scraped == others + 3

    assert await eventually(backlog_matches)


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
