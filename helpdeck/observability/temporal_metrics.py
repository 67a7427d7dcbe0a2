"""The Temporal SDK's own metrics (worker task slots, schedule-to-start latency, polls) through
its Prometheus runtime, plus gauges of work waiting, read from Temporal (webhook deliveries from
the database) when Prometheus scrapes.

The SDK serves its metrics on its own socket; with no port configured it takes a free loopback
port and the API's `/metrics` proxies it, so one scrape target carries everything; a standalone
worker's `/metrics` (HELPDECK_WORKER_METRICS_PORT, worker_metrics.py) proxies it the same way.
Given HELPDECK_TEMPORAL_METRICS_PORT, the SDK serves them on all interfaces for direct scraping.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from helpdeck.db import Database
from helpdeck.embedded import free_port
from helpdeck.observability.metrics import BACKLOG
from helpdeck.services.webhook_dispatch import undelivered_count
from helpdeck.settings import Settings

log = logging.getLogger(__name__)

_runtime: Runtime | None = None
_address: str | None = None

# Workflow kinds (HelpdeckKind) whose running executions are a backlog worth paging on. Webhook
# deliveries are counted in the database instead: only a line's head has a running workflow.
BACKLOG_KINDS = {"running_turns": "turn", "open_escalations": "escalation", "ingestion": "ingestion"}


def temporal_runtime(settings: Settings) -> Runtime:
    """The process's one SDK runtime with Prometheus metrics; created on first use."""
    global _runtime, _address
    if _runtime is None:
        if settings.temporal_metrics_port:
            bind = f"0.0.0.0:{settings.temporal_metrics_port}"
            _address = f"127.0.0.1:{settings.temporal_metrics_port}"
        else:
            _address = bind = f"127.0.0.1:{free_port()}"
        _runtime = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind, durations_as_seconds=True))
        )
    return _runtime


async def scrape_sdk_metrics(http: httpx.AsyncClient) -> str:
    """The SDK's exposition text, or a comment saying why it is missing (never an error)."""
    if _address is None:
        return "# temporal sdk metrics: no runtime in this process\n"
    try:
        response = await http.get(f"http://{_address}/metrics", timeout=2.0)
        return response.text if response.text.endswith("\n") else response.text + "\n"
    except httpx.HTTPError as exc:
        return f"# temporal sdk metrics unavailable: {type(exc).__name__}\n"


async def refresh_backlog(client: Client, task_queue: str, db: Database) -> None:
    """Running turns, open escalations and ingestions (visibility counts), webhook deliveries not
    yet delivered or given up (database) and the task queue's approximate backlog; a failed read
    leaves the previous value."""

    async def running(gauge: str, kind: str) -> None:
        query = f'HelpdeckKind = "{kind}" AND ExecutionStatus = "Running"'
        count = await client.count_workflows(query)
        BACKLOG.labels(gauge).set(count.count)

    async def webhook_deliveries() -> None:
        async with db.session() as session:
            BACKLOG.labels("webhook_deliveries").set(await undelivered_count(session))

    async def task_queue_backlog() -> None:
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        total = 0
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=kind,
                    report_stats=True,
                )
            )
            total += described.stats.approximate_backlog_count
        BACKLOG.labels("task_queue").set(total)

    jobs = [running(g, k) for g, k in BACKLOG_KINDS.items()] + [webhook_deliveries(), task_queue_backlog()]
    for outcome in await asyncio.gather(*jobs, return_exceptions=True):
        if isinstance(outcome, Exception):
            log.debug("backlog read failed: %s", outcome)
