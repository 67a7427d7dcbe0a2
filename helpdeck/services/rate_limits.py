"""Per end-user rate limits in Redis: a daily message quota by tier, and a token bucket burst.

Both checks run in one Lua script so concurrent API nodes can neither double-spend a token nor
count a message the bucket refused.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis

from helpdeck.errors import RateLimited
from helpdeck.stores.redis import burst_key, rate_limit_key

# KEYS: daily counter, bucket hash. ARGV: daily limit, capacity, refill/s, now (s), day ttl.
# Returns {allowed (1/0), retry_after_s, used_today}.
_SCRIPT = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if used >= limit then
  return {0, tonumber(ARGV[5]), used}
end
local capacity = tonumber(ARGV[2])
local refill = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local bucket = redis.call('HMGET', KEYS[2], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or capacity
local at = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * refill)
if tokens < 1 then
  return {0, math.ceil((1 - tokens) / refill), used}
end
redis.call('HSET', KEYS[2], 'tokens', tokens - 1, 'at', now)
redis.call('EXPIRE', KEYS[2], math.ceil(capacity / refill) + 1)
used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[5]) end
return {1, 0, used}
"""


@dataclass(frozen=True)
class Allowance:
    used_today: int
    daily_limit: int


class RateLimiter:
    def __init__(self, client: aioredis.Redis, capacity: int, refill_per_s: float) -> None:
        self._script = client.register_script(_SCRIPT)
        self.capacity = capacity
        self.refill_per_s = refill_per_s

    async def take(self, company_id: str, user_id: str, daily_limit: int) -> Allowance:
        """Count one message, or raise RateLimited with the seconds to wait."""
        now = datetime.now(UTC)
        seconds_to_midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
        allowed, retry_after, used = await self._script(
            keys=[rate_limit_key(company_id, user_id, now.strftime("%Y%m%d")), burst_key(company_id, user_id)],
            args=[daily_limit, self.capacity, self.refill_per_s, f"{time.time():.3f}", seconds_to_midnight],
        )
        if not int(allowed):
            daily = int(used) >= daily_limit
            raise RateLimited(
                "daily message limit reached for this user" if daily else "too many messages at once",
                retry_after_s=max(1, math.ceil(float(retry_after))),
            )
        return Allowance(used_today=int(used), daily_limit=daily_limit)
