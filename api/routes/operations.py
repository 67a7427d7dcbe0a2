"""Operations: `/metrics` for Prometheus (ours plus the Temporal SDK's) and `/ready`.

`/health` (in health.py) is liveness; `/ready` says whether every dependency of a turn answers,
each with its latency, and is what a load balancer should poll before sending traffic.
"""

from __future__ import annotations

from dataclasses import asdict

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RuntimeDep
from helpdeck.observability.metrics import LLM_BUDGET, REGISTRY
from helpdeck.observability.readiness import ReadinessProbes
from helpdeck.observability.temporal_metrics import refresh_backlog, scrape_sdk_metrics

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(runtime: RuntimeDep) -> PlainTextResponse:
    """Prometheus exposition: Helpdeck's metrics, then the Temporal SDK's (`temporal_…`)."""
    LLM_BUDGET.set(runtime.settings.llm_daily_budget_usd)
    await refresh_backlog(runtime.temporal, runtime.settings.task_queue, runtime.db)
    ours = generate_latest(REGISTRY).decode()
    async with httpx.AsyncClient() as http:
        sdk = await scrape_sdk_metrics(http)
    return PlainTextResponse(ours + sdk, media_type=CONTENT_TYPE_LATEST)


@router.get("/ready")
async def ready(runtime: RuntimeDep, request: Request) -> JSONResponse:
    """200 when the database, Redis, Temporal, the search index and the model provider answer."""
    probes: ReadinessProbes | None = getattr(request.app.state, "readiness", None)
    if probes is None or probes.runtime is not runtime:
        probes = request.app.state.readiness = ReadinessProbes(runtime)
    results = await probes.run()
    ready_now = all(p.ok for p in results.values())
    body = {
        "status": "ready" if ready_now else "not_ready",
        "components": {name: asdict(p) for name, p in results.items()},
    }
    return JSONResponse(body, status_code=200 if ready_now else 503)
