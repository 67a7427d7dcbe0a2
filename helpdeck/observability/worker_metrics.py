"""A standalone worker's own `/metrics`: the counters its activities move (turns, tokens, cost,
model calls, cache lookups, escalations, activity outcomes), then the Temporal SDK's (`temporal_…`:
task slots, schedule-to-start latency), in the same exposition the API's `/metrics` serves.

In the scale-out shape those counters live in the worker process, not the API, so each worker
is its own scrape target (HELPDECK_WORKER_METRICS_PORT). Backlog gauges stay with the API: read
from Temporal at scrape time, they would be counted once per worker otherwise.
"""

from __future__ import annotations

import logging

import httpx
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from helpdeck.observability.metrics import LLM_BUDGET, REGISTRY
from helpdeck.observability.temporal_metrics import scrape_sdk_metrics
from helpdeck.settings import Settings

log = logging.getLogger(__name__)


class WorkerMetricsServer:
    """`GET /metrics` on 0.0.0.0:worker_metrics_port, in the worker's event loop."""

    def __init__(self, settings: Settings) -> None:
        self.port = settings.worker_metrics_port
        self._budget = settings.llm_daily_budget_usd
        self._http = httpx.AsyncClient()
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)

    async def _metrics(self, _request: web.Request) -> web.Response:
        LLM_BUDGET.set(self._budget)
        text = generate_latest(REGISTRY).decode() + await scrape_sdk_metrics(self._http)
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "0.0.0.0", self.port).start()  # noqa: S104 - a scrape target
        log.info("worker metrics on :%d/metrics", self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._http.aclose()
