"""Helpers shared by the webhook tests: polling until something a user would see has happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T] | T], timeout_s: float = 30.0, every_s: float = 0.1) -> T:
    """The first truthy result of `check`, polled until `timeout_s`; fails the test otherwise."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        result = check()
        last = await result if asyncio.iscoroutine(result) else result  # type: ignore[assignment]
        if last:
            return last
        await asyncio.sleep(every_s)
    raise AssertionError(f"not true after {timeout_s}s (last: {last!r})")


async def owned_webhook(tenant) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A webhook of `tenant` with one delivery (a test ping), for the isolation matrix. Nothing
    listens on its URL and it is disabled at once, so the ping ends at its next attempt."""
    hook = await tenant.client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/isolation", "events": ["document.ready"]}
    )
    assert hook.status_code == 201, hook.text
    ping = await tenant.client.post(f"/v1/webhooks/{hook.json()['id']}/test")
    assert ping.status_code == 202, ping.text
    await tenant.client.patch(f"/v1/webhooks/{hook.json()['id']}", json={"disabled": True})
    return {"webhook": hook.json()["id"], "delivery": ping.json()["delivery_id"]}
