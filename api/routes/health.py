"""Health: each component with its latency, so an operator sees which one is slow or down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep
from api.schemas import ComponentHealth, Health

router = APIRouter(tags=["operations"])


async def _check(probe: Callable[[], Awaitable[object]]) -> ComponentHealth:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout=2.0)
    except Exception as exc:  # noqa: BLE001 - any failure is "down", reported with its reason
        return ComponentHealth(
            ok=False,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            error=type(exc).__name__ + ": " + str(exc)[:200],
        )
    return ComponentHealth(ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 1))


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(runtime: RuntimeDep) -> JSONResponse:
    names = ("database", "redis", "temporal")
    probes = (runtime.db.ping, runtime.redis.ping, lambda: runtime.temporal.service_client.check_health())
    results = await asyncio.gather(*(_check(p) for p in probes))
    components = dict(zip(names, results, strict=True))
    healthy = all(c.ok for c in results)
    body = Health(status="ok" if healthy else "degraded", components=components)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)
