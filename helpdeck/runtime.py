"""The long-lived clients a process holds (database, Redis, Temporal, models, knowledge),
opened once at start and handed to routes and activities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from temporalio.client import Client

from helpdeck.db import Database
from helpdeck.knowledge import Retriever
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
    # Knowledge stores (helpdeck/retrieval.py): the search index this process owns, the
    # embedder, and the blob store of uploaded documents.
    search_index: Any = None
    embedder: Any = None
    blobs: Any = None

    async def close(self) -> None:
        if self.search_index is not None:
            await self.search_index.close()
        await self.redis.aclose()
        await self.db.dispose()


async def connect_temporal(settings: Settings) -> Client:
    # The SDK runtime exports Temporal's own metrics to Prometheus; tracing rides on interceptors.
    from helpdeck.observability.temporal_metrics import temporal_runtime
    from helpdeck.observability.tracing import client_interceptors

    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        runtime=temporal_runtime(settings),
        interceptors=client_interceptors(settings),
    )


async def open_runtime(settings: Settings, temporal: Client | None = None) -> Runtime:
    """Connect everything; the URLs must already be resolved (embedded servers started)."""
    redis = redis_store.connect(settings.redis_url)
    from helpdeck.retrieval import IndexRetriever, build_embedder, build_reranker, open_search_index
    from helpdeck.stores.blobs import LocalBlobStore

    db = Database(settings.database_url)
    search_index = open_search_index(settings)  # settings.search_backend == "embedded"
    embedder = build_embedder(settings)
    return Runtime(
        settings=settings,
        db=db,
        redis=redis,
        temporal=temporal or await connect_temporal(settings),
        gateway=build_gateway(settings),
        knowledge=IndexRetriever(search_index, embedder, redis, db, build_reranker(settings)),
        rate_limiter=RateLimiter(redis, settings.burst_capacity, settings.burst_refill_per_s),
        search_index=search_index,
        embedder=embedder,
        blobs=LocalBlobStore(settings.data_path / "blobs"),
    )
