"""A circuit breaker per model slot, its state in Redis so every worker sees the same one.

Closed: calls go through; failures in a row are counted (the count expires `window_s` after the
first). At `failures` the breaker opens: for `cooldown_s` the slot is skipped without a call.
Then it is half-open: one worker wins a probe (SET NX) and calls; success closes the breaker,
failure opens it for another cool-down. Other workers keep skipping while the probe is out.

Keys: `hd:breaker:{slot}:failures` (a counter), `hd:breaker:{slot}:open_until` (epoch
seconds), `hd:breaker:{slot}:probe` (held by the worker probing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

State = Literal["closed", "open", "half_open"]

KEY_PREFIX = "hd:breaker:"


@dataclass(frozen=True)
class BreakerPolicy:
    failures: int = 5
    window_s: float = 60.0
    cooldown_s: float = 30.0


class CircuitBreaker:
    def __init__(self, redis: Any, policy: BreakerPolicy | None = None) -> None:
        self.redis = redis
        self.policy = policy or BreakerPolicy()

    def _key(self, slot: str, part: str) -> str:
        return f"{KEY_PREFIX}{slot}:{part}"

    async def state(self, slot: str) -> State:
        """What a caller would be told now, without taking the probe."""
        open_until = await self.redis.get(self._key(slot, "open_until"))
        if open_until is None:
            return "closed"
        return "open" if time.time() < float(open_until) else "half_open"

    async def allow(self, slot: str) -> State:
        """"closed" or "half_open" (this caller holds the probe): call; "open": skip the slot."""
        state = await self.state(slot)
        if state != "half_open":
            return state
        # Seconds, at least one: the probe must outlive a slow call, or a second one goes out.
        hold = max(1, int(self.policy.cooldown_s))
        taken = await self.redis.set(self._key(slot, "probe"), "1", nx=True, ex=hold)
        return "half_open" if taken else "open"

    async def record_success(self, slot: str) -> None:
        await self.redis.delete(
            self._key(slot, "failures"), self._key(slot, "open_until"), self._key(slot, "probe")
        )

    async def record_failure(self, slot: str, state: State) -> bool:
        """Count a failed call made in `state`; True when this failure opened the breaker."""
        if state != "half_open":
            key = self._key(slot, "failures")
            count = int(await self.redis.incr(key))
            if count == 1:  # the window starts at the first failure (Redis 6: no EXPIRE NX)
                await self.redis.expire(key, max(1, int(self.policy.window_s)))
            if count < self.policy.failures:
                return False
        await self._open(slot)
        return True

    async def _open(self, slot: str) -> None:
        until = time.time() + self.policy.cooldown_s
        # Kept well past the cool-down so the half-open state is remembered, then forgotten.
        keep = max(60, int(self.policy.cooldown_s * 10))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(slot, "open_until"), f"{until:.3f}", ex=keep)
            pipe.delete(self._key(slot, "failures"), self._key(slot, "probe"))
            await pipe.execute()

    async def reset(self, slot: str) -> None:
        await self.record_success(slot)
