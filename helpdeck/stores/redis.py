"""Redis: the client, and the key names every process agrees on.

Redis holds only what may be lost in a crash (token streams, rate-limit counters, caches);
anything that must survive lives in PostgreSQL or in Temporal history.
"""

from __future__ import annotations

import redis.asyncio as aioredis

TURN_STREAM_TTL_S = 3600


def connect(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


def turn_stream_key(turn_id: str) -> str:
    """Events of one turn (token deltas, the stored reply, done) for the SSE relay."""
    return f"turn:{turn_id}:events"


def rate_limit_key(company_id: str, user_id: str, day: str) -> str:
    return f"user:{company_id}:{user_id}:rate_limit:{day}"


def burst_key(company_id: str, user_id: str) -> str:
    return f"user:{company_id}:{user_id}:burst"
