"""The scale-out shape: a worker started alone (`python worker.py`) runs the turn's activities, so
the turn's tokens, cost and model calls are counted in that process, and its own `/metrics`
(HELPDECK_WORKER_METRICS_PORT) is where Prometheus finds them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from helpdeck.analytics.schedule import ensure_rollup_schedule
from helpdeck.embedded import free_port
from tests.conftest import Api, Tenant, new_conversation

ROOT = Path(__file__).resolve().parents[2]


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _scrape_when_up(url: str, worker: subprocess.Popen) -> str:
    async with httpx.AsyncClient() as client:
        for _ in range(1200):
            assert worker.poll() is None, "the worker exited"
            try:
                response = await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.05)
                continue
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            return response.text
    raise AssertionError("the worker never served /metrics")


@pytest.mark.timeout(180)
async def test_a_standalone_worker_serves_the_metrics_of_the_turns_it_ran(
    api: Api, tenant: Tenant, fake_primary, tmp_path: Path
) -> None:
    from api.app import create_app

    task_queue = f"worker-metrics-{uuid.uuid4().hex[:8]}"
    metrics_url = f"http://127.0.0.1:{free_port()}/metrics"
    worker = subprocess.Popen(  # noqa: ASYNC220 - started once, then only polled
        [sys.executable, str(ROOT / "worker.py")],
        cwd=ROOT,
        env={
            **os.environ,
            "TEMPORAL_ADDRESS": api.settings.temporal_address,
            "DATABASE_URL": api.settings.database_url,
            "REDIS_URL": api.settings.redis_url,
            "HELPDECK_DATA_DIR": str(tmp_path),  # its own embedded search index
            "HELPDECK_TASK_QUEUE": task_queue,
            "HELPDECK_WORKER_METRICS_PORT": metrics_url.split(":")[2].split("/")[0],
            "OPENAI_BASE_URL": fake_primary.base_url,
            "OPENAI_API_KEY": "sk-test",
            "HELPDECK_CHAT_MODEL": "gpt-4o-mini",
            "HELPDECK_LOG_LEVEL": "WARNING",
        },
    )
    # An API node without a worker of its own, starting turns on the standalone worker's queue.
    settings = api.settings.model_copy(update={"port": free_port(), "task_queue": task_queue})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.port, log_config=None))
    serving = asyncio.create_task(server.serve())
    try:
        before = _samples(await _scrape_when_up(metrics_url, worker))
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to await
            await asyncio.sleep(0.02)
        conversation = await new_conversation(tenant)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.port}", headers={"Authorization": f"Bearer {tenant.key}"}, timeout=120
        ) as client:
            reply = await client.post(
                f"/v1/conversations/{conversation}/messages", json={"content": "How do refunds work?"}
            )
        assert reply.status_code == 200, reply.text
        assert reply.json()["message"]["content"]
        after = _samples(await _scrape_when_up(metrics_url, worker))
    finally:
        server.should_exit = True
        await serving
        worker.terminate()
        worker.wait(30)
        # The rollup schedule follows the task queue of whoever last ensured it: give it back.
        await ensure_rollup_schedule(api.runtime.temporal, api.settings)

    def moved(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    # The turn this worker ran: its model call, tokens, cost, recorded reply and activities.
    assert moved("helpdeck_llm_calls_total", slot="primary", outcome="success") == 1
    assert moved("helpdeck_llm_tokens_total", model="gpt-4o-mini", kind="prompt") > 0
    assert moved("helpdeck_llm_tokens_total", model="gpt-4o-mini", kind="completion") > 0
    assert moved("helpdeck_llm_cost_usd_total", model="gpt-4o-mini") > 0
    assert sum(moved("helpdeck_turns_total", outcome=o) for o in ("answered", "unanswered", "canned", "human")) == 1
    assert moved("helpdeck_activity_executions_total", activity="record_reply", outcome="success") == 1
    assert moved("helpdeck_activity_executions_total", activity="generate_reply", outcome="success") == 1
    # And the Temporal SDK's own worker metrics, on the same endpoint.
    names = {name for name, _ in after}
    assert "temporal_worker_task_slots_available" in names
    assert "temporal_activity_schedule_to_start_latency_bucket" in names
