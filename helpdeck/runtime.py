"""The long-lived clients a process holds (database, Redis, Temporal, models, knowledge),
opened once at start and handed to routes and activities."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from temporalio.client import Client

from helpdeck.db import Database
from helpdeck.knowledge import EmptyKnowledge, Retriever
from helpdeck.providers.gateway import ModelGateway, build_gateway
from helpdeck.services.rate_limits import RateLimiter
from helpdeck.settings import Settings
from helpdeck.stores import redis as redis_store


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    temporal: Client
    gateway: ModelGateway
    knowledge: Retriever
    rate_limiter: RateLimiter
    # True when a worker runs in this process: starts may then ask for eager dispatch.
    worker_in_process: bool = False

    async def close(self) -> None:
        await self.redis.aclose()
        await self.db.dispose()


async def connect_temporal(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)


async def open_runtime(settings: Settings, temporal: Client | None = None) -> Runtime:
    """Connect everything; the URLs must already be resolved (embedded servers started)."""
    redis = redis_store.connect(settings.redis_url)
    return Runtime(
        settings=settings,
        db=Database(settings.database_url),
        redis=redis,
        temporal=temporal or await connect_temporal(settings),
        gateway=build_gateway(settings),
        knowledge=EmptyKnowledge(),
        rate_limiter=RateLimiter(redis, settings.burst_capacity, settings.burst_refill_per_s),
    )
