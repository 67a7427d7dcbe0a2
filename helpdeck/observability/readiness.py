"""Readiness: can this node serve a turn right now? Each dependency is probed with its latency.

`/health` stays the cheap liveness probe; `/ready` adds the search index and the model
provider, which a turn needs too. Hosted-provider probes are cached briefly so a load
balancer's polling never becomes traffic to the provider.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from helpdeck.runtime import Runtime

PROBE_TIMEOUT_S = 2.0
PROVIDER_CACHE_S = 15.0


@dataclass
class Probe:
    ok: bool
    latency_ms: float
    detail: str = ""
    error: str | None = None


async def _timed(check: Callable[[], Awaitable[str | None]]) -> Probe:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), timeout=PROBE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready", reported with its reason
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        return Probe(False, elapsed, error=f"{type(exc).__name__}: {str(exc)[:200]}")
    return Probe(True, round((time.perf_counter() - started) * 1000, 1), detail or "")


class ReadinessProbes:
    """Probes for one runtime; holds the short cache of the model-provider probe."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._provider: tuple[float, Probe] | None = None

    async def _database(self) -> str | None:
        await self.runtime.db.ping()
        return None

    async def _redis(self) -> str | None:
        await self.runtime.redis.ping()
        return None

    async def _temporal(self) -> str | None:
        await self.runtime.temporal.service_client.check_health()
        return self.runtime.temporal.namespace

    async def _search_index(self) -> str | None:
        knowledge = self.runtime.knowledge
        ping = getattr(knowledge, "ping", None)
        if ping is None:
            return f"{type(knowledge).__name__} (nothing to probe)"
        await ping()
        return type(knowledge).__name__

    async def _model_provider(self) -> str | None:
        primary = self.runtime.gateway.models.get("primary")
        if primary is None:
            return "offline composer"
        base_url = getattr(primary, "_base_url", None) or self.runtime.settings.openai_base_url
        if not base_url:
            base_url = "https://api.openai.com/v1"
        headers = {"Authorization": f"Bearer {getattr(primary, '_api_key', '')}"}
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as http:
            response = await http.get(f"{str(base_url).rstrip('/')}/models", headers=headers)
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise RuntimeError(f"GET /models answered {response.status_code}")
        return f"primary at {base_url}"

    async def model_provider(self) -> Probe:
        now = time.monotonic()
        if self._provider is not None and now - self._provider[0] < PROVIDER_CACHE_S:
            return self._provider[1]
        probe = await _timed(self._model_provider)
        self._provider = (now, probe)
        return probe

    async def run(self) -> dict[str, Probe]:
        names = ("database", "redis", "temporal", "search_index")
        checks = (self._database, self._redis, self._temporal, self._search_index)
        results = await asyncio.gather(*(_timed(c) for c in checks), self.model_provider())
        return dict(zip((*names, "model_provider"), results, strict=True))
